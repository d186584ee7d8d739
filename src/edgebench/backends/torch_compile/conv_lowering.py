"""Convolutions lowered to im2col + one matrix multiply or to edgebench's Triton kernel, chosen
per layer by timing.

At batch 1, cuDNN's kernels for small convolutions (few input channels, 3-D kernels on short
clips, AlexNet's 3-channel 11x11 first layer) run far below the GPU's memory and compute
rates. The same convolution written as a gather of the input windows (a copy kernel, which
Inductor may fuse with the pointwise ops before it) and one cuBLAS matrix multiply is sometimes
faster there, and usually slower on large feature maps. `lower_convs(..., mode="auto")` times
both forms of every eligible layer on its real input shape, recorded into a CUDA graph as they
will run, and swaps in the im2col form only where it wins; the arithmetic is the same
convolution (same weights, accumulation in float32 by cuBLAS as by cuDNN). With `triton=True`
(the torch-compile default on CUDA) the direct implicit-GEMM kernel of triton_conv.py, in each
of its tile shapes, is a third candidate for every layer with a spatial kernel (1x1 layers are
plain matrix products, which cuDNN and cuBLAS already do well) and a short reduction
(triton_conv.MAX_REDUCTION)."""
from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F
from torch import nn

MODES = ("off", "auto", "all")
MIN_GAIN = 0.10  # swap only when the im2col form is at least 10% faster: timing noise is a few %


class Im2colConv(nn.Module):
    """A Conv2d/Conv3d (groups 1, dilation 1, zero padding) as pad + window gather + matmul.
    Channels-last in and out: the product's rows are output positions and its columns output
    channels, which is the NHWC/NDHWC layout, so the result is a permuted view, no copy."""

    def __init__(self, conv: nn.Module):
        super().__init__()
        if not eligible(conv):
            raise ValueError(f"{type(conv).__name__} with groups={conv.groups}, dilation={conv.dilation}, "
                             f"padding={conv.padding!r} cannot be lowered to im2col")
        self.dims = conv.weight.dim() - 2
        self.kernel = tuple(conv.kernel_size)
        self.stride = tuple(conv.stride)
        self.padding = tuple(conv.padding)
        w = conv.weight.detach()  # (Cout, Cin, *k) -> (k..., Cin) x Cout, matching the window order
        cout = w.shape[0]
        self.weight = nn.Parameter(w.permute(0, *range(2, 2 + self.dims), 1).reshape(cout, -1).t().contiguous(),
                                   requires_grad=False)
        self.bias = None if conv.bias is None else nn.Parameter(conv.bias.detach().clone(), requires_grad=False)

    def forward(self, x):
        cols, out_spatial = windows(x, self.kernel, self.stride, self.padding)
        y = cols @ self.weight
        if self.bias is not None:
            y = y + self.bias
        return y.view(x.shape[0], *out_spatial, -1).movedim(-1, 1)


def windows(x, kernel: tuple, stride: tuple, padding: tuple):
    """The im2col rows of x (N, C, spatial...) for a convolution of that geometry (zero padding,
    dilation 1): (N * output positions, k... * C), each row one output position's window with
    the channel fastest, and the output's spatial size. Channels-last x gives rows whose product
    with (k... * C, Cout) weights is the NHWC/NDHWC output."""
    dims = len(kernel)
    pad = []
    for p in reversed(padding):
        pad += [p, p]
    if any(pad):
        x = F.pad(x, pad)
    x = x.movedim(1, -1)  # N, spatial..., C
    for d in range(dims):  # -> N, out spatial..., C, k...
        x = x.unfold(1 + d, kernel[d], stride[d])
    out_spatial = tuple(x.shape[1:1 + dims])
    return x.movedim(1 + dims, -1).reshape(-1, x.shape[1 + dims] * math.prod(kernel)), out_spatial


