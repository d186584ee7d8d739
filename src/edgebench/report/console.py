"""Every command's plain-text output for the terminal: one line per record, the cell-progress
lines of `run`, a record's full summary (`bench`), the models, backends and runs tables, and
what export, train, stream and data wrote or measured. The CLI prints these; it formats nothing."""
from __future__ import annotations

import json
import sys
import time

from edgebench.export.artifact import feeds, output_names
from edgebench.models.inputs import describe, named, with_batch
from edgebench.results.record import Status

ANY_MODEL = ("any torchvision classifier name also works (e.g. efficientnet_b0, convnext_tiny), and so do its "
             "segmenters (e.g. deeplabv3_mobilenet_v3_large) and ssd300_vgg16, as does path/to/file.py:factory")


def plain_table(rows) -> str:
    """Rows of cells as left-aligned columns, the first row a header underlined with dashes."""
    from edgebench.report.render.terminal import aligned

    return "\n".join(aligned(rows))


def duration(seconds: float) -> str:
    """"42 s", "3 min 07 s" or "2 h 05 min"."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def to_json(result) -> str:
    """A stream result's `to_dict()` as indented JSON."""
    return json.dumps(result.to_dict(), indent=2, default=str)


def record_json(rec, env: dict) -> str:
    """`bench --json`: the record in its flat layout (the store's column names), with the
    environment it was measured in, as indented JSON."""
    from edgebench.results.columns import flatten

    return json.dumps(flatten(rec, env=env), indent=2, default=str)


# -- records ---------------------------------------------------------------------------------

def record_line(rec, prefix: str = "", suffix: str = "") -> str:
    """One finished cell: its p50, or its status and why (an accuracy_failed cell: the
    gate's metric, value and threshold), and whether other processes contended for the CPU."""
    head = f"{prefix}{rec.model:<22} {rec.backend:<12} {rec.precision:<5}"
    if rec.ok and rec.loadgen.scenario:  # a LoadGen cell: its scenario and LoadGen's verdict
        text = f"LoadGen {rec.loadgen.scenario}: {rec.loadgen.result}"
        if rec.loadgen.reasons and rec.loadgen.result != "VALID":
            text += f" ({rec.loadgen.reasons[0]})"
    elif rec.ok:
        text = f"p50 {rec.latency.host.p50_ms:9.3f} ms"
    elif rec.status == Status.ACCURACY_FAILED:
        text = f"accuracy_failed: {rec.accuracy.gate_reason or 'failed the accuracy gate'}"
        if rec.latency.host is not None:
            text += f" (p50 {rec.latency.host.p50_ms:.3f} ms, not used)"
    else:
        text = f"{rec.status}: {rec.error.strip().splitlines()[0] if rec.error.strip() else 'no reason recorded'}"
    if rec.contention.contended:  # rows stored before contention was measured read as not contended
        other = rec.contention.other_cpu_pct
        text += f"  [contended: other processes used {other:.0f}% CPU]" if other is not None else "  [contended]"
    return f"{head} {text}{suffix}"


class CellLines:
    """`run` without a progress bar (no terminal, or --no-progress): one line per finished cell
    on stderr with cells done / total, the time so far and an estimate of the time left. `total`
    is the resolved config's models x backends; precision fallbacks add cells as they appear.
    With `models` (their number), the estimate is the mean time per finished model: a model's
    cells are timed in interleaved rounds and its rows arrive together when it ends."""

    def __init__(self, total: int, models: int | None = None, clock=time.monotonic, estimate=None):
        self.total, self.models, self.done, self.clock = total, models, 0, clock
        self.estimate = estimate  # () -> seconds left or None (bench.progress.TimeLeft.left), else the mean
        self.seen: list[str] = []
        self.start = clock()

    def line(self, rec) -> str:
        """Count `rec` as finished and return its line."""
        self.done += 1
        self.total = max(self.total, self.done)
        if rec.model not in self.seen:
            self.seen.append(rec.model)
        elapsed = self.clock() - self.start
        estimated = self.estimate() if self.estimate is not None else None
        if estimated is not None:
            left = estimated
        elif self.models:
            finished = len(self.seen)
            left = elapsed / finished * max(0, self.models - finished)
        else:
            left = elapsed / self.done * (self.total - self.done)
        width = len(str(self.total))
        return record_line(rec, prefix=f"[{self.done:>{width}}/{self.total}] ",
                           suffix=f"  ({duration(elapsed)} elapsed, about {duration(left)} left)")

    def __call__(self, rec) -> None:  # run_suite's on_record
        print(self.line(rec), file=sys.stderr, flush=True)


