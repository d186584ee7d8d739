"""Comparing stored runs (report.compare): cells matched across runs, the ratio's interval from the
stored samples and its verdict, environment differences, uncompared cells, the gate's rule, and
which runs a reference names."""
import json
import sqlite3

import pytest

from edgebench.errors import StoreError, UserError
from edgebench.report.compare import (
    CellComparison, Comparison, compare, compare_runs, parse_threshold, regressions, slower_within, verdict,
)
from edgebench.report.render.comparison import comparison_dict, gate_lines, render_comparison
from edgebench.results import Run
from tests.report.stored_runs import ENV, cell, samples, snapshot, two_runs, write_run


def _run(run_id, env=None, **config):
    return Run(run_id, "2026-01-01T00:00:00", "pytorch@fp32", {"device": "cpu", "timing": {}, **config},
               {**ENV, **(env or {})}, edgebench_version="1.0", git_commit="abc1234")


@pytest.fixture
def store(tmp_path):
    path = tmp_path / "s.sqlite"
    two_runs(path)
    return path


def _cells(cmp: Comparison) -> dict:
    return {(c.model, c.backend, c.precision): c for c in cmp.cells}


def test_faster_slower_unchanged_and_missing_cells(store):
    cmp = compare(["a", "b"], store)
    assert cmp.labels == ["a", "b"] and [r.run_id for r in cmp.runs] == ["a", "b"]
    cells = _cells(cmp)
    slower, faster = cells["test_cnn", "pytorch", "fp32"], cells["test_cnn", "onnxruntime", "fp32"]
    same, failed = cells["test_cnn", "openvino", "fp32"], cells["test_cnn", "tensorrt", "fp16"]
    assert slower.p50_ms == [10.0, 12.0] and slower.ratio == [None, pytest.approx(1.2)]
    assert slower.verdict == ["baseline", "slower"] and 1.0 < slower.ci[1][0] < 1.2 < slower.ci[1][1] < 1.25
    assert faster.ratio[1] == pytest.approx(0.8) and faster.verdict[1] == "faster" and faster.ci[1][1] < 1.0
    assert same.ratio[1] == pytest.approx(1.0) and same.verdict[1] == "no significant change"
    assert same.ci[1][0] < 1.0 < same.ci[1][1]
    assert failed.p50_ms == [2.0, None] and failed.ratio == [None, None] and failed.ci == [None, None]
    assert failed.verdict == ["baseline", "missing"] and failed.status == ["ok", "build_failed"]
    assert slower.batch_size == 1 and slower.ci[0] is None


def test_the_interval_comes_from_the_stored_samples_with_a_fixed_seed(store):
    from edgebench.report.statistics import speedup_interval

    cell_ = _cells(compare(["a", "b"], store))["test_cnn", "pytorch", "fp32"]
    assert cell_.ci[1] == speedup_interval(samples(12.0), samples(10.0))
    assert compare(["a", "b"], store).cells[0].ci == cell_.ci  # a re-run gives the same interval


def test_cells_measured_in_only_some_runs_are_listed_unmatched(store):
    cmp = compare(["a", "b"], store)
    assert cmp.unmatched == [("b", "test_mlp", "pytorch", "fp32")]
    assert ("test_mlp", "pytorch", "fp32") not in _cells(cmp)
    # the other way round: the baseline's uncompared cells too
    cmp = compare(["b", "a"], store)
    assert ("b", "test_mlp", "pytorch", "fp32") in cmp.unmatched
    assert ("test_cnn", "tensorrt", "fp16") not in _cells(cmp)  # b failed it: nothing to compare with
    assert ("a", "test_cnn", "tensorrt", "fp16") in cmp.unmatched


def test_environment_differences_and_contention_flags(store):
    cmp = compare(["a", "b"], store)
    assert cmp.env_differences == [("torch", ["2.3.0", "2.4.0"]),
                                   ("contended: test_cnn pytorch fp32 batch 1", [False, True])]
    assert _cells(cmp)["test_cnn", "pytorch", "fp32"].contended == [False, True]


