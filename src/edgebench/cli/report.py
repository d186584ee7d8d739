"""`edgebench report`: re-render Table 1 and Figure 4 from a stored run (no re-run), or list
the stored runs."""
from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="re-render Table 1 and Figure 4 from stored records (no re-run)")
    p.add_argument("--db", type=Path, default=Path("results/edgebench.sqlite"), help="SQLite store (default results/edgebench.sqlite)")
    p.add_argument("--out", type=Path, default=None, help="default: the folder holding the store")
    p.add_argument("--run-id", default=None, help="default: the latest run")
    p.add_argument("--list", action="store_true", help="list stored runs")


def main(args) -> int:
    from edgebench.errors import UserError
    from edgebench.report import build_table1, console, write_table
    from edgebench.results.store import Store

    with Store(args.db, readonly=True) as store:  # a report never writes to the store, nor makes one
        if args.list:
            print(console.runs_table([(r, len(store.records(r.run_id))) for r in store.runs()]))
            return 0
        run_id = args.run_id or store.latest_run_id()
        run = store.run(run_id)
        records = store.records(run_id)
    if not records:
        raise UserError(f"run {run_id} has no records to report")
    out = args.out or args.db.parent
    from edgebench.bench.suite import check_writable

    check_writable(out)
    table = build_table1(records, run)
    written = write_table(table, out)
    print(console.table_and_files(table, written.values()))
    return 0
