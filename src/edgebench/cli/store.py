"""`edgebench store merge OUT IN [IN ...]`: gather the runs of several results stores (say, one
per machine) into one, so that `edgebench compare` can set them side by side."""
from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("store", help="manage results stores: merge the stores of several machines into one")
    actions = p.add_subparsers(dest="action", metavar="ACTION", help="merge: copy stores into one")
    merge = actions.add_parser(
        "merge", help="copy the runs and records of IN stores into OUT (made when missing)",
        description="Copy every run and record of each IN store into OUT, which is made when missing. A run "
                    "already in OUT (the same run id) is not copied again, nor is a record already there, so "
                    "merging the same stores twice adds nothing. Nothing is written when any IN is not a "
                    "readable edgebench store or comes from a newer edgebench.")
    merge.add_argument("out", type=Path, metavar="OUT", help="the store to merge into")
    merge.add_argument("sources", type=Path, nargs="*", metavar="IN", help="stores to copy from")
    p.set_defaults(store_parser=p)


def main(args) -> int:
    from edgebench.report import console
    from edgebench.results.store import merge

    if args.action != "merge":
        args.store_parser.print_help()
        return 0
    counts = merge(args.out, args.sources)
    print(console.merged(args.out, counts))
    return 0
