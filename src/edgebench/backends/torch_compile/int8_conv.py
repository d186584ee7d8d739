"""An INT8 convolution in Triton with everything around it fused, as TensorRT's INT8 engines run
a ResNet: implicit GEMM on the tensor cores (int8 x int8 accumulated in int32, the input's windows
gathered on the fly, nothing materialised), then one epilogue: each output channel's
dequantisation, the bias (BatchNorm folded into it), the residual branch's add, the ReLU and,
where every reader of the output is another INT8 layer, its quantisation to int8 for that layer.
An activation between two such layers then crosses memory once, in int8.

Input: channels-last (NHWC), int8 with the scale it was stored with, or FP16/BF16 quantised while
it is loaded. Residual: none, FP16/BF16, or int8 with its scale. Output: int8 (for the next INT8
layers) or FP16/BF16. Registered as `edgebench::int8_conv` so torch.compile treats it as one
opaque kernel and CUDA graphs record it; it also runs in Triton's CPU interpreter
(TRITON_INTERPRET=1, set before import), which the tests use. Importing it imports Triton: only
int8_graph does, on CUDA or under the interpreter."""
from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import nn

from edgebench.backends.torch_compile.low_precision import per_channel, window_weight
#: the activations the epilogue applies, by code (0: none)
ACTIVATIONS = ("", "relu", "relu6")


@triton.jit
def _quantised(v, FP8: tl.constexpr):
    """v (float32, already divided by its scale) in the stored form: INT8 rounded half away from
    zero into -127..127, or FP8 e4m3 (round to nearest even) within -448..448."""
    if FP8:
        # rounded to e4m3's 3-bit mantissa (to nearest, ties to even) in the float32 bits first, so
        # the cast is exact: Triton's CPU interpreter drops a rounding carry into the exponent
        # (127.6 became 64), and the GPU's cast gives the same value either way
        bits = tl.minimum(tl.maximum(v, -448.0), 448.0).to(tl.int32, bitcast=True)
        bits = (bits + 0x7FFFF + ((bits >> 20) & 1)) & -0x100000
        q = bits.to(tl.float32, bitcast=True).to(tl.float8e4nv)
    else:
        v = tl.minimum(tl.maximum(v, -127.0), 127.0)
        q = tl.where(v >= 0, v + 0.5, v - 0.5).to(tl.int8)
    return q


