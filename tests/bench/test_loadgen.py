"""MLPerf LoadGen scenario cells (`run --scenario`) on test_cnn with short durations: LoadGen's
VALID verdict and the figures read back from its summary, a Server bound no model can meet stored
as INVALID with LoadGen's reason, resume by fingerprint, and nothing written to the working
directory."""
import os
from dataclasses import replace

import numpy as np
import pytest

from edgebench.bench.loadgen import decode_accuracy_log, parse_summary
from edgebench.bench.suite import run_suite
from edgebench.config import LoadGenConfig, ModelOptions, SuiteConfig
from edgebench.errors import InvalidConfigError
from edgebench.results import Status, Store
from tests.bench import crasher

pytest.importorskip("mlperf_loadgen")


def _suite(tmp_path, suite=None, **loadgen):
    loadgen.setdefault("min_duration_s", 0.5)
    loadgen.setdefault("server_steps", 3)
    kw = {"models": ["test_cnn"], "backends": ["pytorch"], "isolate": False, **(suite or {})}
    return SuiteConfig(device="cpu", pool_size=2, out_dir=tmp_path / "out", loadgen=LoadGenConfig(**loadgen), **kw)


@pytest.fixture
def in_clean_dir(tmp_path, monkeypatch):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    yield cwd
    assert os.listdir(cwd) == [], "LoadGen wrote into the working directory"


def test_every_scenario_is_valid_with_its_figure_read_back(tmp_path, in_clean_dir):
    scenarios = ("single-stream", "multi-stream", "offline", "server")
    result = run_suite(_suite(tmp_path, scenarios=scenarios, target_fps=30))
    by = {r.loadgen.scenario: r for r in result.records}
    assert list(by) == list(scenarios)
    for scenario, rec in by.items():
        assert rec.status is Status.OK, rec.error
        assert rec.loadgen.result == "VALID", (scenario, rec.loadgen.reasons)
        assert "MLPerf Results Summary" in rec.details["loadgen_summary"]
        assert not rec.loadgen.compliant
        assert any("not MLPerf's compliant durations" in w for w in rec.warnings)
    single, multi = by["single-stream"].loadgen, by["multi-stream"].loadgen
    assert 0 < single.p90_ms < 1e3 and single.early_stopping_ms >= single.p90_ms * 0.5
    assert 0 < multi.p99_ms and multi.p99_ms >= single.p90_ms  # a query of 8 samples outlasts one
    assert single.frame_budget_ms == pytest.approx(1000 / 30) and single.meets_frame_budget is True
    assert by["offline"].loadgen.samples_per_s > 0
    server = by["server"]
    assert server.loadgen.server_qps > 0 and server.loadgen.latency_bound_ms == 15.0
    rates = server.details["loadgen_server_rates"]
    assert 1 <= len(rates) <= 3 and any(t["result"] == "VALID" for t in rates)
    # stored, read back, and a section per scenario in table1.md
    with Store(tmp_path / "out" / "edgebench.sqlite", readonly=True) as store:
        stored = {r.loadgen.scenario: r for r in store.records(result.run_id)}
    assert stored["single-stream"].loadgen == single and stored["server"].loadgen.reasons == []
    md = (tmp_path / "out" / "table1.md").read_text()
    for title in ("SingleStream", "MultiStream", "Offline", "Server"):
        assert f"MLPerf LoadGen {title}" in md
    assert "Not compliant durations" in md and "| VALID |" in md and "Meets 33.3 ms frame budget" in md


def test_unmeetable_server_bound_is_stored_invalid_with_loadgens_reason(tmp_path, in_clean_dir):
    result = run_suite(_suite(tmp_path, scenarios=("server",), server_latency_ms=0.001, server_steps=2))
    (rec,) = result.records
    assert rec.status is Status.OK and rec.loadgen.result == "INVALID"
    assert "Performance constraints satisfied: NO" in rec.loadgen.reasons
    assert [t["result"] for t in rec.details["loadgen_server_rates"]] == ["INVALID", "INVALID"]
    with Store(tmp_path / "out" / "edgebench.sqlite", readonly=True) as store:
        assert store.records(result.run_id)[0].loadgen.reasons == rec.loadgen.reasons
    assert "Performance constraints satisfied: NO" in (tmp_path / "out" / "table1.md").read_text()


def test_resume_skips_finished_scenario_cells(tmp_path, in_clean_dir):
    first = run_suite(_suite(tmp_path, scenarios=("single-stream",), min_duration_s=0.2))
    again = run_suite(replace(_suite(tmp_path, scenarios=("single-stream", "offline"), min_duration_s=0.2), resume=True))
    by = {r.loadgen.scenario: r for r in again.records}
    assert by["single-stream"].details["resumed_from"] == first.run_id
    assert by["single-stream"].loadgen.p90_ms == first.records[0].loadgen.p90_ms
    assert "resumed_from" not in by["offline"].details and by["offline"].loadgen.result in ("VALID", "INVALID")


