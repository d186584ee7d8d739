"""Table 1's rows picked from stored records, and the marks that qualify them in every rendering."""
import json
from dataclasses import replace

from edgebench.report import build_table1, render_csv, render_json, render_markdown, render_terminal
from edgebench.results.columns import flatten, unflatten
from tests.report import INTERRUPTED, RUN, SCENARIO_RUN, qualified_records, rec, records, scenario_cell, scenario_records


def test_table1_picks_fastest_post_and_keeps_slowdowns_and_failures():
    t = build_table1(records(), RUN)
    rows = {r.model: r for r in t.rows}
    assert rows["a"].post_backend == "onnxruntime" and rows["a"].speedup == 2.5
    assert rows["b"].speedup == 0.5
    assert rows["c"].speedup is None and "export_failed" in rows["c"].note
    assert t.mean_speedup == (2.5 + 0.5) / 2


def test_table_marks_quick_interrupted_contended_and_failed_models():
    t = build_table1(qualified_records(), replace(INTERRUPTED, baseline="pytorch"))
    rows = {r.model: r for r in t.rows}
    assert rows["a"].post_contended and not rows["a"].pre_contended and rows["a"].quick
    assert rows["a"].post_other_cpu_pct == 37.0
    assert t.failed == [("b", "baseline run_failed"), ("c", "no ok post-opt cell")]
    assert t.interrupted and t.quick and t.not_reached == ["d"]
    md = render_markdown(t)
    assert "QUICK smoke run" in md and "INTERRUPTED run" in md
    assert "| a\u2021 |" in md and "4.000\u2020" in md  # quick row, contended post cell
    assert "contended: other processes used 37% CPU during timing (12% just before)" in md
    assert "No speedup (failed): b (baseline run_failed); c (no ok post-opt cell)" in md
    assert "models not reached: d" in md
    assert "accuracy_failed (top-1 agreement 93.8% < 99%)" in md  # the gate's metric, value and threshold
    assert "run_failed (RuntimeError: factory raised)" in md
    term = render_terminal(t)
    assert term.startswith("** QUICK smoke run") and "4.000\u2020" in term
    assert "contended: other processes used 37% CPU" in term and "top-1 agreement 93.8% < 99%" in term
    row_a = next(r for r in __import__("csv").DictReader(render_csv(t).splitlines()) if r["model"] == "a")
    assert row_a["post_contended"] == "True" and row_a["pre_contended"] == "False" and row_a["quick"] == "True"
    j = json.loads(render_json(t))
    assert j["interrupted"] and j["quick"] and j["baseline"] == "pytorch@fp32"
    assert [f["model"] for f in j["failed_models"]] == ["b", "c"]
    assert j["rows"][0]["post_other_cpu_pct"] == 37.0


def test_rows_stored_before_contention_fields_read_as_quiet():
    recs = []
    for r in records():  # as from a store written before the columns existed: NULL or missing
        row = {**flatten(r), "contended": None}
        for name in ("other_cpu_pct", "load_before_pct"):
            row.pop(name)
        recs.append(unflatten(row))
    t = build_table1(recs, RUN)
    assert not any(r.pre_contended or r.post_contended for r in t.rows) and t.contended_cells == []
    assert "\u2020" not in render_terminal(t)


def test_top1_shows_the_decisive_inputs_the_gate_judged():
    recs = [rec("a", "pytorch", 10.0),
            rec("a", "onnxruntime", 4.0, top1_agreement=0.941, accuracy_gate="passed",
                details={"top1_decisive_agreement": 1.0, "top1_decisive_items": 150})]
    t = build_table1(recs, RUN)
    assert t.rows[0].top1_decisive_items == 150
    assert "94.1% (100.0% of 150 decisive)" in render_markdown(t)
    assert json.loads(render_json(t))["rows"][0]["top1_decisive_agreement"] == 1.0


def test_scenario_cells_become_scenario_rows_grouped_by_scenario_and_stay_out_of_table1():
    t = build_table1(records() + scenario_records(), SCENARIO_RUN)
    assert [r.model for r in t.rows] == ["a", "b", "c"]  # the harness's models only
    assert all(not r.loadgen.scenario for r in t.harness_records) and len(t.harness_records) == len(records())
    assert [(s, [r.backend for r in rows]) for s, rows in t.scenarios] == [
        ("single-stream", ["pytorch", "onnxruntime"]), ("server", ["pytorch", "onnxruntime", "tensorrt"])]
    single, server = t.scenarios[0][1][0], t.scenarios[1][1][0]
    assert (single.figure, single.figure_value, single.figure_unit) == ("p90 latency", 0.358, "ms")
    assert single.frame_budget_ms == 1000 / 30 and single.meets_frame_budget is True and single.task_accuracy == 0.875
    assert (server.figure, server.figure_value, server.figure_unit) == ("scheduled queries per second", 100.0, "queries/s")
    assert server.result == "INVALID" and server.latency_bound_ms == 15.0
    assert server.reasons == "Performance constraints satisfied: NO; Reduce target QPS to improve latency."
    assert server.server_rates == "200: INVALID, 100: INVALID"
    ort = t.scenarios[0][1][1]
    assert ort.status == "accuracy_failed" and ort.accuracy_gate == "failed" and ort.top1_agreement == 0.938
    assert ort.accuracy_gate_reason == "top-1 agreement 93.8% < 99%" and ort.max_abs_diff == 0.25
    skipped = t.scenarios[1][1][2]
    assert skipped.status == "skipped" and skipped.result == "" and skipped.figure_value is None
    assert skipped.error == "<b>TensorRT</b> is not installed: pip install tensorrt"  # its first line


def test_a_scenario_this_edgebench_does_not_know_has_a_row_without_a_figure():
    recs = [scenario_cell("pytorch", "realtime", result="VALID", p90_ms=1.0)]  # as a newer store might hold
    t = build_table1(recs, RUN)
    (row,) = t.scenario_rows
    assert row.scenario == "realtime" and row.figure == "" and row.figure_value is None
    assert "| test_cnn | pytorch | fp32 | VALID | n/a | n/a | n/a |  |" in render_markdown(t)


def test_table1_states_each_models_input_shape_in_every_rendering():
    """The input a run used (a model may be timed at another size than its default): a column of
    its own in the terminal, markdown and HTML tables, a field in CSV and JSON."""
    from edgebench.report.render.html import render_html

    recs = [rec("a", "pytorch", 10.0, input_shape=[3, 260, 260]), rec("a", "onnxruntime", 4.0, input_shape=[3, 260, 260]),
            rec("v", "pytorch", 2.0, input_shape=[64]), rec("v", "onnxruntime", 1.0, input_shape=[64])]
    t = build_table1(recs, RUN)
    assert [r.input for r in t.rows] == ["3x260x260", "64"]
    md = render_markdown(t)
    assert "| Model | Input | Params |" in md and "| a | 3x260x260 | 100 |" in md
    assert "3x260x260" in render_terminal(t) and "3x260x260" in render_html(t)
    assert [r["input"] for r in __import__("csv").DictReader(render_csv(t).splitlines())] == ["3x260x260", "64"]
    assert json.loads(render_json(t))["rows"][1]["input"] == "64"
