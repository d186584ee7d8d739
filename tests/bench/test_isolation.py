"""Isolated cells: a crash, a hang or an interruption costs at most the cell in flight."""
import textwrap
from dataclasses import replace

import pytest

from edgebench.config import TimingConfig
from edgebench.bench.suite import run_suite
from edgebench.config import SuiteConfig
from edgebench.results import RunStatus, Status, Store
from tests.bench import CRASHER
from tests.conftest import FAST_TIMING

def _cfg(tmp_path, models, **kw):
    return SuiteConfig(models=models, backends=kw.pop("backends", ["pytorch", "onnxruntime"]), device="cpu",
                       timing=kw.pop("timing", TimingConfig(**FAST_TIMING)), pool_size=2, out_dir=tmp_path / "out",
                       isolate=True, **kw)


def test_sigkilled_cell_becomes_a_failure_row_and_the_suite_finishes(tmp_path, monkeypatch):
    f = tmp_path / "crasher.py"
    f.write_text(CRASHER)
    monkeypatch.setenv("EDGEBENCH_TEST_MODE", "kill")
    timing = TimingConfig(warmup_iters=1, warmup_s=0, min_iters=30, min_time_s=0, ci_pct=None)
    result = run_suite(_cfg(tmp_path, [f"{f}:make"], timing=timing, repetitions=1))
    assert result.status is RunStatus.FINISHED
    crashed, other = result.records  # the onnxruntime cell runs the exported graph: no Python forward
    assert crashed.backend == "pytorch" and crashed.status is Status.CRASHED and "signal 9 (SIGKILL)" in crashed.error
    assert other.backend == "onnxruntime" and other.ok and len(other.latency.samples_ms) == other.latency.host.count
    assert all(r.fingerprint for r in result.records)


def test_hanging_cell_times_out(tmp_path, monkeypatch):
    f = tmp_path / "crasher.py"
    f.write_text(CRASHER)
    monkeypatch.setenv("EDGEBENCH_TEST_MODE", "hang")
    timing = TimingConfig(warmup_iters=1, warmup_s=0, min_iters=30, min_time_s=0, ci_pct=None)
    result = run_suite(_cfg(tmp_path, [f"{f}:make"], backends=["pytorch"], timing=timing, repetitions=1,
                            cell_timeout_s=12))
    rec = result.records[0]
    assert rec.status is Status.TIMEOUT and "12 s" in rec.error


def test_interrupted_run_completes_with_resume_without_rerunning_finished_cells(tmp_path):
    cfg = _cfg(tmp_path, ["test_cnn", "test_mlp"])
    seen = []

    def stop_after_first_model(rec):
        seen.append(rec)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_suite(cfg, on_record=stop_after_first_model)
    first_run = seen[0].run_id
    cfg = replace(cfg, resume=True)
    result = run_suite(cfg)
    assert result.status is RunStatus.FINISHED and len(result.records) == 4
    by = {(r.model, r.backend): r for r in result.records}
    for b in ("pytorch", "onnxruntime"):
        assert by[("test_cnn", b)].details.get("resumed_from") == first_run
        assert by[("test_mlp", b)].ok and "resumed_from" not in by[("test_mlp", b)].details
    assert by[("test_cnn", "onnxruntime")].latency.host == seen[1].latency.host  # the stored row, not a new one
    assert by[("test_mlp", "onnxruntime")].accuracy.gate == "passed"
    with Store(cfg.out_dir / "edgebench.sqlite") as s:
        assert len(s.records(result.run_id)) == 4


SLOW_EXIT = textwrap.dedent('''
    import multiprocessing, time
    import multiprocessing.util
    import torch
    INPUT_SHAPE = (3, 8, 8)
    # a named semaphore, and an exit handler that runs before its cleanup (higher priority) and
    # takes a second: a worker killed as soon as it has replied leaves the semaphore registered
    LOCK = multiprocessing.Lock()
    multiprocessing.util.Finalize(None, time.sleep, (1.0,), exitpriority=10)

    def make(num_classes=2):
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(192, num_classes))
''')


def test_no_leaked_semaphore_warning_at_exit(tmp_path):
    import subprocess
    import sys

    f = tmp_path / "slow_exit.py"
    f.write_text(SLOW_EXIT)
    out = subprocess.run(
        [sys.executable, "-m", "edgebench", "run", "--quick", "--models", f"{f}:make", "--backends",
         "pytorch,onnxruntime", "--device", "cpu", "--repetitions", "1", "--out", str(tmp_path / "out"),
         "--warmup-iters", "1", "--warmup-s", "0", "--min-iters", "3", "--min-time-s", "0", "--ci", "off", "--pool-size", "2"],
        capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr
    assert "leaked semaphore" not in out.stderr and "resource_tracker" not in out.stderr, out.stderr
