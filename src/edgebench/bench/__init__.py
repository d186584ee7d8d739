"""Measurement: the timing harness, statistics, the accuracy gate, validity checks, energy and
the environment."""
from edgebench.bench.accuracy import GateResult, compare
from edgebench.bench.harness import TimingConfig, time_backend
from edgebench.bench.stats import LatencyStats

__all__ = ["GateResult", "LatencyStats", "TimingConfig", "compare", "time_backend"]
