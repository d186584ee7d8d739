"""`edgebench run`: the suite (models x backends), then Table 1, Figure 4 and the store."""
from __future__ import annotations

import sys
from pathlib import Path

from edgebench.cli.options import (
    add_model_options, add_run_options, add_timing_options, csv_list, model_options, timing,
)


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="run the suite and write Table 1, Figure 4 and the SQLite store")
    p.add_argument("--models", type=csv_list, default=None,
                   help="comma-separated (default: the paper's eight classifiers and three action models)")
    p.add_argument("--backends", type=csv_list, default=None,
                   help="comma-separated NAME[@PRECISION][:KEY=VALUE]; the first is the baseline "
                        "(default: pytorch + the best optimiser here), e.g. pytorch,torch-compile@fp16,pytorch:cuda_graphs=1")
    p.add_argument("--out", type=Path, default=Path("results"), help="folder for Table 1, Figure 4 and the store (default results)")
    p.add_argument("--db", type=Path, default=None, help="SQLite store (default OUT/edgebench.sqlite)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar: one line per finished cell with the time left, as without a terminal")
    p.add_argument("--no-isolate", action="store_true",
                   help="run cells in this process (faster start; a crash then ends the run)")
    p.add_argument("--cell-timeout", type=float, default=1800.0, help="seconds one isolated cell may take in all")
    p.add_argument("--processes", type=int, default=None,
                   help="worker processes each isolated cell's rounds take turns in, so that the variation between "
                        "processes shows in its interval (default 2; with --no-isolate 1); each holds the model, so on a "
                        "device short of memory (a Jetson Nano) pass 1")
    p.add_argument("--resume", action="store_true",
                   help="skip cells already stored ok with the same fingerprint; their rows join this run")
    p.add_argument("--repetitions", type=int, default=3,
                   help="timing rounds per cell, backends interleaved round by round (default 3)")
    p.add_argument("--target", default=None,
                   help="run the cells on a remote target added with `edgebench targets add` (over SSH, through its agent)")
    p.add_argument("--profile", action="store_true",
                   help="after each cell's timed rounds, one pass under its runtime's own per-layer profiler, stored "
                        "with the row (see `edgebench profile`); the timings are the same with or without it")
    p.add_argument("--cluster", default=None, metavar="ADDRESS",
                   help="run on a Ray cluster's devices (edgebench[cluster]): ray://HOST:10001, HOST:6379 or auto; "
                        "one run per device in this store, Table 1 and Figure 4 in OUT/<device>/")
    p.add_argument("--devices", type=csv_list, default=None,
                   help="with --cluster: the devices to run on, comma-separated (default: every device it offers; "
                        "see `edgebench fleet`)")
    p.add_argument("--dry-run", action="store_true",
                   help="with --target: print every command it would run on the device, and run nothing")
    g = p.add_argument_group("thermal steady state")
    g.add_argument("--soak", default=None, metavar="DURATION",
                   help="keep one cell (one model, one backend) running this long, e.g. 30m: p50/p90 per window "
                        "beside temperature, clocks and power, throttling flagged (soak.md, soak.json, soak.png)")
    g.add_argument("--soak-window", type=float, default=60.0, metavar="S",
                   help="with --soak: seconds per reported window (default 60)")
    g.add_argument("--cool-to", type=float, default=None, metavar="C",
                   help="before each model's cells, wait until the device is cooler than C degrees (the wait and "
                        "the temperature are recorded; a warning when --cool-timeout runs out first)")
    g.add_argument("--cool-timeout", type=float, default=600.0, metavar="S",
                   help="with --cool-to: the longest wait, seconds (default 600)")
    g = p.add_argument_group("MLPerf LoadGen scenarios (edgebench[loadgen])")
    g.add_argument("--scenario", type=csv_list, default=None,
                   help="run each model x backend through MLPerf LoadGen instead of the timed rounds: single-stream, "
                        "multi-stream, offline, server (comma-separated); one cell per scenario")
    g.add_argument("--server-latency", default="15ms",
                   help="Server: the latency bound on the 99th percentile, e.g. 15ms (default 15ms)")
    g.add_argument("--target-fps", type=float, default=None,
                   help="say whether single-stream p90 / multi-stream p99 meets the frame budget 1000/F ms")
    g.add_argument("--compliant", action="store_true",
                   help="MLPerf's own minimum durations and query counts (600 s each) instead of short runs")
    g.add_argument("--scenario-duration", type=float, default=1.0,
                   help="short runs: LoadGen's minimum duration per run, seconds (default 1.0)")
    add_run_options(p, auto=True)
    add_model_options(p)
    add_timing_options(p)