def test_without_loadgen_each_scenario_cell_is_skipped_with_the_reason(tmp_path, monkeypatch):
    import edgebench.bench.loadgen as lg

    monkeypatch.setattr(lg, "unavailable_reason", lambda: "MLPerf LoadGen is not installed; pip install x")
    result = run_suite(_suite(tmp_path, scenarios=("single-stream", "offline")))
    assert [(r.status, r.loadgen.scenario) for r in result.records] == [
        (Status.SKIPPED, "single-stream"), (Status.SKIPPED, "offline")]
    assert "not installed" in result.records[0].error


def test_scenarios_are_refused_for_a_remote_target():
    with pytest.raises(InvalidConfigError, match="--scenario is refused for target jetson.*Python 3.6"):
        SuiteConfig(models=["test_cnn"], target="jetson", loadgen=LoadGenConfig())
    with pytest.raises(InvalidConfigError, match="not one of"):
        LoadGenConfig(scenarios=("realtime",))


def test_summary_parser_reads_reasons_and_early_stopping():
    text = """Scenario : MultiStream
99.0th percentile latency (ns) : 4437211
Result is : INVALID
  Min duration satisfied : Yes
  Min queries satisfied : Yes
  Early stopping satisfied: NO
Recommendations:
Early Stopping Result:
 * Only processed 416 queries.
 * Need to process at least 662 queries for early stopping.

================================================
Additional Stats
================================================
50.00 percentile latency (ns)   : 1000000
"""
    s = parse_summary(text)
    assert s.result == "INVALID" and s.percentile == 99.0 and s.percentile_ms == pytest.approx(4.437211)
    assert s.reasons == ["Early stopping satisfied: NO", "Only processed 416 queries.",
                         "Need to process at least 662 queries for early stopping."]
    assert s.latencies_ms == {"p50": 1.0}


def test_accuracy_mode_reads_task_accuracy_from_loadgens_log_in_isolated_workers(tmp_path, in_clean_dir):
    """With --data, each scenario cell's task accuracy and gate come from LoadGen's accuracy log
    (AccuracyOnly over the 12 labelled check images), in a worker process per backend: the same
    figure the pristine model gives on those images; MultiStream's last query of 8 repeats 4."""
    from edgebench.bench.accuracy import task_accuracy
    from edgebench.bench.model_cell import ModelCell
    from edgebench.data.synth import write_image_set

    write_image_set(tmp_path / "img", per_class=12, val_fraction=0.5)  # 12 val images
    opts = ModelOptions(data=str(tmp_path / "img"), check_size=12)
    cfg = _suite(tmp_path, {"backends": ["pytorch", "onnxruntime"], "isolate": True, "model_options": opts},
                 scenarios=("single-stream", "multi-stream"), min_duration_s=0.2)
    result = run_suite(cfg)
    cell = ModelCell("test_cnn", opts, 1, 2, None)
    labels = cell.check_info()[0]
    expected = task_accuracy(cell.reference_outputs(), labels)
    assert len(labels) == 12 and 0 < expected < 1  # random weights: neither all right nor all wrong
    for rec in result.records:
        assert rec.status is Status.OK, rec.error
        assert rec.accuracy.task_accuracy == pytest.approx(expected)
        assert rec.details["accuracy_source"] == "LoadGen's accuracy log"
        run = rec.details["loadgen_accuracy"]
        assert run["samples"] == 12
        assert run["repeated"] == (4 if rec.loadgen.scenario == "multi-stream" else 0)
        assert run["log_entries"] == 12 + run["repeated"]
    ort = [r for r in result.records if r.backend == "onnxruntime"]
    assert [r.accuracy.gate for r in ort] == ["passed", "passed"] and ort[0].accuracy.top1_agreement == 1.0
    assert all(r.accuracy.gate == "" for r in result.records if r.backend == "pytorch")  # the reference itself


def test_accuracy_gate_judges_loadgens_outputs(tmp_path, in_clean_dir, monkeypatch):
    from edgebench.bench import accuracy

    monkeypatch.setitem(accuracy.TOLERANCES, "fp32", {"max_rel_diff": None, "min_cosine": 1.5, "min_top1": 0.99})
    cfg = _suite(tmp_path, {"backends": ["pytorch", "onnxruntime"], "model_options": ModelOptions(check_size=4)},
                 scenarios=("offline",), min_duration_s=0.2)
    pre, post = run_suite(cfg).records
    assert pre.status is Status.OK and post.status is Status.ACCURACY_FAILED
    assert "cosine" in post.accuracy.gate_reason and post.details["loadgen_accuracy"]["samples"] == 4


def test_a_worker_killed_in_one_scenario_costs_only_that_scenario(tmp_path, in_clean_dir, monkeypatch):
    model, marker = crasher(tmp_path, monkeypatch, "kill-once")
    cfg = _suite(tmp_path, {"models": [model], "isolate": True, "model_options": ModelOptions(check_size=8)},
                 scenarios=("single-stream", "offline"), min_duration_s=0.2)
    crashed, after = run_suite(cfg).records
    assert crashed.loadgen.scenario == "single-stream" and crashed.status is Status.CRASHED
    assert "signal 9 (SIGKILL)" in crashed.error and not marker.exists()
    assert after.loadgen.scenario == "offline" and after.status is Status.OK and after.loadgen.samples_per_s > 0
    assert crashed.fingerprint and after.fingerprint and crashed.fingerprint != after.fingerprint