def warm_start(rec) -> bool:
    """Whether the cell's compiled artifact came from edgebench's cache (a warm start)."""
    return bool(rec.details.get("compile_cached") or rec.details.get("package_cached"))


def record_summary(rec) -> str:
    """`bench`'s summary of a measured record: latency, GPU time, cold start, energy, memory,
    contention, percentiles, size, parity with PyTorch FP32 and the accuracy gate."""
    s, cold, energy, memory = rec.latency.host, rec.cold_start, rec.energy, rec.memory
    contention, facts, acc, overhead = rec.contention, rec.model_facts, rec.accuracy, rec.overhead
    out = [f"{rec.model} on {rec.backend} ({rec.precision}, {rec.device}: {rec.device_name}), batch {rec.batch_size}",
           f"  latency  {s.summary()}  [host wall-clock incl. host<->device copies]"]
    if rec.details.get("timed"):
        out.append(f"  timed: {rec.details['timed']}")
    if rec.latency.device:
        out.append(f"  GPU time {rec.latency.device.summary()}  [CUDA events, device-resident inputs]")
    if cold.total_s is not None:
        out.append(f"  cold start {cold.total_s:.2f} s (export {cold.export_s or 0:.2f} + prepare {cold.prepare_s:.2f} + "
                   f"load {cold.load_s:.2f} + first inference {cold.first_infer_s:.3f}); build/compile {cold.build_s or 0:.2f} s"
                   + (" (warm: the compiled artifact came from the cache)" if warm_start(rec) else ""))
    if energy.per_item_mj is not None:
        out.append(f"  energy {energy.per_item_mj:.3f} mJ/item above idle ({energy.idle_power_w:.1f} W), "
                   f"{energy.items_per_joule or 0:.1f} items/J  [{energy.source}]")
    else:
        out.append("  energy n/a (no NVML, RAPL or tegrastats meter readable here)")
    if memory.host_rss_peak_mb is not None:
        out.append(f"  peak host RSS {memory.host_rss_peak_mb:,.0f} MiB")
    if contention.other_cpu_pct is not None:
        before = f", {contention.load_before_pct:.0f}% just before" if contention.load_before_pct is not None else ""
        out.append(f"  other CPU {contention.other_cpu_pct:.0f}% of one core while timed{before}: "
                   + ("CONTENDED" if contention.contended else "quiet"))
    for w in rec.warnings:
        out.append(f"  warning: {w}")
    if memory.gpu_peak_reserved_mb is not None:
        out.append(f"  peak GPU memory {memory.gpu_peak_allocated_mb:,.0f} MiB allocated, "
                   f"{memory.gpu_peak_reserved_mb:,.0f} MiB reserved")
    out.append(f"  p50 {s.p50_ms:.3f} ms  p90 {s.fmt(s.p90_ms)}  p95 {s.fmt(s.p95_ms)}  p99 {s.fmt(s.p99_ms)}  "
               f"min {s.min_ms:.3f}  max {s.max_ms:.3f}")
    if facts.params is not None:
        flops = f"{facts.flops:,}" if facts.flops is not None else "n/a"
        out.append(f"  params {facts.params:,}  FLOPs/item {flops}"
                   + (f"  artifact {rec.artifact.size_bytes / 1e6:.1f} MB" if rec.artifact.size_bytes else ""))
    if acc.max_abs_diff is not None:
        top1 = (f", top-1 agreement {100 * acc.top1_agreement:.1f}%" + _decisive(rec)
                if acc.top1_agreement is not None else "")
        lowest = " (lowest of its outputs)" if rec.details.get("output_parity") else ""
        out.append(f"  vs PyTorch FP32 on {rec.details.get('accuracy_inputs', 'the same inputs')}: max abs diff "
                   f"{acc.max_abs_diff:.2e}, cosine {acc.cosine_similarity:.6f}{lowest}{top1}")
        if rec.details.get("task_parity"):
            out.append(f"  {task_parity_line(rec.details['task_parity'])}")
        out.append(f"  accuracy gate ({rec.precision}): {acc.gate}" + (f": {acc.gate_reason}" if acc.gate_reason else ""))
    if acc.task_accuracy is not None:
        out.append(f"  task accuracy on the labelled data: {100 * acc.task_accuracy:.1f}%")
    if rec.details.get("low_precision"):
        out.append(f"  {low_precision_line(rec.details)}")
    if overhead.bare_p50_ms is not None:
        out.append(f"  overhead check (interleaved): harness p50 {overhead.harness_check_p50_ms:.3f} ms vs bare loop p50 "
                   f"{overhead.bare_p50_ms:.3f} ms: {overhead.pct:+.1f}%")
    if rec.details.get("layer_profile"):
        from edgebench.report.profile import profile_source, slowest_layers

        profile = rec.details["layer_profile"]
        out.append(f"  slowest layers ({profile_source(rec)}, {profile['queries']} queries after the timing; "
                   "`edgebench profile` shows more):")
        out += [f"    {row['percentage']:5.1f}%  {row['average_ms']:9.4f} ms  {row.get('op_type') or '-':<14} {row['layer']}"
                for row in slowest_layers(profile, 5)]
    elif rec.details.get("no_layer_profile"):
        out.append(f"  no per-layer profile: {rec.details['no_layer_profile']}")
    return "\n".join(out)


