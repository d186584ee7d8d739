import sqlite3

import pytest

from edgebench.bench.stats import LatencyStats
from edgebench.errors import UserError
from edgebench.results import Record, Store
from edgebench.results.store import SCHEMA_VERSION


def _rec(**kw):
    base = dict(run_id="r1", model="m", backend="onnxruntime", precision="fp32", batch_size=1, device="cpu")
    return Record(**{**base, **kw})


def test_roundtrip_keeps_every_field(tmp_path):
    rec = _rec(latency=LatencyStats.from_values([0.001, 0.003]), params=10, flops=20, macs=10,
               details={"provider": "CPUExecutionProvider"}, env={"cpu": "x"}, input_shape=[3, 8, 8],
               max_abs_diff=1e-6, top1_agreement=1.0)
    failed = _rec(backend="tensorrt", status="build_failed", error="parser rejected m.onnx")
    with Store(tmp_path / "s.sqlite") as store:
        store.begin_run("r1", "2026-01-01T00:00:00", "pytorch", {"a": 1}, {"cpu": "x"})
        store.add(rec)
        store.add(failed)
        store.finish_run("r1", "2026-01-01T00:01:00", "finished")
    with Store(tmp_path / "s.sqlite") as store:
        back = store.records("r1")
        assert back[0].to_dict() == rec.to_dict()
        assert back[1].status == "build_failed" and back[1].latency is None
        assert store.latest_run_id() == "r1" and store.run("r1")["status"] == "finished"
    conn = sqlite3.connect(tmp_path / "s.sqlite")
    assert conn.execute("SELECT version FROM schema_version").fetchone()[0] == SCHEMA_VERSION


def test_newer_schema_is_refused(tmp_path):
    Store(tmp_path / "s.sqlite").close()
    conn = sqlite3.connect(tmp_path / "s.sqlite")
    conn.execute("UPDATE schema_version SET version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(UserError, match="newer"):
        Store(tmp_path / "s.sqlite")


def test_unknown_status_rejected():
    with pytest.raises(ValueError):
        _rec(status="great")


def test_empty_store_has_no_latest_run(tmp_path):
    with Store(tmp_path / "s.sqlite") as store, pytest.raises(UserError, match="edgebench run"):
        store.latest_run_id()


def test_version_1_store_is_migrated(tmp_path):
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (1);"
        "CREATE TABLE records (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id, model, backend, precision, batch_size,"
        " device, status, latency_count);"
        "INSERT INTO records (run_id, model, backend, precision, batch_size, device, status) "
        "VALUES ('r0', 'm', 'pytorch', 'fp32', 1, 'cpu', 'ok');"
    )
    conn.commit()
    conn.close()
    with Store(path) as store:
        old = store.records("r0")
        assert old[0].model == "m" and old[0].device_latency is None
        store.add(_rec(run_id="r1", device_latency=LatencyStats.from_values([0.001])))
        assert store.records("r1")[0].device_latency.count == 1
    assert sqlite3.connect(path).execute("SELECT version FROM schema_version").fetchone()[0] == SCHEMA_VERSION
