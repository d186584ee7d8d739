"""A direct (implicit-GEMM) convolution in Triton for the small batch-1 layers where cuDNN is slow.

At batch 1 cuDNN runs small convolutions (3x3x3 kernels on short clips with few channels,
AlexNet's 3-channel 11x11 first layer) far below the GPU's rates: tens of microseconds for a few
MFLOP. This kernel computes the same convolution as one matrix product whose left operand is
gathered on the fly: rows are output positions, columns the (kernel tap, input channel) pairs,
the right operand the packed weights, so nothing is materialised (unlike im2col). Input and
output are channels-last (NHWC / NDHWC), products accumulate in float32 (tensor cores for
FP16/BF16, IEEE FP32 for FP32) and the bias is added before the one store.

`TritonConv` wraps a Conv2d/Conv3d for the per-layer choice in conv_lowering.py, which times it
with a few tile shapes against cuDNN and keeps it only where it is faster. The op is registered
as `edgebench::conv_nd` so torch.compile treats it as one opaque kernel and CUDA graphs record
it. Importing this module imports Triton: only conv_lowering does, on CUDA. The kernel also
runs in Triton's CPU interpreter (TRITON_INTERPRET=1, set before import), which the tests use."""
from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import nn

#: tile shapes tried per layer (BLOCK_M output positions x BLOCK_K reduction, warps); BLOCK_N
#: follows the output channels. Few, so the per-layer timing at load stays a few seconds. In the
#: first H200 probe small BLOCK_M won most layers (more programs for batch-1 problems).
CONFIGS = ((16, 64, 2), (16, 128, 4), (32, 64, 2), (64, 32, 4), (64, 64, 4), (128, 32, 4))
#: layers with a longer reduction (kernel taps x input channels) are left to cuDNN/im2col: in
#: the first H200 probe the kernel won up to 1,404 and lost from 1,600 (AlexNet's second layer)
MAX_REDUCTION = 1536


