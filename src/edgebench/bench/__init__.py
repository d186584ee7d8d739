"""Measurement: the timing harness, statistics, parity and the environment."""
from edgebench.bench.harness import TimingConfig, time_backend
from edgebench.bench.parity import Parity, compare_outputs
from edgebench.bench.stats import LatencyStats

__all__ = ["LatencyStats", "Parity", "TimingConfig", "compare_outputs", "time_backend"]
