"""Argument types and groups several commands share (model, timing, run options), and the
configs they parse into. Imports nothing heavy: `edgebench --help` builds every parser."""
from __future__ import annotations

import argparse
from pathlib import Path


def csv_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def shape(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(t) for t in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"input shape must be comma-separated integers like 3,224,224, got {text!r}")
    if not dims or any(d < 1 for d in dims):
        raise argparse.ArgumentTypeError(f"input shape dimensions must be >= 1, got {text!r}")
    return dims


def add_model_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--num-classes", type=int, default=None, help="classifier head size (default 2, the paper's)")
    g.add_argument("--weights", default=None, help="a state-dict file to load")
    g.add_argument("--pretrained", action="store_true", help="torchvision's pretrained weights (needs internet)")
    g.add_argument("--input-shape", type=shape, default=None, help="one item's shape without batch, e.g. 3,224,224")
    g.add_argument("--opset", type=int, default=18, help="ONNX opset (default 18; < 18 uses the TorchScript exporter)")
    g.add_argument("--cache-dir", type=Path, default=None, help="artifact cache (default ~/.cache/edgebench)")
    g.add_argument("--data", default=None,
                   help="labelled task data (image folder, or UCF50 root) for INT8 calibration and the accuracy gate; "
                        "default: scikit-image's photos / synthetic videos")
    g.add_argument("--calibration-size", type=int, default=32, help="INT8 calibration inputs")
    g.add_argument("--check-size", type=int, default=256,
                   help="task inputs the accuracy gate compares every backend on (top-1 is judged on at least 59 "
                        "decisive ones; default 256)")
    g.add_argument("--weights-dir", default=None, help="per-model checkpoints DIR/<model>.pt (run)")


def add_timing_options(p: argparse.ArgumentParser) -> None:
    # the defaults are bench.harness.TimingConfig's, written out so that --help imports nothing
    # heavy; tests/cli checks each "(default N)" against TimingConfig()
    g = p.add_argument_group("timing")
    g.add_argument("--warmup-iters", type=int, default=None, help="warm up for at least this many iterations (default 10)")
    g.add_argument("--warmup-s", type=float, default=None, help="and for at least this many seconds (default 1.0)")
    g.add_argument("--min-iters", type=int, default=None, help="then time at least this many iterations (default 100)")
    g.add_argument("--min-time-s", type=float, default=None, help="and for at least this many seconds (default 5.0)")
    g.add_argument("--quick", action="store_true",
                   help="smoke-test timing (warm-up 2 iterations and 0.1 s, then 10 iterations and 0.5 s); reports say so")
    g.add_argument("--pool-size", type=int, default=8, help="distinct fixed-seed inputs cycled through")
    g.add_argument("--check-overhead", action="store_true",
                   help="also time a bare loop around the backend's own call and report the harness overhead")


def add_run_options(p: argparse.ArgumentParser, auto: bool = False) -> None:
    p.add_argument("--batch-size", type=int, default=1, help="items per inference (default 1)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "bf16", "int8", *(["auto"] if auto else [])],
                   help="post-opt precision" + ("; auto: per model, the fastest that passes the accuracy gate" if auto else ""))
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="auto: cuda when available (default)")


def timing(args):
    """The timing options -> a bench.harness.TimingConfig (--quick's, or the default, with the
    values given on the command line)."""
    from dataclasses import replace

    from edgebench.config import TimingConfig

    base = TimingConfig.quick_config() if args.quick else TimingConfig()
    given = {k: getattr(args, k) for k in ("warmup_iters", "warmup_s", "min_iters", "min_time_s") if getattr(args, k) is not None}
    return replace(base, **given)


def model_options(args):
    """The model options -> an api.ModelOptions."""
    from pathlib import Path

    from edgebench.api import ModelOptions
    from edgebench.errors import InvalidConfigError

    # checked here, before anything runs; with --cluster the folder is each node's to have
    if args.data is not None and getattr(args, "cluster", None) is None and not Path(args.data).exists():
        raise InvalidConfigError(f"--data {args.data} does not exist; pass an image folder (<root>/<class>/*.png) "
                                 "or a UCF50 root (UCF50/<Class>/*.avi)")
    return ModelOptions(args.num_classes, args.weights, args.pretrained, args.input_shape, args.opset,
                        data=args.data, calibration_size=args.calibration_size, check_size=args.check_size,
                        weights_dir=args.weights_dir)
