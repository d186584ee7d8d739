"""Which stored run a command-line reference names: a run id in the default store, a store file
(its latest run), or STORE:RUN with RUN a run id or `latest`."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edgebench.errors import StoreError, UserError
from edgebench.results.record import Record
from edgebench.results.run import Run
from edgebench.results.store import Store

LATEST = "latest"
#: a reference ending in one of these names a store file even when no such file exists
STORE_SUFFIXES = (".sqlite", ".sqlite3", ".db")


@dataclass
class StoredRun:
    """A run read from a store, with its records; `store` is the store file as it was named."""

    store: str
    run: Run
    records: list[Record] = field(default_factory=list)


def split_ref(ref: str, db: str | Path) -> tuple[str, str | None]:
    """(store file, run id or None for its latest run) that `ref` names: an existing file is a
    store; STORE:RUN splits at the last colon when STORE exists or looks like a store file
    (.sqlite, .sqlite3, .db); anything else is a run id in the store `db`."""
    if Path(ref).exists():
        return ref, None
    head, sep, tail = ref.rpartition(":")
    if sep and head and (Path(head).exists() or head.endswith(STORE_SUFFIXES)):
        return head, (None if tail in ("", LATEST) else tail)
    if ref.endswith(STORE_SUFFIXES) or "/" in ref:
        return ref, None  # a store file that is not there: reading it says so
    return str(db), ref


def load_runs(refs: list[str], db: str | Path) -> list[StoredRun]:
    """The run each reference names (see split_ref), with its records, in the order given. Every
    store is opened read-only: nothing is written. Raises StoreError for a store that is missing,
    unreadable, not edgebench's or from a newer schema, and UserError for a run it does not hold."""
    stores: dict[Path, Store] = {}
    out = []
    try:
        for ref in refs:
            path, run_id = split_ref(ref, db)
            key = Path(path).resolve()
            if key not in stores:
                if path == str(db) and run_id is not None and not Path(db).is_file():
                    raise StoreError(f"{ref!r} is neither a store file nor a run id in {db}: there is no results store "
                                     f"at {db}; pass --db PATH, a store file, or STORE:RUN")
                stores[key] = Store(path, readonly=True)
            store = stores[key]
            run = _find(store, ref, run_id)
            out.append(StoredRun(path, run, store.records(run.run_id)))
    finally:
        for store in stores.values():
            store.close()
    return out


def _find(store: Store, ref: str, run_id: str | None) -> Run:
    """The run `run_id` of `store` (its latest when None), or a UserError naming the runs it has."""
    runs = store.runs()
    if run_id is None:
        if not runs:
            raise UserError(f"{store.path} holds no runs; run `edgebench run --db {store.path}` first")
        return runs[-1]
    for run in runs:
        if run.run_id == run_id:
            return run
    latest = ", ".join(r.run_id for r in runs[-3:][::-1]) or "none"
    what = f"run {run_id!r}" if ref != run_id else f"{ref!r} is not a store file, and run {ref!r}"
    raise UserError(f"{what} is not in {store.path} (its latest runs: {latest}); "
                    f"`edgebench report --db {store.path} --list` lists them all")
