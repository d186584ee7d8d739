"""`edgebench profile`: the slowest layers of a stored run's cells, from the per-layer profiles
`run --profile` and `bench --profile` store (a target's tensorrt cells: trtexec's)."""
from __future__ import annotations

import argparse
from pathlib import Path


def _top(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"--top must be an integer >= 1, not {text!r}")
    return value


def add_parser(sub) -> None:
    p = sub.add_parser("profile", help="the slowest layers of a stored run's cells (run with --profile)")
    p.add_argument("run", help="a run id (edgebench report --list), or latest")
    p.add_argument("model", help="a model of that run")
    p.add_argument("--backend", default=None, help="only this backend's cells: NAME or NAME@PRECISION")
    p.add_argument("--top", type=_top, default=15, help="layers shown per cell (default 15)")
    p.add_argument("--db", type=Path, default=Path("results/edgebench.sqlite"),
                   help="SQLite store (default results/edgebench.sqlite)")


def main(args) -> int:
    from edgebench.report import console
    from edgebench.report.profile import profiled_cells
    from edgebench.results.store import Store

    with Store(args.db, readonly=True) as store:  # reads only: nothing is written, no store is made
        run = store.run(store.latest_run_id() if args.run == "latest" else args.run)
        records = store.records(run.run_id)
    found, missing = profiled_cells(run, records, args.model, args.backend)
    print(console.layer_profiles(run, found, missing, args.top))
    return 0
