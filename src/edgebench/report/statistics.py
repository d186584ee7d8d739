"""Statistics of Table 1: the speedup's bootstrap interval, when an optimisation's extra cold
start pays off, and means. Pure functions of stored measurements."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edgebench.results.record import Record


def speedup_interval(pre_ms: list, post_ms: list, resamples: int = 1000, seed: int = 0) -> tuple | None:
    """95% interval of the speedup median(pre) / median(post), from per-iteration samples in ms:
    a percentile bootstrap (each sample set resampled with replacement, `resamples` times, fixed
    seed so that a re-render gives the same interval). None with fewer than 2 samples a side."""
    import numpy as np

    if len(pre_ms) < 2 or len(post_ms) < 2:
        return None
    rng = np.random.default_rng(seed)
    a, b = np.asarray(pre_ms, dtype=float), np.asarray(post_ms, dtype=float)
    ra = np.median(a[rng.integers(0, len(a), (resamples, len(a)))], axis=1)
    rb = np.median(b[rng.integers(0, len(b), (resamples, len(b)))], axis=1)
    lo, hi = np.percentile(ra / rb, [2.5, 97.5])
    return float(lo), float(hi)


def break_even(pre: Record | None, post: Record | None) -> int | None:
    """Inferences after which the optimised path has paid for its extra cold start:
    (post cold start - pre cold start) / (pre p50 - post p50). None when post is not faster."""
    import math

    if not pre or not post or pre.cold_start.total_s is None or post.cold_start.total_s is None:
        return None
    saving_s = (pre.latency.host.p50_ms - post.latency.host.p50_ms) / 1e3
    if saving_s <= 0:
        return None
    return max(0, math.ceil((post.cold_start.total_s - pre.cold_start.total_s) / saving_s))


def mean(values: list) -> float | None:
    """Arithmetic mean (of speedups, x); None for no values."""
    return sum(values) / len(values) if values else None
