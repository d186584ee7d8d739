"""INT8 and FP8 (e4m3) convolutions and linear layers for torch-compile: what TensorRT's reduced-
precision engines do on a Jetson, done with PyTorch's own low-precision matrix products.

`quantize(module, calibration, kind)` swaps each eligible convolution and linear layer for a
`LowPrecisionConv`/`LowPrecisionLinear` in place:
- BatchNorm is folded into the convolution before it first (torch.fx's conv-bn fusion, where
  the model traces);
- weights are quantised symmetrically per output channel (INT8: scale = max |w| / 127; FP8
  e4m3: max |w| / 448);
- the activation entering the layer gets one symmetric per-tensor scale from calibration: the
  largest |x| seen over the task's calibration inputs, run through the float model (as the ONNX
  INT8 path calibrates);
- the layer then computes its input's im2col windows (a reshape for a 1x1 convolution
  channels-last, a gather otherwise) in the low precision and one tensor-core product with the
  per-channel dequantisation and the bias after it. On CUDA, INT8 runs triton_int8's kernel,
  which fuses the dequantisation and writes FP16 once, and FP8 on Hopper runs
  `torch._scaled_mm` with a scale per row and per output channel, writing BF16; elsewhere (and on
  the CPU) `torch._int_mm` (int8 x int8 -> int32) or per-tensor `torch._scaled_mm` (-> float32),
  then the dequantisation. The next layer's ReLU and quantisation are one pointwise kernel.

A layer the products do not serve stays in FP16 and says why: grouped or depthwise convolutions
(no GEMM of useful size), dilated ones, reductions or output widths the products' alignment
rules refuse (a multiple of 8 for INT8, 16 for FP8), too few rows (`_int_mm` needs more than 16:
a classifier's head at batch 1), and, timed on CUDA on its real input shape, a convolution whose
low-precision gather and product is not faster than the float layer. Each layer's choice is one
row of the returned list."""
from __future__ import annotations

import torch
from torch import nn

from edgebench.backends.base import CALIBRATED_PRECISIONS
from edgebench.backends.torch_compile.conv_lowering import layer_inputs, set_layer, time_layer_s, windows

KINDS = CALIBRATED_PRECISIONS
#: the largest magnitude each kind represents (symmetric INT8 uses -127..127, so that -x is x's negation)
QMAX = {"int8": 127.0, "fp8": 448.0}
#: the dimensions each product needs to be multiples of (torch._int_mm: 8; torch._scaled_mm: 16)
ALIGN = {"int8": 8, "fp8": 16}
#: _int_mm needs more rows than this
MIN_ROWS = 16
#: reductions shorter than this gain nothing from a low-precision product (a 3-channel stem)
MIN_REDUCTION = 32
#: with per-layer timing, a convolution's low-precision form must be this much faster to be kept
#: (a margin for the timing's noise and the quantisation it leaves out)
MIN_GAIN = 0.10


def storage_dtype(kind: str):
    return torch.int8 if kind == "int8" else torch.float8_e4m3fn


def quantize_tensor(x, scale, kind: str):
    """x / scale rounded into the kind's range and stored in its dtype (scale broadcasts)."""
    q = x.float() / scale
    if kind == "int8":
        return torch.clamp(torch.round(q), -127, 127).to(torch.int8)
    return torch.clamp(q, -QMAX["fp8"], QMAX["fp8"]).to(torch.float8_e4m3fn)


def per_channel(weight_2d, kind: str):
    """(weight_2d (N, K) quantised symmetrically per output channel in the kind's dtype, each
    channel's scale: max |w| / QMAX)."""
    w = weight_2d.detach().float()
    scale = (w.abs().amax(dim=1) / QMAX[kind]).clamp(min=1e-12)
    return quantize_tensor(w, scale[:, None], kind), scale


def window_weight(conv: nn.Conv2d):
    """The convolution's weight as (Cout, kh * kw * Cin): the order of conv_lowering.windows'
    columns (a window's channels fastest)."""
    w = conv.weight.detach()
    return w.permute(0, 2, 3, 1).reshape(w.shape[0], -1)


