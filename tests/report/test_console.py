"""What the commands print: a record's line, `run`'s cell-progress lines, plain tables."""
from edgebench.results.latency import LatencyStats
from edgebench.report.console import CellLines, duration, plain_table, record_line
from edgebench.results import Record, Status
from edgebench.results.record import Accuracy, Latency


def test_run_cell_lines_carry_the_gate_reason_and_the_time_left(capsys):
    lat = LatencyStats.from_values([0.002] * 3)
    bad = Record("r", "m", "onnxruntime", "int8", 1, "cpu", status=Status.ACCURACY_FAILED, latency=Latency(lat),
                 accuracy=Accuracy(gate="failed", gate_reason="top-1 agreement 93.8% < 99%"))
    err = record_line(bad)
    assert "accuracy_failed: top-1 agreement 93.8% < 99%" in err and "p50 2.000 ms, not used" in err
    now = [100.0]
    lines = CellLines(3, clock=lambda: now[0])
    now[0] += 10
    lines(Record("r", "m", "pytorch", "fp32", 1, "cpu", latency=Latency(lat)))
    now[0] += 20
    lines(Record("r", "m", "onnxruntime", "fp32", 1, "cpu", status=Status.RUN_FAILED, error="RuntimeError: x\ny"))
    first, second = capsys.readouterr().err.strip().splitlines()
    assert first.startswith("[1/3] m") and first.endswith("(10 s elapsed, about 20 s left)")
    assert "run_failed: RuntimeError: x" in second and second.endswith("(30 s elapsed, about 15 s left)")
    for _ in range(2):  # a precision fallback adds a cell beyond the configured total
        lines(Record("r", "m", "pytorch", "fp32", 1, "cpu", latency=Latency(lat)))
    assert capsys.readouterr().err.strip().splitlines()[-1].split("]")[0] == "[4/4"


def test_durations_and_plain_tables():
    assert [duration(s) for s in (42.4, 187, 7500)] == ["42 s", "3 min 07 s", "2 h 05 min"]
    assert plain_table([("a", "bb"), ("ccc", "d")]).splitlines() == ["a    bb", "---  --", "ccc  d"]


def test_time_left_counts_models_since_a_model_s_rows_arrive_together(capsys):
    """A model's cells are timed in interleaved rounds, so its rows all arrive when it ends: the
    estimate is the time per finished model, not per row (which said 5x too much on the first)."""
    lat = LatencyStats.from_values([0.002] * 3)
    now = [0.0]
    lines = CellLines(6, models=2, clock=lambda: now[0])
    now[0] += 60
    for backend in ("pytorch", "onnxruntime", "openvino"):
        lines(Record("r", "a", backend, "fp32", 1, "cpu", latency=Latency(lat)))
    out = capsys.readouterr().err.strip().splitlines()
    assert all(line.endswith("(1 min 00 s elapsed, about 1 min 00 s left)") for line in out), out


def test_time_left_scales_the_inference_bound_stages_by_each_model_s_flops_on_a_cpu():
    import pytest

    from edgebench.bench.progress import FLOPS_EXPONENT, TimeLeft

    tl = TimeLeft({"small": 1e9, "big": 3e9, "other": 1e9})
    assert tl.left() is None
    tl.model_done("small", {"compile/build": 10.0, "check outputs": 15.0, "timed rounds": 5.0})
    # fixed 15 s each; check outputs 15 s x 3 ** 0.7 for big, 15 s for other
    assert tl.left() == pytest.approx(15 + 15 * 3 ** FLOPS_EXPONENT + 15 + 15)
    flat = TimeLeft({"small": 1e9, "big": 3e9}, scale=False)  # a GPU: compiles dominate
    flat.model_done("small", {"compile/build": 10.0, "check outputs": 15.0, "timed rounds": 5.0})
    assert flat.left() == 30.0
    unknown = TimeLeft({"a": 1e9, "mine.py:make": None})
    unknown.model_done("a", {"export": 4.0, "check outputs": 6.0})
    assert unknown.left() == 10.0  # a model of unknown size: the mean of the finished


def test_cell_lines_print_the_estimate_they_are_given(capsys):
    lat = LatencyStats.from_values([0.002] * 3)
    now = [0.0]
    lines = CellLines(4, models=2, clock=lambda: now[0], estimate=lambda: 150.0)
    now[0] += 30
    lines(Record("r", "a", "pytorch", "fp32", 1, "cpu", latency=Latency(lat)))
    assert capsys.readouterr().err.strip().endswith("(30 s elapsed, about 2 min 30 s left)")
