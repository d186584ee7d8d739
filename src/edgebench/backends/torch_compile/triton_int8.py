"""An INT8 matrix product in Triton with its dequantisation fused: int8 rows x int8 weights,
accumulated in int32 on the tensor cores, each output channel multiplied by its scale (the
input's scale times the channel's weight scale), the bias added, and the result stored once in
FP16 or BF16.

`torch._int_mm` returns the int32 accumulators themselves: for the memory-bound products of a
convolutional network (a 1x1 convolution at batch 128 is 400,000 rows of 64 to 512 channels) the
int32 store and its reload for the dequantisation move three times the bytes of an FP16 output,
and on an H100 every ResNet-50 layer ran slower that way than cuDNN in FP16. This kernel writes
what the next layer reads. Registered as `edgebench::int8_mm` so torch.compile treats it as one
opaque kernel and CUDA graphs record it; it also runs in Triton's CPU interpreter
(TRITON_INTERPRET=1, set before import), which the tests use. Importing it imports Triton: only
low_precision does, on CUDA."""
from __future__ import annotations

import torch
import triton
import triton.language as tl

#: tile shapes (BLOCK_M, BLOCK_N, BLOCK_K, warps, stages) Triton's autotuner picks from per shape
CONFIGS = [
    triton.Config({"BLOCK_M": 128, "BLOCK_N": 128, "BLOCK_K": 64}, num_warps=8, num_stages=3),
    triton.Config({"BLOCK_M": 128, "BLOCK_N": 64, "BLOCK_K": 64}, num_warps=4, num_stages=4),
    triton.Config({"BLOCK_M": 64, "BLOCK_N": 128, "BLOCK_K": 64}, num_warps=4, num_stages=4),
    triton.Config({"BLOCK_M": 64, "BLOCK_N": 64, "BLOCK_K": 128}, num_warps=4, num_stages=3),
    triton.Config({"BLOCK_M": 32, "BLOCK_N": 64, "BLOCK_K": 64}, num_warps=2, num_stages=3),
]


@triton.jit
def _int8_mm_kernel(a_ptr, w_ptr, scale_ptr, bias_ptr, y_ptr, M, N, K, sam, sak, swn, swk,
                    HAS_BIAS: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    rm = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    rn = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    rk = tl.arange(0, BLOCK_K)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.int32)
    for k0 in range(0, K, BLOCK_K):
        kk = k0 + rk
        a = tl.load(a_ptr + rm[:, None] * sam + kk[None, :] * sak, mask=(rm[:, None] < M) & (kk[None, :] < K), other=0)
        w = tl.load(w_ptr + kk[:, None] * swk + rn[None, :] * swn, mask=(kk[:, None] < K) & (rn[None, :] < N), other=0)
        acc += tl.dot(a, w, out_dtype=tl.int32)
    y = acc.to(tl.float32) * tl.load(scale_ptr + rn, mask=rn < N, other=0.0)[None, :]
    if HAS_BIAS:
        y += tl.load(bias_ptr + rn, mask=rn < N, other=0.0)[None, :]
    tl.store(y_ptr + rm[:, None] * N + rn[None, :], y.to(y_ptr.dtype.element_ty),
             mask=(rm[:, None] < M) & (rn[None, :] < N))


#: on a GPU Triton's autotuner times CONFIGS per (M, N, K) on first use (before a CUDA graph records it)
_tuned = triton.autotune(configs=CONFIGS, key=["M", "N", "K"])(_int8_mm_kernel)
#: the interpreter (no GPU to time on) runs one small tile shape
_INTERPRETED = {"BLOCK_M": 32, "BLOCK_N": 32, "BLOCK_K": 32}


def int8_mm_impl(a, w, scale, bias, bf16: bool = False):
    """a (M, K) int8, any strides; w (N, K) int8; scale (N,) float32: each output channel's
    dequantisation; bias (N,) float32 or None. Returns (M, N) FP16 (BF16 with `bf16`)."""
    m, k = a.shape
    n = w.shape[0]
    y = a.new_empty((m, n), dtype=torch.bfloat16 if bf16 else torch.float16)
    grid = lambda meta: (triton.cdiv(m, meta["BLOCK_M"]), triton.cdiv(n, meta["BLOCK_N"]))  # noqa: E731
    args = (a, w, scale, bias if bias is not None else scale, y, m, n, k, a.stride(0), a.stride(1), w.stride(0), w.stride(1))
    if a.is_cuda:
        _tuned[grid](*args, HAS_BIAS=bias is not None)
    else:
        _int8_mm_kernel[grid](*args, HAS_BIAS=bias is not None, **_INTERPRETED)
    return y


@torch.library.custom_op("edgebench::int8_mm", mutates_args=(), device_types="cuda")
def int8_mm(a: torch.Tensor, w: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None, bf16: bool) -> torch.Tensor:
    return int8_mm_impl(a, w, scale, bias, bf16)


@int8_mm.register_fake
def _(a, w, scale, bias, bf16):
    return a.new_empty((a.shape[0], w.shape[0]), dtype=torch.bfloat16 if bf16 else torch.float16)


def fused_int8_mm(a, w, scale, bias, out_dtype):
    """The registered op on CUDA; the kernel itself elsewhere (Triton's interpreter on the CPU)."""
    if a.is_cuda:
        return int8_mm(a, w, scale, bias, out_dtype == torch.bfloat16)
    return int8_mm_impl(a, w, scale, bias, out_dtype == torch.bfloat16)


def compile_for(arch: int, config: dict | None = None, warps: int = 4, stages: int = 3):
    """The kernel compiled ahead of time for the NVIDIA architecture `arch` (87: Jetson Orin; 80:
    A100; 90: H100), on any machine, GPU or not (Triton's own ptxas): its `.asm` holds the PTX and
    the cubin. This is how edgebench shows its INT8 product builds for a Jetson it cannot run on."""
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    config = config or {"BLOCK_M": 128, "BLOCK_N": 64, "BLOCK_K": 64}
    signature = {"a_ptr": "*i8", "w_ptr": "*i8", "scale_ptr": "*fp32", "bias_ptr": "*fp32", "y_ptr": "*fp16",
                 **dict.fromkeys(("M", "N", "K", "sam", "sak", "swn", "swk"), "i32"),
                 **dict.fromkeys(("HAS_BIAS", *config), "constexpr")}
    source = ASTSource(fn=_int8_mm_kernel, signature=signature, constexprs={"HAS_BIAS": True, **config})
    return triton.compile(source, target=GPUTarget("cuda", arch, 32), options={"num_warps": warps, "num_stages": stages})

