"""The SQLite results store (stdlib sqlite3): one row per cell, committed as it completes, so
an interrupted run keeps every finished row. A schema_version table guards the layout."""
from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from edgebench.results.latency import LatencyStats
from edgebench.errors import OutputDirError, StoreError, UserError
from edgebench.results.columns import FIELDS, STATS, flatten, unflatten
from edgebench.results.record import Record
from edgebench.results.run import Run, RunStatus

SCHEMA_VERSION = 9  # 2: cold start, device latency, GPU memory; 3: accuracy gate; 4: energy, RSS, warnings;
# 5: fingerprint and samples; 6: CPU contention (contended, other_cpu_pct, load_before_pct);
# 7: runs gain edgebench_version and git_commit; rows no longer copy the run's env (old rows keep theirs)
# 8: MLPerf LoadGen scenario cells (loadgen_* columns: scenario, verdict, reasons, figures)
# 9: a cell's backend options in their own column (before: details["options"], read back into it)
_LATENCY_FIELDS = list(LatencyStats.__dataclass_fields__)
# columns.FIELDS names each value; statistics are flattened as <name>_<field>, lists and dicts stored as JSON
_JSON_FIELDS = {"input_shape": list, "details": dict, "timing": dict, "warnings": list, "samples_ms": list,
               "loadgen_reasons": list, "options": dict}  # -> empty
_SCALAR_FIELDS = [f for f in FIELDS if f not in (*STATS, *_JSON_FIELDS)]
_STAT_COLUMNS = [f"{s}_{f}" for s in STATS for f in _LATENCY_FIELDS]
_COLUMNS = _SCALAR_FIELDS + _STAT_COLUMNS + list(_JSON_FIELDS)
_RUN_COLUMNS = ("run_id", "started_at", "finished_at", "status", "baseline_backend", "config", "env",
                "edgebench_version", "git_commit")

# one statement each: they run inside one BEGIN IMMEDIATE transaction (executescript would commit)
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
    """CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,
    baseline_backend TEXT NOT NULL,
    config TEXT NOT NULL,
    env TEXT NOT NULL,
    edgebench_version TEXT,
    git_commit TEXT
)""",
    f"""CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    {", ".join(_COLUMNS)}
)""",
    "CREATE INDEX IF NOT EXISTS records_run ON records(run_id)",
)
_INDEXES = ("CREATE INDEX IF NOT EXISTS records_fingerprint ON records(fingerprint)",)

# Several `edgebench run` processes may share one store. sqlite's busy handler waits BUSY_TIMEOUT_S
# for a lock, but some contention returns SQLITE_BUSY at once (switching a new file to WAL, a
# stale WAL snapshot), so every write also retries, with backoff, until LOCK_WAIT_S has passed.
BUSY_TIMEOUT_S = 30.0
LOCK_WAIT_S = 120.0


def _is_busy(exc: sqlite3.Error) -> bool:
    msg = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in msg or "busy" in msg)


def _retry(fn, path: Path):
    """fn(), called again with backoff while sqlite says the store is locked by another process."""
    deadline, delay = time.monotonic() + LOCK_WAIT_S, 0.01
    while True:
        try:
            return fn()
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise
            if time.monotonic() > deadline:
                raise StoreError(f"results store {path} stayed locked by another process for {LOCK_WAIT_S:.0f} s; "
                                 "let it finish or pass --db with another path") from exc
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