def test_every_recorded_difference_of_device_versions_and_power_mode_is_listed():
    recs = [cell("x", "m", "pytorch", 5.0)]
    jetson = {"target": "nano", "gpu": "Orin", "cpu": "ARMv8", "power_mode": "15W", "tensorrt": "8.6.2",
              "python": "3.8.10", "onnxruntime": "absent", "openvino": "1.0", "host": "nano"}
    local = {"nvpmodel": "NV Power Mode: MAXN\n0", "cuda": "12.1"}
    cmp = compare_runs([_run("x", local), _run("y", jetson, device="cuda", timing={"quick": True})],
                       [recs, [cell("y", "m", "pytorch", 5.0, device_name="nano: Orin")]])
    diffs = dict(cmp.env_differences)
    assert diffs["power mode"] == ["MAXN", "15W"] and diffs["target"] == [None, "nano"]
    assert diffs["device"] == ["cpu", "cuda"] and diffs["device name"] == ["Test CPU", "nano: Orin"]
    for what in ("GPU", "CPU", "python", "tensorrt", "onnxruntime", "openvino", "host", "CUDA", "quick timing"):
        assert what in diffs, what
    assert "torch" not in diffs and "edgebench" not in diffs  # equal in both: not listed
    lines = render_comparison(cmp).splitlines()
    assert lines[1].endswith("abc1234") and lines[2].endswith("abc1234, QUICK smoke-run timing: not a result")
    assert any(line.split() == ["power", "mode", "MAXN", "15W"] for line in lines)


def test_three_runs_each_against_the_first():
    runs = [_run("r1"), _run("r2"), _run("r3")]
    recs = [[cell("", "m", "pytorch", 10.0), cell("", "m", "onnxruntime", 4.0)],
            [cell("", "m", "pytorch", 8.0)],
            [cell("", "m", "pytorch", 10.0), cell("", "m", "onnxruntime", 6.0)]]
    cmp = compare_runs(runs, recs, ["one", "two", "three"])
    pt, ort = cmp.cells
    assert pt.verdict == ["baseline", "faster", "no significant change"] and pt.p50_ms == [10.0, 8.0, 10.0]
    assert ort.verdict == ["baseline", "missing", "slower"] and ort.status == ["ok", None, "ok"]
    assert ort.ratio == [None, None, pytest.approx(1.5)] and cmp.unmatched == []
    text = render_comparison(cmp)
    assert "[3] vs [1]" in text and "missing (not measured)" in text


def test_options_and_batch_sizes_are_cells_of_their_own():
    base = [cell("", "m", "onnxruntime", 5.0), cell("", "m", "onnxruntime", 9.0, details={"options": {"threads": 1}}),
            cell("", "m", "pytorch", 20.0, batch_size=8)]
    other = [cell("", "m", "onnxruntime", 5.0), cell("", "m", "onnxruntime", 4.5, details={"options": {"threads": 1}}),
             cell("", "m", "pytorch", 20.0, batch_size=4)]
    cmp = compare_runs([_run("a"), _run("b")], [base, other])
    cells = {(c.backend, c.batch_size): c for c in cmp.cells}
    assert set(cells) == {("onnxruntime", 1), ("onnxruntime:threads=1", 1)}
    assert cells["onnxruntime:threads=1", 1].verdict[1] == "faster"
    assert cmp.unmatched == [("a", "m", "pytorch", "fp32"), ("b", "m", "pytorch", "fp32")]


def test_cells_without_samples_have_no_interval_and_never_count_as_changed():
    old = cell("", "m", "pytorch", 10.0)
    old.latency.samples_ms = []  # stored before samples were kept
    cmp = compare_runs([_run("a"), _run("b")], [[old], [cell("", "m", "pytorch", 20.0)]])
    (c,) = cmp.cells
    assert c.ratio[1] == pytest.approx(2.0) and c.ci[1] is None and c.verdict[1] == "no significant change"
    assert regressions(cmp, 0.05) == []
    assert "(no samples for an interval)" in render_comparison(cmp)


def test_verdict_is_significant_only_when_the_interval_excludes_one():
    assert verdict((1.01, 1.2)) == "slower" and verdict((0.8, 0.99)) == "faster"
    assert verdict((0.99, 1.01)) == verdict((1.0, 1.1)) == verdict(None) == "no significant change"


