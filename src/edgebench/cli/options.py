"""Argument types and groups several commands share (model, timing, run options), and the
configs they parse into. Imports nothing heavy: `edgebench --help` builds every parser."""
from __future__ import annotations

import argparse
from pathlib import Path


def csv_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


class InputShapeAction(argparse.Action):
    """--input-shape 3,224,224, or NAME:SHAPE once per input of a several-input model, given
    space-separated in one value or as repeated options; parsed into models.inputs' form."""

    def __call__(self, parser, namespace, values, option_string=None):
        from edgebench.models.inputs import parse_option

        words = getattr(namespace, "_input_shape_words", []) + [w for v in values for w in v.split()]
        namespace._input_shape_words = words
        try:
            setattr(namespace, self.dest, parse_option(words))
        except ValueError as exc:
            raise argparse.ArgumentError(self, str(exc)) from None


def add_model_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--num-classes", type=int, default=None, help="classifier head size (default 2, the paper's)")
    g.add_argument("--weights", default=None, help="a state-dict file to load")
    g.add_argument("--pretrained", action="store_true", help="torchvision's pretrained weights (needs internet)")
    g.add_argument("--input-shape", action=InputShapeAction, nargs="+", default=None, metavar="SHAPE",
                   help="one item's shape without batch, e.g. 3,224,224; for a model of several inputs NAME:SHAPE "
                        "for each: --input-shape image:3,320,320 depth:1,320,320")
    g.add_argument("--opset", type=int, default=18, help="ONNX opset (default 18; < 18 uses the TorchScript exporter)")
    g.add_argument("--cache-dir", type=Path, default=None, help="artifact cache (default ~/.cache/edgebench)")
    g.add_argument("--data", default=None,
                   help="labelled task data for INT8 calibration and the accuracy gate: an image folder, a UCF50 "
                        "root, a COCO-format folder (detectors) or images/ + masks/ (segmenters); default: "
                        "scikit-image's photos / synthetic videos")
    g.add_argument("--calibration-size", type=int, default=32, help="INT8 calibration inputs")
    g.add_argument("--check-size", type=int, default=None,
                   help="task inputs the accuracy gate compares every backend on (top-1 is judged on at least 59 "
                        "decisive ones; default 256, with --quick 64)")
    g.add_argument("--weights-dir", default=None, help="per-model checkpoints DIR/<model>.pt (run)")
    g.add_argument("--pipeline", nargs="?", const="640x480", default=None, metavar="WxH",
                   help="detectors and segmenters: time each frame's whole pipeline (resize and normalise a WxH frame, "
                        "the network, NMS or arg-max back to the frame; default frame 640x480) instead of the "
                        "network alone")


def add_timing_options(p: argparse.ArgumentParser) -> None:
    # the defaults are bench.harness.TimingConfig's, written out so that --help imports nothing
    # heavy; tests/cli checks each "(default N)" against TimingConfig()
    g = p.add_argument_group("timing")
    g.add_argument("--ci", default=None, metavar="PCT|off",
                   help="time each cell until the 95%% interval of its median is within PCT of it (default 1%%), "
                        "in interleaved rounds; off: the fixed rule (>= 100 iterations and >= 5 s, warm-up 1 s)")
    g.add_argument("--max-time", type=float, default=None, dest="max_time_s",
                   help="with --ci: at most this many seconds of samples per cell; the row says if the "
                        "precision was not reached (default 10.0)")
    g.add_argument("--warmup-iters", type=int, default=None, help="warm up for at least this many iterations (default 10)")
    g.add_argument("--warmup-s", type=float, default=None, help="and for at least this many seconds (default 0.5)")
    g.add_argument("--min-iters", type=int, default=None, help="then time at least this many iterations (default 30)")
    g.add_argument("--min-time-s", type=float, default=None, help="and for at least this many seconds (default 1.0)")
    g.add_argument("--quick", action="store_true",
                   help="smoke-test timing (warm-up 2 iterations and 0.1 s, then 10 iterations and 0.5 s); reports say so")
    g.add_argument("--pool-size", type=int, default=8, help="distinct fixed-seed inputs cycled through")
    g.add_argument("--check-overhead", action="store_true",
                   help="also time a bare loop around the backend's own call and report the harness overhead")


def add_run_options(p: argparse.ArgumentParser, auto: bool = False) -> None:
    p.add_argument("--batch-size", type=int, default=1, help="items per inference (default 1)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "bf16", "int8", "fp8", *(["auto"] if auto else [])],
                   help="post-opt precision" + ("; auto: per model, the fastest that passes the accuracy gate" if auto else ""))
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="auto: cuda when available (default)")


def timing(args):
    """The timing options -> a bench.harness.TimingConfig (--quick's, or the default, with the
    values given on the command line)."""
    from dataclasses import replace

    from edgebench.config import TimingConfig

    ci = getattr(args, "ci", None)
    off = ci is not None and ci.strip().lower() == "off"
    base = TimingConfig.quick_config() if args.quick else TimingConfig.fixed() if off else TimingConfig()
    given = {k: getattr(args, k) for k in ("warmup_iters", "warmup_s", "min_iters", "min_time_s", "max_time_s")
             if getattr(args, k, None) is not None}
    if ci is not None and not off:
        given["ci_pct"] = parse_percent(ci, "--ci")
    if not hasattr(args, "processes"):  # only `run` spreads a cell over processes (--processes)
        given["processes"] = 1
    return replace(base, **given)


def parse_percent(text: str, flag: str) -> float:
    """"1%", "0.5%" or "1" -> 1.0 (percent)."""
    from edgebench.errors import InvalidConfigError

    try:
        return float(text.strip().rstrip("%"))
    except ValueError:
        raise InvalidConfigError(f"{flag} takes a percentage such as 1% or 0.5%, or off; not {text!r}") from None


#: --quick's check set: enough decisive inputs (59) for top-1 only on a trained, confident model
QUICK_CHECK_SIZE = 64


def check_size(args) -> int:
    """--check-size, else 256, or QUICK_CHECK_SIZE with --quick (the rows then say so)."""
    if args.check_size is not None:
        return args.check_size
    return QUICK_CHECK_SIZE if getattr(args, "quick", False) else 256


def model_options(args):
    """The model options -> an api.ModelOptions."""
    from pathlib import Path

    from edgebench.api import ModelOptions
    from edgebench.errors import InvalidConfigError

    # checked here, before anything runs; with --cluster the folder is each node's to have
    if args.data is not None and getattr(args, "cluster", None) is None and not Path(args.data).exists():
        raise InvalidConfigError(f"--data {args.data} does not exist; pass an image folder (<root>/<class>/*.png), "
                                 "a UCF50 root (UCF50/<Class>/*.avi), a COCO-format folder (annotations.json) or "
                                 "images/ + masks/")
    pipeline = None
    if getattr(args, "pipeline", None) is not None:
        from edgebench.bench.pipeline import parse_frame

        pipeline = parse_frame(args.pipeline)
    return ModelOptions(args.num_classes, args.weights, args.pretrained, args.input_shape, args.opset,
                        data=args.data, calibration_size=args.calibration_size, check_size=check_size(args),
                        weights_dir=args.weights_dir, pipeline=pipeline)