def test_accuracy_log_decoding():
    out = [np.array([[1.5, -2.0]], np.float32), np.array([[0.25, 4.0]], np.float32)]
    entries = [{"seq_id": 0, "qsl_idx": 1, "data": out[1].tobytes().hex()},
               {"seq_id": 1, "qsl_idx": 0, "data": out[0].tobytes().hex()},
               {"seq_id": 2, "qsl_idx": 1, "data": out[1].tobytes().hex()}]
    decoded, repeated = decode_accuracy_log(entries, 2, (1, 2))
    assert repeated == 1 and [d.tolist() for d in decoded] == [[[1.5, -2.0]], [[0.25, 4.0]]]
    with pytest.raises(RuntimeError, match="no output for 1 of 3 samples"):
        decode_accuracy_log(entries, 3, (1, 2))


def test_a_model_of_several_outputs_is_read_back_output_by_output():
    """A detector's response holds its outputs one after the other (models.outputs' order)."""
    boxes, scores = np.arange(8, dtype=np.float32).reshape(1, 2, 4), np.array([[0.5, 0.25]], np.float32)
    data = np.concatenate([boxes.ravel(), scores.ravel()]).tobytes().hex()
    (decoded,), _ = decode_accuracy_log([{"seq_id": 0, "qsl_idx": 0, "data": data}], 1, ((1, 2, 4), (1, 2)))
    assert isinstance(decoded, tuple) and np.array_equal(decoded[0], boxes) and np.array_equal(decoded[1], scores)


def test_a_run_that_ended_early_is_asked_again_at_the_latency_it_observed():
    from edgebench.bench.loadgen import Summary, observed_latency_s

    assert observed_latency_s("single-stream", Summary(latencies_ms={"mean": 0.4})) == pytest.approx(4e-4)
    assert observed_latency_s("multi-stream", Summary(latencies_ms={"mean": 3.2})) == pytest.approx(4e-4)
    assert observed_latency_s("offline", Summary(samples_per_s=2500.0)) == pytest.approx(4e-4)
    assert observed_latency_s("single-stream", Summary()) is None


def test_a_short_run_that_failed_only_early_stopping_asks_for_the_queries_loadgen_names():
    """The Server reasons an H200 run stored for eager resnet50 at 20.656 QPS (its p99 met 15 ms,
    a few queries did not), and a too-short MultiStream run's."""
    from edgebench.bench.loadgen import Summary, _longer_run, queries_needed

    server = Summary(result="INVALID", checks={"Early stopping": False}, reasons=[
        "Early stopping satisfied: NO", "Run unsuccessful.", "Processed 700 queries.",
        "Would need to run at least 138 more queries, with the run being successful if every additional query "
        "were under latency."])
    multi = Summary(result="INVALID", checks={"Early stopping": False}, reasons=["Early stopping satisfied: NO", "Only processed 416 queries.",
                                               "Need to process at least 662 queries for early stopping."])
    assert queries_needed(server) == 838 and queries_needed(multi) == 662
    cfg = LoadGenConfig()
    assert _longer_run(server, "server", cfg, 1 / 40.0) == 1005  # 838 and a fifth more: 25 s at 40 QPS
    assert _longer_run(server, "server", cfg, 1 / 20.656) is None  # 49 s: over MAX_LONGER_RUN_S
    assert _longer_run(server, "server", replace(cfg, compliant=True), 1e-3) is None  # MLPerf's own minimums stand
    missed = Summary(result="INVALID", checks={"Early stopping": False, "Performance constraints": False},
                     reasons=["Performance constraints satisfied: NO", *server.reasons])
    assert _longer_run(missed, "server", cfg, 1e-3) is None  # the bound itself was missed: a lower rate, not more
    assert queries_needed(Summary(result="INVALID", checks={"Min duration": False},
                                  reasons=["Min duration satisfied: NO"])) is None


def test_summary_checks_are_booleans_not_display_text():
    """Each "... satisfied" line is read as a boolean; the retry and the Server search read those,
    not LoadGen's wording of the reasons."""
    from edgebench.bench.loadgen import queries_needed
    from edgebench.bench.loadgen_summary import parse_summary as parse

    text = ("================================================\nMLPerf Results Summary\n"
            "================================================\nSUT name : edgebench\nScenario : SingleStream\n"
            "Mode     : PerformanceOnly\n90th percentile latency (ns) : 1000000\nResult is : INVALID\n"
            "  Min duration satisfied : Yes\n  Min queries satisfied : Yes\n  Early stopping satisfied: NO\n"
            "Recommendations:\nEarly Stopping Result:\n * Only processed 50 queries.\n"
            " * Need to process at least 64 queries for early stopping.\n")
    s = parse(text)
    assert not s.valid and s.min_duration_met is True and s.min_queries_met is True
    assert s.early_stopping_met is False and s.constraints_met is None
    assert queries_needed(s) == 64
    assert parse(text.replace("Early stopping satisfied: NO", "Early stopping satisfied: Yes")).early_stopping_met