def test_no_model_in_common_is_refused():
    with pytest.raises(UserError, match=r"runs a and b have no model in common \(a: m1; b: m2\)"):
        compare_runs([_run("a"), _run("b")], [[cell("", "m1", "pytorch", 1.0)], [cell("", "m2", "pytorch", 1.0)]])
    common = "no successful cell in common .*a: m pytorch fp32 batch 1; b: m pytorch fp32 batch 8"
    with pytest.raises(UserError, match=common):
        compare_runs([_run("a"), _run("b")],
                     [[cell("", "m", "pytorch", 1.0)], [cell("", "m", "pytorch", 1.0, batch_size=8)]])
    with pytest.raises(UserError, match="c have no model in common"):  # every later run must share a cell
        compare_runs([_run("a"), _run("b"), _run("c")], [[cell("", "m", "pytorch", 1.0)],
                                                         [cell("", "m", "pytorch", 1.0)], []])


# -- the gate --------------------------------------------------------------------------------

@pytest.mark.parametrize("text, value", [("5%", 0.05), (" 2.5% ", 0.025), ("0.05", 0.05), ("0", 0.0), ("0%", 0.0),
                                         ("150%", 1.5)])
def test_threshold_is_a_percentage_or_a_fraction(text, value):
    assert parse_threshold(text) == pytest.approx(value)


@pytest.mark.parametrize("text, message", [("5", "ambiguous: write a percentage such as 5% or a fraction"),
                                           ("abc", "not 'abc'"), ("-5%", "non-negative"), ("nan", "not 'nan'"),
                                           ("inf%", "not 'inf%'"), ("%", "not '%'")])