def _product(cols, weight_t, in_scale, kind: str):
    """cols (M, K) and weight_t (K, N), both in the kind's dtype -> float32 (M, N) still to be
    multiplied by the per-channel weight scale. weight_t is a transposed (N, K) tensor: the
    column-major right operand the tensor-core products want."""
    if kind == "int8":
        return torch._int_mm(cols, weight_t).float() * in_scale
    one = torch.ones((), device=cols.device, dtype=torch.float32)
    return torch._scaled_mm(cols, weight_t, scale_a=in_scale.float().reshape(()), scale_b=one, out_dtype=torch.float32)


class _LowPrecision(nn.Module):
    """What both layers share: the quantised weights (N, K) with one scale per output channel,
    the input's scale, the float bias, and the dtype outputs come back in."""

    def __init__(self, weight_2d, bias, in_scale: float, kind: str, out_dtype):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"low-precision kind must be one of {', '.join(KINDS)}, not {kind!r}")
        self.kind = kind
        self.out_dtype = out_dtype
        weight, w_scale = per_channel(weight_2d, kind)
        self.register_buffer("weight", weight)  # (N, K)
        self.register_buffer("weight_scale", w_scale)
        self.register_buffer("in_scale", torch.tensor(max(float(in_scale), 1e-12), dtype=torch.float32))
        self.register_buffer("out_scale", self.weight_scale * self.in_scale)  # each output channel's dequantisation
        self.register_buffer("bias", None if bias is None else bias.detach().float().clone())
        #: "" (torch's products), "triton-int8" (triton_int8's fused kernel) or "fp8-rowwise"
        #: (per-row and per-channel scales, Hopper's cuBLASLt, BF16 out): gpu_path() picks it
        self.gpu_path = ""

    def for_gpu(self, path: str) -> "_LowPrecision":
        self.gpu_path = path
        return self

    def _finish(self, cols_q):
        """The product of quantised rows with the weights, dequantised, biased, in out_dtype."""
        if self.gpu_path == "triton-int8" and self.out_dtype in (torch.float16, torch.bfloat16):
            from edgebench.backends.torch_compile.triton_int8 import fused_int8_mm

            return fused_int8_mm(cols_q, self.weight, self.out_scale, self.bias, self.out_dtype)
        if self.gpu_path == "fp8-rowwise":
            rows = self.in_scale.expand(cols_q.shape[0], 1).contiguous()
            y = torch._scaled_mm(cols_q, self.weight.t(), scale_a=rows, scale_b=self.weight_scale.view(1, -1),
                                 out_dtype=torch.bfloat16)
            return (y if self.bias is None else y + self.bias).to(self.out_dtype)
        y = _product(cols_q, self.weight.t(), self.in_scale, self.kind) * self.weight_scale
        if self.bias is not None:
            y = y + self.bias
        return y.to(self.out_dtype)


class LowPrecisionConv(_LowPrecision):
    """A Conv2d (groups 1, dilation 1, zero padding) as quantise + im2col + one low-precision
    product + dequantise; channels-last in and out."""

    def __init__(self, conv: nn.Conv2d, in_scale: float, kind: str, out_dtype=torch.float16):
        super().__init__(window_weight(conv), conv.bias, in_scale, kind, out_dtype)
        self.kernel = tuple(conv.kernel_size)
        self.stride = tuple(conv.stride)
        self.padding = tuple(conv.padding)

    def columns(self, xq):
        """The quantised input's im2col rows (N * OH * OW, kh * kw * C) and (N, OH, OW)
        (conv_lowering.windows; for a 1x1 convolution of stride 1, a view of a channels-last
        input). FP8 is gathered as its bytes (e4m3's zero is the byte 0, so zero padding stays zero)."""
        x = xq.view(torch.int8) if self.kind == "fp8" else xq
        if (*self.kernel, *self.stride, *self.padding) == (1, 1, 1, 1, 0, 0):
            x = x.movedim(1, -1)  # N, H, W, C: a view of a channels-last tensor
            cols, (oh, ow) = x.reshape(-1, x.shape[-1]), x.shape[1:3]
        else:
            cols, (oh, ow) = windows(x, self.kernel, self.stride, self.padding)
        return (cols.view(torch.float8_e4m3fn) if self.kind == "fp8" else cols), (xq.shape[0], oh, ow)

    def forward(self, x):
        cols, (n, oh, ow) = self.columns(quantize_tensor(x, self.in_scale, self.kind))
        return self._finish(cols).view(n, oh, ow, -1).movedim(-1, 1)


