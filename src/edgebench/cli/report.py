"""`edgebench report`: re-render Table 1, Figure 4 and the HTML report from a stored run (no
re-run), or list the stored runs."""
from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="re-render Table 1, Figure 4 and the HTML report from stored records (no re-run)")
    p.add_argument("--db", type=Path, default=Path("results/edgebench.sqlite"), help="SQLite store (default results/edgebench.sqlite)")
    p.add_argument("--out", type=Path, default=None, help="default: the folder holding the store")
    p.add_argument("--run-id", default=None, help="default: the latest run")
    p.add_argument("--list", action="store_true", help="list stored runs")
    p.add_argument("--html", nargs="?", const=True, default=None, type=Path, metavar="FILE",
                   help="write only the self-contained HTML report, to FILE (default OUT/table1.html): one file "
                        "that opens offline, to mail or attach")


def main(args) -> int:
    from edgebench.errors import UserError
    from edgebench.report import build_table1, console, write_html, write_table
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
    html = out / "table1.html" if args.html is True else args.html
    from edgebench.bench.lifecycle import check_writable

    # a named file goes into a folder that exists; the default folder is made as `run` makes it
    check_writable(html.parent if html else out, create=not (html and args.html is not True))
    table = build_table1(records, run)
    written = {"table1.html": write_html(table, html)} if html else write_table(table, out)
    print(console.table_and_files(table, written.values()))
    return 0
