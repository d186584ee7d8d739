"""`edgebench compare A B [C ...]`: stored runs side by side, cell by cell, against the first;
with --fail-if-slower, the regression gate for CI (exit 1 when a cell got slower)."""
from __future__ import annotations

import sys
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser(
        "compare", help="compare stored runs cell by cell: p50s, ratio with a 95%% interval, verdict; a CI gate",
        description="Compare stored runs with the first, cell by cell (model, backend, precision, batch size): each "
                    "run's p50, its ratio to the first run's with a 95% bootstrap interval from the stored samples, "
                    "and a verdict (faster or slower when the interval excludes 1, else no significant change). "
                    "Lists what differs between the runs' environments and the cells only some runs measured. "
                    "Runs from other machines: merge their stores first with `edgebench store merge`, or name "
                    "each store file.")
    p.add_argument("runs", nargs="*", metavar="RUN",
                   help="a run id in --db, a store file (its latest run), or STORE:RUN with RUN a run id or latest; "
                        "the first is the baseline")
    p.add_argument("--db", type=Path, default=Path("results/edgebench.sqlite"),
                   help="the store that bare run ids are looked up in (default results/edgebench.sqlite)")
    p.add_argument("--fail-if-slower", metavar="THRESHOLD", default=None,
                   help="exit 1 when any cell of a later run is slower than in the first run by more than THRESHOLD "
                        "with 95%% confidence, i.e. the 95%% interval of its ratio lies wholly above 1 + THRESHOLD, "
                        "and name those cells; exit 0 otherwise. THRESHOLD is a percentage (5%%) or a fraction "
                        "below 1 (0.05). Cells missing from a run do not fail the gate; they are listed")
    p.add_argument("--judge-contended", action="store_true",
                   help="let the gate judge cells timed while other processes took the CPU (contended); by default "
                        "they are listed as not judged")
    p.add_argument("--json", action="store_true", help="print the comparison (and the gate's outcome) as JSON")
    p.add_argument("--html", type=Path, metavar="FILE", default=None,
                   help="also write the side-by-side view as one self-contained HTML page (opens offline)")


def main(args) -> int:
    from edgebench.report.compare import compare, contended_pairs, parse_threshold, regressions, slower_within
    from edgebench.report.render.comparison import gate_lines, render_comparison, render_comparison_json

    threshold = parse_threshold(args.fail_if_slower) if args.fail_if_slower is not None else None
    cmp = compare(args.runs, args.db)
    judge = args.judge_contended
    failing = regressions(cmp, threshold, judge) if threshold is not None else None
    not_judged = [] if judge else contended_pairs(cmp)
    print(render_comparison_json(cmp, threshold, failing, not_judged) if args.json else render_comparison(cmp))
    if args.html is not None:
        from edgebench.report.write import write_compare_html

        try:
            path = write_compare_html(cmp, args.html)
        except OSError as exc:
            from edgebench.errors import OutputDirError

            raise OutputDirError(f"cannot write {args.html} ({exc.strerror}); pass --html with a writable path") from exc
        print(f"wrote {path} ({path.stat().st_size / 1024:,.0f} KiB)", file=sys.stderr)
    if threshold is None:
        return 0
    # on stderr, so that --json's output stays one JSON document
    print(gate_lines(cmp, threshold, failing, slower_within(cmp, threshold, judge), not_judged), file=sys.stderr)
    return 1 if failing else 0
