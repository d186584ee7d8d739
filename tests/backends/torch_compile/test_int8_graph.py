"""INT8 convolutions fused with their residual add and ReLU, int8 between them (int8_conv.py,
int8_graph.py): the kernel against the float convolution for each input, residual and output
form, on the CPU through Triton's interpreter (in a child process: TRITON_INTERPRET must be set
before Triton is imported) and compiled on a GPU; the graph rewrite on a small residual network;
the kernel built for Jetson Orin (sm_87) here."""
import json
import os
import subprocess
import sys
from importlib.util import find_spec

import pytest
import torch
from torch import nn

from tests.conftest import built_for_nvidia

pytestmark = pytest.mark.skipif(find_spec("triton") is None, reason="needs the triton package (ships with torch on Linux x86_64)")

#: a residual network: a stem the product refuses (3 channels), a block with a 1x1 shortcut
#: convolution and one with an identity shortcut, a 1x1 bottleneck, a head
NET = '''
import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = nn.Conv2d(cout, cout, 1, bias=False), nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.down = None if stride == 1 and cin == cout else nn.Conv2d(cin, cout, 1, stride)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += x if self.down is None else self.down(x)
        return self.relu(out)


def make(num_classes=4):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
                        Block(32, 64, 2), Block(64, 64, 1),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes))
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    return net.eval()
'''

_KERNEL_CASES = r'''
import json, sys
import torch
from torch import nn
from edgebench.backends.torch_compile.int8_conv import Int8ConvFused, reference
from edgebench.backends.torch_compile.low_precision import QMAX, quantize_tensor

kind = sys.argv[1]
def q(t, s):
    return quantize_tensor(t, s, kind)

torch.manual_seed(0)
out = []
# (cin, cout, kernel, stride, padding, activation (1 ReLU, 2 ReLU6), residual, x int8, y int8, out dtype)
for cin, cout, k, s, p, relu, res, xi, yi, dtype in (
        (32, 48, 3, 1, 1, True, "int8", True, True, torch.float16),
        (64, 32, 1, 1, 0, False, "float", False, False, torch.float16),
        (16, 24, 3, 2, 1, True, None, False, True, torch.float16),
        (40, 16, 1, 2, 0, False, None, True, False, torch.float32),
        (32, 32, 5, 1, 2, 2, "float", False, False, torch.bfloat16)):  # ReLU6
    conv = nn.Conv2d(cin, cout, k, stride=s, padding=p).eval()
    x = torch.randn(2, cin, 9, 7).relu() * 8
    xs = float(x.abs().max()) / QMAX[kind]
    x_in = q(x, xs) if xi else x.to(dtype)
    x_seen = x_in.float() * xs if xi else x_in.float()  # what the layer is given
    with torch.no_grad():
        y0 = conv(x_seen)
    r, rs, r_seen = None, 1.0, None
    if res:
        rf = torch.randn_like(y0)
        rs = float(rf.abs().max()) / QMAX[kind]
        r = q(rf, rs) if res == "int8" else rf.to(dtype)
        r_seen = r.float() * rs if res == "int8" else r.float()
    with torch.no_grad():
        ref = reference(conv, x_seen, r_seen, relu)
        ys = float(ref.abs().max()) / QMAX[kind] if yi else None
        got = Int8ConvFused(conv, xs, x_int8=xi, relu=relu, y_scale=ys, r_scale=rs, out_dtype=dtype, kind=kind)(x_in, r)
    value = got.float() * ys if yi else got.float()
    out.append({"shape_ok": got.shape == ref.shape, "channels_last": got.is_contiguous(memory_format=torch.channels_last),
                "dtype": str(got.dtype), "err": float((value - ref).norm() / ref.norm()),
                "relu_ok": (not relu) or bool((value >= 0).all()) and (relu != 2 or bool((value <= 6.05).all())),
                "clamped_at_6": bool((ref == 6).any())})
print(json.dumps(out))
'''

