"""Table 1 as JSON."""
import json

from edgebench.report import build_table1, render_json
from tests.report import RUN, SCENARIO_RUN, records, scenario_records


def test_json_carries_the_mean_speedup():
    j = json.loads(render_json(build_table1(records(), RUN)))
    assert j["mean_speedup"] == 1.5 and j["scenarios"] == []


def test_json_carries_the_loadgen_scenario_cells():
    j = json.loads(render_json(build_table1(scenario_records(), SCENARIO_RUN)))
    assert j["rows"] == [] and [s["scenario"] for s in j["scenarios"]] == ["single-stream"] * 2 + ["server"] * 3
    server = j["scenarios"][3]
    assert server["backend"] == "onnxruntime" and server["server_qps"] == 400.0 and server["figure_value"] == 400.0
    assert server["accuracy_gate"] == "passed" and server["task_accuracy"] == 0.875 and server["top1_agreement"] == 1.0
    assert j["scenarios"][0]["meets_frame_budget"] is True and j["scenarios"][0]["frame_budget_ms"] == 1000 / 30
