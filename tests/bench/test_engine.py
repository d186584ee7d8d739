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
