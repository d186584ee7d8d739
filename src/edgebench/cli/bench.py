"""`edgebench bench`: one model on one backend, its full record summary (or JSON)."""
from __future__ import annotations

import sys

from edgebench.cli.options import add_model_options, add_run_options, add_timing_options, check_size, timing


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="benchmark one model on one backend")
    p.add_argument("model", help="model name, path/to/file.py:factory, or path/to/model.onnx")
    p.add_argument("--backend", required=True, help="NAME[@PRECISION][:KEY=VALUE[+KEY=VALUE]], e.g. torch-compile:mode=default")
    p.add_argument("--cuda-graphs", action="store_true", help="pytorch: capture the forward pass in a CUDA graph and replay it")
    p.add_argument("--json", action="store_true", help="print the full record as JSON")
    p.add_argument("--profile", action="store_true",
                   help="after the timing, one pass under the runtime's own per-layer profiler; the summary lists the "
                        "slowest layers")
    add_run_options(p)
    add_model_options(p)
    add_timing_options(p)


def main(args) -> int:
    from edgebench.api import benchmark
    from edgebench.bench import environment, stages
    from edgebench.config import parse_backend_spec
    from edgebench.report import console
    from edgebench.results import Status

    name, precision, options = parse_backend_spec(args.backend, args.precision)
    if args.cuda_graphs:
        options["cuda_graphs"] = True
    env = environment.capture()  # the record leaves it to its run; --json prints it beside the record
    environment.announce(env)
    if sys.stderr.isatty():  # on a terminal only: logs and scripts keep stderr for the result and errors
        stages.CLOCK.listener = _say_stage(args.model)
    rec = benchmark(
        args.model, backend=name, batch_size=args.batch_size, precision=precision, device=args.device,
        timing=timing(args), num_classes=args.num_classes, weights=args.weights, pretrained=args.pretrained,
        input_shape=args.input_shape, opset=args.opset, pool_size=args.pool_size, cache_dir=args.cache_dir,
        check_overhead=args.check_overhead, backend_options=options, data=args.data,
        calibration_size=args.calibration_size, check_size=check_size(args), env=env, profile=args.profile,
    )
    if args.json:
        print(console.record_json(rec, env))
        return 0 if rec.ok else 1
    if rec.latency.host is None:
        print(console.unmeasured(rec), file=sys.stderr)
        return 1
    print(console.record_summary(rec))
    if rec.status == Status.ACCURACY_FAILED:
        print(console.gate_failed(rec), file=sys.stderr)
        return 1
    return 0


def _say_stage(model: str):
    """A line on stderr as each stage of the cell begins, so a long one (checking 256 inputs on a
    slow model, compiling) is not silent; the first time each, once."""
    told = set()

    def say(name: str) -> None:
        if name not in told:
            told.add(name)
            print(f"{model}: {name}...", file=sys.stderr, flush=True)

    return say

