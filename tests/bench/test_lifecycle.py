"""A run's lifecycle in the store (bench.lifecycle), as the suite and each fleet device drive it."""
from edgebench.bench.lifecycle import RunRecorder, no_result_summary, produced_result
from edgebench.results import RunStatus, Status, Store
from edgebench.results.record import Record


def test_a_run_begun_without_its_environment_gets_it_when_known(tmp_path):
    """A fleet device whose first task was lost begins its run knowing nothing of the device; the
    environment a later task brings is the run's, not lost (before, the run kept {})."""
    with Store(tmp_path / "s.sqlite") as store:
        run = RunRecorder(store, "r1", "pytorch@fp32", {}, {})
        run.keep(Record("", "m", "pytorch", "fp32", 1, "cpu", Status.NODE_LOST, "node lost"))
        run.set_env({"host": "dev-b", "cpu": "x"})
        run.set_env({"host": "other"})  # the first environment stands
        table, files = run.finish(RunStatus.FINISHED, None)
        stored = store.run("r1")
        assert stored.env == {"host": "dev-b", "cpu": "x"} and stored.status == RunStatus.FINISHED
        assert [r.run_id for r in store.records("r1")] == ["r1"] and files == {}


def test_a_result_is_a_measured_cell():
    ok = Record("r", "m", "pytorch", "fp32", 1, "cpu")
    failed = [Record("r", "m", "pytorch", "fp32", 1, "cpu", Status.RUN_FAILED, "x"),
              Record("r", "m", "onnxruntime", "fp32", 1, "cpu", Status.OOM, "y"),
              Record("r", "m", "openvino", "fp32", 1, "cpu", Status.RUN_FAILED, "z")]
    assert not produced_result(failed) and not produced_result([ok])  # ok but never timed: no latency
    assert no_result_summary(failed) == "3 cell(s): 1 oom, 2 run_failed"
    ok.loadgen.result = "VALID"
    assert produced_result(failed + [ok])