def test_bad_thresholds_are_refused(text, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(")):
        parse_threshold(text)


def _slight():
    """b is 3% slower than a on pytorch with tight samples (significant), 20% slower on onnxruntime."""
    recs = [[cell("", "m", "pytorch", 10.0, values=samples(10.0, spread=0.005)), cell("", "m", "onnxruntime", 5.0)],
            [cell("", "m", "pytorch", 10.3, values=samples(10.3, spread=0.005)), cell("", "m", "onnxruntime", 6.0)]]
    return compare_runs([_run("a"), _run("b")], recs)


def test_gate_fails_only_where_the_interval_lies_wholly_above_the_threshold():
    cmp = _slight()
    pt, ort = cmp.cells
    assert pt.verdict[1] == "slower" and 1.0 < pt.ci[1][0] < 1.03 < pt.ci[1][1] < 1.05
    assert [r.cell.backend for r in regressions(cmp, 0.05)] == ["onnxruntime"]
    assert [r.cell.backend for r in regressions(cmp, 0.25)] == []
    assert [r.cell.backend for r in regressions(cmp, 0.01)] == ["pytorch", "onnxruntime"]
    assert [r.cell.backend for r in slower_within(cmp, 0.05)] == ["pytorch"]
    failing = regressions(cmp, 0.05)
    assert failing[0].label == "b" and failing[0].ratio == pytest.approx(1.2) and failing[0].ci == ort.ci[1]
    text = gate_lines(cmp, 0.05, failing, slower_within(cmp, 0.05))
    assert text.splitlines()[0] == ("regression gate FAILED: 1 cell more than 5% slower than in a "
                                    "(95% interval of the ratio wholly above 1.05):")
    assert text.splitlines()[1].startswith("  b: m onnxruntime fp32 batch 1: 1.200x [")
    passed = gate_lines(cmp, 0.25, [], slower_within(cmp, 0.25))
    assert passed.startswith("regression gate passed: no cell is shown to be more than 25% slower than in a")
    assert "b: m pytorch fp32 batch 1" in passed and "b: m onnxruntime fp32 batch 1" in passed


def test_the_first_run_is_the_baseline_and_a_run_compared_with_itself_is_refused(store):
    cmp = compare(["b", "a"], store)  # a against b: pytorch faster, onnxruntime slower by 25%
    assert [r.cell.backend for r in regressions(cmp, 0.05)] == ["onnxruntime"]
    for refs in (["a", "a"], [str(store) + ":a", "a"], ["b", str(store)]):  # the store's latest run is b
        with pytest.raises(UserError, match="same run .* compared with itself"):
            compare(refs, store)


def _rounds(medians: list, n: int = 41, spread: float = 0.01) -> tuple[list, list]:
    """Samples of a cell timed in len(medians) rounds, each round's spread around its median."""
    values = [v for m in medians for v in samples(m, n=n, spread=spread)]
    return values, [n] * len(medians)


def test_the_interval_widens_by_the_spread_between_rounds_so_an_a_a_pair_passes():
    """Two runs of the same code whose rounds differ by a few % each, as processes on a VM do:
    the samples' bootstrap alone calls the later run 4.5% slower with a tight interval and fails
    a 2% gate; the rounds' spread widens the interval and the gate passes. A slowdown that every
    round shows still fails."""
    from edgebench.report.statistics import ratio_interval, speedup_interval

    a, a_sizes = _rounds([10.0, 10.6, 9.7])
    b, b_sizes = _rounds([10.5, 11.0, 10.4])
    boot = speedup_interval(b, a)
    wide = ratio_interval(b, a, b_sizes, a_sizes)
    assert boot[0] > 1.02 and wide[0] < 1.0 < wide[1] and wide[0] < boot[0] and wide[1] > boot[1]
    pair = [[cell("", "m", "pytorch", None, values=a, details={"round_sizes": a_sizes})],
            [cell("", "m", "pytorch", None, values=b, details={"round_sizes": b_sizes})]]
    assert regressions(compare_runs([_run("a"), _run("b")], pair), 0.02) == []
    c, c_sizes = _rounds([11.5, 11.6, 11.45])  # 15% slower in every round
    worse = [pair[0], [cell("", "m", "pytorch", None, values=c, details={"round_sizes": c_sizes})]]
    assert [r.cell.backend for r in regressions(compare_runs([_run("a"), _run("c")], worse), 0.05)] == ["pytorch"]
    assert ratio_interval(b, a) == boot  # rows stored without their rounds: the bootstrap alone


def test_contended_cells_are_not_judged_by_the_gate_unless_asked():
    from edgebench.report.compare import contended_pairs

    recs = [[cell("", "m", "pytorch", 10.0), cell("", "m", "onnxruntime", 5.0)],
            [cell("", "m", "pytorch", 13.0, contended=True), cell("", "m", "onnxruntime", 6.5)]]
    cmp = compare_runs([_run("a"), _run("b")], recs)
    assert [r.cell.backend for r in regressions(cmp, 0.05)] == ["onnxruntime"]
    assert [r.cell.backend for r in regressions(cmp, 0.05, judge_contended=True)] == ["pytorch", "onnxruntime"]
    skipped = contended_pairs(cmp)
    assert [(label, c.backend) for label, c in skipped] == [("b", "pytorch")]
    text = gate_lines(cmp, 0.05, regressions(cmp, 0.05), slower_within(cmp, 0.05), skipped)
    assert "not judged (1)" in text and "--judge-contended" in text and "b: m pytorch fp32 batch 1" in text


def test_json_holds_every_field_and_the_gate():
    cmp = _slight()
    d = json.loads(json.dumps(comparison_dict(cmp, 0.05, regressions(cmp, 0.05))))
    assert d["labels"] == ["a", "b"] and d["runs"][1]["env"]["torch"] == "2.3.0"
    assert d["cells"][1]["verdict"] == ["baseline", "slower"] and d["cells"][1]["ci"][0] is None
    assert d["gate"]["passed"] is False and d["gate"]["failing"][0]["backend"] == "onnxruntime"
    assert "gate" not in comparison_dict(cmp)


def test_the_dataclasses_keep_the_shared_field_names():
    from dataclasses import fields

    assert [f.name for f in fields(CellComparison)][:8] == ["model", "backend", "precision", "batch_size", "p50_ms",
                                                            "ratio", "ci", "verdict"]
    assert [f.name for f in fields(Comparison)] == ["labels", "runs", "cells", "env_differences", "unmatched",
                                                  "explanations"]


# -- which runs the references name -----------------------------------------------------------

def test_references_run_id_store_file_and_store_colon_run(tmp_path, store):
    other = tmp_path / "jetson.sqlite"
    write_run(other, "j1", [cell("", "test_cnn", "pytorch", 30.0)], started_at="2026-01-03T00:00:00")
    write_run(other, "j2", [cell("", "test_cnn", "pytorch", 20.0)], started_at="2026-01-04T00:00:00")
    before = snapshot(tmp_path)
    cmp = compare(["a", str(other)], store)  # a store file: its latest run
    assert [r.run_id for r in cmp.runs] == ["a", "j2"]
    assert cmp.labels == [f"{store}:a", f"{other}:j2"]  # several stores: each label names its store
    assert compare([f"{other}:j1", f"{other}:latest", f"{store}:b"], store).labels == [
        f"{other}:j1", f"{other}:j2", f"{store}:b"]
    assert compare([f"{store}:a", "b"], store).labels == ["a", "b"]  # one store: run ids
    assert _cells(compare([f"{other}:j1", str(other)], store))["test_cnn", "pytorch", "fp32"].ratio[1] == \
        pytest.approx(20 / 30)
    assert snapshot(tmp_path) == before  # comparing writes nothing


def _newer(path):
    conn = sqlite3.connect(path)
    conn.execute("UPDATE schema_version SET version = 99")
    conn.commit()
    conn.close()


def test_bad_references_are_refused(tmp_path, store):
    with pytest.raises(UserError, match="at least two runs, got 1"):
        compare(["a"], store)
    with pytest.raises(UserError, match=r"'nope' is not a store file, and run 'nope' is not in .*latest runs: b, a"):
        compare(["a", "nope"], store)
    with pytest.raises(UserError, match=r"run 'nope' is not in"):
        compare(["a", f"{store}:nope"], store)
    with pytest.raises(StoreError, match="no results store at"):
        compare(["a", str(tmp_path / "missing.sqlite")], store)
    with pytest.raises(StoreError, match="neither a store file nor a run id in .*there is no results store"):
        compare(["a", "b"], tmp_path / "none.sqlite")
    newer = tmp_path / "newer.sqlite"
    write_run(newer, "n", [cell("", "test_cnn", "pytorch", 1.0)])
    _newer(newer)
    with pytest.raises(StoreError, match="schema version 99, newer than this edgebench"):
        compare(["a", str(newer)], store)
    empty = tmp_path / "empty.sqlite"
    write_run(empty, "e", [])
    with sqlite3.connect(empty) as conn:
        conn.execute("DELETE FROM runs")
    with pytest.raises(UserError, match="holds no runs"):
        compare(["a", str(empty)], store)
    write_run(tmp_path / "z.sqlite", "z", [], started_at="2026-02-01T00:00:00")
    with pytest.raises(UserError, match="no model in common"):
        compare(["a", str(tmp_path / "z.sqlite")], store)


def test_a_run_from_a_version_6_store_compares_unchanged(tmp_path):
    from tests.results.test_store import FIXTURES

    old = tmp_path / "v6.sqlite"
    with sqlite3.connect(old) as conn:
        conn.executescript((FIXTURES / "store_v6.sql").read_text())
    new = tmp_path / "new.sqlite"
    write_run(new, "now", [cell("", "resnet50", "pytorch", 4.0),
                           cell("", "resnet50", "tensorrt", 1.1, "fp16", details={"options": {"workspace_gb": 4}})])
    before = snapshot(tmp_path)
    cmp = compare([f"{old}:r6", str(new)], new)
    assert snapshot(tmp_path) == before
    pt, trt = cmp.cells
    assert pt.p50_ms == [5.0, 4.0] and pt.contended == [True, False] and pt.ratio[1] == pytest.approx(0.8)
    assert pt.ci[1] is not None  # from its 3 stored samples: too few to call it faster
    assert pt.verdict[1] == "no significant change"
    assert (trt.backend, trt.precision) == ("tensorrt:workspace_gb=4", "fp16") and trt.ratio[1] == pytest.approx(1.0)
    diffs = dict(cmp.env_differences)
    assert diffs["edgebench"] == [None, "1.0 abc1234"] and diffs["host"] == ["old-host", "bench-1"]
    assert diffs["contended: resnet50 pytorch fp32 batch 1"] == [True, False]