def eligible(conv: nn.Module) -> bool:
    """Plain 2-D/3-D convolutions with integer zero padding, no groups and no dilation. A subclass
    whose forward is its own (an EfficientNet port's "same" padding) is not plain: its attributes
    do not say all it computes."""
    return (isinstance(conv, (nn.Conv2d, nn.Conv3d)) and type(conv).forward in (nn.Conv2d.forward, nn.Conv3d.forward)
            and conv.groups == 1
            and all(d == 1 for d in conv.dilation) and conv.padding_mode == "zeros"
            and not isinstance(conv.padding, str))


def layer_inputs(module: nn.Module, names: list[str], batches, record) -> None:
    """Run `module` on each of `batches` (a tensor, or a tuple of them for several inputs) with
    `record(name, x)` called on the input `x` of each layer in `names` (forward pre-hooks, removed
    afterwards; the inputs pass through unchanged)."""
    def hook(name):
        def pre_hook(_module, args):  # returns None: a value returned would replace the inputs
            record(name, args[0])
        return pre_hook

    hooks = [module.get_submodule(name).register_forward_pre_hook(hook(name)) for name in names]
    try:
        with torch.no_grad():
            for batch in batches:
                module(*(batch if isinstance(batch, tuple) else (batch,)))
    finally:
        for h in hooks:
            h.remove()


def _input_shapes(module: nn.Module, example) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    names = [name for name, m in module.named_modules() if eligible(m)]
    layer_inputs(module, names, [example], lambda name, x: shapes.setdefault(name, tuple(x.shape)))
    return shapes


#: seconds each form of a layer is run before it is timed: a GPU idle between layers (Python,
#: graph captures) runs its first calls at idle clocks (an H100 reported 345 of 1980 MHz at a
#: run's start), which made layers timed alone several times slower than inside the model.
#: trtexec warms up 200 ms per engine; this is per layer form, a few hundred forms per model.
WARM_S = 0.03


def _keep_busy(call, seconds: float, sync=None) -> None:
    """`call()` repeatedly, in groups of 8 (then `sync()`), until `seconds` have passed."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(8):
            call()
        if sync is not None:
            sync()


#: on CUDA, a timed replay runs the layer enough times back to back to last about this long
#: (at most MAX_CALLS_PER_REPLAY): events around one replay of one call also time the graph's
#: launch, a floor of several microseconds that made every layer of ResNet-50 at batch 1 time at
#: 11 to 16 us in both forms on an H100, where the whole 54-layer model ran in 0.37 ms
REPLAY_S = 200e-6
MAX_CALLS_PER_REPLAY = 32


def calls_per_replay(one_call_s: float) -> int:
    """How many calls of a layer one timed replay records, given one call's replay time."""
    return max(1, min(MAX_CALLS_PER_REPLAY, math.ceil(REPLAY_S / max(one_call_s, 1e-9))))


