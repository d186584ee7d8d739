"""`edgebench run`."""
from edgebench.cli.main import main
from tests.cli import FAST


def test_unwritable_output_folder(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["run", "--models", "test_cnn", "--out", str(blocker / "sub"), *FAST]) == 2
    err = capsys.readouterr().err
    assert "not writable" in err and "--out" in err


def test_scenario_options_are_checked_before_anything_runs(tmp_path, capsys):
    assert main(["run", "--models", "test_cnn", "--scenario", "realtime", "--out", str(tmp_path / "o")]) == 2
    assert "not one of single-stream, multi-stream, offline, server" in capsys.readouterr().err
    assert main(["run", "--models", "test_cnn", "--target-fps", "30", "--out", str(tmp_path / "o")]) == 2
    assert "pass --scenario too" in capsys.readouterr().err
    assert main(["run", "--models", "test_cnn", "--scenario", "server", "--server-latency", "fast",
                 "--out", str(tmp_path / "o")]) == 2
    assert "--server-latency must look like 15ms" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_processes_are_checked_before_anything_runs(tmp_path, capsys):
    out = str(tmp_path / "o")
    assert main(["run", "--models", "test_cnn", "--processes", "0", "--out", out]) == 2
    assert "--processes must be an integer >= 1, got 0" in capsys.readouterr().err
    assert main(["run", "--models", "test_cnn", "--no-isolate", "--processes", "2", "--out", out]) == 2
    assert "needs isolated cells" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_single_stream_scenario_from_the_command_line(tmp_path, capsys):
    import pytest

    pytest.importorskip("mlperf_loadgen")
    out = tmp_path / "o"
    assert main(["run", "--models", "test_cnn", "--backends", "pytorch", "--device", "cpu", "--no-isolate",
                 "--no-progress", "--scenario", "single-stream", "--target-fps", "30", "--scenario-duration", "0.3",
                 "--pool-size", "2", "--out", str(out)]) == 0
    md = (out / "table1.md").read_text()
    assert "MLPerf LoadGen SingleStream" in md and "| VALID |" in md and "Not compliant durations" in md


def test_sigterm_ends_a_run_as_ctrl_c_does(tmp_path):
    """`timeout` or a scheduler's SIGTERM: the finished rows kept, the run stored as interrupted
    (not left "running") with its reports, exit 143."""
    import os
    import signal
    import sqlite3
    import sys
    from pathlib import Path

    from tests.conftest import signal_after_line

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    cmd = [sys.executable, "-m", "edgebench", "run", "--models", "test_mlp,test_cnn", "--backends", "pytorch",
           "--no-isolate", "--warmup-iters", "1", "--warmup-s", "0", "--min-iters", "3", "--min-time-s", "4", "--ci", "off",
           "--repetitions", "1", "--pool-size", "2", "--check-size", "4", "--no-progress", "--out", str(tmp_path)]
    # the first model's row is stored; the second is timed for 4 s
    code, err = signal_after_line(cmd, env, "[1/2]", signal.SIGTERM)
    assert code == 143, err
    assert "terminated (SIGTERM); every completed row is kept" in err
    conn = sqlite3.connect(tmp_path / "edgebench.sqlite")
    assert [s for (s,) in conn.execute("SELECT status FROM runs")] == ["interrupted"]
    assert [m for (m,) in conn.execute("SELECT model FROM records")] == ["test_mlp"]
    conn.close()
    assert "interrupted" in (tmp_path / "table1.md").read_text()


def test_a_run_with_no_result_exits_non_zero(tmp_path, capsys):
    """Every cell failed (a forward that raises): the rows are stored and reported, and the exit
    says no cell produced a result."""
    f = tmp_path / "raising.py"
    f.write_text("import torch\nINPUT_SHAPE = (3, 8, 8)\n\n"
                 "class M(torch.nn.Module):\n"
                 "    def forward(self, x):\n"
                 "        raise RuntimeError('forward is broken')\n\n"
                 "def make(num_classes=2):\n    return M()\n")
    out = tmp_path / "o"
    code = main(["run", "--models", f"{f}:make", "--backends", "pytorch", "--device", "cpu", "--no-isolate",
                 "--out", str(out), "--no-progress", *FAST])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "no cell produced a result" in err and "run_failed" in err
    assert (out / "edgebench.sqlite").exists()


def test_a_batch_too_big_for_memory_is_refused_before_anything_runs(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["run", "--models", "test_cnn", "--backends", "pytorch", "--device", "cpu", "--batch-size", "100000000",
                 "--out", str(out), *FAST]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--batch-size 100000000" in err and "GiB" in err, err
    assert not (out / "edgebench.sqlite").exists()


def test_a_run_stopped_as_timeout_does_it_still_writes_table1_and_its_breakdown(tmp_path):
    """`timeout` signals the run and then its process group: the isolated workers die, and the run
    still stores its finished rows and writes Table 1 and where its time went so far."""
    import os
    import signal
    import sys
    from pathlib import Path

    from tests.conftest import signal_after_line

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    cmd = [sys.executable, "-m", "edgebench", "run", "--models", "test_mlp,test_cnn", "--backends", "pytorch",
           "--warmup-iters", "1", "--warmup-s", "0", "--min-iters", "3", "--min-time-s", "4", "--ci", "off",
           "--repetitions", "1", "--pool-size", "2", "--check-size", "4", "--no-progress", "--out", str(tmp_path)]
    code, err = signal_after_line(cmd, env, "[1/2]", signal.SIGTERM, as_timeout=True)
    assert code == 143, err
    assert "interrupted" in (tmp_path / "table1.md").read_text()
    assert (tmp_path / "breakdown.json").is_file()


def test_a_second_sigterm_is_ignored_while_the_run_ends():
    """The first SIGTERM raises where Ctrl-C would; a second one (timeout's, to the process group)
    must not raise again inside the run's `finally`, where it stores the run and writes reports."""
    import signal

    import pytest

    from edgebench.cli.main import Terminated, _raise_terminated

    previous = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(Terminated):
            _raise_terminated(signal.SIGTERM, None)
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_reference_cache_limit_that_is_not_a_number_is_refused_before_anything_runs(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("EDGEBENCH_REFERENCE_CACHE_MB", "lots")
    out = tmp_path / "o"
    assert main(["run", "--models", "test_cnn", "--backends", "pytorch", "--device", "cpu", "--out", str(out), *FAST]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "EDGEBENCH_REFERENCE_CACHE_MB='lots' is not a number of MiB" in err, err
    assert not (out / "edgebench.sqlite").exists()