class LowPrecisionLinear(_LowPrecision):
    """A Linear layer as quantise + one low-precision product + dequantise."""

    def __init__(self, linear: nn.Linear, in_scale: float, kind: str, out_dtype=torch.float16):
        super().__init__(linear.weight, linear.bias, in_scale, kind, out_dtype)

    def forward(self, x):
        lead = x.shape[:-1]
        return self._finish(quantize_tensor(x.reshape(-1, x.shape[-1]), self.in_scale, self.kind)).view(*lead, -1)


def fold_batchnorm(module: nn.Module) -> tuple[nn.Module, int, str]:
    """(the module with every Conv -> BatchNorm pair folded into the convolution, how many were
    folded, why none could be): torch.fx's conv-bn fusion on the traced module, after
    convolutions computed by F.conv2d in a Conv2d subclass's own forward became plain ones
    (functional_convs_as_modules). A model that does not trace is returned as it is: its
    BatchNorms then run in FP16 after the dequantisation."""
    from torch import fx
    from torch.fx.experimental.optimization import fuse

    before = sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())
    if not before:
        return module, 0, ""
    try:
        traced = fx.symbolic_trace(module.eval())
        functional_convs_as_modules(traced, module)
        fused = fuse(traced, inplace=False, no_trace=True)
    except Exception as exc:  # noqa: BLE001 - any tracing failure leaves the model unfolded
        return module, 0, f"BatchNorm not folded: the model does not trace with torch.fx ({type(exc).__name__})"
    after = sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in fused.modules())
    if after == before:  # nothing folded: the module as it was, not its traced copy
        return module, 0, "BatchNorm not folded: no convolution -> BatchNorm pair torch.fx can fuse"
    return fused, before - after, ""


_CONV2D_ARGS = (("input", None), ("weight", None), ("bias", None), ("stride", 1), ("padding", 0), ("dilation", 1),
                ("groups", 1))


def functional_convs_as_modules(gm, root: nn.Module) -> int:
    """In `gm`, traced from `root` (in place), each F.conv2d call on the weights of a Conv2d subclass with
    a forward of its own (an EfficientNet port's "same" padding: a padding child, then F.conv2d)
    becomes a call of a plain Conv2d holding the same parameters, at `<layer>.conv` (the padding
    step stays its own node). Only where the geometry is constant and the layer is not also
    called as a module. Returns how many layers were converted."""
    import torch.nn.functional as F
    from torch import fx

    called = {n.target for n in gm.graph.nodes if n.op == "call_module"}
    done: dict = {}
    for node in list(gm.graph.nodes):
        if node.op != "call_function" or node.target not in (F.conv2d, torch.conv2d):
            continue
        vals = dict(_CONV2D_ARGS)
        vals.update(zip(vals, node.args))
        vals.update(node.kwargs)
        w, b = vals["weight"], vals["bias"]
        if not (isinstance(w, fx.Node) and w.op == "get_attr" and w.target.endswith(".weight")):
            continue
        path = w.target[: -len(".weight")]
        owner = root.get_submodule(path)  # the traced copy holds only what its graph reads
        geometry = tuple(vals[k] for k in ("stride", "padding", "dilation", "groups"))
        if (type(owner) is nn.Conv2d or not isinstance(owner, nn.Conv2d) or path in called
                or any(isinstance(v, (fx.Node, str)) for v in geometry)
                or not (b is None or isinstance(b, fx.Node) and b.op == "get_attr" and b.target == f"{path}.bias")):
            continue
        stride, padding, dilation, groups = geometry
        conv = nn.Conv2d(owner.weight.shape[1] * groups, owner.weight.shape[0], tuple(owner.weight.shape[2:]), stride=stride,
                         padding=padding, dilation=dilation, groups=groups, bias=b is not None).train(owner.training)
        if path in done:
            target, first = done[path]
            if (conv.stride, conv.padding, conv.dilation, conv.groups) != (first.stride, first.padding, first.dilation,
                                                                            first.groups):
                continue  # the layer's weights in two convolutions of different geometry
        else:
            conv.weight = owner.weight
            if b is not None:
                conv.bias = owner.bias
            # beside the layer's other children (its padding step), which the graph still calls by path
            container = gm.get_submodule(path)
            name = next(n for n in ("conv", "conv2d", "conv2d_fx") if not hasattr(container, n))
            container.add_module(name, conv)
            target, first = done[path] = (f"{path}.{name}", conv)
        with gm.graph.inserting_before(node):
            new = gm.graph.call_module(target, (vals["input"],))
        node.replace_all_uses_with(new)
        gm.graph.erase_node(node)
    if done:
        gm.graph.eliminate_dead_code()
        gm.recompile()
    return len(done)