def time_layer_s(fn, x, iters: int) -> float:
    """Median seconds per call, after WARM_S of calls: on CUDA, the call recorded into a CUDA
    graph (as it will run; calls_per_replay of them back to back) and timed with events; on the
    CPU, wall-clock."""
    with torch.no_grad():
        for _ in range(3):
            fn(x)
        if x.device.type != "cuda":
            _keep_busy(lambda: fn(x), WARM_S)
            times = []
            for _ in range(iters):
                t0 = time.perf_counter()
                fn(x)
                times.append(time.perf_counter() - t0)
            return sorted(times)[len(times) // 2]
        graph = _captured(fn, x, 1)
        _keep_busy(graph.replay, WARM_S, torch.cuda.synchronize)
        calls = calls_per_replay(_replay_s(graph, 3))
        if calls > 1:
            del graph
            graph = _captured(fn, x, calls)
        times = sorted(_replay_s(graph, 1) for _ in range(iters))
        del graph
        return times[len(times) // 2] / calls


def _captured(fn, x, calls: int):
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(calls):
            fn(x)
    return graph


def _replay_s(graph, samples: int) -> float:
    """The median of `samples` replays' event times, seconds."""
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(samples):
        start.record()
        graph.replay()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return sorted(times)[len(times) // 2]


def set_layer(module: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(module.get_submodule(parent) if parent else module, leaf, new)


def _triton_candidates(conv: nn.Module, x, iters: int) -> tuple[float, nn.Module | None, str | None]:
    """Best time (s) of the Triton kernel for `conv` on `x` and the TritonConv in that tile
    shape, or the reason none ran."""
    try:
        from edgebench.backends.torch_compile.triton_conv import CONFIGS, MAX_REDUCTION, TritonConv
    except ImportError as exc:  # Triton ships with CUDA builds of torch; absent elsewhere
        return float("inf"), None, f"triton unavailable: {exc}"
    reduction = conv.in_channels * conv.weight[0, 0].numel()
    if reduction > MAX_REDUCTION:
        return float("inf"), None, f"reduction {reduction} > {MAX_REDUCTION}"
    out_elems = x.numel() // conv.in_channels * conv.out_channels  # the output size at stride 1, no padding growth
    if max(x.numel(), out_elems) >= 2**31:
        return float("inf"), None, "tensor too large for the kernel's 32-bit offsets"
    best, best_mod = float("inf"), None
    for cfg in CONFIGS:
        mod = TritonConv(conv, cfg).to(conv.weight.device)
        t = time_layer_s(mod, x, iters)
        if t < best:
            best, best_mod = t, mod
    return best, best_mod, None


def apply_decisions(module: nn.Module, decisions: list[dict]) -> list[dict]:
    """The swaps `decisions` (lower_convs' rows, from a cached compile of the same model, shapes
    and device) record, made again without timing any layer; the rows, each marked `cached`."""
    out = []
    for row in decisions:
        conv = module.get_submodule(row["layer"])
        if row["choice"] == "im2col":
            set_layer(module, row["layer"], Im2colConv(conv).to(conv.weight.device))
        elif row["choice"] == "triton":
            from edgebench.backends.torch_compile.triton_conv import TritonConv

            set_layer(module, row["layer"], TritonConv(conv, tuple(row["triton_config"])).to(conv.weight.device))
        out.append({**row, "cached": True})
    return out


def lower_convs(module: nn.Module, example, mode: str = "auto", iters: int = 30, triton: bool = False) -> list[dict]:
    """Replace eligible convolutions of `module` (in place) by a faster form: the im2col form for
    every one (`all`), or (`auto`) whichever of im2col and, with `triton`, the Triton kernel in
    its best tile shape timed at least MIN_GAIN faster than the layer itself on its input shape
    from `example`. Returns one decision per eligible layer: name, input shape, `choice`
    (native, im2col or triton) and, for `auto`, each timing in microseconds."""
    if mode not in MODES:
        raise ValueError(f"im2col mode {mode!r} is not one of {', '.join(MODES)}")
    if mode == "off":
        return []
    shapes = _input_shapes(module, example)
    fmt = {4: torch.channels_last, 5: torch.channels_last_3d}
    decisions = []
    for name, shape in shapes.items():
        conv = module.get_submodule(name)
        low = Im2colConv(conv).to(conv.weight.device)
        row = {"layer": name, "input_shape": list(shape)}
        new = low
        if mode == "auto":
            x = torch.randn(shape, device=conv.weight.device, dtype=conv.weight.dtype)
            x = x.contiguous(memory_format=fmt[len(shape)])
            native_key = "cudnn_us" if x.device.type == "cuda" else "native_us"
            row[native_key] = native = time_layer_s(conv, x, iters) * 1e6
            row["im2col_us"] = time_layer_s(low, x, iters) * 1e6
            times = {"im2col": row["im2col_us"]}
            if triton and any(k > 1 for k in conv.kernel_size):
                best, tconv, why = _triton_candidates(conv, x, iters)
                if why:
                    row["triton_skipped"] = why  # not available, a reduction too long to win, or too large
                else:
                    row["triton_us"] = times["triton"] = best * 1e6
                    row["triton_config"] = tconv.config
            choice = min(times, key=times.get)
            row["choice"] = choice if times[choice] < native * (1 - MIN_GAIN) else "native"
            if row["choice"] == "triton":
                new = tconv
        else:
            row["choice"] = "im2col"
        row["lowered"] = row["choice"] != "native"
        if row["lowered"]:
            set_layer(module, name, new)
        decisions.append(row)
    return decisions
