"""`edgebench targets [add | remove | probe]`: the remote devices edgebench can run on, reached
through the user's ssh; adding one probes it first and stores it only when the probe worked."""
from __future__ import annotations

import json


def add_parser(sub) -> None:
    p = sub.add_parser("targets", help="remote devices reached over ssh: list (with reachability), add, remove, probe",
                       description="Without an action: list the stored targets, each checked for reachability.")
    actions = p.add_subparsers(dest="action", metavar="ACTION",
                               help="add, remove or probe; none: list the stored targets")
    add = actions.add_parser("add", help="probe a device over ssh and store it as a target")
    add.add_argument("name", help="what to call it, e.g. nano")
    add.add_argument("url", help="ssh://[user@]host[:port], or ssh://ALIAS for a Host in your ssh config")
    add.add_argument("--python", default="python3", help="the device's Python 3.6+ (default: python3)")
    add.add_argument("--ssh-config", metavar="FILE", default=None,
                     help="an ssh config file to use instead of ~/.ssh/config (ssh -F)")
    add.add_argument("--ssh-option", metavar="K=V", action="append", default=[],
                     help="an ssh -o option, e.g. IdentityFile=~/.ssh/jetson or ProxyJump=gw; repeatable")
    remove = actions.add_parser("remove", help="forget a target (nothing on the device is touched)")
    remove.add_argument("name", help="the target's name, as `edgebench targets` lists it")
    probe = actions.add_parser("probe", help="probe a target again, store and print what it found")
    probe.add_argument("name", help="the target's name, as `edgebench targets` lists it")
    probe.add_argument("--json", action="store_true", help="print the probe as JSON")


def main(args) -> int:
    from edgebench.report.console import target_facts, targets_table
    from edgebench.targets import registry

    if args.action == "add":
        target = registry.add_target(args.name, args.url, python=args.python, ssh_config=args.ssh_config,
                                     ssh_options=args.ssh_option)
        print(f"added target {target.name} ({target.url}); it has:")
        print(target_facts(registry.probe_facts(target.probe)))
    elif args.action == "remove":
        target = registry.remove_target(args.name)
        print(f"removed target {target.name} ({target.url}); its files on the device stay in ~/.cache/edgebench")
    elif args.action == "probe":
        target = registry.probe_target(args.name)
        if args.json:
            print(json.dumps(target.probe, indent=2, sort_keys=True))
        else:
            print(f"target {target.name} ({target.url}), probed {target.probed_at}:")
            print(target_facts(registry.probe_facts(target.probe)))
    else:
        targets = registry.load_targets()
        if not targets:
            print(f"no targets yet (the targets file is {registry.targets_path()}); add one with "
                  "`edgebench targets add NAME ssh://[user@]host[:port]`")
            return 0
        reach = registry.reachability(targets.values())
        print(targets_table([(t.name, t.url, reach[t.name], registry.probe_facts(t.probe)) for t in targets.values()]))
    return 0
