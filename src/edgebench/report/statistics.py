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


#: two-sided 95% quantiles of Student's t by degrees of freedom (above the table: 1.96)
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
         12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042}


def _t975(dof: int) -> float:
    return next((_T975[d] for d in sorted(_T975) if d >= dof), 1.96)


def round_medians(samples_ms: list, round_sizes: list | None) -> list[float]:
    """The median of each timed round of a cell (its samples are stored round after round)."""
    import statistics

    if not round_sizes or sum(round_sizes) != len(samples_ms):
        return []
    out, i = [], 0
    for n in round_sizes:
        out.append(statistics.median(samples_ms[i:i + n]))
        i += n
    return out


def ratio_interval(a_ms: list, b_ms: list, a_rounds: list | None = None, b_rounds: list | None = None) -> tuple | None:
    """95% interval of median(a) / median(b) for two runs of one cell. The samples' bootstrap
    (speedup_interval) sees only the noise within one process; where both runs have several
    rounds, the spread of their round medians stands in for the variation between processes and
    runs (pyperf spawns processes for the same reason) and widens it: on the log scale, each side
    of the interval becomes the root of the sum of squares of the bootstrap's side and t(dof) s
    sqrt(1/k_a + 1/k_b), with s the pooled spread of log round medians (k rounds per run)."""
    import math
    import statistics

    boot = speedup_interval(a_ms, b_ms)
    ra, rb = round_medians(a_ms, a_rounds), round_medians(b_ms, b_rounds)
    if boot is None or len(ra) < 2 or len(rb) < 2 or min(ra + rb) <= 0:
        return boot
    la, lb = [math.log(v) for v in ra], [math.log(v) for v in rb]
    dof = len(la) + len(lb) - 2
    ss = sum((v - statistics.fmean(la)) ** 2 for v in la) + sum((v - statistics.fmean(lb)) ** 2 for v in lb)
    between = _t975(dof) * math.sqrt(ss / dof * (1 / len(la) + 1 / len(lb)))
    center = math.log(statistics.median(a_ms) / statistics.median(b_ms))
    low, high = center - math.log(boot[0]), math.log(boot[1]) - center
    return math.exp(center - math.hypot(max(low, 0.0), between)), math.exp(center + math.hypot(max(high, 0.0), between))


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