class Store:
    """One results store file. `readonly=True` (for reports) never writes: the file must already
    be an edgebench store; otherwise a missing or empty file becomes a new store."""

    def __init__(self, path: str | Path, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        if readonly and not self.path.is_file():
            raise StoreError(f"no results store at {self.path}; run `edgebench run` first or pass --db PATH")
        self._tables: set[str] = set()
        if self.path.exists():  # checked read-only first, so a file that is not ours is never written
            conn, self._tables = _inspect(self.path, need_store=readonly)
            if readonly:
                self.conn = conn
                return
            conn.close()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputDirError(f"folder {self.path.parent} for the results store is not writable ({exc.strerror}); "
                                 "pass --db or --out with a writable folder") from exc
        try:
            # isolation_level=None: no implicit transactions; every write is an explicit BEGIN IMMEDIATE
            self.conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open results store {self.path} ({exc}); pass a writable --db or --out") from exc
        self.conn.row_factory = sqlite3.Row
        try:
            _retry(lambda: self.conn.execute("PRAGMA journal_mode=WAL").fetchone(), self.path)
            self._migrate()
        except sqlite3.OperationalError as exc:  # e.g. "attempt to write a readonly database"
            self.conn.close()
            raise StoreError(f"cannot write results store {self.path} ({exc}); pass a writable --db or --out") from exc
        except sqlite3.DatabaseError as exc:  # "file is not a database", "database disk image is malformed"
            self.conn.close()
            raise _damaged(self.path, exc) from exc
        except BaseException:
            self.conn.close()
            raise
        self._tables = {"schema_version", "runs", "records"}

    def _migrate(self) -> None:
        def step():
            for stmt in _SCHEMA:
                self.conn.execute(stmt)
            version = self.conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
            if version is None:
                self.conn.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
            elif version > SCHEMA_VERSION:
                raise _newer(self.path, version)
            elif version < SCHEMA_VERSION:
                # older stores gain the new columns (empty for their rows); nothing is rewritten
                for table, columns in (("records", _COLUMNS), ("runs", _RUN_COLUMNS)):
                    have = {r[1] for r in self.conn.execute(f"PRAGMA table_info({table})")}
                    for col in columns:
                        if col not in have:
                            self.conn.execute(f"ALTER TABLE {table} ADD COLUMN {col}")
                self.conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
            for stmt in _INDEXES:
                self.conn.execute(stmt)

        self._write(step)

    def _write(self, step):
        """Run `step()` in one BEGIN IMMEDIATE transaction (all of it or none), retrying while
        another process holds the write lock."""
        if self.readonly:
            raise StoreError(f"results store {self.path} was opened read-only")

        def attempt():
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                out = step()
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
            return out

        return _retry(attempt, self.path)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- runs ----------------------------------------------------------------------------
    def begin_run(self, run: Run) -> None:
        self._write(lambda: self._insert_run(run))

    def _insert_run(self, run: Run) -> None:
        values = (run.run_id, run.started_at, run.finished_at, run.status.value, run.baseline,
                  json.dumps(run.config, default=str), json.dumps(run.env), run.edgebench_version, run.git_commit)
        query = f"INSERT INTO runs ({', '.join(_RUN_COLUMNS)}) VALUES ({', '.join('?' * len(_RUN_COLUMNS))})"
        self.conn.execute(query, values)

    def set_run_env(self, run_id: str, env: dict) -> None:
        """Give a run the environment it was begun without (a fleet device whose first task was
        lost before it reported one)."""
        self._write(lambda: self.conn.execute("UPDATE runs SET env=? WHERE run_id=?", (json.dumps(env), run_id)))

    def finish_run(self, run_id: str, finished_at: str, status: RunStatus) -> None:
        self._write(lambda: self.conn.execute(
            "UPDATE runs SET finished_at=?, status=? WHERE run_id=?", (finished_at, RunStatus(status).value, run_id)))

    def runs(self) -> list[Run]:
        """Every run, oldest first."""
        if "runs" not in self._tables:  # a version-1 store opened read-only
            return []
        rows = self.conn.execute("SELECT * FROM runs ORDER BY started_at, rowid").fetchall()
        return [_run(dict(r)) for r in rows]

    def run(self, run_id: str) -> Run:
        for r in self.runs():
            if r.run_id == run_id:
                return r
        raise UserError(f"run {run_id!r} is not in {self.path}; list runs with `edgebench report --list`")

    def latest_run_id(self) -> str:
        runs = self.runs()
        if not runs:
            raise UserError(f"{self.path} holds no runs; run `edgebench run` first")
        return runs[-1].run_id

    # -- records -------------------------------------------------------------------------
    def add(self, rec: Record) -> None:
        """Insert one record in its own transaction."""
        self._write(lambda: self._insert_record(rec))

    def _insert_record(self, rec: Record) -> None:
        d = flatten(rec)
        values = [d[f] for f in _SCALAR_FIELDS]
        for stat in STATS:
            values += [(d[stat] or {}).get(f) for f in _LATENCY_FIELDS]
        values += [json.dumps(d[f], default=str) for f in _JSON_FIELDS]
        query = f"INSERT INTO records ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
        self.conn.execute(query, values)

    def find_ok(self, fingerprint: str) -> Record | None:
        """The newest successful record with this fingerprint (for run --resume)."""
        row = self.conn.execute(
            "SELECT id FROM records WHERE fingerprint=? AND status='ok' ORDER BY id DESC LIMIT 1", (fingerprint,)
        ).fetchone()
        if row is None:
            return None
        return self._records("SELECT * FROM records WHERE id=?", (row[0],))[0]

    def records(self, run_id: str | None = None) -> list[Record]:
        query, args = "SELECT * FROM records", ()
        if run_id is not None:
            query, args = query + " WHERE run_id=?", (run_id,)
        return self._records(query + " ORDER BY id", args)

    def _records(self, query: str, args: tuple) -> list[Record]:
        out = []
        for row in self.conn.execute(query, args).fetchall():
            d = dict(row)
            # .get/pop with defaults: a read-only store of an older version lacks the newer columns
            # (and rows stored before version 7 have an env column, which records no longer carry)
            for stat in STATS:
                lat = {f: d.pop(f"{stat}_{f}", None) for f in _LATENCY_FIELDS}
                d[stat] = lat if lat["count"] is not None else None
            for f in _JSON_FIELDS:
                d[f] = json.loads(d[f]) if d.get(f) else _JSON_FIELDS[f]()
            out.append(unflatten(d))
        return out


@dataclass
class MergeCount:
    """What one source store brought to a merge: runs and records added, and those already there."""

    source: Path
    runs_added: int = 0
    runs_present: int = 0
    records_added: int = 0
    records_present: int = 0


def merge(out: str | Path, sources: list) -> list[MergeCount]:
    """Copy the runs and records of each store in `sources` into the store `out` (made when
    missing), for comparing runs measured on different machines. A run id names one run (a time
    and a random part), so a run already in `out` is not added again, nor is a record already
    there (every stored value equal): merging twice adds nothing. A run that `out` holds as still
    running takes the source's end time and status. Every source is read and checked before
    `out` is opened and the copy is one transaction, so a source that is not a readable
    edgebench store, or is from a newer schema, raises StoreError with nothing written."""
    if not sources:
        raise UserError("store merge needs at least one store to copy into OUT: edgebench store merge OUT IN [IN ...]")
    loaded = []
    for src in sources:
        with Store(src, readonly=True) as store:
            loaded.append((Path(src), store.runs(), store.records()))
    counts: list[MergeCount] = []
    with Store(out) as dest:
        def step():
            counts.clear()  # a retried transaction counts afresh
            have_runs = {r.run_id: r for r in dest.runs()}
            have_records = {_identity(r) for r in dest.records()}
            for src, runs, records in loaded:
                count = MergeCount(src)
                for run in runs:
                    mine = have_runs.get(run.run_id)
                    if mine is None:
                        dest._insert_run(run)
                        have_runs[run.run_id] = run
                        count.runs_added += 1
                        continue
                    count.runs_present += 1
                    if mine.status == RunStatus.RUNNING and run.status != RunStatus.RUNNING:
                        dest.conn.execute("UPDATE runs SET finished_at=?, status=? WHERE run_id=?",
                                          (run.finished_at, run.status.value, run.run_id))
                        have_runs[run.run_id] = run
                for rec in records:
                    key = _identity(rec)
                    if key in have_records:
                        count.records_present += 1
                    else:
                        dest._insert_record(rec)
                        have_records.add(key)
                        count.records_added += 1
                counts.append(count)

        dest._write(step)
    return counts


def _identity(rec: Record) -> str:
    """Every stored value of a record, as one string: equal for a record and its copy."""
    return json.dumps(rec.to_dict(), sort_keys=True, default=str)


def _run(row: dict) -> Run:
    """A runs-table row as a Run (stores before version 7 lack the version and commit)."""
    return Run(run_id=row["run_id"], started_at=row["started_at"], baseline=row["baseline_backend"],
               config=json.loads(row["config"]), env=json.loads(row["env"]), status=row["status"],
               finished_at=row["finished_at"], edgebench_version=row.get("edgebench_version"),
               git_commit=row.get("git_commit"))


def validate(path: str | Path) -> None:
    """Check, writing nothing, that `path` can serve as an edgebench store: it is missing, blank
    (`edgebench run` makes it a new store) or an edgebench store this version can use. Raises
    StoreError for an unreadable, damaged, foreign or newer-version file."""
    path = Path(path)
    if path.exists():
        _inspect(path, need_store=False)[0].close()


def _inspect(path: Path, need_store: bool) -> tuple[sqlite3.Connection, set[str]]:
    """Open an existing file read-only and check it; return the open connection and its table
    names (none for a blank file, refused when `need_store`)."""
    try:
        with open(path, "rb"):
            pass
        # mode=ro: nothing done through this connection can create a table or change the file
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
    except (OSError, sqlite3.Error) as exc:
        why = getattr(exc, "strerror", None) or str(exc)
        raise StoreError(f"cannot read results store {path} ({why}); "
                         "pass --db with a readable store file or a new file path") from exc
    try:
        conn.row_factory = sqlite3.Row
        tables = _retry(lambda: _check(conn, path, need_store), path)
    except sqlite3.DatabaseError as exc:  # "file is not a database", "database disk image is malformed"
        conn.close()
        raise _damaged(path, exc) from exc
    except BaseException:
        conn.close()
        raise
    return conn, tables


def _check(conn: sqlite3.Connection, path: Path, need_store: bool) -> set[str]:
    """The checks of `_inspect`, on an open read-only connection."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if tables and not {"schema_version", "records"} <= tables:
        shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        raise StoreError(f"{path} is a SQLite database but not an edgebench results store (its tables: {shown}); "
                         "pass --db with an edgebench store or a new file path")
    if tables:
        version = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
        if version is not None and version > SCHEMA_VERSION:
            raise _newer(path, version)
        problems = [r[0] for r in conn.execute("PRAGMA quick_check(3)")]
        if problems != ["ok"]:
            raise _damaged(path, "; ".join(problems))
    elif need_store:
        empty = "an empty file" if path.stat().st_size == 0 else "a SQLite database with no tables"
        raise StoreError(f"{path} is {empty}, not an edgebench results store; "
                         "run `edgebench run --db PATH` first or pass --db with an existing store")
    return tables


def _damaged(path: Path, why) -> StoreError:
    return StoreError(f"{path} is not a readable edgebench results store ({why}); "
                      "restore it from a backup or pass --db with a new file path")


def _newer(path: Path, version: int) -> StoreError:
    return StoreError(f"{path} has schema version {version}, newer than this edgebench's {SCHEMA_VERSION}; "
                      "upgrade edgebench")
