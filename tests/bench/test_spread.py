"""A cell timed in several worker processes taking turns (pyperf's reason: a process's own state
moves its latency by more than its samples show)."""
from __future__ import annotations

from dataclasses import replace

from edgebench.bench.spread import SpreadArm
from edgebench.bench.suite import run_suite
from edgebench.config import ModelOptions, SuiteConfig, TimingConfig
from edgebench.results import Status
from edgebench.results.latency import LatencyStats
from edgebench.results.record import Record
from tests.conftest import FAST_TIMING


def test_a_cells_rounds_take_turns_in_two_processes(tmp_path):
    cfg = SuiteConfig(models=["test_cnn"], backends=["pytorch", "onnxruntime"], device="cpu",
                      timing=TimingConfig(**{**FAST_TIMING, "processes": 2}), pool_size=2, out_dir=tmp_path / "out",
                      repetitions=3, model_options=ModelOptions(check_size=16), cache_dir=tmp_path / "cache")
    records = run_suite(cfg).records
    for rec in records:
        assert rec.status is Status.OK, rec.error
        assert rec.details["processes"] == 2 and len(rec.details["process_p50_ms"]) == 2
        assert len(rec.details["round_sizes"]) == 3 and rec.latency.host.count == sum(rec.details["round_sizes"])
        assert rec.latency.host.count == len(rec.latency.samples_ms)
    ort = records[1]
    assert ort.accuracy.gate == "passed" and ort.details["check_inputs_run"] == 16  # judged once, by process 1
    # in this process there is one: the processes are left out of the config, not silently ignored
    assert replace(cfg, isolate=False).resolved().timing.processes == 1


class _Arm:
    """A worker arm's interface, its samples made up: `fails_open` never opens."""

    def __init__(self, ms: float, fails_open: bool = False):
        self.spec, self.ms, self.fails_open = {}, ms, fails_open
        self.rec = Record("run", "m", "onnxruntime", "fp32", 1, "cpu")
        self.values, self.alive, self.outputs, self.check_info, self.warmups = [], False, None, (None, "", None), []

    def open(self) -> bool:
        if self.fails_open:
            self.rec.status, self.rec.error = Status.CRASHED, "worker crashed with signal 9"
            return False
        self.alive = True
        return True

    def measure(self, timing) -> None:
        self.warmups.append(timing.warmup_iters)
        self.values += [self.ms / 1e3] * timing.min_iters

    def finish(self, check_overhead=False) -> Record:
        self.rec.status = Status.OK
        self.rec.latency.host = LatencyStats.from_values(self.values, 1)
        self.alive = False
        return self.rec

    def close(self) -> None:
        self.alive = False


def test_each_process_warms_up_first_and_its_median_is_kept():
    a, b = _Arm(10.0), _Arm(12.0)
    spread = SpreadArm([a, b])
    assert b.spec["runs_check"] is False and "runs_check" not in a.spec
    first, rest = TimingConfig(warmup_iters=10, min_iters=5, ci_pct=None), TimingConfig(warmup_iters=2, min_iters=5, ci_pct=None)
    assert spread.open()
    for timing in (first, rest, rest, rest):
        spread.measure(timing)
    assert a.warmups == [10, 2] and b.warmups == [10, 2]  # b's first round gets the whole warm-up
    rec = spread.finish()
    assert rec.details["process_p50_ms"] == [10.0, 12.0] and rec.latency.host.count == 20


def test_a_later_process_that_cannot_open_leaves_its_rounds_to_the_others():
    a, b = _Arm(10.0), _Arm(12.0, fails_open=True)
    spread = SpreadArm([a, b])
    spread.open()
    for _ in range(3):
        spread.measure(TimingConfig(min_iters=5, ci_pct=None))
    rec = spread.finish()
    assert rec.latency.host.count == 15 and rec.details["processes"] == 1
    assert any("process 2 of 2 could not open" in w and "signal 9" in w for w in rec.warnings)
