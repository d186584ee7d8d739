"""Measurement: the timing harness, the accuracy gate, validity checks, energy and
the environment; the cells that drive a backend through them (cell), the suite of cells (suite),
its worker processes (isolation) and the single-cell entry points (single)."""
from edgebench.bench.accuracy import GateResult, compare
from edgebench.bench.harness import time_backend
from edgebench.config import TimingConfig
from edgebench.results.latency import LatencyStats

__all__ = ["GateResult", "LatencyStats", "TimingConfig", "compare", "time_backend"]
