"""Tests of the reports, one file per module; the stored records they render."""
from dataclasses import replace

from edgebench.results.latency import LatencyStats
from edgebench.results import Run, RunStatus
from edgebench.results.columns import unflatten

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
