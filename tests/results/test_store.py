import os
import sqlite3

import pytest

from edgebench.bench.stats import LatencyStats
from edgebench.cli.main import main
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


def _write_version_1_store(path) -> None:
    """A store as the first edgebench wrote it: schema version 1, one row of run r0."""
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


def test_version_1_store_is_migrated(tmp_path):
    path = tmp_path / "old.sqlite"
    _write_version_1_store(path)
    with Store(path) as store:
        old = store.records("r0")
        assert old[0].model == "m" and old[0].device_latency is None
        store.add(_rec(run_id="r1", device_latency=LatencyStats.from_values([0.001])))
        assert store.records("r1")[0].device_latency.count == 1
    assert sqlite3.connect(path).execute("SELECT version FROM schema_version").fetchone()[0] == SCHEMA_VERSION


def test_old_store_is_read_without_being_written(tmp_path):
    path = tmp_path / "old.sqlite"
    _write_version_1_store(path)
    before = _snapshot(path)
    with Store(path, readonly=True) as store:
        assert store.records("r0")[0].model == "m" and store.runs() == []
        with pytest.raises(UserError, match="read-only"):
            store.add(_rec())
    assert _snapshot(path) == before


def test_empty_file_becomes_a_store_for_writing(tmp_path):
    path = tmp_path / "new.sqlite"
    path.write_bytes(b"")
    with Store(path) as store:
        store.add(_rec())
    with Store(path, readonly=True) as store:
        assert len(store.records("r1")) == 1


def test_write_waits_for_another_process_lock(tmp_path, monkeypatch):
    """The retry loop, not only sqlite's busy handler, outlasts a writer holding the lock."""
    import threading

    from edgebench.results import store as store_mod

    path = tmp_path / "s.sqlite"
    Store(path).close()
    monkeypatch.setattr(store_mod, "BUSY_TIMEOUT_S", 0.01)  # the busy handler gives up at once
    with Store(path) as store:
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO runs VALUES ('held', 't', NULL, 'running', 'b', '{}', '{}')")
        release = threading.Timer(0.5, lambda: other.execute("COMMIT"))
        release.start()
        store.add(_rec())  # blocked until the other writer commits
        release.join()
        assert len(store.records("r1")) == 1 and [r["run_id"] for r in store.runs()] == ["held"]
    other.close()


# -- stores edgebench must refuse: one line, exit 2, the file left as it was, no --out folder -----------
FAST = ["--warmup-iters", "1", "--warmup-s", "0", "--min-iters", "3", "--min-time-s", "0", "--pool-size", "2"]


def _snapshot(path):
    return (path.read_bytes(), path.stat().st_mtime_ns) if path.is_file() else path.stat().st_mtime_ns


def _store_with_rows(path, n=300):
    with Store(path) as store:
        store.begin_run("r1", "2026-01-01T00:00:00", "pytorch", {}, {})
        for i in range(n):
            store.add(_rec(model=f"m{i}", details={"pad": "x" * 200}))
        store.finish_run("r1", "2026-01-01T00:01:00", "finished")


def _bad_store(kind, path):
    if kind == "random":
        import random

        path.write_bytes(random.Random(0).randbytes(20000))
    elif kind in ("truncated", "truncated-tail"):
        _store_with_rows(path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2] if kind == "truncated" else data[: len(data) - 4096])
    elif kind == "foreign":
        conn = sqlite3.connect(path)
        conn.executescript("CREATE TABLE photos (id INTEGER, name TEXT); INSERT INTO photos VALUES (1, 'cat');")
        conn.commit()
        conn.close()
    elif kind == "newer":
        _store_with_rows(path, 1)
        conn = sqlite3.connect(path)
        conn.execute("UPDATE schema_version SET version = 99")
        conn.commit()
        conn.close()
    elif kind == "directory":
        path.mkdir()
    elif kind == "unreadable":
        path.write_bytes(b"")
        path.chmod(0)


_KINDS = [
    ("random", "not a readable edgebench results store"),
    ("truncated", "not a readable edgebench results store"),
    ("truncated-tail", "not a readable edgebench results store"),
    ("foreign", "not an edgebench results store (its tables: photos)"),
    ("newer", "newer than this edgebench"),
    ("directory", ""),
    pytest.param("unreadable", "cannot read results store", marks=pytest.mark.skipif(
        os.geteuid() == 0, reason="root reads a file whatever its mode")),
]


def _one_line_error(capsys, path, text):
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgebench: error:"), err
    assert str(path) in lines[0] and ("--db" in lines[0] or "upgrade edgebench" in lines[0])
    assert text in lines[0] and "Traceback" not in err


@pytest.mark.parametrize("kind, text", _KINDS)
def test_report_refuses_a_bad_store_and_writes_nothing(tmp_path, capsys, kind, text):
    path = tmp_path / "e.sqlite"
    _bad_store(kind, path)
    before, listing = _snapshot(path), sorted(p.name for p in tmp_path.iterdir())
    assert main(["report", "--db", str(path)]) == 2
    _one_line_error(capsys, path, text)
    assert _snapshot(path) == before
    if kind not in ("truncated", "truncated-tail", "newer"):  # WAL stores: sqlite's -shm index is allowed
        assert sorted(p.name for p in tmp_path.iterdir()) == listing


@pytest.mark.parametrize("kind, text", _KINDS)
def test_run_refuses_a_bad_store_and_leaves_no_out_folder(tmp_path, capsys, kind, text):
    path, out = tmp_path / "e.sqlite", tmp_path / "out"
    _bad_store(kind, path)
    before = _snapshot(path)
    args = ["run", "--models", "test_cnn", "--backends", "pytorch", "--device", "cpu", "--no-isolate"]
    assert main([*args, "--db", str(path), "--out", str(out), *FAST]) == 2
    _one_line_error(capsys, path, text)
    assert _snapshot(path) == before and not out.exists()


@pytest.mark.parametrize("content", ["empty", "blank-sqlite", "foreign"])
def test_report_on_an_empty_or_foreign_file_makes_no_tables(tmp_path, capsys, content):
    path = tmp_path / "e.sqlite"
    if content == "empty":
        path.write_bytes(b"")
    else:
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA user_version = 7")  # a valid SQLite file with no tables
        if content == "foreign":
            conn.execute("CREATE TABLE t (x)")
        conn.commit()
        conn.close()
    before = _snapshot(path)
    assert main(["report", "--db", str(path)]) == 2
    _one_line_error(capsys, path, "not an edgebench results store")
    assert _snapshot(path) == before
    names = {r[0] for r in sqlite3.connect(f"file:{path}?mode=ro", uri=True).execute("SELECT name FROM sqlite_master")}
    assert "records" not in names and "schema_version" not in names
