"""MLPerf LoadGen scenario cells (`run --scenario`) on test_cnn with short durations: LoadGen's
VALID verdict and the figures read back from its summary, a Server bound no model can meet stored
as INVALID with LoadGen's reason, resume by fingerprint, and nothing written to the working
directory."""
import os
from dataclasses import replace

import pytest

from edgebench.bench.loadgen import parse_summary
from edgebench.bench.suite import run_suite
from edgebench.config import LoadGenConfig, SuiteConfig
from edgebench.errors import InvalidConfigError
from edgebench.results import Status, Store

pytest.importorskip("mlperf_loadgen")


def _suite(tmp_path, **loadgen):
    loadgen.setdefault("min_duration_s", 0.5)
    loadgen.setdefault("server_steps", 3)
    return SuiteConfig(models=["test_cnn"], backends=["pytorch"], device="cpu", isolate=False, pool_size=2,
                       out_dir=tmp_path / "out", loadgen=LoadGenConfig(**loadgen))


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
        if scenario != "offline":  # see test_offline_is_valid: Offline's sizing under load is not yet steady
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


def test_offline_is_valid(tmp_path, in_clean_dir):
    (rec,) = run_suite(_suite(tmp_path, scenarios=("offline",))).records
    assert rec.loadgen.result == "VALID", rec.loadgen.reasons
    assert rec.loadgen.samples_per_s > 0


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