_GRAPH = r'''
import json, sys
import torch
from torch import nn
sys.path.insert(0, sys.argv[1])
from net import make
from edgebench.backends.torch_compile import int8_graph, low_precision as lp

g = torch.Generator().manual_seed(1)
net = make()
x = torch.randn(4, 3, 8, 8, generator=g).contiguous(memory_format=torch.channels_last)
with torch.no_grad():
    ref = net(x)
folded, _, _ = lp.fold_batchnorm(net)
batches = [(torch.randn(4, 3, 8, 8, generator=g).contiguous(memory_format=torch.channels_last),) for _ in range(3)] + [(x,)]
kind = sys.argv[2]
gm, rows, why = int8_graph.fuse_convs(folded, batches, torch.float32, kind=kind)
linear = lp.quantize(gm, batches, kind, rows=4, out_dtype=torch.float32, types=(nn.Linear,))
with torch.no_grad():
    got = gm(x)
print(json.dumps({"why": why, "rows": rows, "linear": linear, "err": float((got - ref).norm() / ref.norm()),
                  "top1": (got.argmax(1) == ref.argmax(1)).float().mean().item(),
                  "fused_modules": sum(type(m).__name__ == "Int8ConvFused" for m in gm.modules()),
                  "convs_left": sum(isinstance(m, nn.Conv2d) for m in gm.modules())}))
'''


_TILES = r'''
import json, sys
import torch
from torch import nn
from edgebench.backends.torch_compile import int8_conv
from edgebench.backends.torch_compile.int8_conv import Int8ConvFused, reference, tiles
from edgebench.backends.torch_compile.low_precision import QMAX, quantize_tensor

kind = sys.argv[1]
torch.manual_seed(0)
out = []
# (cin, cout, kernel, stride, padding, size, the rows tiles() is asked for: batch 1's or a batch's)
for cin, cout, k, s, p, hw, rows in ((96, 48, 3, 1, 1, 6, 49), (256, 64, 1, 1, 0, 7, 49), (256, 64, 1, 2, 0, 8, 20000),
                                     (64, 40, 3, 2, 1, 9, 5000)):
    conv = nn.Conv2d(cin, cout, k, stride=s, padding=p).eval().requires_grad_(False)
    x = torch.randn(2, cin, hw, hw).relu() * 4
    xs = float(x.abs().max()) / QMAX[kind]
    xq = quantize_tensor(x, xs, kind)
    r = torch.randn_like(conv(x))
    rs = float(r.abs().max()) / QMAX[kind]
    rq = quantize_tensor(r, rs, kind)
    ref = reference(conv, xq.float() * xs, rq.float() * rs, 1)
    ys = float(ref.abs().max()) / QMAX[kind]
    for t in tiles(rows, cout, cin * k * k, cin):
        int8_conv._INTERPRETED = t  # the interpreter runs the tile's blocks (not its warps or stages)
        got = Int8ConvFused(conv, xs, x_int8=True, relu=1, y_scale=ys, r_scale=rs, kind=kind)(xq, rq).float() * ys
        out.append({"layer": [cin, cout, k, s, hw], "tile": t, "err": float((got - ref).norm() / ref.norm()),
                    "sum": float(got.double().sum())})
print(json.dumps(out))
'''


def _net() -> nn.Module:
    """NET's model, built in this process."""
    namespace: dict = {}
    exec(compile(NET, "net.py", "exec"), namespace)
    return namespace["make"]()


