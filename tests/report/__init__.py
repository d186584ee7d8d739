"""Tests of the reports, one file per module; the stored records they render."""
from dataclasses import replace

from edgebench.results.latency import LatencyStats
from edgebench.results import Run, RunStatus
from edgebench.results.columns import unflatten
from edgebench.results.record import Accuracy, LoadGen, Record, Status

RUN = Run("r1", "t", "pytorch", {"device": "cpu", "timing": {}}, {"host": "h"}, RunStatus.FINISHED)


def rec(model, backend, ms, task="image-classification", status="ok", **kw):
    """A record as the store reads it from a row: `kw` under the store's (flat) column names."""
    lat = LatencyStats.from_values([ms / 1e3] * 3) if status == "ok" else None
    kw.setdefault("samples_ms", [ms] * 3 if status == "ok" else [])
    return unflatten(dict(run_id="r1", model=model, backend=backend, precision="fp32", batch_size=1, device="cpu",
                          status=status, task=task, latency=lat, params=100, flops=2000, device_name="TestCPU", **kw))


def records():
    return [
        rec("a", "pytorch", 10.0), rec("a", "onnxruntime", 4.0, max_abs_diff=1e-6, top1_agreement=1.0),
        rec("a", "tensorrt", 5.0),  # slower of the two optimisers: not the post-opt pick
        rec("b", "pytorch", 2.0), rec("b", "onnxruntime", 4.0),  # got slower: shown as 0.5x
        rec("c", "pytorch", 3.0, task="action-recognition"),
        rec("c", "onnxruntime", 0, task="action-recognition", status="export_failed", error="boom"),
    ]


def qualified_records():
    """a: post cell contended and quick; b: baseline failed; c: the only post cell failed the gate."""
    rng = __import__("numpy").random.default_rng(1)
    pre = list(10 + rng.normal(0, 0.3, 40))
    post = list(4 + rng.normal(0, 0.3, 40))
    return [
        rec("a", "pytorch", 10.0, samples_ms=pre, timing={"quick": True}),
        rec("a", "onnxruntime", 4.0, samples_ms=post, timing={"quick": True}, contended=True, other_cpu_pct=37.0,
            load_before_pct=12.0),
        rec("b", "pytorch", 0, status="run_failed", error="RuntimeError: factory raised\nmore"),
        rec("b", "onnxruntime", 3.0),
        rec("c", "pytorch", 5.0),
        rec("c", "onnxruntime", 2.0, status="accuracy_failed", accuracy_gate="failed",
            accuracy_gate_reason="top-1 agreement 93.8% < 99%"),
    ]


INTERRUPTED = replace(RUN, baseline="onnxruntime@fp16", status=RunStatus.INTERRUPTED,
                      config={"device": "cpu", "timing": {"quick": True}, "models": ["a", "b", "c", "d"]})


def scenario_cell(backend, scenario, status=Status.OK, error="", accuracy=None, details=None, **loadgen) -> Record:
    """A LoadGen scenario cell of test_cnn as `run --scenario` stores it: `loadgen` fills its LoadGen group."""
    return Record("r1", "test_cnn", backend, "fp32", 1, "cpu", status=status, error=error, task="image-classification",
                  device_name="TestCPU", loadgen=LoadGen(scenario=scenario, **loadgen), accuracy=accuracy or Accuracy(),
                  details=details or {}, warnings=[f"LoadGen {scenario}: short run"] if scenario == "server" else [])


def scenario_records():
    """`run --scenario single-stream,server --target-fps 30`, in the order a run stores its cells
    (backend by backend), short runs: single-stream VALID, pytorch's with task accuracy and
    within the frame budget, onnxruntime's over it and turned down by the accuracy gate; a Server
    search, pytorch INVALID at every rate, onnxruntime VALID at 400 QPS with a passed gate;
    tensorrt's Server cell skipped."""
    budget = 1000 / 30
    return [
        scenario_cell("pytorch", "single-stream", result="VALID", p90_ms=0.358, p99_ms=0.49, early_stopping_ms=0.37,
                      frame_budget_ms=budget, meets_frame_budget=True,
                      accuracy=Accuracy(task_accuracy=0.875)),
        scenario_cell("pytorch", "server", result="INVALID", p90_ms=20.0, p99_ms=30.0, samples_per_s=95.0,
                      server_qps=100.0, latency_bound_ms=15.0,
                      reasons=["Performance constraints satisfied: NO", "Reduce target QPS to improve latency."],
                      details={"loadgen_server_rates": [
                          {"qps": 200.0, "result": "INVALID", "reasons": ["Performance constraints satisfied: NO"]},
                          {"qps": 100.0, "result": "INVALID", "reasons": ["Performance constraints satisfied: NO"]}]}),
        scenario_cell("onnxruntime", "single-stream", status=Status.ACCURACY_FAILED, result="VALID", p90_ms=41.25,
                      early_stopping_ms=42.5, frame_budget_ms=budget, meets_frame_budget=False,
                      accuracy=Accuracy(task_accuracy=0.8, gate="failed", gate_reason="top-1 agreement 93.8% < 99%",
                                        top1_agreement=0.938, max_abs_diff=0.25)),
        scenario_cell("onnxruntime", "server", result="VALID", p99_ms=9.5, samples_per_s=398.5, server_qps=400.0,
                      latency_bound_ms=15.0,
                      accuracy=Accuracy(task_accuracy=0.875, gate="passed", top1_agreement=1.0, max_abs_diff=2e-6),
                      details={"loadgen_server_rates": [{"qps": 400.0, "result": "VALID", "reasons": []}]}),
        scenario_cell("tensorrt", "server", status=Status.SKIPPED,
                      error="<b>TensorRT</b> is not installed: pip install tensorrt\nmore"),
    ]


#: the configuration a `run --scenario single-stream,server --target-fps 30` run stores
SCENARIO_RUN = replace(RUN, config={"device": "cpu", "timing": {}, "models": ["test_cnn"], "loadgen": {
    "scenarios": ["single-stream", "server"], "server_latency_ms": 15.0, "target_fps": 30.0, "compliant": False,
    "min_duration_s": 0.3, "min_query_count": None, "server_steps": 2}})
