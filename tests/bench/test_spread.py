"""A cell timed in several worker processes taking turns (pyperf's reason: a process's own state
moves its latency by more than its samples show)."""
from __future__ import annotations

import math
from dataclasses import replace

from edgebench.bench.engine import say_how_known, split_timing, until_known
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
        self.values, self.alive, self.outputs, self.check_info, self.warmups = [], False, None, (None, "", None, None), []

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


class _NoisyArm(_Arm):
    """Samples within +-`noise` of its median, in a fixed pattern."""

    def __init__(self, ms: float, noise: float = 0.005):
        super().__init__(ms)
        self.noise = noise

    def measure(self, timing) -> None:
        self.warmups.append(timing.warmup_iters)
        n = len(self.values)
        self.values += [self.ms / 1e3 * (1 + self.noise * math.sin(n + i)) for i in range(timing.min_iters)]


def _timed_until_known(spread: SpreadArm, min_iters: int, rounds: int) -> TimingConfig:
    """Open `spread`, time its planned rounds, then until_known's (--ci 1%, --max-time 20 s); the timing."""
    timing = TimingConfig(warmup_iters=0, warmup_s=0, min_iters=min_iters, min_time_s=0, ci_pct=1.0, max_time_s=20.0)
    planned = split_timing(timing, rounds)
    spread.open()
    for r in planned:
        spread.measure(r)
    until_known([spread], planned, say=lambda arm, what: None)
    return timing


def test_timing_stops_once_each_process_median_is_known_and_the_row_says_why_wider():
    """Two processes whose medians differ by 20%: the median of their pooled samples sits in the
    gap between them, and its interval stays near that gap however long the cell is timed. The
    stop rule stops once each process's own median is known to --ci, not at --max-time, and the
    row says its width comes from the processes."""
    spread = SpreadArm([_NoisyArm(10.0), _NoisyArm(12.0)])
    timing = _timed_until_known(spread, min_iters=30, rounds=3)
    assert sum(spread.values) < 2.0  # each process's median is known after a few rounds of 10 samples
    rec = spread.finish()
    say_how_known(rec, spread.values, timing, spread)
    assert rec.details["median_ci_pct"] > 1.0
    assert any("processes' medians differ (10, 12" in w for w in rec.warnings), rec.warnings


def test_a_later_process_of_an_onnx_cell_builds_no_model(tmp_path, monkeypatch):
    """An ONNX-consuming cell's second process is handed the first one's ONNX file: the model is
    built by the pytorch cell's two processes and the onnxruntime cell's first, three times, not four."""
    builds = tmp_path / "builds.txt"
    counted = tmp_path / "counted.py"
    counted.write_text("import torch\nINPUT_SHAPE = (3, 8, 8)\n"
                       f"def make(num_classes=2):\n    open({str(builds)!r}, 'a').write('built\\n')\n"
                       "    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(192, num_classes))\n")
    cfg = SuiteConfig(models=[f"{counted}:make"], backends=["pytorch", "onnxruntime"], device="cpu",
                      timing=TimingConfig(**{**FAST_TIMING, "processes": 2}), pool_size=2, out_dir=tmp_path / "out",
                      repetitions=2, model_options=ModelOptions(check_size=16), cache_dir=tmp_path / "cache")
    records = run_suite(cfg).records
    assert [r.status for r in records] == [Status.OK, Status.OK], [r.error for r in records]
    assert all(r.details["processes"] == 2 for r in records)
    assert builds.read_text().count("built") == 3
    ort = records[1]
    assert ort.model_facts.input_shape == [3, 8, 8] and ort.artifact.sha256


def test_processes_that_agree_stop_once_the_median_of_all_their_samples_is_known():
    """Where the processes agree, the median of all samples is known first (each process holds
    half of them): timing stops there, not when each process's own median is known."""
    from edgebench.bench.engine import _widths

    spread = SpreadArm([_NoisyArm(10.0, noise=0.05), _NoisyArm(10.0, noise=0.05)])
    _timed_until_known(spread, min_iters=10, rounds=2)
    pooled, each = _widths(spread, spread.values)
    assert pooled <= 1.0 < each and sum(spread.values) < 20.0
