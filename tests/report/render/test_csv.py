"""Table 1 as CSV, and the LoadGen scenario cells' CSV."""
import csv

from edgebench.report import build_table1, render_csv
from edgebench.report.render.csv import render_scenarios_csv
from edgebench.report.table1 import ScenarioRow
from tests.report import RUN, SCENARIO_RUN, records, scenario_records


def test_csv_header_is_the_row_fields():
    assert render_csv(build_table1(records(), RUN)).splitlines()[0].startswith("model,task,params")


def test_scenarios_csv_has_every_scenario_row_field_and_a_line_per_cell():
    text = render_scenarios_csv(build_table1(scenario_records(), SCENARIO_RUN))
    assert text.splitlines()[0].split(",") == list(ScenarioRow.__dataclass_fields__)
    rows = list(csv.DictReader(text.splitlines()))
    assert [(r["scenario"], r["backend"], r["result"]) for r in rows] == [
        ("single-stream", "pytorch", "VALID"), ("single-stream", "onnxruntime", "VALID"),
        ("server", "pytorch", "INVALID"), ("server", "onnxruntime", "VALID"), ("server", "tensorrt", "")]
    single, ort_single, server = rows[0], rows[1], rows[2]
    assert (single["figure"], single["figure_value"], single["figure_unit"]) == ("p90 latency", "0.358", "ms")
    assert single["meets_frame_budget"] == "True" and single["compliant"] == "False" and single["task_accuracy"] == "0.875"
    assert ort_single["accuracy_gate"] == "failed" and ort_single["accuracy_gate_reason"] == "top-1 agreement 93.8% < 99%"
    assert server["server_rates"] == "200: INVALID, 100: INVALID" and server["latency_bound_ms"] == "15.0"
    assert server["reasons"] == "Performance constraints satisfied: NO; Reduce target QPS to improve latency."
    assert rows[4]["status"] == "skipped" and rows[4]["figure_value"] == ""
