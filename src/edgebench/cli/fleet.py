"""`edgebench fleet`: the devices a Ray cluster offers (`edgebench[cluster]`), each one's node
and what it has."""
from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("fleet", help="list the devices a Ray cluster offers (edgebench:<device> resources) and what each has")
    p.add_argument("--cluster", default=None, metavar="ADDRESS",
                   help="ray://HOST:10001, HOST:6379 or auto (default: RAY_ADDRESS, else the cluster on this machine)")


def main(args) -> int:
    from edgebench.cluster.fleet import list_fleet, render_fleet

    print(render_fleet(list_fleet(args.cluster)))
    return 0