def main(args) -> int:
    from edgebench.api import SuiteConfig, run_suite
    from edgebench.errors import InvalidConfigError
    from edgebench.report import console

    models = {} if args.models is None else {"models": args.models}  # else SuiteConfig's default, the paper's
    cfg = SuiteConfig(
        batch_size=args.batch_size, precision=args.precision, device=args.device, backends=args.backends,
        model_options=model_options(args), timing=_processes(args, timing(args)), pool_size=args.pool_size, out_dir=args.out,
        db=args.db, cache_dir=args.cache_dir, check_overhead=args.check_overhead, repetitions=args.repetitions,
        isolate=not args.no_isolate, cell_timeout_s=args.cell_timeout, resume=args.resume, target=args.target,
        profile=args.profile, loadgen=_loadgen(args), cool_to_c=args.cool_to, cool_timeout_s=args.cool_timeout,
        **models,
    )
    if args.weights and len(cfg.models) != 1:
        raise InvalidConfigError("--weights names one checkpoint; pass it with a single model (--models NAME)")
    if args.devices is not None and args.cluster is None:
        raise InvalidConfigError("--devices names devices of a Ray cluster; pass --cluster ADDRESS too")
    if args.cluster is not None:
        return _run_on_cluster(args, cfg)
    if args.soak is not None:
        return _soak(args, cfg)
    if args.dry_run:
        if args.target is None:
            raise InvalidConfigError("--dry-run shows the commands a run would send to a device; pass --target NAME")
        from edgebench.targets.plan import plan_lines

        print("\n".join(plan_lines(cfg)))
        return 0
    show = not args.no_progress and sys.stderr.isatty()
    from edgebench.config import model_cells

    from edgebench.bench.progress import TimeLeft

    resolved = cfg.resolved()
    time_left = TimeLeft({m: _declared_flops(m) for m in resolved.models}, scale=resolved.device == "cpu")
    lines = None if show else console.CellLines(len(resolved.models) * len(model_cells(resolved)),
                                                models=len(resolved.models), estimate=time_left.left)
    result = run_suite(cfg, progress=show, on_record=lines, time_left=time_left)
    print(console.table_and_files(result.table, result.outputs.values()))
    if result.breakdown:
        print(console.breakdown_line(result.breakdown))
    _check_produced(result.records)
    return 0


def _soak(args, cfg) -> int:
    from edgebench.bench.soak import parse_duration, run_soak
    from edgebench.errors import InvalidConfigError

    if args.models is None or args.backends is None:
        raise InvalidConfigError("--soak keeps one cell running: pass one model (--models NAME) and one backend "
                                 "(--backends NAME[@PRECISION])")
    rec, result, files = run_soak(cfg, parse_duration(args.soak), args.soak_window)
    print(Path(files["soak_md"]).read_text())
    print("\n".join(f"wrote {p}" for p in files.values()))
    return 0 if rec.ok else 1


def _declared_flops(model: str) -> int | None:
    """A built-in model's declared FLOPs per item (for the time left), None for any other."""
    from edgebench.models import get_spec

    try:
        spec = get_spec(model)
    except Exception:  # noqa: BLE001 - a user's file or an .onnx: no declared size
        return None
    return spec.size.flops if spec.size is not None else None


def _check_produced(records) -> None:
    """A run in which no cell was measured ends with an error (exit 1): its rows are stored and
    shown, and say why each cell failed."""
    from edgebench.bench.lifecycle import no_result_summary, produced_result
    from edgebench.errors import NoResultError

    if records and not produced_result(records):
        raise NoResultError(f"no cell produced a result ({no_result_summary(records)}); each row above says why")


def _loadgen(args):
    """--scenario and its options -> a config.LoadGenConfig, or None without --scenario."""
    from edgebench.errors import InvalidConfigError

    if args.scenario is None:
        if args.compliant or args.target_fps is not None:
            raise InvalidConfigError("--compliant and --target-fps qualify LoadGen scenarios; pass --scenario too")
        return None
    from edgebench.config import LoadGenConfig

    text = args.server_latency.strip().lower()
    try:
        latency_ms = float(text[:-2]) if text.endswith("ms") else float(text[:-1]) * 1e3 if text.endswith("s") \
            else float(text)
    except ValueError:
        raise InvalidConfigError(f"--server-latency must look like 15ms or 0.015s, not {args.server_latency!r}") from None
    return LoadGenConfig(scenarios=tuple(args.scenario), server_latency_ms=latency_ms, target_fps=args.target_fps,
                         compliant=args.compliant, min_duration_s=args.scenario_duration)


def _run_on_cluster(args, cfg) -> int:
    from edgebench.cluster.run import run_fleet
    from edgebench.errors import InvalidConfigError
    from edgebench.report import console

    if args.target is not None or args.dry_run:
        raise InvalidConfigError("--target and --dry-run are for one device; on a cluster a device named as a "
                                 "registered target is driven through it by the node that offers it")
    result = run_fleet(cfg, args.cluster, args.devices,
                       on_line=lambda text: print(text, file=sys.stderr, flush=True))
    for device, files in result.outputs.items():
        print(f"== {device} ({result.run_ids[device]})")
        print(console.table_and_files(result.tables[device], files.values()))
    _check_produced([rec for recs in result.records.values() for rec in recs])
    return 0


def _processes(args, config):
    """The timing with --processes: one process where cells run in this one (--no-isolate)."""
    from dataclasses import replace

    from edgebench.errors import InvalidConfigError

    if args.no_isolate:
        if args.processes not in (None, 1):
            raise InvalidConfigError(f"--processes {args.processes} needs isolated cells: leave out --no-isolate, "
                                     "or --processes")
        return replace(config, processes=1)
    return config if args.processes is None else replace(config, processes=args.processes)