@triton.jit
def _int8_conv_kernel(x_ptr, w_ptr, scale_ptr, bias_ptr, r_ptr, y_ptr, M, N, K, H, W, OH, OW, sxn, sxh, sxw,
                      x_inv, r_scale, y_inv,
                      CIN: tl.constexpr, KH: tl.constexpr, KW: tl.constexpr, SH: tl.constexpr, SW: tl.constexpr,
                      PH: tl.constexpr, PW: tl.constexpr, X_Q: tl.constexpr, HAS_BIAS: tl.constexpr,
                      RES: tl.constexpr, RELU: tl.constexpr, Y_Q: tl.constexpr, FP8: tl.constexpr,
                      BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    rm = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)  # output positions (n, oh, ow)
    rn = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)  # output channels
    ow = rm % OW
    t = rm // OW
    oh = t % OH
    nb = t // OH
    h0 = oh * SH - PH
    w0 = ow * SW - PW
    row = nb * sxn
    m_in = rm < M
    if FP8:
        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    else:
        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.int32)
    for k0 in range(0, K, BLOCK_K):
        rk = k0 + tl.arange(0, BLOCK_K)  # reduction index: (kh * KW + kw) * CIN + c
        if CIN % BLOCK_K == 0:
            # the block lies in one kernel tap: a row's offset (a multiple of CIN, the input being
            # contiguous channels-last) plus BLOCK_K consecutive channels, so the loads are 16-byte
            # vectors and the weights' rows need no mask along K (K = taps x CIN)
            tap = k0 // CIN
            hi = h0 + tap // KW
            wi = w0 + tap % KW
            inside = m_in & (hi >= 0) & (hi < H) & (wi >= 0) & (wi < W)
            base = tl.multiple_of(row + hi * sxh + wi * sxw, 16)
            c = tl.max_contiguous(tl.multiple_of((k0 % CIN) + tl.arange(0, BLOCK_K), BLOCK_K), BLOCK_K)
            a = tl.load(x_ptr + base[:, None] + c[None, :], mask=inside[:, None], other=0.0)
            wk = tl.max_contiguous(tl.multiple_of(rk, BLOCK_K), BLOCK_K)
            b = tl.load(w_ptr + tl.multiple_of(rn * K, 16)[None, :] + wk[:, None], mask=(rn[None, :] < N), other=0.0)
        else:
            c = rk % CIN
            tap = rk // CIN
            hi = h0[:, None] + (tap // KW)[None, :]
            wi = w0[:, None] + (tap % KW)[None, :]
            inside = m_in[:, None] & (rk[None, :] < K) & (hi >= 0) & (hi < H) & (wi >= 0) & (wi < W)
            a = tl.load(x_ptr + row[:, None] + hi * sxh + wi * sxw + c[None, :], mask=inside, other=0.0)
            b = tl.load(w_ptr + rn[None, :] * K + rk[:, None], mask=(rk[:, None] < K) & (rn[None, :] < N), other=0.0)
        if not X_Q:
            a = _quantised(a.to(tl.float32) * x_inv, FP8)
        if FP8:
            acc += tl.dot(a, b, out_dtype=tl.float32)
        else:
            acc += tl.dot(a, b, out_dtype=tl.int32)
    n_in = rn < N
    y = acc.to(tl.float32) * tl.load(scale_ptr + rn, mask=n_in, other=0.0)[None, :]
    if HAS_BIAS:
        y += tl.load(bias_ptr + rn, mask=n_in, other=0.0)[None, :]
    out = rm[:, None] * N + rn[None, :]
    o_mask = m_in[:, None] & n_in[None, :]
    if RES == 1:
        y += tl.load(r_ptr + out, mask=o_mask, other=0.0).to(tl.float32)
    if RES == 2:
        y += tl.load(r_ptr + out, mask=o_mask, other=0.0).to(tl.float32) * r_scale
    if RELU == 1:
        y = tl.maximum(y, 0.0)
    if RELU == 2:  # ReLU6
        y = tl.minimum(tl.maximum(y, 0.0), 6.0)
    if Y_Q:
        tl.store(y_ptr + out, _quantised(y * y_inv, FP8), mask=o_mask)
    else:
        tl.store(y_ptr + out, y.to(y_ptr.dtype.element_ty), mask=o_mask)


#: the interpreter (no GPU) runs one small tile shape
_INTERPRETED = (16, 32, 32, 4, 1)


def tile(m: int, n: int, k: int) -> tuple[int, int, int, int, int]:
    """(BLOCK_M, BLOCK_N, BLOCK_K, warps, stages) for an (m, n, k) product: big tiles where there
    are rows enough to keep every SM busy (a batch), small ones at batch 1, where a layer of 49 to
    3,136 output positions would otherwise run on a handful of programs. The first of tiles(), and
    the kernel's tile where none was chosen by timing."""
    block_k = 128 if k % 128 == 0 and m < 4096 else 64
    if m >= 16384:
        return (128, 128, 64, 8, 4) if n >= 128 else (128, 64, 64, 4, 4)
    if m >= 4096:
        return 64, 128 if n >= 128 else 64, 64, 4, 4
    return 32, 64, block_k, 4, 3


#: the other tile shapes timed for a layer, by its rows (output positions). The epilogue holds a
#: thread's accumulators, its columns' scales and biases and the residual at once, so a 64 x 128
#: tile on 4 warps needs 166 registers a thread on sm_90 (INT8, built by Triton 3.8) and
#: 128 x 128 on 8 warps 176: one such program an SM (8 warps), against three of 64 x 128 (12
#: warps) and five of 64 x 64 (20), which hide more of the memory latency of a layer with a short
#: reduction (a 1x1 from 64 channels is one step). Wider tiles (128 x 256, 256 x 128) spill
#: registers and are not offered. Batch 1's layers (49 to 3,136 positions) get smaller tiles: more
#: programs; and one of 64 rows, the least for which Hopper runs FP8 on its FP8 tensor cores
#: (wgmma): Triton runs a smaller FP8 tile on FP16 tensor cores, the e4m3 values converted as
#: loaded. Each is another compile of the kernel per layer shape at the first build; the choice
#: is cached with the plan.
ALTERNATIVES = {16384: ((64, 128, 64, 4, 3), (64, 64, 64, 4, 3), (64, 128, 128, 4, 3)),
                4096: ((64, 64, 64, 4, 3), (32, 64, 128, 4, 3), (64, 128, 128, 4, 3)),
                0: ((16, 32, 128, 4, 3), (32, 32, 128, 4, 3), (64, 64, 64, 4, 3))}


def tiles(m: int, n: int, k: int, cin: int) -> list[tuple[int, int, int, int, int]]:
    """The tile shapes worth timing for an (m, n, k) product whose reduction runs over `cin`
    input channels per kernel tap: tile()'s first, then ALTERNATIVES for m's size, each with its
    BLOCK_K halved (not below 32) until it divides cin, so a block stays within one tap (the
    kernel's vector loads), and none much wider than the product (BLOCK_N beyond n, BLOCK_M
    beyond m: idle lanes)."""
    first = tile(m, n, k)
    found = [first]
    rows = max(size for size in ALTERNATIVES if m >= size)
    for bm, bn, bk, warps, stages in ALTERNATIVES[rows]:
        while bk > 32 and cin % bk:
            bk //= 2
        if cin % bk and cin % first[2] == 0:
            continue  # the kernel's general (gather) path where tile()'s keeps the vector loads
        if bn > max(32, triton.next_power_of_2(n)) or bm > max(16, triton.next_power_of_2(m)):
            continue
        if (bm, bn, bk, warps, stages) not in found:
            found.append((bm, bn, bk, warps, stages))
    return found


def _out_hw(h: int, w: int, geometry) -> tuple[int, int]:
    kh, kw, sh, sw, ph, pw = geometry
    return (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1


def _empty(x, cout: int, geometry, dtype):
    """The output (N, OH, OW, Cout) and its (N, Cout, OH, OW) channels-last view (what the op returns)."""
    oh, ow = _out_hw(x.shape[2], x.shape[3], geometry)
    y = x.new_empty((x.shape[0], oh, ow, cout), dtype=dtype)
    return y, y.permute(0, 3, 1, 2)


#: the float dtypes an output is stored in where it is not int8 (flags[3] indexes it)
FLOAT_OUT = (torch.float16, torch.bfloat16, torch.float32)
#: the stored (quantised) dtypes: the weights' dtype says which one a layer computes in
STORED = (torch.int8, torch.float8_e4m3fn)


def _out_dtype(w_dtype, y_q: bool, code: int):
    return w_dtype if y_q else FLOAT_OUT[code]


def int8_conv_impl(x, w, scale, bias, residual, geometry: list[int], flags: list[int], x_scale: float,
                   r_scale: float, y_scale: float, tile_shape: list[int] | None = None):
    """x (N, C, H, W): stored in w's dtype (flags[0]) or FP16/BF16, any layout; w (Cout, KH*KW*Cin)
    int8 or float8_e4m3fn (which product the layer runs) in the window order; scale (Cout,)
    float32: x_scale times each channel's weight scale; bias (Cout,) float32 or None; residual
    (N, Cout, OH, OW) or None: stored in w's dtype (times r_scale) or float; geometry: kh, kw, sh,
    sw, ph, pw; flags: x stored, activation (0 none, 1 ReLU, 2 ReLU6), y stored, the float
    output's dtype (FLOAT_OUT's index); tile_shape: (BLOCK_M, BLOCK_N, BLOCK_K, warps, stages) on
    a GPU (empty or None: tile()'s). Returns (N, Cout, OH, OW) channels-last: stored in w's dtype
    (y / y_scale quantised) or float."""
    x_q, relu, y_q, out_code = flags
    x = x.contiguous(memory_format=torch.channels_last)
    n, cin, h, wd = x.shape
    cout, k = w.shape
    y, view = _empty(x, cout, geometry, _out_dtype(w.dtype, y_q, out_code))
    _, oh, ow, _ = y.shape
    m = n * oh * ow
    res = 0
    if residual is not None:
        residual = residual.contiguous(memory_format=torch.channels_last)
        res = 2 if residual.dtype in STORED else 1
    if not x.is_cuda:
        block_m, block_n, block_k, warps, stages = _INTERPRETED
    else:
        block_m, block_n, block_k, warps, stages = tile_shape or tile(m, cout, k)
    grid = (triton.cdiv(m, block_m), triton.cdiv(cout, block_n))
    sn, _, sh, sw = x.stride()
    kh, kw, sth, stw, ph, pw = geometry
    _int8_conv_kernel[grid](x, w, scale, bias if bias is not None else scale, residual if residual is not None else scale,
                            y, m, cout, k, h, wd, oh, ow, sn, sh, sw, 1.0 / x_scale, r_scale, 1.0 / y_scale,
                            CIN=cin, KH=kh, KW=kw, SH=sth, SW=stw, PH=ph, PW=pw, X_Q=bool(x_q),
                            HAS_BIAS=bias is not None, RES=res, RELU=int(relu), Y_Q=bool(y_q),
                            FP8=w.dtype == torch.float8_e4m3fn, BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_K=block_k,
                            num_warps=warps, num_stages=stages)
    return view


@torch.library.custom_op("edgebench::int8_conv", mutates_args=(), device_types="cuda",
                         tags=(torch.Tag.needs_fixed_stride_order,))
def int8_conv(x: torch.Tensor, w: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None,
              residual: torch.Tensor | None, geometry: list[int], flags: list[int], x_scale: float,
              r_scale: float, y_scale: float, tile_shape: list[int]) -> torch.Tensor:
    return int8_conv_impl(x, w, scale, bias, residual, geometry, flags, x_scale, r_scale, y_scale, tile_shape)


@int8_conv.register_fake
def _(x, w, scale, bias, residual, geometry, flags, x_scale, r_scale, y_scale, tile_shape):
    return _empty(x, w.shape[0], geometry, _out_dtype(w.dtype, flags[2], flags[3]))[1]


class Int8ConvFused(nn.Module):
    """A Conv2d (groups 1, dilation 1, integer zero padding) with the bias, an optional residual
    add and ReLU (or ReLU6) after it, computed by `_int8_conv_kernel` in `kind`'s product: "int8"
    or "fp8" (e4m3, sm_89 and newer). `relu`: 0 none, 1 (True) ReLU, 2 ReLU6. Weights quantised
    per output channel (max |w| / QMAX); `x_scale`: the input's (stored in the kind's dtype with
    it where `x_int8`, or calibrated for quantising it on load); `y_scale`: the output's where it
    is stored in the kind's dtype (None: float); `r_scale`: a stored residual's; `tile`: the
    kernel's (BLOCK_M, BLOCK_N, BLOCK_K, warps, stages) on a GPU, chosen by timing tiles() (empty:
    tile()'s, by the product's size). forward(x, residual=None)."""

    def __init__(self, conv: nn.Conv2d, x_scale: float, *, x_int8: bool = False, relu: int = 0,
                 y_scale: float | None = None, r_scale: float = 1.0, out_dtype=torch.float16, kind: str = "int8",
                 tile: tuple[int, ...] = ()):
        super().__init__()
        weight, w_scale = per_channel(window_weight(conv), kind)  # (Cout, kh * kw * Cin)
        self.register_buffer("weight", weight)
        self.register_buffer("weight_scale", w_scale)
        self.register_buffer("in_scale", torch.tensor(max(float(x_scale), 1e-12), dtype=torch.float32))
        self.register_buffer("out_scale", w_scale * self.in_scale)  # each output channel's dequantisation
        self.register_buffer("bias", None if conv.bias is None else conv.bias.detach().float().clone())
        self.geometry = [*conv.kernel_size, *conv.stride, *conv.padding]
        self.x_scale, self.r_scale = float(self.in_scale), float(r_scale)
        self.y_scale = float(y_scale) if y_scale else 1.0
        self.flags = [int(x_int8), int(relu), int(y_scale is not None), FLOAT_OUT.index(out_dtype)]
        self.tile = [int(v) for v in tile]

    def extra_repr(self) -> str:
        x_q, relu, y_q, _ = self.flags
        kind = "fp8" if self.weight.dtype == torch.float8_e4m3fn else "int8"
        return (f"{self.weight.shape[1]}->{self.weight.shape[0]}, {kind}, geometry={self.geometry}, "
                f"in={kind if x_q else 'float'}, activation={ACTIVATIONS[relu] or 'none'}, out={kind if y_q else 'float'}"
                + (f", tile={self.tile}" if self.tile else ""))

    def forward(self, x, residual=None):
        args = (x, self.weight, self.out_scale, self.bias, residual, self.geometry, self.flags, self.x_scale,
                self.r_scale, self.y_scale, self.tile)
        return int8_conv(*args) if x.is_cuda else int8_conv_impl(*args)  # the CPU: Triton's interpreter


def reference(conv: nn.Conv2d, x, residual=None, relu: int = 0):
    """What Int8ConvFused approximates, in float32: conv(x) (+ residual) (then ReLU or ReLU6)."""
    y = conv.float()(x.float())
    if residual is not None:
        y = y + residual.float()
    return y.clamp(0, 6) if relu == 2 else torch.relu(y) if relu else y


def compile_for(arch: int, geometry=(3, 3, 1, 1, 1, 1), cin: int = 64, tile_shape=(128, 128, 64, 8, 4),
                kind: str = "int8"):
    """The kernel (`kind` in and out, residual and ReLU fused) compiled ahead of time for the NVIDIA
    architecture `arch` (87: Jetson Orin) on any machine, GPU or not, as triton_int8.compile_for."""
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    kh, kw, sh, sw, ph, pw = geometry
    bm, bn, bk, warps, stages = tile_shape
    names = ("x_ptr", "w_ptr", "scale_ptr", "bias_ptr", "r_ptr", "y_ptr")
    q = "*fp8e4nv" if kind == "fp8" else "*i8"
    signature = {**dict(zip(names, (q, q, "*fp32", "*fp32", q, q))),
                 **dict.fromkeys(("M", "N", "K", "H", "W", "OH", "OW", "sxn", "sxh", "sxw"), "i32"),
                 **dict.fromkeys(("x_inv", "r_scale", "y_inv"), "fp32")}
    constexprs = {"CIN": cin, "KH": kh, "KW": kw, "SH": sh, "SW": sw, "PH": ph, "PW": pw, "X_Q": True,
                  "HAS_BIAS": True, "RES": 2, "RELU": True, "Y_Q": True, "FP8": kind == "fp8", "BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk}
    signature.update(dict.fromkeys(constexprs, "constexpr"))
    # what Triton's JIT assumes of a real call's arguments that are: pointers 16-byte aligned,
    # channel counts and channels-last strides multiples of 16
    divisible = ("x_ptr", "w_ptr", "scale_ptr", "bias_ptr", "r_ptr", "y_ptr", "N", "K", "sxn", "sxh", "sxw")
    attrs = {(list(signature).index(name),): [["tt.divisibility", 16]] for name in divisible}
    source = ASTSource(fn=_int8_conv_kernel, signature=signature, constexprs=constexprs, attrs=attrs)
    return triton.compile(source, target=GPUTarget("cuda", arch, 32), options={"num_warps": warps, "num_stages": stages})
