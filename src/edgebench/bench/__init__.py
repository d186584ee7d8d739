"""Measurement: the timing harness, statistics, the accuracy gate, validity checks, energy and
the environment; the cells that drive a backend through them (cell), the suite of cells (suite),
its worker processes (isolation) and the single-cell entry points (single)."""
from edgebench.bench.accuracy import GateResult, compare
from edgebench.bench.harness import TimingConfig, time_backend
from edgebench.bench.stats import LatencyStats

__all__ = ["GateResult", "LatencyStats", "TimingConfig", "compare", "time_backend"]
