"""A run's lifecycle in the store, the same for a suite on this machine, on a target and on each
device of a fleet: begun with its config and environment, each finished row stored at once (so an
interrupted run keeps them), ended with its status, then Table 1 and Figure 4 rendered from the
stored rows."""
from __future__ import annotations

import datetime as _dt
import uuid
from pathlib import Path

from edgebench.results.record import Record, utc_now
from edgebench.results.run import Run, RunStatus


def new_run_id() -> str:
    return _dt.datetime.now().strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


class RunRecorder:
    """One run in `store`. `env` may be unknown at the start ({}: a fleet device whose first task
    was lost); `set_env` fills it in once known. `on_record(rec)` is told each stored row."""

    def __init__(self, store, run_id: str, baseline: str, config: dict, env: dict, on_record=None):
        self.store, self.run_id, self.on_record = store, run_id, on_record
        self.env = dict(env or {})
        self.records: list[Record] = []
        store.begin_run(Run.start(run_id, baseline, config, self.env))

    def set_env(self, env: dict) -> None:
        if env and not self.env:
            self.env = dict(env)
            self.store.set_run_env(self.run_id, self.env)

    def keep(self, rec: Record) -> None:
        """A finished row: stored at once, kept, and told."""
        rec.run_id = self.run_id
        self.store.add(rec)
        self.records.append(rec)
        if self.on_record is not None:
            self.on_record(rec)

    def finish(self, status: RunStatus, out_dir: Path | None):
        """End the run; (its Table 1, the report files written to `out_dir`: none without rows)."""
        from edgebench.report import build_table1, write_table

        self.store.finish_run(self.run_id, utc_now(), status)
        table = build_table1(self.store.records(self.run_id), self.store.run(self.run_id))
        outputs = write_table(table, out_dir) if self.records and out_dir is not None else {}
        return table, outputs


def produced_result(records: list[Record]) -> bool:
    """Whether any cell was measured: a row with a latency or a LoadGen verdict."""
    return any(r.latency.host is not None or r.loadgen.result for r in records)


def no_result_summary(records: list[Record]) -> str:
    """"N cells: 2 run_failed, 1 oom" for the error a run with no result ends with."""
    from collections import Counter

    counts = Counter(str(r.status) for r in records)
    return f"{len(records)} cell(s): " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))


def check_writable(folder: Path, create: bool = True) -> None:
    """Prove the output folder takes a file (making it, with `create`), or raise OutputDirError."""
    from edgebench.errors import OutputDirError

    folder = Path(folder)
    if not create and not folder.is_dir():
        raise OutputDirError(f"folder {folder} does not exist; create it first or name a file in an existing folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".edgebench-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise OutputDirError(f"output folder {folder} is not writable ({exc.strerror}); pass --out DIR with a writable folder") from exc