def why_not(layer: nn.Module, kind: str, aligned: bool = True) -> str:
    """Why `layer` stays in floating point ("" where it can be quantised), from its shape alone.
    `aligned`: the product needs the reduction and output width multiples of ALIGN[kind] (torch's
    `_int_mm` and `_scaled_mm`; the fused kernel of int8_conv.py masks any width and does not)."""
    align = ALIGN[kind] if aligned else 1
    if isinstance(layer, (nn.Conv2d, nn.Linear)) and type(layer).forward not in (nn.Conv2d.forward, nn.Linear.forward):
        return f"{type(layer).__name__} has a forward of its own: its attributes do not say all it computes"
    if isinstance(layer, nn.Linear):
        k, n = layer.in_features, layer.out_features
    elif isinstance(layer, nn.Conv2d):
        if layer.groups != 1:
            return f"grouped convolution (groups {layer.groups}): no product of useful size"
        if any(d != 1 for d in layer.dilation) or layer.padding_mode != "zeros" or isinstance(layer.padding, str):
            return "dilated, non-zero-padded or 'same'-padded convolution"
        k, n = layer.in_channels * layer.kernel_size[0] * layer.kernel_size[1], layer.out_channels
    else:
        return f"{type(layer).__name__} is not a convolution or linear layer"
    if k < MIN_REDUCTION:
        return f"reduction {k} < {MIN_REDUCTION}: too short to gain"
    if k % align or n % align:
        return f"reduction {k} or output width {n} not a multiple of {align}, as the {kind} product needs"
    return ""


def kept_summary(rows: list[dict], kind: str) -> str:
    """How many of quantize()'s rows stayed in floating point, by reason (its text before any ':'):
    '2 reduction 27 < 32; 1 grouped convolution (groups 64)'."""
    counts: dict[str, int] = {}
    for row in rows:
        if row["choice"] != kind:
            reason = row["reason"].split(":")[0]
            counts[reason] = counts.get(reason, 0) + 1
    return "; ".join(f"{n} {reason}" for reason, n in counts.items())


def calibrate(module: nn.Module, layers: list[str], batches) -> dict[str, float]:
    """{layer: the largest |input| it saw} over `batches` (tuples of tensors on the module's
    device), run through the float module."""
    amax = dict.fromkeys(layers, 0.0)

    def record(name, x):
        amax[name] = max(amax[name], float(x.detach().abs().max()))

    layer_inputs(module, layers, batches, record)
    return amax


def gpu_path(kind: str, device, capability: tuple[int, int]) -> tuple[str, str]:
    """(the fused product `kind`'s layers use on `device`, "" where they use torch's; why not, or
    ""). The fused path is tried once on a small layer and must agree with torch's products
    (relative error < 1%): a kernel that fails or disagrees on this GPU, driver or Triton is not
    used, and the row says so, rather than every layer failing with it."""
    wanted = "triton-int8" if kind == "int8" else "fp8-rowwise" if capability >= (9, 0) else ""
    if not wanted:
        return "", ""
    try:
        gen = torch.Generator().manual_seed(0)
        linear = nn.Linear(64, 32)
        with torch.no_grad():
            linear.weight.copy_(torch.randn(32, 64, generator=gen))
        x = torch.randn(48, 64, generator=gen).to(device, torch.float16)
        low = LowPrecisionLinear(linear, float(x.abs().max()) / QMAX[kind], kind, torch.float16).to(device)
        with torch.no_grad():
            ref = low(x).float()
            got = low.for_gpu(wanted)(x).float()
        err = float((got - ref).norm() / ref.norm())
    except Exception as exc:  # noqa: BLE001 - any failure of the fused kernel leaves torch's products
        text = str(exc).strip().splitlines()
        return "", f"{wanted} failed here ({type(exc).__name__}: {text[0][:160] if text else ''}); torch's products used"
    if not err < 0.01:
        return "", f"{wanted} disagreed with torch's products (relative error {err:.3g}); torch's products used"
    return wanted, ""