def task_parity_line(m: dict) -> str:
    """A detector's or segmenter's agreement with the reference (bench.task_parity), in one line."""
    if "pseudo_labels" in m:
        if m["map"] is None:
            return f"detections: the reference made no detection with score >= 0.5 ({m['pseudo_labels']} pseudo-labels)"
        errors = (f"; matched pairs: box error {m['box_error_px']:.2f} px, largest score error {m['score_error']:.3f}"
                  if m["matched"] else "")
        return (f"detections vs the reference's {m['pseudo_labels']} (score >= 0.5): mAP@0.5:0.95 {m['map']:.3f}, "
                f"mAP@0.5 {m['map_50']:.3f}, {m['matched']} matched{errors}")
    agree = m.get("decisive_pixel_agreement")
    miou = "n/a" if m.get("miou") is None else f"{m['miou']:.4f}"
    return (f"masks vs the reference's: pixel agreement {100 * m['pixel_agreement']:.2f}% of {m['pixels']:,} pixels, "
            + (f"{100 * agree:.2f}% of {m['decisive_pixels']:,} decisive; " if agree is not None else "no decisive pixels; ")
            + f"mIoU on decisive pixels {miou}")


def _decisive(rec) -> str:
    n, agree = rec.details.get("top1_decisive_items"), rec.details.get("top1_decisive_agreement")
    return f" ({100 * agree:.1f}% on {n} decisive inputs)" if n and agree is not None else ""


def unmeasured(rec) -> str:
    """The error line for a record with no latency (it failed before it was timed)."""
    return f"edgebench: {rec.model} on {rec.backend}: {rec.status}: {rec.error}"


def gate_failed(rec) -> str:
    """The error line for a record the accuracy gate turned down."""
    return f"edgebench: {rec.model} on {rec.backend} {rec.precision} failed the accuracy gate"


# -- runs and reports ------------------------------------------------------------------------

def table_and_files(table, paths) -> str:
    """Table 1 for the terminal, then one "wrote PATH" line per report file."""
    from edgebench.report.render.terminal import render_terminal

    return "\n".join([render_terminal(table), *(wrote(p) for p in paths)])


def wrote(path) -> str:
    """"wrote PATH"; for the HTML report, with its size (it is the file to mail)."""
    from pathlib import Path

    path = Path(path)
    if path.suffix == ".html" and path.is_file():
        return f"wrote {path} ({path.stat().st_size / 1024:,.0f} KiB, self-contained: opens offline)"
    return f"wrote {path}"


def runs_table(runs) -> str:
    """`report --list`: (stored Run, its number of records) per run."""
    rows = [("run_id", "started", "status", "device", "records", "edgebench")]
    for r, n in runs:
        tool = " ".join(filter(None, (r.edgebench_version, r.git_commit))) or "-"
        rows.append((r.run_id, r.started_at, r.status, r.config.get("device", "?"), str(n), tool))
    return plain_table(rows)


#: a layer or kernel name longer than this is cut in the terminal (the store keeps it whole)
LAYER_NAME_CHARS = 110


def _clip(name: str) -> str:
    return name if len(name) <= LAYER_NAME_CHARS else name[: LAYER_NAME_CHARS - 1] + "\u2026"


def _op_type(row: dict) -> str:
    """The op type, or "-" where the runtime gives none or only the layer's own name again (a CUDA
    kernel is its own op type)."""
    op = row.get("op_type")
    return "-" if not op or op == row["layer"] else _clip(op)


