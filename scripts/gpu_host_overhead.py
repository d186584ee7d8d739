"""Probe (device runs, not part of the package): where the host time of a batch-1 inference goes
beyond the GPU time, on edgebench's own CudaGraph host path (copy into the page-locked buffer,
one replay with the H2D copy, forward and D2H copy recorded in it, one stream synchronisation).

  python3 scripts/gpu_host_overhead.py OUT.json [--models resnet50,c3d]

Per step, the median over 2,000 iterations of host wall-clock (perf_counter) in microseconds;
inputs rotate over 8 arrays as in the harness."""
import argparse
import json
import sys
import time

sys.path.insert(0, "src")


def med(values):
    values = sorted(values)
    return values[len(values) // 2] * 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--models", default="resnet50,c3d")
    ap.add_argument("--iters", type=int, default=2000)
    args = ap.parse_args()

    results = [probe(model, args.iters) for model in args.models.split(",")]
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)


def probe(model, n):
    import numpy as np
    import torch

    from edgebench.backends.torch_io import CudaGraph
    from edgebench.models.build import build_model
    from edgebench.models.registry import get_spec

    torch.backends.cudnn.benchmark = True
    loaded = build_model(get_spec(model))
    item = tuple(loaded.spec.input_shape)
    module = loaded.module.to("cuda", torch.float16).eval()
    fmt = torch.channels_last_3d if len(item) == 4 else torch.channels_last
    module = module.to(memory_format=fmt)
    rng = np.random.default_rng(0)
    pool = [rng.standard_normal((1, *item), dtype=np.float32) for _ in range(8)]
    clock = time.perf_counter
    res = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "model": model,
           "input_bytes": pool[0].nbytes, "threads": torch.get_num_threads()}

    with torch.no_grad():
        g = CudaGraph(module, (1, *item), torch.float16, memory_format=fmt, host_io=True)
        dst = torch.empty((1, *item), dtype=torch.float32, pin_memory=True)  # a staging buffer
        dst_np = dst.numpy()
        from edgebench.bench.inputs import page_locked

        pinned = page_locked(pool)
        steps = {k: [] for k in ("np_copyto", "torch_copy", "h2d_from_pinned_and_sync", "replay_call", "sync_wait",
                                 "run_host_pageable", "run_host_pinned", "device_sync_idle", "gpu_host_graph")}
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        sync = torch.cuda.current_stream().synchronize
        for i in range(n + 50):
            x, xp = pool[i % 8], pinned[i % 8]
            t0 = clock()
            np.copyto(dst_np, x)
            t1 = clock()
            dst.copy_(torch.from_numpy(x))
            t2 = clock()
            g.dev_in.copy_(torch.from_numpy(xp), non_blocking=True)
            sync()
            t3 = clock()
            start.record()
            g.host_graph.replay()
            t4 = clock()
            end.record()
            sync()
            t5 = clock()
            out = g.run_host(x)
            t6 = clock()
            out = g.run_host(xp)
            t7 = clock()
            torch.cuda.synchronize()
            t8 = clock()
            if i >= 50:
                for k, v in zip(steps, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5, t7 - t6, t8 - t7,
                                        start.elapsed_time(end) / 1e3)):
                    steps[k].append(v)
        res["outputs_finite"] = bool(np.isfinite(out).all())
        # the device-input graph (what the GPU-time column measures)
        t = torch.from_numpy(pool[0]).cuda().half().contiguous(memory_format=fmt)
        dev = []
        for i in range(n):
            start.record()
            g.run(t)
            end.record()
            end.synchronize()
            dev.append(start.elapsed_time(end) / 1e3)
        res["us"] = {k: round(med(v), 2) for k, v in steps.items()}
        res["us"]["gpu_device_input_graph"] = round(med(dev), 2)
        g.release()
    print(json.dumps(res), flush=True)
    return res


if __name__ == "__main__":
    main()
