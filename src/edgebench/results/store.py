"""The SQLite results store (stdlib sqlite3): one row per cell, committed as it completes, so
an interrupted run keeps every finished row. A schema_version table guards the layout."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from edgebench.bench.stats import LatencyStats
from edgebench.errors import OutputDirError, UserError
from edgebench.results.record import Record

SCHEMA_VERSION = 5  # 2: cold start, device latency, GPU memory; 3: accuracy gate; 4: energy, RSS, warnings;
# 5: fingerprint and samples
_LATENCY_FIELDS = list(LatencyStats.__dataclass_fields__)
_STATS = ("latency", "device_latency")  # LatencyStats fields, flattened as <name>_<field>
_JSON_FIELDS = ("input_shape", "details", "timing", "env", "warnings", "samples_ms")
_SCALAR_FIELDS = [f for f in Record.__dataclass_fields__ if f not in (*_STATS, *_JSON_FIELDS)]
_STAT_COLUMNS = [f"{s}_{f}" for s in _STATS for f in _LATENCY_FIELDS]
_COLUMNS = _SCALAR_FIELDS + _STAT_COLUMNS + list(_JSON_FIELDS)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL,
    baseline_backend TEXT NOT NULL,
    config TEXT NOT NULL,
    env TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    {", ".join(_COLUMNS)}
);
CREATE INDEX IF NOT EXISTS records_run ON records(run_id);
"""
_INDEXES = "CREATE INDEX IF NOT EXISTS records_fingerprint ON records(fingerprint);"


class Store:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(str(self.path))
        except (OSError, sqlite3.Error) as exc:
            raise OutputDirError(f"cannot open results store {self.path} ({exc}); pass a writable --db or --out") from exc
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self._migrate()

    def _migrate(self) -> None:
        with self.conn:
            self.conn.executescript(_SCHEMA)
            row = self.conn.execute("SELECT version FROM schema_version").fetchone()
            if row is None:
                self.conn.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
            elif row[0] > SCHEMA_VERSION:
                raise UserError(
                    f"{self.path} has schema version {row[0]}, newer than this edgebench's {SCHEMA_VERSION}; upgrade edgebench"
                )
            elif row[0] < SCHEMA_VERSION:
                # older stores gain the new columns (empty for their rows); nothing is rewritten
                have = {r[1] for r in self.conn.execute("PRAGMA table_info(records)")}
                for col in _COLUMNS:
                    if col not in have:
                        self.conn.execute(f"ALTER TABLE records ADD COLUMN {col}")
                self.conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
            self.conn.executescript(_INDEXES)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- runs ----------------------------------------------------------------------------
    def begin_run(self, run_id: str, started_at: str, baseline: str, config: dict, env: dict) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT INTO runs VALUES (?, ?, NULL, 'running', ?, ?, ?)",
                (run_id, started_at, baseline, json.dumps(config, default=str), json.dumps(env)),
            )

    def finish_run(self, run_id: str, finished_at: str, status: str) -> None:
        with self.conn:
            self.conn.execute("UPDATE runs SET finished_at=?, status=? WHERE run_id=?", (finished_at, status, run_id))

    def runs(self) -> list[dict]:
        rows = self.conn.execute("SELECT * FROM runs ORDER BY started_at, rowid").fetchall()
        return [{**dict(r), "config": json.loads(r["config"]), "env": json.loads(r["env"])} for r in rows]

    def run(self, run_id: str) -> dict:
        for r in self.runs():
            if r["run_id"] == run_id:
                return r
        raise UserError(f"run {run_id!r} is not in {self.path}; list runs with `edgebench report --list`")

    def latest_run_id(self) -> str:
        row = self.conn.execute("SELECT run_id FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1").fetchone()
        if row is None:
            raise UserError(f"{self.path} holds no runs; run `edgebench run` first")
        return row[0]

    # -- records -------------------------------------------------------------------------
    def add(self, rec: Record) -> None:
        """Insert one record in its own transaction."""
        d = rec.to_dict()
        values = [d[f] for f in _SCALAR_FIELDS]
        for stat in _STATS:
            values += [(d[stat] or {}).get(f) for f in _LATENCY_FIELDS]
        values += [json.dumps(d[f], default=str) for f in _JSON_FIELDS]
        with self.conn:
            self.conn.execute(
                f"INSERT INTO records ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})", values
            )

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
            for stat in _STATS:
                lat = {f: d.pop(f"{stat}_{f}") for f in _LATENCY_FIELDS}
                d[stat] = lat if lat["count"] is not None else None
            for f in _JSON_FIELDS:
                d[f] = json.loads(d[f]) if d[f] else ([] if f in ("input_shape", "warnings", "samples_ms") else {})
            d.pop("id")
            out.append(Record.from_dict(d))
        return out