def layer_profiles(run, found, missing, top: int) -> str:
    """`edgebench profile`: for each cell with a per-layer profile (stored Records), its `top`
    slowest layers with their share of the profiled time, op type and mean time per query; then
    the cells of the same model without one, and why (report.profile.profiled_cells)."""
    from edgebench.report.profile import cell_label, profile_source, slowest_layers

    out = []
    for rec in found:
        profile = rec.details["layer_profile"]
        layers = profile["layers"]
        shown = slowest_layers(profile, top)
        per_query = sum(row.get("average_ms") or 0.0 for row in layers)
        out.append(f"{cell_label(rec)}, run {run.run_id}: {profile_source(rec)}, {profile['queries']} queries, "
                   f"{per_query:.3f} ms per query under the profiler")
        rows = [("share", "avg ms", "op type", "layer")]
        rows += [(f"{row['percentage']:.1f}%", f"{row['average_ms']:.4f}", _op_type(row), _clip(row["layer"]))
                 for row in shown]
        out.append(plain_table(rows))
        rest = len(layers) - len(shown)
        if rest > 0:
            share = 100.0 - sum(row["percentage"] for row in shown)
            out.append(f"... {rest} more layers, {max(share, 0.0):.1f}% of the time (--top N shows more)")
        out.append("")
    for rec, why in missing:
        out.append(f"no profile for {cell_label(rec)}: {why}")
    out.append("Times are under the profiler, which slows each layer: read the shares, not the latencies "
               "(those are the run's timed figures).")
    return "\n".join(out)


# -- models and backends ---------------------------------------------------------------------

def models_table(models, classes: int | None) -> str:
    """`models`: name, task, input, params, GFLOPs and paper row of each model (objects with
    name, task, input_shape, params, flops, paper_name), then what else works."""
    rows = [("name", "task", "input (per item)", f"params ({classes or 'default'} classes)", "GFLOPs/item", "paper row")]
    for m in models:
        rows.append((m.name, m.task, describe(m.input_shape), f"{m.params:,}",
                     f"{m.flops / 1e9:.3f}", m.paper_name or "-"))
    return plain_table(rows) + f"\n\nBesides these, {ANY_MODEL}."


def no_models(pattern: str) -> str:
    return f"no registered model matches {pattern!r}; {ANY_MODEL}"


def backends_table(availability, entries: dict) -> str:
    """`backends`: each backend's availability, why not and how to install it, then what each is."""
    rows = [("backend", "available", "reason", "install")]
    for a in availability:
        rows.append((a.name, "yes" if a.available else "no", a.reason, "-" if a.available else a.install))
    return "\n".join([plain_table(rows), *(f"  {name}: {e.description}" for name, e in entries.items())])


# -- export, train, stream, data -------------------------------------------------------------

def exported_onnx(target, art) -> str:
    """`export --format onnx`: the file, its size, opset and exporter, and its parity with torch."""
    m = art.metadata
    return (f"{target}  ({art.size_bytes / 1e6:.1f} MB, opset {m['opset']}, {m['exporter']} exporter, "
            f"{'cached' if art.cached else f'exported in {art.export_s:.1f} s'})\n"
            f"  input {feeds(art)} -> output {', '.join(output_names(art))}; "
            f"max |onnx - torch| = {m['max_abs_diff_vs_torch']:.2e}; sha256 {art.sha256[:16]}")


def exported_package(target, bk, device: str, precision: str) -> str:
    """`export --format aot-inductor`: the package, its size and how to load it."""
    how = "cached" if bk.details["package_cached"] else f"compiled in {bk.timings['build_s']:.1f} s"
    return (f"{target}  ({target.stat().st_size / 1e6:.1f} MB AOTInductor package for {device} {precision}, {how})\n"
            f"  load anywhere with torch._inductor.aoti_load_package(path) -- no model code needed; "
            f"input {', '.join(with_batch(s) for _, s in named(bk.context.item_shape))}")


def low_precision_line(details: dict) -> str:
    """torch-compile int8/fp8: how many layers were quantised, and why the others stayed FP16."""
    lp = details["low_precision"]
    folded = details.get("batchnorm_folded")
    return (f"{lp['kind']} layers: {lp['quantised']} of {lp['layers']} convolution and linear layers"
            + (f", {lp['kept_fp16']} kept FP16 ({lp['kept']})" if lp["kept_fp16"] else "")
            + (f"; {folded} BatchNorm folded" if folded else "")
            + (f"; {details['batchnorm_not_folded']}" if details.get("batchnorm_not_folded") else "")
            + f"; calibrated on {lp['calibration']}")



