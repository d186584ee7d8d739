"""Latency statistics that compute and render themselves.

Tail percentiles are only reported from enough samples to estimate them (MLPerf LoadGen's
minimums): p90 from 64, p99 from 662; below that they are None, shown "n/a (too few samples)".
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

MIN_SAMPLES = {"p90": 64, "p95": 128, "p99": 662}


@dataclass(frozen=True)
class LatencyStats:
    count: int
    mean_ms: float
    p50_ms: float
    p90_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    min_ms: float
    max_ms: float
    std_ms: float
    cv_pct: float
    total_s: float
    batch_size: int
    throughput_items_per_s: float

    @classmethod
    def from_values(cls, values_s, batch_size: int = 1) -> "LatencyStats":
        """Build from per-iteration latencies in seconds (each covering one batch)."""
        import numpy as np

        v = np.asarray(values_s, dtype=np.float64) * 1e3
        if v.size == 0:
            raise ValueError("no latency values")
        mean = float(v.mean())
        std = float(v.std(ddof=1)) if v.size > 1 else 0.0
        p50, p90, p95, p99 = (float(x) for x in np.percentile(v, [50, 90, 95, 99]))
        p90 = p90 if v.size >= MIN_SAMPLES["p90"] else None
        p95 = p95 if v.size >= MIN_SAMPLES["p95"] else None
        p99 = p99 if v.size >= MIN_SAMPLES["p99"] else None
        total_s = float(v.sum() / 1e3)
        return cls(
            count=int(v.size),
            mean_ms=mean,
            p50_ms=p50,
            p90_ms=p90,
            p95_ms=p95,
            p99_ms=p99,
            min_ms=float(v.min()),
            max_ms=float(v.max()),
            std_ms=std,
            cv_pct=100.0 * std / mean if mean > 0 else 0.0,
            total_s=total_s,
            batch_size=batch_size,
            throughput_items_per_s=batch_size * v.size / total_s if total_s > 0 else 0.0,
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def fmt(v: float | None) -> str:
        return f"{v:.3f}" if v is not None else "n/a (too few samples)"

    def summary(self) -> str:
        return (
            f"n={self.count} p50={self.p50_ms:.3f} ms p90={self.fmt(self.p90_ms)} p99={self.fmt(self.p99_ms)} "
            f"mean={self.mean_ms:.3f}±{self.std_ms:.3f} ms (CV {self.cv_pct:.1f}%) "
            f"{self.throughput_items_per_s:.1f} items/s"
        )


def median_interval(values) -> tuple[float, float] | None:
    """The distribution-free 95% interval of the median from order statistics (the binomial
    rank bounds n/2 -+ 1.96 sqrt(n)/2, as pyperf and Criterion bound a median); None below 6
    samples, where the ranks would fall outside the sample."""
    import math

    n = len(values)
    if n < 6:
        return None
    s = sorted(values)
    k = 1.96 * math.sqrt(n) / 2
    lo, hi = max(0, math.floor(n / 2 - k)), min(n - 1, math.ceil(n / 2 + k))
    return s[lo], s[hi]


def median_halfwidth_pct(values) -> float | None:
    """Half the width of median_interval, in % of the median (None: too few samples)."""
    import statistics

    interval = median_interval(values)
    if interval is None:
        return None
    median = statistics.median(values)
    return 100.0 * (interval[1] - interval[0]) / 2 / median if median > 0 else None