def _interpreted(code: str, *args: str) -> object:
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU the compiled kernel is tested instead")
@pytest.mark.parametrize("kind, stored, tolerance", [("int8", "torch.int8", 0.03), ("fp8", "torch.float8_e4m3fn", 0.06)])
def test_the_fused_convolution_matches_the_float_one_in_every_form(kind, stored, tolerance):
    """INT8 and FP8 (e4m3): stored or float input (quantised while loaded), no/float/stored
    residual, ReLU or ReLU6, stored or FP16/BF16/FP32 output, 1x1 to 5x5 kernels, strides 1 and 2:
    within the kind's error of the float convolution on the values the layer was given."""
    cases = _interpreted(_KERNEL_CASES, kind)
    assert [c["dtype"] for c in cases] == [stored, "torch.float16", stored, "torch.float32", "torch.bfloat16"]
    for case in cases:
        assert case["shape_ok"] and case["channels_last"] and case["relu_ok"], case
        assert case["err"] < tolerance, case
    assert cases[-1]["clamped_at_6"]  # the ReLU6 case reaches its ceiling


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU the compiled kernel is tested instead")
def test_a_residual_network_runs_int8_from_layer_to_layer_with_adds_and_relus_fused(tmp_path):
    (tmp_path / "net.py").write_text(NET)
    got = _interpreted(_GRAPH, str(tmp_path), "int8")
    assert got["why"] == ""
    by = {r["layer"]: r for r in got["rows"]}
    # the stem stays float; every other convolution is one fused kernel
    assert by["0"]["choice"] == "fp16" and "reduction 27" in by["0"]["reason"]
    assert got["fused_modules"] == 5 and got["convs_left"] == 1
    assert by["3.conv1"]["fused"] == "bias+relu" and by["3.conv1"]["input"] == "float"  # after the float stem
    # the shortcut convolution's output is read only as the block's residual: stored int8
    assert by["3.down"]["fused"] == "bias" and by["3.down"]["output"] == "int8"
    assert by["3.conv2"]["fused"] == "bias+residual add+relu" and by["3.conv2"]["residual"] == "int8"
    # block 3's output feeds block 4's first convolution and its identity add: int8 for both
    assert by["3.conv2"]["output"] == "int8" and by["4.conv1"]["input"] == "int8" and by["4.conv2"]["residual"] == "int8"
    # the last one is read by the pooling: float
    assert by["4.conv2"]["output"] == "float"
    assert [r["choice"] for r in got["linear"]] == ["fp16"] and "output width 4" in got["linear"][0]["reason"]
    assert got["err"] < 0.05 and got["top1"] == 1.0, got


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU the compiled kernel is tested instead")
def test_a_residual_network_runs_fp8_from_layer_to_layer_the_same_way(tmp_path):
    """FP8 (e4m3) takes the same plan: the same layers fused, stored FP8 between them, within
    FP8's error (a 3-bit mantissa) of the float network."""
    (tmp_path / "net.py").write_text(NET)
    got = _interpreted(_GRAPH, str(tmp_path), "fp8")
    assert got["why"] == "" and got["fused_modules"] == 5 and got["convs_left"] == 1
    by = {r["layer"]: r for r in got["rows"]}
    assert [by[name]["choice"] for name in ("0", "3.conv1", "3.conv2", "3.down", "4.conv1", "4.conv2")] == ["fp16"] + ["fp8"] * 5
    assert by["3.down"]["output"] == "fp8" and by["3.conv2"]["residual"] == "fp8" and by["4.conv1"]["input"] == "fp8"
    assert got["err"] < 0.1 and got["top1"] == 1.0, got


def test_the_plan_joins_each_convolution_with_its_add_and_relu_and_says_why_others_stay():
    """The graph analysis alone (no kernel runs): which nodes join which convolution."""
    from edgebench.backends.torch_compile import int8_graph
    from edgebench.backends.torch_compile import low_precision as lp

    folded, count, _ = lp.fold_batchnorm(_net())
    assert count == 5
    groups, kept = int8_graph.plan(folded)
    assert [(g.name, g.fused()) for g in groups] == [
        ("3.conv1", "bias+relu"), ("3.conv2", "bias+residual add+relu"), ("3.down", "bias"),
        ("4.conv1", "bias+relu"), ("4.conv2", "bias+residual add+relu")]
    assert [r["layer"] for r in kept] == ["0"]
    assert groups[1].residual is groups[2].conv  # the add's other operand: the shortcut's output

    class Twice(nn.Module):  # one convolution module called twice: not rewritten
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(32, 32, 1)

        def forward(self, x):
            return self.conv(self.conv(x))

    groups, kept = int8_graph.plan(int8_graph.traced(Twice())[0])
    assert not groups and "called more than once" in kept[0]["reason"]
    class SamePad(nn.Conv2d):  # F.conv2d in its own forward, no BatchNorm to fold: traced into a plain one
        def forward(self, x):
            return nn.functional.conv2d(nn.functional.pad(x, [1, 1, 1, 1]), self.weight, self.bias, self.stride, 0)

    groups, kept = int8_graph.plan(int8_graph.traced(nn.Sequential(SamePad(32, 32, 3), nn.ReLU6()))[0])
    assert [(g.name, g.fused()) for g in groups] == [("0.conv", "bias+relu6")] and not kept
    module, rows, why = int8_graph.fuse_convs(_Untraceable(), [], torch.float16)
    assert rows == [] and "does not trace" in why and isinstance(module, _Untraceable)