def training(model: str, run) -> str:
    """`train`: the samples, each epoch's loss and accuracies, skipped videos, the best epoch and
    the confusion matrix of a train.run result."""
    r = run.result
    out = [f"{model}: {run.train_samples} training / {run.val_samples} validation samples, classes {', '.join(run.classes)}"]
    for h in r.history:
        out.append(f"  epoch {h['epoch'] + 1:3d}  loss {h['train_loss']:.4f}  train acc {100 * h['train_accuracy']:5.1f}%  "
                   f"val acc {100 * h['val_accuracy']:5.1f}%  ({h['seconds']:.1f} s)")
    if run.skipped:
        out.append(f"  skipped {len(run.skipped)} unusable videos:")
        for path, why in run.skipped.items():
            out.append(f"    {path}: {why}")
    out.append(f"best validation accuracy {100 * r.best_val_accuracy:.1f}% (epoch {r.best_epoch + 1})"
               f"{', stopped early' if r.stopped_early else ''}; checkpoint {r.checkpoint}")
    out.append("confusion matrix (rows: true, columns: predicted):")
    out.append(plain_table([("", *run.classes)] + [(c, *map(str, row)) for c, row in zip(run.classes, r.confusion)]))
    return "\n".join(out)


def streamed(model: str, backend: str, target_fps: float, r) -> str:
    """`stream`: frames and inferences, the pipeline's FPS against the target's deadline, and the
    inference and frame-time statistics of a bench.stream.StreamResult."""
    out = [f"{model} on {backend}: {r.frames} frames, {r.inferences} inferences in {r.wall_s:.2f} s",
           f"  pipeline {r.achieved_fps:.1f} FPS (video decode + preprocess + infer"
           f"{' + ' + r.postprocess if getattr(r, 'postprocess', '') else ''}); target {target_fps:g} FPS "
           f"({r.frame_period_ms:.1f} ms/frame): {r.deadline_misses} deadline misses ({100 * r.deadline_miss_rate:.1f}%)"]
    if r.inference:
        out.append(f"  inference {r.inference.summary()}")
    out.append(f"  frame time {r.frame_time.summary()}")
    return "\n".join(out)


def synth_videos(n: int, root, classes) -> str:
    return f"wrote {n} videos in UCF50 layout under {root} (classes: {', '.join(classes)})"


def synth_images(n: int, out, classes) -> str:
    return f"wrote {n} images under {out}/train and {out}/val (classes: {', '.join(classes)})"


def synth_shapes(n: int, out, classes) -> str:
    return (f"wrote {n} images under {out}/images with their boxes in {out}/annotations.json (COCO format) and "
            f"class masks in {out}/masks (classes: {', '.join(classes)}; 0 is the background)")


#: the probe's facts `edgebench targets` shows per target (targets.registry.probe_facts labels)
TARGET_TABLE_FACTS = ("L4T/JetPack", "TensorRT", "GPU", "torch", "onnxruntime", "power mode")


def target_facts(facts) -> str:
    """A target's probe as `  label  value` lines (label, value or None, reason); a missing value
    shows the probe's reason."""
    width = max(len(label) for label, _, _ in facts)
    return "\n".join(f"  {label.ljust(width)}  {value or '-'}{f'  ({reason})' if not value and reason else ''}"
                     for label, value, reason in facts)


def targets_table(rows) -> str:
    """`edgebench targets`: one row per (name, address, reachable, probe facts)."""
    out = [("name", "address", "reachable", *TARGET_TABLE_FACTS)]
    for name, url, reachable, facts in rows:
        found = {label: value for label, value, _ in facts}
        out.append((name, url, reachable, *(found.get(label) or "-" for label in TARGET_TABLE_FACTS)))
    return plain_table(out)


# -- stores ----------------------------------------------------------------------------------

def merged(out, counts) -> str:
    """`store merge`: what each source store added to `out` (results.store.MergeCount each)."""
    def n(k: int, what: str) -> str:
        return f"{k} {what}{'' if k == 1 else 's'}"

    lines = []
    for c in counts:
        line = f"{c.source}: {n(c.runs_added, 'run')} and {n(c.records_added, 'record')} added to {out}"
        if c.runs_present or c.records_present:
            line += f" ({n(c.runs_present, 'run')} and {n(c.records_present, 'record')} already there)"
        lines.append(line)
    return "\n".join(lines)


def breakdown_line(breakdown: dict | None, top: int = 5) -> str:
    """"time: 412 s, of which timed rounds 180 s (44%), ..." from a run's breakdown
    (bench.stages.breakdown): the largest stages first; OUT/breakdown.json has them all."""
    if not breakdown:
        return ""
    parts = sorted(breakdown["stages"], key=lambda p: -p["s"])[:top]
    text = ", ".join(f"{p['stage']} {p['s']:.1f} s ({100 * p['share']:.0f}%)" for p in parts if p["share"] is not None)
    return f"time: {breakdown['wall_s']:.1f} s" + (f"; the largest parts: {text}" if text else "")
