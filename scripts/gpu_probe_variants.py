"""Probe (device runs, not part of the package): per model, which torch backend variant is
fastest at batch 1 and does it pass the accuracy gate; and, for the default torch-compile FP16
variant, where its GPU time goes (kernel profile of the compiled forward without the graph).
Uses edgebench's own cells (BackendCell: prepare, load, gate outputs, host + CUDA-event timing).

  python3 scripts/gpu_probe_variants.py OUT.json --models alexnet,c3d --variants pytorch,torch-compile@fp16
"""
import argparse
import json
import sys
import time

sys.path.insert(0, "src")


def profile_compiled(cell, precision="fp16", top=8):
    """Top kernels (CUDA time per forward, microseconds) of torch-compile without a CUDA graph."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from edgebench.backends import create_backend

    bk = create_backend("torch-compile", device="cuda", precision=precision, cache_dir=cell.cache_dir,
                        cuda_graphs=False, item_shape=tuple(cell.item_shape), source_key=cell.source_key())
    with bk.prepare(cell.source_for("module"), cell.batch_size).load():
        call = bk.native_call(cell.pool[0])
        for _ in range(20):
            call()
        torch.cuda.synchronize()
        n = 50
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(n):
                call()
            torch.cuda.synchronize()
    rows = []
    for ev in prof.key_averages():
        t = getattr(ev, "self_device_time_total", None) or getattr(ev, "self_cuda_time_total", 0)
        if t > 0 and ev.count >= n:
            rows.append({"kernel": ev.key[:90], "us_per_forward": t / n, "calls_per_forward": ev.count / n})
    rows.sort(key=lambda r: -r["us_per_forward"])
    total = sum(r["us_per_forward"] for r in rows)
    torch._dynamo.reset()
    return {"kernel_us_total": total, "kernels": len(rows), "top": rows[:top]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--models", required=True)
    ap.add_argument("--variants", required=True)
    ap.add_argument("--profile", default="", help="models to profile (comma-separated)")
    ap.add_argument("--min-time-s", type=float, default=1.0)
    ap.add_argument("--budget-s", type=float, default=400)
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args()

    import torch

    from edgebench.api import BackendCell, ModelCell, ModelOptions, _attach_accuracy, new_run_id, parse_backend_spec
    from edgebench.bench import environment
    from edgebench.bench.harness import TimingConfig

    t_start = time.perf_counter()
    timing = TimingConfig(warmup_iters=20, warmup_s=0.3, min_iters=200, min_time_s=args.min_time_s)
    env = environment.capture()
    results = []
    profiles = {}
    for model in args.models.split(","):
        cell = ModelCell(model, ModelOptions(), 1, 8, None)
        for spec in args.variants.split(","):
            if time.perf_counter() - t_start > args.budget_s:
                print("budget spent, stopping", flush=True)
                break
            name, precision, options = parse_backend_spec(spec)
            bc = BackendCell(cell, name, new_run_id(), args.device, precision, timing, env, options)
            t0 = time.perf_counter()
            if bc.open():
                bc.measure(timing)
            rec = bc.finish(False)
            _attach_accuracy(rec, cell.check_info(), bc.outputs, cell.reference_outputs())
            row = {"model": model, "variant": spec, "status": rec.status, "error": rec.error,
                   "host_p50_ms": rec.latency.p50_ms if rec.latency else None,
                   "gpu_p50_ms": rec.device_latency.p50_ms if rec.device_latency else None,
                   "gate": rec.accuracy_gate, "gate_reason": rec.accuracy_gate_reason,
                   "top1": rec.top1_agreement, "cosine": rec.cosine_similarity, "build_s": rec.build_s,
                   "wall_s": time.perf_counter() - t0, "details": {k: v for k, v in rec.details.items()
                                                                    if k in ("graph_host_io", "tf32", "im2col", "im2col_lowered", "im2col_layers")}}
            results.append(row)
            print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()
                              if k not in ("details",)}), flush=True)
            for d in row["details"].get("im2col_layers", []):
                print("   ", json.dumps({k: (round(v, 1) if isinstance(v, float) else v) for k, v in d.items()}), flush=True)
            torch._dynamo.reset()
            if args.device == "cuda":
                torch.cuda.empty_cache()
        if model in args.profile.split(",") and time.perf_counter() - t_start < args.budget_s:
            try:
                profiles[model] = profile_compiled(cell)
                print(model, json.dumps(profiles[model])[:1500], flush=True)
            except Exception as exc:  # a probe: keep going
                profiles[model] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        with open(args.out, "w") as f:
            json.dump({"device": torch.cuda.get_device_name() if args.device == "cuda" else "cpu", "torch": torch.__version__, "results": results,
                       "profiles": profiles}, f, indent=1)
    print("\nmodel               variant                                   host p50   GPU p50  gate")
    for r in results:
        print(f"{r['model']:<19} {r['variant']:<40} {r['host_p50_ms'] or float('nan'):8.3f} "
              f"{r['gpu_p50_ms'] or float('nan'):8.3f}  {r['gate']} {r['status']}")


if __name__ == "__main__":
    main()