def quantize(module: nn.Module, calibration, kind: str, rows: int, out_dtype=torch.float16,
             example: tuple | None = None, path: str = "", types=(nn.Conv2d, nn.Linear),
             known: dict | None = None) -> list[dict]:
    """Swap `module`'s eligible layers (in place; BatchNorm already folded, float parameters
    already in `out_dtype`) for their `kind` form, calibrated on `calibration` (batches: tuples of
    tensors on its device, in its dtype). `rows`: the rows a linear layer's product gets at the
    benchmark batch (the batch size). `path`: gpu_path()'s choice, on CUDA. With `example` (a
    benchmark batch, on CUDA), each convolution is kept in floating point unless its
    low-precision gather and product, timed on its real input shape, beat the float layer by
    MIN_GAIN (faster). `types`: the layer classes considered (int8_graph fuses the convolutions
    itself and leaves the linear layers to this). Returns one row per
    convolution and linear layer: name, choice ("int8"/"fp8", or "fp16" where it stays), why it
    stays, and with `example` both timings in microseconds. `known`: layer name -> (float us, low
    us) from an earlier build of this model here (the backend's cache): those layers are not timed
    again, so the same layers are chosen."""
    candidates, decisions = [], []
    for name, layer in module.named_modules():
        if not isinstance(layer, types):
            continue
        reason = why_not(layer, kind)
        if not reason and kind == "int8" and isinstance(layer, nn.Linear) and rows <= MIN_ROWS:
            reason = f"too few rows ({rows} at this batch): torch._int_mm needs more than {MIN_ROWS}"
        if reason:
            decisions.append({"layer": name, "choice": "fp16", "reason": reason})
        else:
            candidates.append(name)
            decisions.append({"layer": name, "choice": kind, "reason": ""})
    amax = calibrate(module, candidates, calibration)
    shapes = _input_shapes(module, candidates, example) if example is not None else {}
    timings: dict = {}  # (layer geometry, input shape) -> (float us, low us): repeated blocks time once
    for row in decisions:
        name = row["layer"]
        if name not in amax:
            continue
        layer = module.get_submodule(name)
        if amax[name] == 0.0:
            row.update(choice="fp16", reason="its input was zero on every calibration input")
            continue
        cls = LowPrecisionConv if isinstance(layer, nn.Conv2d) else LowPrecisionLinear
        low = cls(layer, amax[name] / QMAX[kind], kind, out_dtype).to(layer.weight.device)
        if layer.weight.is_cuda:
            row["gpu_path"] = low.for_gpu(path).gpu_path or "torch"
        if name in shapes and isinstance(low, LowPrecisionConv):
            key = (repr(layer), shapes[name])
            if len((known or {}).get(name, ())) == 2:  # a fused layer's entry (it names its tile) is not this path's
                timings[key] = tuple(known[name])
            elif key not in timings:
                timings[key] = _timings_us(layer, low, shapes[name])
            t_float, t_low = timings[key]
            row.update(float_us=t_float, low_us=t_low)
            if t_low > t_float * (1 - MIN_GAIN):
                row.update(choice="fp16", reason=f"not faster here: {kind} gather + product {t_low:.1f} us against "
                                                 f"{t_float:.1f} us in {str(out_dtype).split('.')[-1]}")
                continue
        set_layer(module, name, low)
    return decisions


def _input_shapes(module: nn.Module, names: list[str], example: tuple) -> dict:
    """{layer: (its input's shape, whether channels-last)} on one forward of `example`."""
    shapes = {}

    def record(name, x):
        shapes.setdefault(name, (tuple(x.shape), x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)))

    layer_inputs(module, names, [example], record)
    return shapes


def _timings_us(layer: nn.Module, low: "LowPrecisionConv", shape) -> tuple[float, float]:
    """(the float layer's time, the low-precision gather + product + dequantisation's time),
    microseconds, on a random input of `shape`, each recorded into a CUDA graph and replayed
    (conv_lowering's timing). The input's quantisation is left out: Inductor fuses it into the
    pointwise kernel (ReLU) before the layer, which a float layer has as well."""
    size, channels_last = shape
    w = layer.weight
    x = torch.randn(size, device=w.device, dtype=w.dtype)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    xq = quantize_tensor(x, low.in_scale, low.kind)
    if channels_last:
        xq = xq.contiguous(memory_format=torch.channels_last)
    def core(q):
        return low._finish(low.columns(q)[0])

    return round(time_layer_s(layer, x, 20) * 1e6, 2), round(time_layer_s(core, xq, 20) * 1e6, 2)