def test_fused_layers_timed_at_an_earlier_build_are_chosen_again_without_timing(monkeypatch):
    """`known` (the backend's cached plan): each group's stored timings decide which are fused,
    and no kernel or float layer is timed; the rest of the rewrite is as without it."""
    from edgebench.backends.torch_compile import int8_graph
    from edgebench.backends.torch_compile import low_precision as lp

    def no_timing(*args):
        raise AssertionError("a layer with known timings was timed again")

    monkeypatch.setattr(int8_graph, "time_layer_s", no_timing)
    folded, _, _ = lp.fold_batchnorm(_net())
    g = torch.Generator().manual_seed(1)
    batches = [(torch.randn(4, 3, 8, 8, generator=g),) for _ in range(2)]
    known = {name: [10.0, 5.0] for name in ("3.conv1", "3.conv2", "4.conv1", "4.conv2")} | {"3.down": [5.0, 10.0]}
    gm, rows, why = int8_graph.fuse_convs(folded, batches, torch.float32, batches[0], "int8", known)
    by = {r["layer"]: r for r in rows}
    assert why == "" and by["3.down"]["choice"] == "fp16" and by["3.down"]["reason"].startswith("not faster here")
    assert [by[n]["choice"] for n in ("3.conv1", "3.conv2", "4.conv1", "4.conv2")] == ["int8"] * 4
    assert by["3.conv2"]["residual"] == "float"  # the shortcut stayed a float convolution
    assert sum(type(m).__name__ == "Int8ConvFused" for m in gm.modules()) == 4


def _tile_timer(slow=None):
    """A time_layer_s stand-in: the float convolution 100 us; the fused kernel by its tile shape
    (BLOCK_M x BLOCK_N, so the smallest wins), `slow` raising as Triton does for a tile with more
    shared memory than the GPU has."""
    def timer(fn, x, iters):
        tile = getattr(getattr(fn, "func", None), "tile", None)
        if tile is None:
            return 100e-6
        if tile == slow:
            raise RuntimeError("out of resource: shared memory")
        return tile[0] * tile[1] * 1e-9
    return timer


