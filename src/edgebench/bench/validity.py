"""Checks that a figure can be trusted, in the spirit of pyperf and MLPerf LoadGen: noisy
samples, timer resolution, CPU frequency governor, other GPU tenants, and LoadGen's TEST04
(does one repeated input run faster than varied inputs, i.e. is something being cached?)."""
from __future__ import annotations

import time

import numpy as np

HOST_CV_PCT = 10.0  # host wall-clock timings noisier than this are flagged
DEVICE_CV_PCT = 2.5  # CUDA-event timings are far steadier; flag more eagerly
CACHING_RATIO = 0.9  # repeated-input p50 under 90% of varied-input p50: caching suspected
TIMER_FACTOR = 1000  # a p50 within 1000 timer ticks is too close to the clock's resolution


def timing_warnings(latency) -> list[str]:
    """Warnings on a record's latency (results.record.Latency): noisy host or GPU timings, a p50
    too close to the timer's resolution."""
    out = []
    host, device = latency.host, latency.device
    if host is not None:
        if host.cv_pct > HOST_CV_PCT:
            out.append(f"host timing CV {host.cv_pct:.1f}% > {HOST_CV_PCT:g}%: noisy, compare with care")
        res = time.get_clock_info("perf_counter").resolution
        if host.p50_ms / 1e3 < TIMER_FACTOR * res:
            out.append(f"p50 {host.p50_ms:.4f} ms is within {TIMER_FACTOR} ticks of the timer's {res:.1e} s resolution")
    if device is not None and device.cv_pct > DEVICE_CV_PCT:
        out.append(f"GPU timing CV {device.cv_pct:.1f}% > {DEVICE_CV_PCT:g}%")
    return out


def environment_warnings(env: dict) -> list[str]:
    out = []
    gov = env.get("cpu_governor", "unknown")
    if gov not in ("unknown", "performance"):
        out.append(f"CPU frequency governor is {gov!r}, not 'performance': clocks may change during the run")
    others = env.get("gpu_other_processes")
    if others:
        out.append(f"other processes use the GPU: {others}")
    return out


def check_iters(values: list, budget_s: float = 0.5) -> int:
    """Iterations a side for the same-input check: 20, or fewer (at least 5) where 20 of the
    cell's median latency would take more than `budget_s` (a 300 ms model: 5, not 20)."""
    median = float(np.median(values)) if len(values) else 0.0
    return 20 if median <= 0 else max(5, min(20, int(budget_s / median)))


def same_input_check(backend, pool: list, iters: int = 30) -> tuple[float, float]:
    """(p50 on one repeated input, p50 on the varied pool), seconds, interleaved in blocks."""
    from edgebench.bench.harness import interleaved

    def run(x):
        backend.run(x)
        backend.synchronize()

    same, varied = interleaved(lambda _: run(pool[0]), lambda i: run(pool[i % len(pool)]), iters,
                               block=min(10, iters))
    return float(np.median(same)), float(np.median(varied))


def caching_warning(same_s: float, varied_s: float) -> str:
    if varied_s > 0 and same_s < CACHING_RATIO * varied_s:
        return (f"one repeated input ran {100 * (1 - same_s / varied_s):.0f}% faster than varied inputs "
                "(LoadGen TEST04): results may be cached; the reported figure uses varied inputs")
    return ""
