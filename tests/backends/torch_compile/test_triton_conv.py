"""The Triton direct convolution: same outputs as nn.Conv2d/Conv3d, on the CPU through Triton's
interpreter (in a child process: TRITON_INTERPRET must be set before Triton is imported), on a
GPU compiled, inside torch.compile and a CUDA graph."""
import json
import os
import subprocess
import sys
from importlib.util import find_spec

import pytest
import torch
from torch import nn

pytestmark = pytest.mark.skipif(find_spec("triton") is None, reason="needs the triton package (ships with torch on Linux x86_64)")

_INTERPRETED = r'''
import json
import torch
from torch import nn
from edgebench.backends.torch_compile.conv_lowering import lower_convs
from edgebench.backends.torch_compile.triton_conv import CONFIGS, TritonConv

g = torch.Generator().manual_seed(0)
torch.manual_seed(0)
cases = [
    (nn.Conv3d(3, 16, 3, padding=1, bias=False), (1, 3, 4, 8, 8)),
    (nn.Conv3d(5, 12, 3, stride=(1, 2, 2), padding=1), (2, 5, 3, 9, 7)),
    (nn.Conv3d(24, 20, 3, stride=2, padding=1), (1, 24, 4, 8, 8)),
    (nn.Conv2d(3, 8, 11, stride=4, padding=2), (1, 3, 35, 35)),
    (nn.Conv2d(6, 4, (1, 3), padding=(0, 1)), (2, 6, 5, 5)),
]
errors, layouts = [], []
with torch.no_grad():
    for conv, shape in cases:
        x = torch.randn(shape, generator=g)
        ref = conv(x)
        for cfg in CONFIGS:
            got = TritonConv(conv, cfg)(x)
            assert got.shape == ref.shape, (got.shape, ref.shape)
            errors.append(float((got - ref).abs().max() / ref.abs().max()))
        fmt = torch.channels_last if x.dim() == 4 else torch.channels_last_3d
        layouts.append(got.is_contiguous(memory_format=fmt))
        half = TritonConv(conv.half())(x.half()).float()  # FP16 in, FP32 accumulation, FP16 out
        errors.append(float((half - conv.float()(x)).abs().max() / ref.abs().max()) / 10)  # FP16 rounding: 10x looser
        conv.float()
    net = nn.Sequential(nn.Conv3d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv3d(6, 4, 1)).eval()
    x = torch.randn(1, 3, 4, 6, 6, generator=g)
    ref = net(x)
    decisions = lower_convs(net, x, "auto", iters=2, triton=True)
    out = net(x)
print(json.dumps({"errors": errors, "layouts": layouts, "decisions": decisions,
                  "net_error": float((out - ref).abs().max()), "chosen": type(net[0]).__name__}))
'''


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU the compiled kernel is tested instead (the GPU tests below); "
                    "Triton 3.6's interpreter, on the lent GPU machines, cannot take a runtime loop bound")
def test_triton_conv_matches_the_convolution_in_the_interpreter():
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    out = subprocess.run([sys.executable, "-c", _INTERPRETED], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert max(res["errors"]) < 1e-4, res["errors"]
    assert all(res["layouts"])  # the product's rows are output positions: NHWC/NDHWC
    spatial, pointwise = res["decisions"]
    assert spatial["triton_us"] > 0 and len(spatial["triton_config"]) == 3 and "triton_us" not in pointwise
    assert spatial["choice"] in ("native", "im2col", "triton") and pointwise["choice"] in ("native", "im2col")
    assert res["chosen"] == {"native": "Conv3d", "im2col": "Im2colConv", "triton": "TritonConv"}[spatial["choice"]]
    assert res["net_error"] < 1e-4


def test_lower_convs_reports_why_triton_was_not_tried(monkeypatch):
    from edgebench.backends.torch_compile import conv_lowering

    monkeypatch.setitem(sys.modules, "edgebench.backends.torch_compile.triton_conv", None)  # import fails as without Triton
    net, x = nn.Sequential(nn.Conv2d(3, 4, 3)).eval(), torch.randn(1, 3, 8, 8)
    (row,) = conv_lowering.lower_convs(net, x, "auto", iters=2, triton=True)
    assert row["triton_skipped"].startswith("triton unavailable") and row["choice"] in ("native", "im2col")


def test_long_reductions_are_left_to_cudnn():
    from edgebench.backends.torch_compile.conv_lowering import lower_convs
    from edgebench.backends.torch_compile.triton_conv import MAX_REDUCTION

    net = nn.Sequential(nn.Conv2d(MAX_REDUCTION // 9 + 1, 4, 3)).eval()  # (Cin x 3 x 3) just over the limit
    (row,) = lower_convs(net, torch.randn(1, net[0].in_channels, 6, 6), "auto", iters=2, triton=True)
    assert row["triton_skipped"].startswith("reduction") and "triton_us" not in row


@pytest.mark.needs_cuda
@pytest.mark.parametrize("conv, shape", [(nn.Conv3d(16, 12, 3, padding=1, bias=False), (1, 16, 8, 16, 16)),
                                         (nn.Conv2d(3, 64, 11, stride=4, padding=2), (1, 3, 224, 224))])
def test_gpu_triton_conv_in_torch_compile_and_a_cuda_graph(conv, shape):
    from edgebench.backends.torch_compile.triton_conv import CONFIGS, TritonConv

    conv = conv.cuda().half().eval()
    fmt = torch.channels_last if len(shape) == 4 else torch.channels_last_3d
    x = torch.randn(shape, device="cuda", dtype=torch.half).contiguous(memory_format=fmt)
    with torch.no_grad():
        ref = conv(x).float()
        for cfg in CONFIGS:
            torch.testing.assert_close(TritonConv(conv, cfg)(x).float(), ref, rtol=2e-2, atol=2e-2)
        compiled = torch.compile(nn.Sequential(TritonConv(conv), nn.ReLU()), options={"freezing": True})
        for _ in range(2):
            compiled(x)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out = compiled(x)
        x.copy_(torch.randn_like(x))
        graph.replay()
        torch.cuda.synchronize()
        torch.testing.assert_close(out.float(), torch.relu(conv(x).float()), rtol=2e-2, atol=2e-2)
