"""`edgebench` console script. Every command builds a config and calls the library."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from edgebench import __version__
from edgebench.errors import EdgebenchError, InvalidConfigError


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _shape(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(t) for t in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"input shape must be comma-separated integers like 3,224,224, got {text!r}")
    if not dims or any(d < 1 for d in dims):
        raise argparse.ArgumentTypeError(f"input shape dimensions must be >= 1, got {text!r}")
    return dims


def _add_model_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--num-classes", type=int, default=None, help="classifier head size (default 2, the paper's)")
    g.add_argument("--weights", default=None, help="a state-dict file to load")
    g.add_argument("--pretrained", action="store_true", help="torchvision's pretrained weights (needs internet)")
    g.add_argument("--input-shape", type=_shape, default=None, help="one item's shape without batch, e.g. 3,224,224")
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


def _add_timing_options(p: argparse.ArgumentParser) -> None:
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


def _add_run_options(p: argparse.ArgumentParser, auto: bool = False) -> None:
    p.add_argument("--batch-size", type=int, default=1, help="items per inference (default 1)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "bf16", "int8", *(["auto"] if auto else [])],
                   help="post-opt precision" + ("; auto: per model, the fastest that passes the accuracy gate" if auto else ""))
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="auto: cuda when available (default)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgebench",
        description="Benchmark vision models before and after optimisation (PyTorch -> ONNX -> ONNX Runtime / TensorRT).",
    )
    parser.add_argument("--version", action="version", version=f"edgebench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", help="one of these; COMMAND --help for its options")

    p = sub.add_parser("models", help="list models: name, task, input shape, params")
    p.add_argument("pattern", nargs="?", default="*", help="shell wildcard, e.g. 'res*'")
    p.add_argument("--imagenet-heads", action="store_true", help="count params with 1000-class heads (compare with the paper)")
    p.add_argument("--num-classes", type=int, default=None, help="count params with this head size (default: each model's)")
    p.add_argument("--include-test", action="store_true", help="also list the tiny test_* models")

    sub.add_parser("backends", help="which backends are available here, why not, and how to install them")

    p = sub.add_parser("export", help="export a model to ONNX or an AOTInductor package (dynamic batch axis, cached)")
    p.add_argument("model", help="model name, or path/to/file.py:factory")
    p.add_argument("--format", choices=["onnx", "aot-inductor"], default="onnx", help="artifact kind (default onnx)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="aot-inductor: the device it compiles for")
    p.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "bf16"], help="aot-inductor only")
    p.add_argument("--output", type=Path, default=None, help="also copy the file here")
    _add_model_options(p)

    p = sub.add_parser("bench", help="benchmark one model on one backend")
    p.add_argument("model", help="model name, path/to/file.py:factory, or path/to/model.onnx")
    p.add_argument("--backend", required=True, help="NAME[@PRECISION][:KEY=VALUE[+KEY=VALUE]], e.g. torch-compile:mode=default")
    p.add_argument("--cuda-graphs", action="store_true", help="pytorch: capture the forward pass in a CUDA graph and replay it")
    p.add_argument("--json", action="store_true", help="print the full record as JSON")
    _add_run_options(p)
    _add_model_options(p)
    _add_timing_options(p)

    p = sub.add_parser("run", help="run the suite and write Table 1, Figure 4 and the SQLite store")
    p.add_argument("--models", type=_csv, default=None,
                   help="comma-separated (default: the paper's eight classifiers and three action models)")
    p.add_argument("--backends", type=_csv, default=None,
                   help="comma-separated NAME[@PRECISION][:KEY=VALUE]; the first is the baseline "
                        "(default: pytorch + the best optimiser here), e.g. pytorch,torch-compile@fp16,pytorch:cuda_graphs=1")
    p.add_argument("--out", type=Path, default=Path("results"), help="folder for Table 1, Figure 4 and the store (default results)")
    p.add_argument("--db", type=Path, default=None, help="SQLite store (default OUT/edgebench.sqlite)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar: one line per finished cell with the time left, as without a terminal")
    p.add_argument("--no-isolate", action="store_true",
                   help="run cells in this process (faster start; a crash then ends the run)")
    p.add_argument("--cell-timeout", type=float, default=1800.0, help="seconds one isolated cell may take in all")
    p.add_argument("--resume", action="store_true",
                   help="skip cells already stored ok with the same fingerprint; their rows join this run")
    p.add_argument("--repetitions", type=int, default=3,
                   help="timing rounds per cell, backends interleaved round by round (default 3)")
    _add_run_options(p, auto=True)
    _add_model_options(p)
    _add_timing_options(p)

    p = sub.add_parser("train", help="train an action model (UCF50 layout) or fine-tune a classifier (image folder)")
    p.add_argument("model", help="model name, or path/to/file.py:factory")
    p.add_argument("--data", type=Path, required=True, help="UCF50 root, or an image folder with train/ and val/")
    p.add_argument("--classes", type=_csv, default=None, help="class folder names (default: first four / all)")
    p.add_argument("--epochs", type=int, default=10, help="at most this many epochs (default 10)")
    p.add_argument("--batch-size", type=int, default=8, help="training batch size (default 8)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: the task's)")
    p.add_argument("--patience", type=int, default=5, help="early stopping: epochs without improvement")
    p.add_argument("--seed", type=int, default=0, help="seed for initialisation, shuffling and the split (default 0)")
    p.add_argument("--val-groups", type=lambda t: [int(v) for v in _csv(t)], default=None,
                   help="UCF50 groups held out for validation (default: the last 20%%)")
    p.add_argument("--out", type=Path, default=None, help="checkpoint path (default checkpoints/MODEL.pt)")
    p.add_argument("--resume", type=Path, default=None, help="continue from a checkpoint")
    p.add_argument("--weights", default=None, help="start from a state dict")
    p.add_argument("--pretrained", action="store_true", help="start from torchvision's weights (needs internet)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (cuda when available)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = sub.add_parser("data", help="data utilities")
    dsub = p.add_subparsers(dest="data_command", metavar="DATA_COMMAND", help="what to do")
    q = dsub.add_parser("synth", help="write a small synthetic data set")
    q.add_argument("out", type=Path, help="folder to write it in")
    q.add_argument("--task", choices=["video", "image"], default="video",
                   help="video: UCF50-layout clips; image: a two-class image folder (default video)")
    q.add_argument("--groups", type=int, default=6, help="video: UCF50 groups per class")
    q.add_argument("--clips-per-group", type=int, default=6, help="video: clips per group (default 6)")
    q.add_argument("--frames", type=int, default=24, help="video: frames per clip")
    q.add_argument("--per-class", type=int, default=40, help="image: images per class")
    q.add_argument("--size", type=int, default=64, help="frame / image side in pixels")
    q.add_argument("--seed", type=int, default=0, help="random seed (default 0)")

    p = sub.add_parser("stream", help="real-time inference over a video file or camera: FPS, latency, deadline misses")
    p.add_argument("model", help="model name, or path/to/file.py:factory")
    p.add_argument("--source", required=True, help="video file or camera index (0, 1, ...)")
    p.add_argument("--backend", default="onnxruntime", help="backend to run the model on (default onnxruntime)")
    p.add_argument("--target-fps", type=float, default=30.0, help="frame rate whose period is the deadline (default 30)")
    p.add_argument("--stride", type=int, default=1, help="run the model every N frames")
    p.add_argument("--max-frames", type=int, default=None, help="stop after this many frames (default: the whole source)")
    p.add_argument("--show", action="store_true", help="draw predictions on the frames (needs a display)")
    p.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"], help="default cpu")
    p.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "bf16"], help="default fp32")
    p.add_argument("--num-classes", type=int, default=None, help="classifier head size (default: the model's)")
    p.add_argument("--weights", default=None, help="a checkpoint; its class names label the predictions")
    p.add_argument("--json", action="store_true", help="print the result as JSON")

    p = sub.add_parser("report", help="re-render Table 1 and Figure 4 from stored records (no re-run)")
    p.add_argument("--db", type=Path, default=Path("results/edgebench.sqlite"), help="SQLite store (default results/edgebench.sqlite)")
    p.add_argument("--out", type=Path, default=None, help="default: the folder holding the store")
    p.add_argument("--run-id", default=None, help="default: the latest run")
    p.add_argument("--list", action="store_true", help="list stored runs")
    return parser


def _timing(args):
    from dataclasses import replace

    from edgebench.bench.harness import TimingConfig

    base = TimingConfig.quick_config() if args.quick else TimingConfig()
    given = {k: getattr(args, k) for k in ("warmup_iters", "warmup_s", "min_iters", "min_time_s") if getattr(args, k) is not None}
    return replace(base, **given)


def _model_options(args):
    from edgebench.api import ModelOptions

    return ModelOptions(args.num_classes, args.weights, args.pretrained, args.input_shape, args.opset,
                        data=args.data, calibration_size=args.calibration_size, check_size=args.check_size,
                        weights_dir=args.weights_dir)


def cmd_models(args) -> int:
    from edgebench.models import build_model, get_spec, list_models
    import torch

    from edgebench.models.stats import count_flops, trainable_params

    names = list_models(args.pattern, include_test=args.include_test)
    if not names:
        print(f"no registered model matches {args.pattern!r}; {ANY_MODEL}")
        return 0
    classes = 1000 if args.imagenet_heads else args.num_classes
    rows = [("name", "task", "input (per item)", f"params ({classes or 'default'} classes)", "GFLOPs/item", "paper row")]
    for n in names:
        spec = get_spec(n)
        module = build_model(spec, classes).module
        flops = count_flops(module, torch.zeros(1, *spec.input_shape))
        rows.append((n, spec.task, "x".join(map(str, spec.input_shape)), f"{trainable_params(module):,}",
                     f"{flops / 1e9:.3f}", spec.paper_name or "-"))
    _print_table(rows)
    print(f"\nBesides these, {ANY_MODEL}.")
    return 0


ANY_MODEL = ("any torchvision classifier name also works (e.g. efficientnet_b0, convnext_tiny), "
             "as does path/to/file.py:factory")


def cmd_backends(args) -> int:
    from edgebench.backends.registry import BACKENDS, list_availability

    rows = [("backend", "available", "reason", "install")]
    for a in list_availability():
        rows.append((a.name, "yes" if a.available else "no", a.reason, "-" if a.available else a.install))
    _print_table(rows)
    for name, e in BACKENDS.items():
        print(f"  {name}: {e.description}")
    return 0


def cmd_export(args) -> int:
    from edgebench.api import export

    result = export(args.model, _model_options(args), args.cache_dir, args.format, args.device, args.precision)
    if args.format == "aot-inductor":
        bk = result
        target = _copy_out(bk.package, args.output)
        how = "cached" if bk.details["package_cached"] else f"compiled in {bk.timings['build_s']:.1f} s"
        print(f"{target}  ({target.stat().st_size / 1e6:.1f} MB AOTInductor package for {args.device} {args.precision}, {how})")
        print(f"  load anywhere with torch._inductor.aoti_load_package(path) -- no model code needed; "
              f"input [batch, {', '.join(map(str, bk.options['item_shape']))}]")
        return 0
    art = result
    target = _copy_out(art.path, args.output)
    m = art.metadata
    print(f"{target}  ({art.size_bytes / 1e6:.1f} MB, opset {m['opset']}, {m['exporter']} exporter, "
          f"{'cached' if art.cached else f'exported in {art.export_s:.1f} s'})")
    print(f"  input {m['input_name']} [batch, {', '.join(map(str, m['input_shape']))}] -> output {m['output_name']}; "
          f"max |onnx - torch| = {m['max_abs_diff_vs_torch']:.2e}; sha256 {art.sha256[:16]}")
    return 0


def _copy_out(path: Path, output: Path | None) -> Path:
    import shutil

    if output is None:
        return path
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, output)
    except OSError as exc:
        from edgebench.errors import OutputDirError

        raise OutputDirError(f"cannot write {output} ({exc.strerror}); pass a writable --output path") from exc
    return output


def cmd_bench(args) -> int:
    from edgebench.api import benchmark, parse_backend_spec

    name, precision, options = parse_backend_spec(args.backend, args.precision)
    if args.cuda_graphs:
        options["cuda_graphs"] = True
    rec = benchmark(
        args.model, backend=name, batch_size=args.batch_size, precision=precision, device=args.device,
        timing=_timing(args), num_classes=args.num_classes, weights=args.weights, pretrained=args.pretrained,
        input_shape=args.input_shape, opset=args.opset, pool_size=args.pool_size, cache_dir=args.cache_dir,
        check_overhead=args.check_overhead, backend_options=options, data=args.data,
        calibration_size=args.calibration_size, check_size=args.check_size,
    )
    if args.json:
        print(json.dumps(rec.to_dict(), indent=2, default=str))
        return 0 if rec.ok else 1
    if rec.latency is None:
        print(f"edgebench: {rec.model} on {rec.backend}: {rec.status}: {rec.error}", file=sys.stderr)
        return 1
    s = rec.latency
    print(f"{rec.model} on {rec.backend} ({rec.precision}, {rec.device}: {rec.device_name}), batch {rec.batch_size}")
    print(f"  latency  {s.summary()}  [host wall-clock incl. host<->device copies]")
    if rec.device_latency:
        print(f"  GPU time {rec.device_latency.summary()}  [CUDA events, device-resident inputs]")
    if rec.cold_start_s is not None:
        print(f"  cold start {rec.cold_start_s:.2f} s (export {rec.export_s or 0:.2f} + prepare {rec.prepare_s:.2f} + "
              f"load {rec.load_s:.2f} + first inference {rec.first_infer_s:.3f}); build/compile {rec.build_s or 0:.2f} s")
    if rec.energy_per_item_mj is not None:
        print(f"  energy {rec.energy_per_item_mj:.3f} mJ/item above idle ({rec.idle_power_w:.1f} W), "
              f"{rec.items_per_joule or 0:.1f} items/J  [{rec.energy_source}]")
    else:
        print("  energy n/a (no NVML, RAPL or tegrastats meter readable here)")
    if rec.host_rss_peak_mb is not None:
        print(f"  peak host RSS {rec.host_rss_peak_mb:,.0f} MiB")
    if rec.other_cpu_pct is not None:
        before = f", {rec.load_before_pct:.0f}% just before" if rec.load_before_pct is not None else ""
        print(f"  other CPU {rec.other_cpu_pct:.0f}% of one core while timed{before}: "
              + ("CONTENDED" if rec.contended else "quiet"))
    for w in rec.warnings:
        print(f"  warning: {w}")
    if rec.gpu_mem_peak_reserved_mb is not None:
        print(f"  peak GPU memory {rec.gpu_mem_peak_allocated_mb:,.0f} MiB allocated, {rec.gpu_mem_peak_reserved_mb:,.0f} MiB reserved")
    print(f"  p50 {s.p50_ms:.3f} ms  p90 {s.fmt(s.p90_ms)}  p95 {s.fmt(s.p95_ms)}  p99 {s.fmt(s.p99_ms)}  "
          f"min {s.min_ms:.3f}  max {s.max_ms:.3f}")
    if rec.params is not None:
        flops = f"{rec.flops:,}" if rec.flops is not None else "n/a"
        print(f"  params {rec.params:,}  FLOPs/item {flops}" + (f"  artifact {rec.artifact_bytes / 1e6:.1f} MB" if rec.artifact_bytes else ""))
    if rec.max_abs_diff is not None:
        print(f"  vs PyTorch FP32 on {rec.details.get('accuracy_inputs', 'the same inputs')}: max abs diff "
              f"{rec.max_abs_diff:.2e}, cosine {rec.cosine_similarity:.6f}, top-1 agreement {100 * rec.top1_agreement:.1f}%"
              + _decisive(rec))
        print(f"  accuracy gate ({rec.precision}): {rec.accuracy_gate}" + (f": {rec.accuracy_gate_reason}" if rec.accuracy_gate_reason else ""))
    if rec.task_accuracy is not None:
        print(f"  task accuracy on the labelled data: {100 * rec.task_accuracy:.1f}%")
    if rec.bare_p50_ms is not None:
        print(f"  overhead check (interleaved): harness p50 {rec.harness_check_p50_ms:.3f} ms vs bare loop p50 "
              f"{rec.bare_p50_ms:.3f} ms: {rec.harness_overhead_pct:+.1f}%")
    if rec.status == "accuracy_failed":
        print(f"edgebench: {rec.model} on {rec.backend} {rec.precision} failed the accuracy gate", file=sys.stderr)
        return 1
    return 0


def _decisive(rec) -> str:
    n, agree = rec.details.get("top1_decisive_items"), rec.details.get("top1_decisive_agreement")
    return f" ({100 * agree:.1f}% on {n} decisive inputs)" if n and agree is not None else ""


def cmd_run(args) -> int:
    from edgebench.api import SuiteConfig, run_suite
    from edgebench.report import build_table1, render_terminal
    from edgebench.results.store import Store

    cfg = SuiteConfig(
        batch_size=args.batch_size, precision=args.precision, device=args.device, backends=args.backends,
        model_options=_model_options(args), timing=_timing(args), pool_size=args.pool_size, out_dir=args.out,
        db=args.db, cache_dir=args.cache_dir, check_overhead=args.check_overhead, repetitions=args.repetitions,
        isolate=not args.no_isolate, cell_timeout_s=args.cell_timeout, resume=args.resume,
    )
    if args.models is not None:
        cfg.models = args.models
    if args.weights and len(cfg.models) != 1:
        raise InvalidConfigError("--weights names one checkpoint; pass it with a single model (--models NAME)")
    show = not args.no_progress and sys.stderr.isatty()
    resolved = cfg.resolved()
    lines = None if show else CellLines(len(resolved.models) * len(resolved.backends))
    result = run_suite(cfg, progress=show, on_record=lines)
    with Store(cfg.db or args.out / "edgebench.sqlite") as store:
        table = build_table1(store.records(result.run_id), store.run(result.run_id))
    print(render_terminal(table))
    for name, path in result.outputs.items():
        print(f"wrote {path}")
    return 0


def _print_record(rec, prefix: str = "", suffix: str = "") -> None:
    """One finished cell on stderr: its p50, or its status and why (an accuracy_failed cell: the
    gate's metric, value and threshold), and whether other processes contended for the CPU."""
    head = f"{prefix}{rec.model:<22} {rec.backend:<12} {rec.precision:<5}"
    if rec.ok:
        text = f"p50 {rec.latency.p50_ms:9.3f} ms"
    elif rec.status == "accuracy_failed":
        text = f"accuracy_failed: {rec.accuracy_gate_reason or 'failed the accuracy gate'}"
        if rec.latency is not None:
            text += f" (p50 {rec.latency.p50_ms:.3f} ms, not used)"
    else:
        text = f"{rec.status}: {rec.error.strip().splitlines()[0] if rec.error.strip() else 'no reason recorded'}"
    if getattr(rec, "contended", False):  # rows from before contention was measured lack it
        other = getattr(rec, "other_cpu_pct", None)
        text += f"  [contended: other processes used {other:.0f}% CPU]" if other is not None else "  [contended]"
    print(f"{head} {text}{suffix}", file=sys.stderr, flush=True)


class CellLines:
    """`run` without a progress bar (no terminal, or --no-progress): one line per finished cell
    with cells done / total, the time so far and an estimate of the time left, from the mean
    time per finished cell so far. `total` is the resolved config's models x backends; precision
    fallbacks add cells as they appear."""

    def __init__(self, total: int, clock=time.monotonic):
        self.total, self.done, self.clock = total, 0, clock
        self.start = clock()

    def __call__(self, rec) -> None:
        self.done += 1
        self.total = max(self.total, self.done)
        elapsed = self.clock() - self.start
        left = elapsed / self.done * (self.total - self.done)
        width = len(str(self.total))
        _print_record(rec, prefix=f"[{self.done:>{width}}/{self.total}] ",
                      suffix=f"  ({_duration(elapsed)} elapsed, about {_duration(left)} left)")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def cmd_report(args) -> int:
    from edgebench.errors import UserError
    from edgebench.report import build_table1, render_terminal, write_reports
    from edgebench.results.store import Store

    with Store(args.db, readonly=True) as store:  # a report never writes to the store, nor makes one
        if args.list:
            rows = [("run_id", "started", "status", "device", "records")]
            for r in store.runs():
                rows.append((r["run_id"], r["started_at"], r["status"], r["config"].get("device", "?"),
                             str(len(store.records(r["run_id"])))))
            _print_table(rows)
            return 0
        run_id = args.run_id or store.latest_run_id()
        run = store.run(run_id)
        records = store.records(run_id)
    if not records:
        raise UserError(f"run {run_id} has no records to report")
    out = args.out or args.db.parent
    from edgebench.api import _check_writable

    _check_writable(out)
    written = write_reports(records, run, out)
    print(render_terminal(build_table1(records, run)))
    for path in written.values():
        print(f"wrote {path}")
    return 0


def cmd_train(args) -> int:
    from edgebench.api import resolve_device
    from edgebench.train.run import train_model

    out = args.out or Path("checkpoints") / f"{Path(args.model).stem}.pt"
    run = train_model(
        args.model, args.data, out, classes=args.classes, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        patience=args.patience, seed=args.seed, resume=args.resume, weights=args.weights, pretrained=args.pretrained,
        val_groups=args.val_groups, progress=not args.no_progress and sys.stderr.isatty(),
        device=resolve_device(args.device),
    )
    r = run.result
    print(f"{args.model}: {run.train_samples} training / {run.val_samples} validation samples, classes {', '.join(run.classes)}")
    for h in r.history:
        print(f"  epoch {h['epoch'] + 1:3d}  loss {h['train_loss']:.4f}  train acc {100 * h['train_accuracy']:5.1f}%  "
              f"val acc {100 * h['val_accuracy']:5.1f}%  ({h['seconds']:.1f} s)")
    if run.skipped:
        print(f"  skipped {len(run.skipped)} unusable videos:")
        for path, why in run.skipped.items():
            print(f"    {path}: {why}")
    print(f"best validation accuracy {100 * r.best_val_accuracy:.1f}% (epoch {r.best_epoch + 1})"
          f"{', stopped early' if r.stopped_early else ''}; checkpoint {r.checkpoint}")
    print("confusion matrix (rows: true, columns: predicted):")
    _print_table([("", *run.classes)] + [(c, *map(str, row)) for c, row in zip(run.classes, r.confusion)])
    return 0


def cmd_data(args) -> int:
    from edgebench.data import synth

    if args.data_command != "synth":
        raise InvalidConfigError("usage: edgebench data synth OUT --task video|image")
    if args.task == "video":
        root = synth.write_video_set(args.out, args.groups, args.clips_per_group, args.frames, args.size, seed=args.seed)
        n = sum(1 for _ in root.rglob("*.avi"))
        print(f"wrote {n} videos in UCF50 layout under {root} (classes: {', '.join(synth.VIDEO_CLASSES)})")
    else:
        out = synth.write_image_set(args.out, args.per_class, size=args.size, seed=args.seed)
        n = sum(1 for _ in out.rglob("*.png"))
        print(f"wrote {n} images under {out}/train and {out}/val (classes: {', '.join(synth.IMAGE_CLASSES)})")
    return 0


def cmd_stream(args) -> int:
    from edgebench.api import stream

    r = stream(args.model, args.source, backend=args.backend, target_fps=args.target_fps, stride=args.stride,
               max_frames=args.max_frames, show=args.show, device=args.device, precision=args.precision,
               num_classes=args.num_classes, weights=args.weights)
    if args.json:
        print(json.dumps(r.to_dict(), indent=2, default=str))
        return 0
    print(f"{args.model} on {args.backend}: {r.frames} frames, {r.inferences} inferences in {r.wall_s:.2f} s")
    print(f"  pipeline {r.achieved_fps:.1f} FPS (decode + preprocess + infer); target {args.target_fps:g} FPS "
          f"({r.frame_period_ms:.1f} ms/frame): {r.deadline_misses} deadline misses ({100 * r.deadline_miss_rate:.1f}%)")
    if r.inference:
        print(f"  inference {r.inference.summary()}")
    print(f"  frame time {r.frame_time.summary()}")
    return 0


def _print_table(rows) -> None:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for j, r in enumerate(rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
        if j == 0:
            print("  ".join("-" * w for w in widths))


COMMANDS = {"models": cmd_models, "backends": cmd_backends, "export": cmd_export, "bench": cmd_bench,
            "run": cmd_run, "report": cmd_report, "train": cmd_train, "data": cmd_data, "stream": cmd_stream}


def _quiet_video_libraries() -> None:
    """Keep OpenCV's warnings and FFmpeg's messages (a damaged video makes FFmpeg complain on
    every frame) from coming before edgebench's own one-line error. Read once, when cv2 first
    opens a video, so it is set here in the launcher before any command imports cv2; values
    the user set win. Opening a video also sends OpenCV's unfiltered prints to the debug log
    (data.ucf50.open_video)."""
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    _quiet_video_libraries()
    try:
        return COMMANDS[args.command](args)
    except EdgebenchError as exc:
        print(f"edgebench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("edgebench: interrupted; every completed row is kept in the results store", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
