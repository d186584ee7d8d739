"""Probe (not part of the package): where batch-1 FP16 time goes for the models with large
fully-connected layers, and whether a Triton GEMV beats cuBLAS on their shapes."""
import json, os, sys
import torch, triton, triton.language as tl
sys.path.insert(0, "src")
from edgebench.models import build_model, get_spec

out = {}
dev = "cuda"

@triton.jit
def gemv(W, X, B, Y, N, K, stride_wn, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, HAS_BIAS: tl.constexpr):
    pid = tl.program_id(0)
    rn = pid * BLOCK_N + tl.arange(0, BLOCK_N)
    acc = tl.zeros((BLOCK_N,), dtype=tl.float32)
    for k0 in range(0, K, BLOCK_K):
        rk = k0 + tl.arange(0, BLOCK_K)
        w = tl.load(W + rn[:, None] * stride_wn + rk[None, :], mask=(rn[:, None] < N) & (rk[None, :] < K), other=0.0)
        x = tl.load(X + rk, mask=rk < K, other=0.0)
        acc += tl.sum(w.to(tl.float32) * x[None, :].to(tl.float32), axis=1)
    if HAS_BIAS:
        acc += tl.load(B + rn, mask=rn < N, other=0.0).to(tl.float32)
    tl.store(Y + rn, acc.to(Y.dtype.element_ty), mask=rn < N)

def run_gemv(w, x, b, bn, bk, warps):
    N, K = w.shape
    y = torch.empty((1, N), device=dev, dtype=w.dtype)
    gemv[(triton.cdiv(N, bn),)](w, x, b, y, N, K, w.stride(0), BLOCK_N=bn, BLOCK_K=bk, HAS_BIAS=True, num_warps=warps)
    return y

shapes = {"alexnet.fc6": (4096, 9216), "alexnet.fc7": (4096, 4096), "vgg.fc6": (4096, 25088), "c3d.fc1": (2368, 8192)}
res = {}
for name, (N, K) in shapes.items():
    w = torch.randn(N, K, device=dev, dtype=torch.float16) / K**0.5
    b = torch.randn(N, device=dev, dtype=torch.float16)
    x = torch.randn(1, K, device=dev, dtype=torch.float16)
    ref = torch.nn.functional.linear(x, w, b)
    t_cublas = triton.testing.do_bench(lambda: torch.nn.functional.linear(x, w, b), warmup=25, rep=200, return_mode="median")
    best = None
    for bn, bk, warps in [(1, 2048, 4), (2, 1024, 4), (4, 1024, 4), (8, 512, 4), (4, 512, 2), (16, 256, 4), (2, 2048, 8)]:
        y = run_gemv(w, x, b, bn, bk, warps)
        err = (y.float() - ref.float()).abs().max().item()
        t = triton.testing.do_bench(lambda: run_gemv(w, x, b, bn, bk, warps), warmup=25, rep=200, return_mode="median")
        if best is None or t < best[0]:
            best = (t, bn, bk, warps, err)
    res[name] = {"cublas_ms": t_cublas, "triton_best_ms": best[0], "cfg": best[1:4], "max_err": best[4],
                 "floor_ms": N * K * 2 / 4.8e12 * 1e3}
    print(name, res[name], flush=True)
out["gemv"] = res

from torch.profiler import profile, ProfilerActivity
torch.backends.cudnn.benchmark = True
for mname in ("alexnet", "vgg19", "c3d", "conv_autoencoder"):
    spec = get_spec(mname)
    m = build_model(spec).module.to(dev, torch.float16).eval()
    x = torch.randn(1, *spec.input_shape, device=dev, dtype=torch.float16)
    if len(spec.input_shape) == 3:
        m = m.to(memory_format=torch.channels_last); x = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        for _ in range(5): m(x)
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(10): m(x)
            torch.cuda.synchronize()
    rows = []
    for e in prof.key_averages():
        t = getattr(e, "device_time_total", None) or getattr(e, "cuda_time_total", 0)
        if t > 0:
            rows.append((e.key[:90], round(t / 10, 2)))
    rows.sort(key=lambda r: -r[1])
    out[mname] = rows[:12]
    print(mname, json.dumps(rows[:12]), flush=True)
json.dump(out, open(os.path.join(os.environ.get("OUT", "/tmp"), "fc_probe.json"), "w"), indent=1)
