import json
import os
import sqlite3
from pathlib import Path

import pytest

from edgebench.results.latency import LatencyStats
from edgebench.cli.main import main
from edgebench.errors import UserError
from edgebench.results import Record, Run, RunStatus, Status, Store
from edgebench.results.columns import flatten
from edgebench.results.record import Accuracy, Latency, ModelFacts
from edgebench.results.store import SCHEMA_VERSION


def _rec(**kw):
    base = dict(run_id="r1", model="m", backend="onnxruntime", precision="fp32", batch_size=1, device="cpu")
    return Record(**{**base, **kw})


def _run(run_id="r1", config=None, env=None):
    return Run(run_id, "2026-01-01T00:00:00", "pytorch", config or {}, env or {})


def test_roundtrip_keeps_every_field(tmp_path):
    rec = _rec(latency=Latency(LatencyStats.from_values([0.001, 0.003])),
               model_facts=ModelFacts(params=10, flops=20, macs=10, input_shape=[3, 8, 8]),
               details={"provider": "CPUExecutionProvider"}, accuracy=Accuracy(max_abs_diff=1e-6, top1_agreement=1.0))
    failed = _rec(backend="tensorrt", status=Status.BUILD_FAILED, error="parser rejected m.onnx")
    with Store(tmp_path / "s.sqlite") as store:
        store.begin_run(Run("r1", "2026-01-01T00:00:00", "pytorch", {"a": 1}, {"cpu": "x"},
                            edgebench_version="9.9", git_commit="abc1234+dirty"))
        store.add(rec)
        store.add(failed)
        store.finish_run("r1", "2026-01-01T00:01:00", RunStatus.FINISHED)
    with Store(tmp_path / "s.sqlite") as store:
        back = store.records("r1")
        assert back[0].to_dict() == rec.to_dict()
        assert back[1].status is Status.BUILD_FAILED and back[1].latency.host is None
        assert store.latest_run_id() == "r1"
        assert store.run("r1") == Run("r1", "2026-01-01T00:00:00", "pytorch", {"a": 1}, {"cpu": "x"},
                                      RunStatus.FINISHED, "2026-01-01T00:01:00", "9.9", "abc1234+dirty")
    conn = sqlite3.connect(tmp_path / "s.sqlite")
    # statuses are stored as the strings they always were
    assert [r[0] for r in conn.execute("SELECT status FROM records ORDER BY id")] == ["ok", "build_failed"]
    assert conn.execute("SELECT status FROM runs").fetchone()[0] == "finished"
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
        assert old[0].model == "m" and old[0].latency.device is None
        store.add(_rec(run_id="r1", latency=Latency(device=LatencyStats.from_values([0.001]))))
        assert store.records("r1")[0].latency.device.count == 1
    assert sqlite3.connect(path).execute("SELECT version FROM schema_version").fetchone()[0] == SCHEMA_VERSION


FIXTURES = Path(__file__).parent / "fixtures"


def _write_version_6_store(path) -> None:
    """A store written by edgebench with schema version 6 (the last one whose rows carried the
    environment): run r6 with a GPU pre-opt row, a TensorRT post-opt row and a skipped row."""
    conn = sqlite3.connect(path)
    conn.executescript((FIXTURES / "store_v6.sql").read_text())
    conn.close()


