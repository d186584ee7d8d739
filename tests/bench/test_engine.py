"""The measurement engine's contract, the same on every path: a cell that cannot be judged says
so and is never Table 1's pick, a model that cannot be built gives rows named as the cells would
be, and a run with no result says so."""
from __future__ import annotations

import textwrap

from edgebench.bench.suite import run_suite
from edgebench.config import ModelOptions, SuiteConfig, TimingConfig
from edgebench.results import Status
from tests.bench import crasher
from tests.conftest import FAST_TIMING

#: 32 check items: the crasher's baseline dies opening (its forward runs past 25 calls)
CHECK = ModelOptions(check_size=32)


def _cfg(tmp_path, models, backends, **kw):
    return SuiteConfig(models=models, backends=backends, device="cpu", timing=TimingConfig(**FAST_TIMING),
                       pool_size=2, out_dir=tmp_path / "out", repetitions=1, model_options=kw.pop("model_options", CHECK),
                       **kw)


def test_isolated_gate_falls_back_to_a_reference_when_the_baseline_dies(tmp_path, monkeypatch):
    """The baseline's worker is SIGKILLed while it opens: the INT8 cell is still judged, against
    the pristine model's outputs computed in a worker of their own, as the in-process path does."""
    model, marker = crasher(tmp_path, monkeypatch, "kill-once")
    result = run_suite(_cfg(tmp_path, [model], ["pytorch", "onnxruntime@int8"], isolate=True))
    pre, int8 = result.records
    assert pre.status is Status.CRASHED and not marker.exists()
    assert int8.accuracy.gate in ("passed", "failed"), (int8.status, int8.accuracy.gate, int8.accuracy.gate_reason)
    assert int8.accuracy.max_abs_diff is not None


def test_a_cell_that_cannot_be_judged_says_so_and_is_never_the_pick(tmp_path, monkeypatch):
    """Every process that runs the model's forward dies (the reference's too): the INT8 cell keeps
    its timing, its gate says "not judged" and why, and Table 1 picks no post-opt cell."""
    model, _ = crasher(tmp_path, monkeypatch, "kill")
    result = run_suite(_cfg(tmp_path, [model], ["pytorch", "onnxruntime@int8"], isolate=True))
    pre, int8 = result.records
    assert pre.status is Status.CRASHED
    assert int8.latency.host is not None and int8.accuracy.gate == "not judged"
    assert "reference" in int8.accuracy.gate_reason and "signal 9" in int8.accuracy.gate_reason
    row = result.table.rows[0]
    assert row.post_backend == "" and row.speedup is None
    assert "not judged" in row.note


def test_in_process_model_build_failure_rows_name_each_cell(tmp_path):
    """A factory that raises: one row per cell, under the backend's name and precision (its
    options kept apart), so Table 1 says the baseline failed, not that there is none."""
    f = tmp_path / "broken.py"
    f.write_text(textwrap.dedent('''
        INPUT_SHAPE = (3, 8, 8)

        def make(num_classes=2):
            raise RuntimeError("checkpoint does not fit")
    '''))
    for isolate in (False, True):
        result = run_suite(_cfg(tmp_path / str(isolate), [f"{f}:make"], ["pytorch", "onnxruntime@int8:threads=1"],
                                isolate=isolate))
        pre, post = result.records
        assert (pre.backend, pre.precision) == ("pytorch", "fp32"), isolate
        assert (post.backend, post.precision, post.options) == ("onnxruntime", "int8", {"threads": 1}), isolate
        assert all(r.status is Status.RUN_FAILED and "checkpoint does not fit" in r.error for r in result.records)
        assert result.table.rows[0].failed_reason == "baseline run_failed", isolate


class _SyntheticArm:
    """An arm whose samples are drawn around `ms` with a relative spread, one per iteration asked."""

    resumed = cold_rounds = False
    outputs = None
    check_info = (None, "", None, None)

    def __init__(self, name: str, spread: float, ms: float = 10.0):
        import random

        from edgebench.bench.recorder import new_record

        self.rec = new_record("r", "m", name, "fp32", 1, "cpu")
        self.values, self.alive, self.rounds = [], True, 0
        self.spread, self.ms, self.rng = spread, ms, random.Random(7)

    def open(self) -> bool:
        return True

    def measure(self, timing) -> None:
        self.rounds += 1
        self.values += [self.ms / 1e3 * (1 + self.rng.uniform(-self.spread, self.spread))
                        for _ in range(timing.min_iters)]

    def finish(self, check_overhead=False):
        self.rec.status, self.alive = Status.OK, False
        return self.rec


def test_a_steady_cell_stops_when_its_median_is_known_and_a_noisy_one_at_its_limit():
    from edgebench.bench.engine import Reference, measure_model, split_timing

    timing = TimingConfig(warmup_iters=0, warmup_s=0, min_iters=30, min_time_s=0, ci_pct=1.0, max_time_s=3.0)
    steady, noisy = _SyntheticArm("pytorch", 0.002), _SyntheticArm("onnxruntime", 0.6)
    pre, post = measure_model([steady, noisy], split_timing(timing, 3), Reference(lambda: None),
                              baseline_is_reference=True)
    assert steady.rounds == 3 and pre.details["median_ci_pct"] <= 1.0 and not pre.warnings
    assert noisy.rounds > 3 and 3.0 <= sum(noisy.values) < 3.0 + 0.3  # stopped at --max-time's 3 s of samples
    assert post.details["median_ci_pct"] > 1.0
    assert any("not the +-1% asked" in w and "--max-time" in w for w in post.warnings), post.warnings


def test_the_fixed_rule_takes_exactly_the_planned_rounds():
    from edgebench.bench.engine import Reference, measure_model, split_timing

    timing = TimingConfig(warmup_iters=0, warmup_s=0, min_iters=30, min_time_s=0, ci_pct=None)
    noisy = _SyntheticArm("pytorch", 0.6)
    (rec,) = measure_model([noisy], split_timing(timing, 3), Reference(lambda: None), baseline_is_reference=True)
    assert noisy.rounds == 3 and "median_ci_pct" not in rec.details
