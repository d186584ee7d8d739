"""Several `edgebench run` processes on one store: real processes, started together on a new file."""
import sqlite3
import subprocess
import sys

import pytest

from edgebench.results import Store

# Each worker waits for the `go` file, so both create the new store at the same moment (the
# race that made one of them die with "database is locked").
_WORKER = """
import sys, time
from pathlib import Path
from edgebench.results import Record, Run, Store

path, tag, n, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
while not go.exists():
    time.sleep(0.0005)
with Store(path) as store:
    store.begin_run(Run(tag, "2026-01-01T00:00:00", "pytorch", {"tag": tag}, {}))
    for i in range(n):
        store.add(Record(tag, f"m{i}", "pytorch", "fp32", 1, "cpu", details={"i": i}))
    store.finish_run(tag, "2026-01-01T00:01:00", "finished")
"""


@pytest.mark.parametrize("attempt", range(5))
def test_two_processes_on_one_new_store_keep_every_row(tmp_path, attempt):
    db, go, n = tmp_path / "shared" / "edgebench.sqlite", tmp_path / "go", 40
    procs = [
        subprocess.Popen([sys.executable, "-c", _WORKER, str(db), tag, str(n), str(go)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for tag in ("a", "b")
    ]
    go.write_text("")
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    with Store(db, readonly=True) as store:
        assert {r.run_id: r.status for r in store.runs()} == {"a": "finished", "b": "finished"}
        for tag in ("a", "b"):
            recs = store.records(tag)
            assert [(r.model, r.details) for r in recs] == [(f"m{i}", {"i": i}) for i in range(n)]
    assert sqlite3.connect(db).execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == 1
