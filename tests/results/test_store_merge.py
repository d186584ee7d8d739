"""Merging results stores (`edgebench store merge`): runs and records copied once, however often
merged; a store that cannot be merged is refused with nothing written."""
import sqlite3

import pytest

from edgebench.cli.main import main
from edgebench.errors import StoreError, UserError
from edgebench.results import Run, RunStatus, Status, Store
from edgebench.results.store import merge
from tests.report.stored_runs import ENV, cell, snapshot, write_run


def _stores(tmp_path):
    """Two machines' stores: run "desk" on one, "jetson" on the other."""
    desk, jetson = tmp_path / "desk.sqlite", tmp_path / "jetson.sqlite"
    write_run(desk, "desk", [cell("", "test_cnn", "pytorch", 10.0), cell("", "test_cnn", "onnxruntime", 5.0)])
    write_run(jetson, "jetson", [cell("", "test_cnn", "pytorch", 30.0),
                                 cell("", "test_cnn", "tensorrt", None, status=Status.BUILD_FAILED, error="x")],
              env={"target": "nano", "power_mode": "MAXN"})
    return desk, jetson


def _contents(path):
    with Store(path, readonly=True) as store:
        return [r.run_id for r in store.runs()], [r.to_dict() for r in store.records()]


def test_merge_copies_every_run_and_record_and_twice_adds_nothing(tmp_path):
    desk, jetson = _stores(tmp_path)
    out = tmp_path / "all" / "merged.sqlite"
    counts = merge(out, [desk, jetson])
    assert [(c.runs_added, c.records_added, c.runs_present, c.records_present) for c in counts] == [
        (1, 2, 0, 0), (1, 2, 0, 0)]
    runs, records = _contents(out)
    assert runs == ["desk", "jetson"]
    assert records == _contents(desk)[1] + _contents(jetson)[1]  # every value as it was stored
    with Store(out, readonly=True) as store:
        assert store.run("jetson").env["power_mode"] == "MAXN" and store.run("desk").git_commit == "abc1234"
    again = merge(out, [jetson, desk, out])  # out itself among the sources: nothing new either
    assert [(c.runs_added, c.records_added) for c in again] == [(0, 0)] * 3
    assert [(c.runs_present, c.records_present) for c in again] == [(1, 2), (1, 2), (2, 4)]
    assert _contents(out) == (runs, records)


def test_a_run_merged_while_running_gains_its_later_records_and_end(tmp_path):
    src, out = tmp_path / "src.sqlite", tmp_path / "out.sqlite"
    with Store(src) as store:
        store.begin_run(Run("r", "2026-01-01T00:00:00", "pytorch@fp32", {}, ENV))
        store.add(cell("r", "test_cnn", "pytorch", 10.0))
    merge(out, [src])
    with Store(src) as store:
        store.add(cell("r", "test_cnn", "onnxruntime", 5.0))
        store.finish_run("r", "2026-01-01T00:10:00", RunStatus.FINISHED)
    (count,) = merge(out, [src])
    assert (count.runs_added, count.runs_present, count.records_added, count.records_present) == (0, 1, 1, 1)
    with Store(out, readonly=True) as store:
        assert store.run("r").status == RunStatus.FINISHED and len(store.records("r")) == 2


def _newer(path):
    conn = sqlite3.connect(path)
    conn.execute("UPDATE schema_version SET version = 99")
    conn.commit()
    conn.close()


def test_a_source_from_a_newer_schema_is_refused_and_nothing_is_written(tmp_path):
    desk, jetson = _stores(tmp_path)
    _newer(jetson)
    out = tmp_path / "merged.sqlite"
    with pytest.raises(StoreError, match="schema version 99, newer than this edgebench"):
        merge(out, [desk, jetson])
    assert not out.exists()
    write_run(out, "old", [cell("", "test_cnn", "pytorch", 1.0)])
    before = snapshot(tmp_path)
    with pytest.raises(StoreError, match="newer"):
        merge(out, [desk, jetson])
    assert snapshot(tmp_path) == before


def test_merge_into_a_newer_store_and_with_no_source_is_refused(tmp_path):
    desk, _ = _stores(tmp_path)
    out = tmp_path / "out.sqlite"
    write_run(out, "x", [])
    _newer(out)
    before = snapshot(tmp_path)
    with pytest.raises(StoreError, match="newer"):
        merge(out, [desk])
    with pytest.raises(UserError, match="at least one store"):
        merge(tmp_path / "new.sqlite", [])
    assert snapshot(tmp_path) == before


def test_cli_merges_and_says_what_it_added(tmp_path, capsys):
    desk, jetson = _stores(tmp_path)
    out = tmp_path / "merged.sqlite"
    assert main(["store", "merge", str(out), str(desk), str(jetson)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed == [f"{desk}: 1 run and 2 records added to {out}", f"{jetson}: 1 run and 2 records added to {out}"]
    assert main(["store", "merge", str(out), str(desk)]) == 0
    assert capsys.readouterr().out.strip() == (f"{desk}: 0 runs and 0 records added to {out} "
                                               "(1 run and 2 records already there)")


@pytest.mark.parametrize("kind, text", [
    ("newer", "has schema version 99, newer than this edgebench's"),
    ("foreign", "not an edgebench results store (its tables: photos)"),
    ("missing", "no results store at"),
    ("garbage", "not a readable edgebench results store"),
    ("none", "needs at least one store"),
])
def test_cli_refuses_a_bad_source_in_one_line_and_writes_nothing(tmp_path, capsys, kind, text):
    desk, _ = _stores(tmp_path)
    bad = tmp_path / "bad.sqlite"
    if kind == "newer":
        write_run(bad, "n", [])
        _newer(bad)
    elif kind == "foreign":
        conn = sqlite3.connect(bad)
        conn.executescript("CREATE TABLE photos (id INTEGER); INSERT INTO photos VALUES (1);")
        conn.close()
    elif kind == "garbage":
        bad.write_bytes(b"not sqlite at all" * 100)
    before = snapshot(tmp_path)
    out = tmp_path / "out" / "merged.sqlite"
    assert main(["store", "merge", str(out), *([] if kind == "none" else [str(desk), str(bad)])]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("edgebench: error:") and text in err, err
    assert snapshot(tmp_path) == before and not out.parent.exists()