def test_each_fused_layer_runs_in_its_fastest_tile_shape_and_a_later_build_reuses_it(monkeypatch):
    """Each fused layer's kernel is timed in every tile shape int8_conv.tiles offers for its
    product and runs in the fastest; one that fails (here the fastest, as an out-of-resources
    launch) is skipped and named; the plan's entries (float us, fused us, tile) choose the same
    tiles at a later build without timing anything."""
    from edgebench.backends.torch_compile import int8_graph
    from edgebench.backends.torch_compile import low_precision as lp
    from edgebench.backends.torch_compile.int8_conv import tiles

    folded, _, _ = lp.fold_batchnorm(_net())
    g = torch.Generator().manual_seed(1)
    batches = [(torch.randn(4, 3, 8, 8, generator=g),) for _ in range(2)]
    # block 3's first convolution: 3x3, 32 -> 64 channels, stride 2: 4 x 4 x 4 output positions
    offered = tiles(64, 64, 9 * 32, 32)
    fastest, second = sorted(offered, key=lambda t: t[0] * t[1])[:2]
    monkeypatch.setattr(int8_graph, "time_layer_s", _tile_timer(slow=list(fastest)))
    gm, rows, why = int8_graph.fuse_convs(folded, batches, torch.float32, batches[0], "int8")
    by = {r["layer"]: r for r in rows}
    assert why == "" and len(offered) > 1 and by["3.conv1"]["tile"] == list(second)
    assert by["3.conv1"]["low_us"] == round(second[0] * second[1] / 1000, 2) and str(list(fastest)) in by["3.conv1"]["tiles_failed"]
    assert [t for t, _ in by["3.conv1"]["tiles_us"]] == [list(t) for t in offered if t != fastest]  # every tile that ran
    modules = dict(gm.named_modules())
    assert modules["3.conv1"].tile == list(second) and all(modules[n].tile == by[n]["tile"] for n in by if n != "0")

    def no_timing(*args):
        raise AssertionError("a layer with known timings was timed again")

    monkeypatch.setattr(int8_graph, "time_layer_s", no_timing)
    known = {r["layer"]: [r["float_us"], r["low_us"], r["tile"]] for r in rows if "float_us" in r}
    folded, _, _ = lp.fold_batchnorm(_net())
    gm, again, why = int8_graph.fuse_convs(folded, batches, torch.float32, batches[0], "int8", json.loads(json.dumps(known)))
    assert why == "" and [r.get("tile") for r in again] == [r.get("tile") for r in rows]
    assert dict(gm.named_modules())["3.conv1"].tile == list(second)


def test_a_layer_whose_kernel_fails_in_every_tile_shape_stays_float_and_says_so(monkeypatch):
    from edgebench.backends.torch_compile import int8_graph
    from edgebench.backends.torch_compile import low_precision as lp

    def timer(fn, x, iters):
        if hasattr(fn, "func"):
            raise RuntimeError("out of resource: shared memory")
        return 100e-6

    monkeypatch.setattr(int8_graph, "time_layer_s", timer)
    folded, _, _ = lp.fold_batchnorm(_net())
    batches = [(torch.randn(4, 3, 8, 8),)]
    gm, rows, why = int8_graph.fuse_convs(folded, batches, torch.float32, batches[0], "int8")
    assert why == "" and all(r["choice"] == "fp16" for r in rows)
    assert "failed here in every tile shape ([" in next(r for r in rows if r["layer"] == "3.conv1")["reason"]
    assert not any(type(m).__name__ == "Int8ConvFused" for m in gm.modules())


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU the compiled kernel is tested instead")
@pytest.mark.parametrize("kind, tolerance", [("int8", 0.03), ("fp8", 0.06)])
def test_every_tile_shape_offered_computes_the_same_convolution(kind, tolerance):
    """The kernel in each tile shape tiles() offers (its blocks: BLOCK_K 32 to 128 within a tap,
    or the gather path where the channels are not a multiple) against the float convolution, with
    a stored residual and ReLU: within the kind's error, and INT8, whose products are exact
    integers, the same output in every tile."""
    cases = _interpreted(_TILES, kind)
    assert len({tuple(c["tile"]) for c in cases}) >= 6 and {c["tile"][2] for c in cases} >= {32, 64, 128}
    for case in cases:
        assert case["err"] < tolerance, case
    if kind == "int8":
        for layer in {tuple(c["layer"]) for c in cases}:
            assert len({c["sum"] for c in cases if tuple(c["layer"]) == layer}) == 1, layer


