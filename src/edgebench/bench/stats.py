"""Latency statistics that compute and render themselves."""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class LatencyStats:
    count: int
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
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

    def summary(self) -> str:
        return (
            f"n={self.count} p50={self.p50_ms:.3f} ms p90={self.p90_ms:.3f} p99={self.p99_ms:.3f} "
            f"mean={self.mean_ms:.3f}±{self.std_ms:.3f} ms (CV {self.cv_pct:.1f}%) "
            f"{self.throughput_items_per_s:.1f} items/s"
        )
