"""A Record: plain data in groups, a status enum stored as its string, a lossless dict form."""
from dataclasses import fields

import pytest

from edgebench.results.latency import LatencyStats
from edgebench.results import Record, Status
from edgebench.results.columns import FIELDS, flatten, unflatten
from edgebench.results.record import GROUPS, ColdStart, Contention, Latency, Memory, ModelFacts, Overhead


def _full() -> Record:
    return Record("r1", "m", "onnxruntime", "fp16", 4, "cuda", status="accuracy_failed", error="gate",
                  model_facts=ModelFacts(2, [3, 8, 8], "random(seed=0)", 10, 20, 10),
                  cold_start=ColdStart(1.0, 2.0, 2.5, 0.5, 0.25),
                  latency=Latency(LatencyStats.from_values([0.001, 0.002], 4), LatencyStats.from_values([0.0005]),
                                  [1.0, 2.0]),
                  memory=Memory(1.5, 2.0, 300.0), contention=Contention(1, 20.0, 2.0),
                  overhead=Overhead(1.1, 1.0), warnings=["w"], details={"options": {"threads": 1}},
                  timing={"quick": True})


def test_status_is_an_enum_that_is_its_string():
    rec = _full()
    assert rec.status is Status.ACCURACY_FAILED and rec.status == "accuracy_failed" and not rec.ok
    assert f"{rec.status}: x" == "accuracy_failed: x" and str(Status.OK) == "ok"
    with pytest.raises(ValueError):
        Record("r", "m", "b", "fp32", 1, "cpu", status="great")


def test_dict_round_trip_is_lossless():
    """The isolation worker sends records to the parent as these dicts."""
    rec = _full()
    d = rec.to_dict()
    assert d["status"] == "accuracy_failed" and type(d["status"]) is str and d["latency"]["host"]["count"] == 2
    assert Record.from_dict(d) == rec
    bare = Record("r", "m", "b", "fp32", 1, "cpu")
    assert Record.from_dict(bare.to_dict()) == bare


def test_groups_compute_their_own_figures():
    rec = _full()
    assert rec.cold_start.total_s == pytest.approx(1.0 + 2.5 + 0.5 + 0.25)
    assert ColdStart(prepare_s=1.0, load_s=1.0).total_s is None  # never reached its first inference
    assert rec.overhead.pct == pytest.approx(10.0) and Overhead().pct is None
    assert rec.contention.contended is True  # SQLite's 1


def test_flat_layout_names_every_value_once():
    """A value added to a group must get its flat (column) name too, or the store would drop it."""
    leaves = {(None, f.name) for f in fields(Record) if f.name not in GROUPS}
    leaves |= {(g, f.name) for g, cls in GROUPS.items() for f in fields(cls)}
    assert sorted(FIELDS.values(), key=str) == sorted(leaves, key=str)
    rec = _full()
    assert unflatten(flatten(rec)) == rec
    flat = flatten(rec, env={"host": "h"})
    assert list(flat)[-2:] == ["env", "created_at"] and flat["artifact_bytes"] is None
    assert flat["gpu_mem_peak_reserved_mb"] == 2.0 and flat["latency"]["count"] == 2