def test_the_tile_shapes_offered_suit_the_product():
    """The heuristic's tile first; a batch's products get tiles that leave an SM room for several
    programs, batch 1's smaller ones; BLOCK_K divides the input channels (one kernel tap a block)
    and no block is much wider than the product."""
    from edgebench.backends.torch_compile.int8_conv import tile, tiles

    batch = tiles(128 * 56 * 56, 256, 64, 64)  # ResNet-50 layer1 1x1 expansion at batch 128
    assert batch[0] == tile(128 * 56 * 56, 256, 64) and (64, 64, 64, 4, 3) in batch
    assert all(t[2] == 64 for t in batch) and len(batch) == 3  # 64 channels: 128-deep blocks halved, one a duplicate
    assert len(tiles(128 * 14 * 14, 1024, 256, 256)) == 4 and (64, 128, 128, 4, 3) in tiles(128 * 14 * 14, 1024, 256, 256)
    narrow = tiles(128 * 56 * 56, 16, 576, 64)  # 3x3, 16 output channels
    assert all(t[1] <= 32 for t in narrow[1:])
    one = tiles(49, 512, 9 * 512, 512)  # layer4's 3x3 at batch 1: 49 output positions
    assert one[0] == tile(49, 512, 9 * 512) and (16, 32, 128, 4, 3) in one and all(t[0] <= 64 for t in one)
    assert (64, 64, 64, 4, 3) in one  # the smallest tile Hopper runs on its FP8 tensor cores
    assert tiles(49, 512, 9 * 96, 96)[1][2] == 32  # 96 channels: 128 halved to 32


def _resources(kernel) -> dict:
    """The compiled kernel's registers, stack and local (spilled) bytes a thread, from its cubin."""
    import re
    import subprocess
    import tempfile

    from triton import knobs

    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(kernel.asm["cubin"])
        f.flush()
        out = subprocess.run([knobs.nvidia.cuobjdump.path, "--dump-resource-usage", f.name],
                             capture_output=True, text=True, check=True).stdout
    return {k: int(v) for k, v in re.findall(r"\b(REG|STACK|LOCAL):(\d+)", out)}


def test_every_tile_shape_offered_for_resnet50_builds_for_orin_and_hopper_without_spilling():
    """Each tile shape tiles() offers for ResNet-50's layers at batch 128 and 1 builds for sm_87
    (Orin) and sm_90 (H100) with the int8 tensor-core product, and in FP8 for sm_89 (Ada: 99 KiB
    of shared memory a block) and sm_90 (the e4m3 product from 64 rows), no register spilled to local
    memory (a spilling tile was offered once: 128 x 256 on 8 warps, 255 registers and 772 bytes
    spilled on sm_90), in at most the architecture's shared memory a block."""
    import torchvision

    from edgebench.backends.torch_compile.int8_conv import compile_for, tiles

    shapes = set()
    for m in torchvision.models.resnet50().modules():
        if isinstance(m, nn.Conv2d) and m.in_channels % 8 == 0:
            k = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
            for rows in (128 * 56 * 56, 128 * 7 * 7, 49, 3136):
                shapes.update(tiles(rows, m.out_channels, k, m.in_channels))
    assert len(shapes) >= 8
    for arch, kind, shared in ((87, "int8", 163), (90, "int8", 227), (89, "fp8", 99), (90, "fp8", 227)):
        for shape in sorted(shapes):
            kernel = built_for_nvidia(lambda: compile_for(arch, geometry=(3, 3, 1, 1, 1, 1), cin=256, tile_shape=shape,
                                                          kind=kind))
            used = _resources(kernel)
            # Hopper's FP8 product is wgmma's, for 64 rows a warp group: Triton runs a smaller tile
            # on FP16 tensor cores, the e4m3 values converted (exactly) as they are loaded
            product = ("s8.s8" if kind == "int8" else "e4m3.e4m3" if arch == 89 or shape[0] >= 64
                       else "cvt.rn.f16x2.e4m3x2")
            assert product in kernel.asm["ptx"] and kernel.metadata.shared <= shared * 1024, (arch, shape)
            assert used["LOCAL"] == 0 and used["STACK"] == 0, (arch, shape, used)


