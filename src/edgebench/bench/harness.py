"""The timing harness: warm-up, then iterate until both a minimum count and a minimum
duration are met, with the backend's synchronize inside the timed region."""
from __future__ import annotations

import time
from dataclasses import replace

from edgebench.config import TimingConfig


def time_backend(backend, pool: list, cfg: TimingConfig) -> list[float]:
    """Per-iteration latencies in seconds. Inputs cycle through `pool` (several fixed-seed
    tensors, not one), so caching of a single input cannot flatter the figure."""
    clock = time.perf_counter
    n = len(pool)
    i = 0
    start = clock()
    while i < cfg.warmup_iters or clock() - start < cfg.warmup_s:
        backend.run(pool[i % n])
        backend.synchronize()
        i += 1
    values: list[float] = []
    start = clock()
    while len(values) < cfg.max_iters and (len(values) < cfg.min_iters or clock() - start < cfg.min_time_s):
        x = pool[len(values) % n]
        t0 = clock()
        backend.run(x)
        backend.synchronize()
        values.append(clock() - t0)
    return values


def time_device(backend, pool: list, cfg: TimingConfig) -> list[float]:
    """Per-iteration GPU time in seconds from CUDA events around the backend's own call on
    device-resident inputs (Backend.native_call): no host<->device copies, no host overhead
    between launches. Inputs are staged on the device before timing, one call per pool item. It
    runs right after the round's host loop (time_backend), which warmed the backend and the GPU's
    clocks, so its own warm-up is one pass over the staged calls, not a second timed warm-up."""
    import torch

    calls = [backend.native_call(x) for x in pool]
    cfg = replace(cfg, warmup_iters=min(cfg.warmup_iters, max(2, len(calls))), warmup_s=0.0)
    n = len(calls)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    clock = time.perf_counter
    i = 0
    t_start = clock()
    while i < cfg.warmup_iters or clock() - t_start < cfg.warmup_s:
        calls[i % n]()
        i += 1
    torch.cuda.synchronize()
    values: list[float] = []
    t_start = clock()
    while len(values) < cfg.max_iters and (len(values) < cfg.min_iters or clock() - t_start < cfg.min_time_s):
        start.record()
        calls[len(values) % n]()
        end.record()
        end.synchronize()
        values.append(start.elapsed_time(end) / 1e3)
    return values


def interleaved(fn_a, fn_b, iters: int, block: int = 10) -> tuple[list[float], list[float]]:
    """Latencies in seconds of two loops, alternated in blocks of `block`
    until each has at least `iters` samples, so that drift of the machine hits both alike.
    Each function takes the running sample index."""
    clock = time.perf_counter
    a: list[float] = []
    b: list[float] = []
    while len(b) < iters:
        for fn, out in ((fn_a, a), (fn_b, b)):
            for _ in range(block):
                t0 = clock()
                fn(len(out))
                out.append(clock() - t0)
    return a, b


def overhead_check(backend, x, iters: int, block: int = 10) -> tuple[list[float], list[float]]:
    """(harness, bare) latencies in seconds: the harness path (run + synchronize) and a plain
    loop around the backend's own library call (Backend.native_call), interleaved in blocks."""
    call = backend.native_call(x)
    for _ in range(min(5, iters)):
        call()

    def harness(_):
        backend.run(x)
        backend.synchronize()

    return interleaved(harness, lambda _: call(), iters, block)


def infer(backend, x):
    """One synchronized inference returning an owned copy of the output (models.outputs: one
    array, or a tuple of them)."""
    from edgebench.models import outputs

    out = backend.run(x)
    backend.synchronize()
    return outputs.copy(out)