def test_version_6_store_reads_as_it_was_written(tmp_path):
    """Every stored value comes back; laid flat with the run's env, a record is the dict version 6
    gave for it (the layout `bench --json` prints)."""
    path = tmp_path / "v6.sqlite"
    _write_version_6_store(path)
    before = _snapshot(path)
    expected = json.loads((FIXTURES / "store_v6_records.json").read_text())
    with Store(path, readonly=True) as store:
        run = store.run("r6")
        recs = store.records("r6")
    assert _snapshot(path) == before
    assert (run.status, run.baseline, run.edgebench_version, run.git_commit) == (
        RunStatus.FINISHED, "pytorch@fp32", None, None)
    assert run.env == {"host": "old-host", "cpu": "Old CPU", "cpu_governor": "performance"}
    # version 8's LoadGen columns are new: an old row reads with their defaults; version 9 gave a
    # cell's backend options their own field (an old row kept them in details)
    for row in expected:
        row["options"] = row["details"].pop("options", {})
    assert [{k: v for k, v in flatten(r, env=run.env).items() if not k.startswith("loadgen_")} for r in recs] == expected
    assert recs[1].options == {"workspace_gb": 4} and "options" not in recs[1].details
    assert all(r.loadgen.scenario == "" and r.loadgen.reasons == [] for r in recs)
    pre, post, skipped = recs
    assert pre.contention.contended is True and pre.latency.device.count == 2 and pre.memory.gpu_peak_reserved_mb == 128
    assert post.accuracy.gate == "passed" and post.overhead.pct == pytest.approx(100 * (1.1 / 1.05 - 1))
    assert post.cold_start.total_s == pytest.approx(2.0 + 31.0 + 0.5 + 0.01) and pre.cold_start.total_s == 0.875
    assert skipped.status is Status.SKIPPED and skipped.latency.host is None and skipped.model_facts.input_shape == []


def test_version_6_store_is_migrated_without_rewriting_rows(tmp_path):
    path = tmp_path / "v6.sqlite"
    _write_version_6_store(path)
    with Store(path, readonly=True) as store:
        old = [r.to_dict() for r in store.records("r6")]
    with Store(path) as store:
        assert [r.to_dict() for r in store.records("r6")] == old
        store.begin_run(Run.start("r7", "pytorch@fp32", {}, {"host": "new-host"}))
        store.add(_rec(run_id="r7"))
        assert store.run("r7").edgebench_version is not None and store.run("r6").edgebench_version is None
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT version FROM schema_version").fetchone()[0] == SCHEMA_VERSION
    # the old rows keep the env they were stored with; new ones leave it to their run
    assert [r[0] is None for r in conn.execute("SELECT env FROM records ORDER BY id")] == [False] * 3 + [True]


def test_a_new_store_has_the_flat_columns_and_no_env_per_row(tmp_path):
    Store(tmp_path / "s.sqlite").close()
    conn = sqlite3.connect(tmp_path / "s.sqlite")
    new = [r[1] for r in conn.execute("PRAGMA table_info(records)")]
    old = sqlite3.connect(":memory:")
    old.executescript((FIXTURES / "store_v6.sql").read_text())
    assert [c for c in new if not c.startswith("loadgen_") and c != "options"] == [
        r[1] for r in old.execute("PRAGMA table_info(records)") if r[1] != "env"]
    assert "options" in new
    assert "loadgen_scenario" in new and "loadgen_reasons" in new


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
        other.execute("INSERT INTO runs (run_id, started_at, status, baseline_backend, config, env) "
                      "VALUES ('held', 't', 'running', 'b', '{}', '{}')")
        release = threading.Timer(0.5, lambda: other.execute("COMMIT"))
        release.start()
        store.add(_rec())  # blocked until the other writer commits
        release.join()
        assert len(store.records("r1")) == 1 and [r.run_id for r in store.runs()] == ["held"]
    other.close()


# -- stores edgebench must refuse: one line, exit 2, the file left as it was, no --out folder -----------
FAST = ["--warmup-iters", "1", "--warmup-s", "0", "--min-iters", "3", "--min-time-s", "0", "--ci", "off", "--pool-size", "2"]


def _snapshot(path):
    return (path.read_bytes(), path.stat().st_mtime_ns) if path.is_file() else path.stat().st_mtime_ns


def _store_with_rows(path, n=300):
    with Store(path) as store:
        store.begin_run(_run())
        for i in range(n):
            store.add(_rec(model=f"m{i}", details={"pad": "x" * 200}))
        store.finish_run("r1", "2026-01-01T00:01:00", RunStatus.FINISHED)


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