class _Untraceable(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(32, 32, 1)

    def forward(self, x):
        return self.conv(x) if x.sum() > 0 else x  # data-dependent control flow


def test_the_fused_int8_convolution_compiles_for_jetson_orin_here():
    """The Jetson link: the fused kernel (int8 in and out, residual and ReLU) compiles for sm_87
    on this machine, with no GPU, into a cubin that multiplies int8 on the tensor cores."""
    from edgebench.backends.torch_compile.int8_conv import compile_for

    kernel = built_for_nvidia(lambda: compile_for(87))
    assert ".target sm_87" in kernel.asm["ptx"] and "s32.s8.s8.s32" in kernel.asm["ptx"]
    assert len(kernel.asm["cubin"]) > 10_000


@pytest.mark.parametrize("arch, product", [(89, "mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32"),
                                           (90, "wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3")])
def test_the_fused_fp8_convolution_compiles_for_ada_and_hopper_tensor_cores(arch, product):
    """FP8 e4m3 in and out: built for sm_89 (Ada: mma.sync) and sm_90 (Hopper: wgmma) here, its
    product on the FP8 tensor cores; Orin (sm_87) has no FP8, and Triton refuses to build it."""
    from edgebench.backends.torch_compile.int8_conv import compile_for

    ptx = built_for_nvidia(lambda: compile_for(arch, cin=64, kind="fp8")).asm["ptx"]
    assert f".target sm_{arch}" in ptx and product in ptx, [line for line in ptx.splitlines() if "mma" in line][:3]
    with pytest.raises(Exception, match="not supported in this architecture"):
        compile_for(87, kind="fp8")


@pytest.mark.parametrize("geometry, cin", [((1, 1, 1, 1, 0, 0), 256), ((3, 3, 2, 2, 1, 1), 64)])
def test_both_operands_load_as_16_byte_asynchronous_copies_on_hopper(geometry, cin):
    """Built for sm_90 as Triton's JIT builds a real call (aligned pointers, channel counts and
    strides multiples of 16): the input windows and the weights are both fetched with 16-byte
    cp.async copies into the software pipeline, no operand byte by byte (on an H100 the first
    version loaded the weights one byte at a time and lost to cuDNN FP16 on 45 of 52 layers)."""
    from edgebench.backends.torch_compile.int8_conv import compile_for

    ptx = built_for_nvidia(lambda: compile_for(90, geometry=geometry, cin=cin)).asm["ptx"]
    copies = [line for line in ptx.splitlines() if "cp.async.cg.shared.global" in line]
    assert len(copies) >= 16 and all("0x10" in line or ", 16" in line for line in copies), copies[:4]
    assert "ld.global.b8" not in ptx and "wgmma.mma_async" in ptx


@pytest.mark.needs_cuda
@pytest.mark.parametrize("kind, needs", [("int8", (8, 0)), ("fp8", (8, 9))])
def test_the_fused_network_on_a_gpu_inside_torch_compile(kind, needs):
    """On a GPU: the probe passes, and the rewritten network compiled by torch.compile gives what
    it gives eagerly, within INT8's (FP8's) error of the float network."""
    from edgebench.backends.torch_compile import int8_graph
    from edgebench.backends.torch_compile import low_precision as lp

    if torch.cuda.get_device_capability() < needs:
        pytest.skip(f"{kind} tensor cores need sm_{needs[0]}{needs[1]}")
    assert int8_graph.probe("cuda", kind) == ""
    net = _net()
    folded, _, _ = lp.fold_batchnorm(net)
    folded = folded.cuda().half().to(memory_format=torch.channels_last)
    g = torch.Generator().manual_seed(1)
    xs = [torch.randn(32, 3, 16, 16, generator=g) for _ in range(4)]
    batches = [(x.cuda().half().contiguous(memory_format=torch.channels_last),) for x in xs]
    example = batches[0]
    gm, rows, why = int8_graph.fuse_convs(folded, batches, torch.float16, example, kind)
    assert why == "" and all("float_us" in r for r in rows if r["layer"] != "0")
    assert all(len(r["tile"]) == 5 for r in rows if r["choice"] == kind)  # each fused layer in its fastest tile
    with torch.no_grad():
        ref = net.cuda()(xs[0].cuda())
        eager = gm(example[0]).float()
        compiled = torch.compile(gm)(example[0]).float()
    assert float((eager - ref).norm() / ref.norm()) < (0.05 if kind == "int8" else 0.1)
    assert torch.allclose(eager, compiled, atol=1e-2)
