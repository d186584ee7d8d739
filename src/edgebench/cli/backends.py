"""`edgebench backends`: which backends are available here, why not, and how to install them."""
from __future__ import annotations


def add_parser(sub) -> None:
    sub.add_parser("backends", help="which backends are available here, why not, and how to install them")


def main(args) -> int:
    from edgebench.backends.registry import BACKENDS, list_availability
    from edgebench.report import console

    print(console.backends_table(list_availability(), BACKENDS))
    return 0