@triton.jit
def _conv_kernel(x_ptr, w_ptr, b_ptr, y_ptr, M, COUT, KTOT, D, H, W, OD, OH, OW, sxn, sxd, sxh, sxw,
                 CIN: tl.constexpr, KD: tl.constexpr, KH: tl.constexpr, KW: tl.constexpr,
                 SD: tl.constexpr, SH: tl.constexpr, SW: tl.constexpr,
                 PD: tl.constexpr, PH: tl.constexpr, PW: tl.constexpr,
                 HAS_BIAS: tl.constexpr, IEEE: tl.constexpr,
                 BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    rm = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)  # output positions (n, od, oh, ow)
    rn = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)  # output channels
    ow = rm % OW
    t = rm // OW
    oh = t % OH
    t = t // OH
    od = t % OD
    nb = t // OD
    d0 = od * SD - PD
    h0 = oh * SH - PH
    w0 = ow * SW - PW
    row = nb * sxn
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k0 in range(0, KTOT, BLOCK_K):
        rk = k0 + tl.arange(0, BLOCK_K)  # reduction index: ((kd * KH + kh) * KW + kw) * CIN + c
        c = rk % CIN
        tap = rk // CIN
        kw = tap % KW
        kh = (tap // KW) % KH
        kd = tap // (KW * KH)
        di = d0[:, None] + kd[None, :]
        hi = h0[:, None] + kh[None, :]
        wi = w0[:, None] + kw[None, :]
        inside = (di >= 0) & (di < D) & (hi >= 0) & (hi < H) & (wi >= 0) & (wi < W)
        a_mask = (rm[:, None] < M) & (rk[None, :] < KTOT) & inside
        a = tl.load(x_ptr + row[:, None] + di * sxd + hi * sxh + wi * sxw + c[None, :], mask=a_mask, other=0.0)
        b_mask = (rk[:, None] < KTOT) & (rn[None, :] < COUT)
        b = tl.load(w_ptr + rk[:, None] * COUT + rn[None, :], mask=b_mask, other=0.0)
        if IEEE:
            acc += tl.dot(a, b, input_precision="ieee")
        else:
            acc += tl.dot(a, b)
    if HAS_BIAS:
        acc += tl.load(b_ptr + rn, mask=rn < COUT, other=0.0).to(tl.float32)[None, :]
    y_mask = (rm[:, None] < M) & (rn[None, :] < COUT)
    tl.store(y_ptr + rm[:, None] * COUT + rn[None, :], acc.to(y_ptr.dtype.element_ty), mask=y_mask)


def _out_size(size: int, k: int, s: int, p: int) -> int:
    return (size + 2 * p - k) // s + 1


def _block_n(cout: int) -> int:
    return min(64, max(16, triton.next_power_of_2(cout)))


def _empty_out(x, geometry: list[int], cout: int):
    """The output buffer (N, OD, OH, OW, Cout) for x (N, C, [D,] H, W), and its view as
    (N, Cout, [OD,] OH, OW) laid out channels-last: what the op returns (shared with its fake)."""
    spatial = x.shape[2:] if x.dim() == 5 else (1, *x.shape[2:])  # a 2-D input has depth 1
    k, s, p = geometry[0:3], geometry[3:6], geometry[6:9]
    od, oh, ow = (_out_size(*a) for a in zip(spatial, k, s, p))
    y = x.new_empty((x.shape[0], od, oh, ow, cout))
    view = y.permute(0, 4, 1, 2, 3)
    return y, (view.squeeze(2) if x.dim() == 4 else view)


def conv_nd_impl(x, w, bias, geometry: list[int], config: list[int]):
    """x: (N, C, [D,] H, W) in any layout; w: (KD*KH*KW*Cin, Cout) packed; geometry: kernel,
    stride and padding as 9 ints (depth first; a 2-D conv has depth kernel 1, stride 1, pad 0).
    Returns (N, Cout, [OD,] OH, OW) laid out channels-last."""
    kd, kh, kw, sd, sh, sw, pd, ph, pw = geometry
    block_m, block_k, warps = config
    two_d = x.dim() == 4
    x = x.contiguous(memory_format=torch.channels_last if two_d else torch.channels_last_3d)
    x5 = x.unsqueeze(2) if two_d else x  # N, C, 1, H, W (a view: channel stride stays 1)
    n, cin, d, h, wd = x5.shape
    ktot, cout = w.shape
    y, out = _empty_out(x, geometry, cout)
    _, od, oh, ow, _ = y.shape
    m = n * od * oh * ow
    sn, _, sdd, shh, sww = x5.stride()
    block_n = _block_n(cout)
    grid = (triton.cdiv(m, block_m), triton.cdiv(cout, block_n))
    _conv_kernel[grid](x5, w, bias if bias is not None else w, y, m, cout, ktot, d, h, wd, od, oh, ow,
                       sn, sdd, shh, sww, CIN=cin, KD=kd, KH=kh, KW=kw, SD=sd, SH=sh, SW=sw,
                       PD=pd, PH=ph, PW=pw, HAS_BIAS=bias is not None, IEEE=x.dtype == torch.float32,
                       BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_K=block_k, num_warps=warps)
    return out


@torch.library.custom_op("edgebench::conv_nd", mutates_args=(), device_types="cuda",
                         tags=(torch.Tag.needs_fixed_stride_order,))
def conv_nd(x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None, geometry: list[int],
            config: list[int]) -> torch.Tensor:
    return conv_nd_impl(x, w, bias, geometry, config)


@conv_nd.register_fake
def _(x, w, bias, geometry, config):
    return _empty_out(x, geometry, w.shape[1])[1]


class TritonConv(nn.Module):
    """A Conv2d/Conv3d (groups 1, dilation 1, zero padding) computed by `_conv_kernel` with one
    tile configuration from CONFIGS. Same weights, repacked as (taps x Cin, Cout)."""

    def __init__(self, conv: nn.Module, config=CONFIGS[0]):
        super().__init__()
        dims = conv.weight.dim() - 2
        pad = lambda v: (1,) * (3 - dims) + tuple(v)  # noqa: E731 -- 2-D: depth 1
        self.geometry = [*pad(conv.kernel_size), *pad(conv.stride), *((0,) * (3 - dims) + tuple(conv.padding))]
        self.config = list(config)
        w = conv.weight.detach()
        cout = w.shape[0]
        self.weight = nn.Parameter(w.permute(*range(2, 2 + dims), 1, 0).reshape(-1, cout).contiguous(),
                                   requires_grad=False)
        self.bias = None if conv.bias is None else nn.Parameter(conv.bias.detach().clone(), requires_grad=False)

    def forward(self, x):
        if x.is_cuda:
            return conv_nd(x, self.weight, self.bias, self.geometry, self.config)
        return conv_nd_impl(x, self.weight, self.bias, self.geometry, self.config)  # the CPU interpreter
