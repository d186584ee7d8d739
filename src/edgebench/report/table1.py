"""Table 1 as a pure function of stored records: pre-opt (the baseline backend, FP32) vs
post-opt (the fastest successful other backend) per model, with parity and mean speedup, and
what qualifies each number: quick timing, contention, an interrupted run, the models that failed."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field

from edgebench.results.record import Record

TASK_TITLES = {
    "image-classification": "Image classification",
    "action-recognition": "Human action recognition",
}
BACKEND_TITLES = {
    "pytorch": "PyTorch eager", "onnxruntime": "ONNX Runtime", "torch-compile": "torch.compile",
    "aot-inductor": "AOTInductor", "tensorrt": "TensorRT", "openvino": "OpenVINO",
}
#: rendered markers (never stored): a cell timed while other processes took CPU; quick timing
CONTENDED_MARK = "\u2020"  # dagger
QUICK_MARK = "\u2021"  # double dagger


def backend_title(spec: str) -> str:
    """"pytorch@fp32" -> "PyTorch eager FP32", for titles."""
    name, _, precision = spec.partition("@")
    return f"{BACKEND_TITLES.get(name, name)} {(precision or 'fp32').upper()}"


@dataclass
class Table1Row:
    model: str
    task: str
    params: int | None
    flops: int | None
    pre_backend: str
    pre_p50_ms: float | None
    post_backend: str
    post_precision: str
    post_options: str
    post_p50_ms: float | None
    speedup: float | None
    max_abs_diff: float | None
    top1_agreement: float | None  # over every check input
    note: str = ""
    # over the decisive check inputs only, which the accuracy gate judges (bench.accuracy)
    top1_decisive_agreement: float | None = None
    top1_decisive_items: int | None = None
    post_gate: str = ""
    speedup_ci: tuple | None = None  # 95% bootstrap interval of the speedup (ratio of medians)
    significant: bool | None = None  # False when the interval includes 1
    pre_task_accuracy: float | None = None
    post_task_accuracy: float | None = None
    # cold start (seconds to the first result) and when optimising pays off
    pre_cold_start_s: float | None = None
    post_cold_start_s: float | None = None
    break_even_inferences: int | None = None  # None: never (post not faster) or unknown
    # GPU cells: CUDA-event time on device-resident inputs, and the post cell's peak memory
    pre_device_p50_ms: float | None = None
    post_device_p50_ms: float | None = None
    device_speedup: float | None = None
    post_gpu_mem_peak_mb: float | None = None
    post_throughput_items_per_s: float | None = None
    pre_energy_mj: float | None = None  # per item, above idle
    post_energy_mj: float | None = None
    energy_source: str = ""
    post_rss_mb: float | None = None
    quick: bool = False  # the pre or post cell was timed with --quick (smoke-run) timing
    # other processes' CPU while the cell was timed (percent of one core), the quiet window just
    # before it, and whether that crossed bench.contention's threshold
    pre_contended: bool = False
    post_contended: bool = False
    pre_other_cpu_pct: float | None = None
    post_other_cpu_pct: float | None = None
    pre_load_before_pct: float | None = None
    post_load_before_pct: float | None = None
    failed_reason: str = ""  # why there is no speedup: no ok baseline, or no ok post-opt cell


@dataclass
class Table1:
    rows: list[Table1Row]
    mean_speedup: float | None
    run: dict
    device_name: str
    batch_size: int | None
    weights: str
    #: (model, backend, precision, reported p50 ms, harness-check p50 ms, bare-loop p50 ms, overhead %)
    overhead: list = field(default_factory=list)
    records: list = field(default_factory=list)
    baseline: str = "pytorch@fp32"  # the run's baseline backend @ precision
    status: str = ""  # the run's status: finished, interrupted, ...
    quick: bool = False  # the run, or any cell in it, used --quick timing
    not_reached: list = field(default_factory=list)  # models of an interrupted run with no row

    @property
    def interrupted(self) -> bool:
        return self.status == "interrupted"

    @property
    def baseline_title(self) -> str:
        return backend_title(self.baseline)

    @property
    def failed(self) -> list:
        """(model, why) for each model without a speedup."""
        return [(r.model, r.failed_reason) for r in self.rows if r.speedup is None]

    @property
    def contended_cells(self) -> list:
        """(model, "pre-opt" | "post-opt", cell label, other CPU %, CPU % just before) per contended cell."""
        out = []
        for r in self.rows:
            if r.pre_contended:
                out.append((r.model, "pre-opt", r.pre_backend, r.pre_other_cpu_pct, r.pre_load_before_pct))
            if r.post_contended:
                out.append((r.model, "post-opt", _post_label(r), r.post_other_cpu_pct, r.post_load_before_pct))
        return out


def build_table1(records: list[Record], run: dict) -> Table1:
    baseline, _, base_precision = run["baseline_backend"].partition("@")
    base_precision = base_precision or "fp32"

    def is_pre(r: Record) -> bool:
        return r.backend == baseline and r.precision == base_precision

    by_model: dict[str, list[Record]] = {}
    for r in records:
        by_model.setdefault(r.model, []).append(r)
    rows = []
    for model, recs in by_model.items():
        # the baseline is the model's first row of the baseline backend and precision; later rows
        # of the same pair (other options, a precision fallback) are post-opt candidates
        pre_row = next((r for r in recs if is_pre(r)), None)
        pre = pre_row if pre_row is not None and pre_row.ok else None
        posts = sorted((r for r in recs if r is not pre_row and r.ok), key=lambda r: r.latency.p50_ms)
        post = posts[0] if posts else None
        failed = [f"{r.backend} {r.precision}: {r.status}" + (f" ({_why(r)})" if _why(r) else "") for r in recs if not r.ok]
        any_rec = pre or post or recs[0]
        speedup = pre.latency.p50_ms / post.latency.p50_ms if pre and post else None
        ci = speedup_interval(pre.samples_ms, post.samples_ms) if pre and post else None
        pre_dev = pre.device_latency.p50_ms if pre and pre.device_latency else None
        post_dev = post.device_latency.p50_ms if post and post.device_latency else None
        rows.append(
            Table1Row(
                model=model,
                task=any_rec.task,
                params=any_rec.params,
                flops=any_rec.flops,
                pre_backend=baseline,
                pre_p50_ms=pre.latency.p50_ms if pre else None,
                post_backend=post.backend if post else "",
                post_precision=post.precision if post else "",
                post_options=_variant_note(post) if post else "",
                post_p50_ms=post.latency.p50_ms if post else None,
                speedup=speedup,
                max_abs_diff=post.max_abs_diff if post else None,
                top1_agreement=post.top1_agreement if post else None,
                top1_decisive_agreement=post.details.get("top1_decisive_agreement") if post else None,
                top1_decisive_items=post.details.get("top1_decisive_items") if post else None,
                note="; ".join(failed),
                post_gate=post.accuracy_gate if post else "",
                speedup_ci=ci,
                pre_energy_mj=pre.energy_per_item_mj if pre else None,
                post_energy_mj=post.energy_per_item_mj if post else None,
                energy_source=(post or pre).energy_source if (post or pre) else "",
                post_rss_mb=post.host_rss_peak_mb if post else None,
                significant=None if ci is None else not (ci[0] <= 1.0 <= ci[1]),
                pre_task_accuracy=pre.task_accuracy if pre else None,
                post_task_accuracy=post.task_accuracy if post else None,
                pre_cold_start_s=pre.cold_start_s if pre else None,
                post_cold_start_s=post.cold_start_s if post else None,
                break_even_inferences=break_even(pre, post),
                pre_device_p50_ms=pre_dev,
                post_device_p50_ms=post_dev,
                device_speedup=pre_dev / post_dev if pre_dev and post_dev else None,
                post_gpu_mem_peak_mb=post.gpu_mem_peak_allocated_mb if post else None,
                post_throughput_items_per_s=(
                    post.batch_size * 1e3 / (post_dev or post.latency.p50_ms) if post else None
                ),
                quick=any(_quick(r) for r in (pre, post) if r is not None),
                # read with getattr: rows stored before contention was measured lack the fields
                pre_contended=bool(getattr(pre, "contended", False)),
                post_contended=bool(getattr(post, "contended", False)),
                pre_other_cpu_pct=getattr(pre, "other_cpu_pct", None),
                post_other_cpu_pct=getattr(post, "other_cpu_pct", None),
                pre_load_before_pct=getattr(pre, "load_before_pct", None),
                post_load_before_pct=getattr(post, "load_before_pct", None),
                failed_reason=("" if pre and post else
                               "no ok post-opt cell" if pre else
                               f"baseline {pre_row.status}" if pre_row is not None else "no baseline cell"),
            )
        )
    speedups = [r.speedup for r in rows if r.speedup is not None]
    first = records[0] if records else None
    weights = sorted({r.weights for r in records if r.weights})
    cfg = run.get("config", {})
    status = run.get("status", "")
    return Table1(
        baseline=f"{baseline}@{base_precision}",
        status=status,
        quick=bool(cfg.get("timing", {}).get("quick")) or any(r.quick for r in rows),
        not_reached=[m for m in cfg.get("models", []) if m not in by_model] if status == "interrupted" else [],
        rows=rows,
        mean_speedup=sum(speedups) / len(speedups) if speedups else None,
        run=run,
        device_name=first.device_name if first else "",
        batch_size=first.batch_size if first else None,
        weights=", ".join(weights),
        overhead=[
            (r.model, r.backend, r.precision, r.latency.p50_ms, r.harness_check_p50_ms, r.bare_p50_ms, r.harness_overhead_pct)
            for r in records
            if r.ok and r.harness_overhead_pct is not None
        ],
        records=list(records),
    )


def _quick(rec: Record) -> bool:
    return bool((rec.timing or {}).get("quick"))


def _why(rec: Record) -> str:
    """A failed cell's reason: the accuracy gate's (metric, value, threshold), else its error."""
    text = rec.accuracy_gate_reason or (rec.error.strip().splitlines()[0] if rec.error and rec.error.strip() else "")
    return text[:200]


def speedup_interval(pre_ms: list, post_ms: list, resamples: int = 1000, seed: int = 0) -> tuple | None:
    """95% interval of the speedup median(pre) / median(post), from per-iteration samples in ms:
    a percentile bootstrap (each sample set resampled with replacement, `resamples` times, fixed
    seed so that a re-render gives the same interval). None with fewer than 2 samples a side."""
    import numpy as np

    if len(pre_ms) < 2 or len(post_ms) < 2:
        return None
    rng = np.random.default_rng(seed)
    a, b = np.asarray(pre_ms, dtype=float), np.asarray(post_ms, dtype=float)
    ra = np.median(a[rng.integers(0, len(a), (resamples, len(a)))], axis=1)
    rb = np.median(b[rng.integers(0, len(b), (resamples, len(b)))], axis=1)
    lo, hi = np.percentile(ra / rb, [2.5, 97.5])
    return float(lo), float(hi)


def break_even(pre: Record | None, post: Record | None) -> int | None:
    """Inferences after which the optimised path has paid for its extra cold start:
    (post cold start - pre cold start) / (pre p50 - post p50). None when post is not faster."""
    import math

    if not pre or not post or pre.cold_start_s is None or post.cold_start_s is None:
        return None
    saving_s = (pre.latency.p50_ms - post.latency.p50_ms) / 1e3
    if saving_s <= 0:
        return None
    return max(0, math.ceil((post.cold_start_s - pre.cold_start_s) / saving_s))


def _fmt_int(v) -> str:
    return f"{v:,}" if v is not None else "n/a"


def _fmt(v, spec: str, suffix: str = "") -> str:
    return f"{v:{spec}}{suffix}" if v is not None else "n/a"


def _variant_note(rec) -> str:
    """Options of a post-opt cell, and the precision it fell back from, for its label."""
    parts = [f"{k}={v}" for k, v in (rec.details.get("options") or {}).items()]
    if rec.details.get("fallback_from"):
        parts.append(f"fallback from {rec.details['fallback_from']}")
    return "+".join(parts)


def _post_label(r: Table1Row) -> str:
    if not r.post_backend:
        return "none"
    return f"{r.post_backend} {r.post_precision}" + (f" ({r.post_options})" if r.post_options else "")


HEADERS = [
    "Model", "Params", "FLOPs", "Pre-opt", "Pre p50 (ms)", "Post-opt", "Post p50 (ms)",
    "Speedup", "Max abs diff", "Top-1 agree", "Gate", "Task acc pre/post",
]


def _cells(r: Table1Row) -> list[str]:
    return [
        r.model + (QUICK_MARK if r.quick else ""),
        _fmt_int(r.params),
        _fmt_int(r.flops),
        r.pre_backend,
        _fmt(r.pre_p50_ms, ".3f") + (CONTENDED_MARK if r.pre_contended else ""),
        _post_label(r),
        _fmt(r.post_p50_ms, ".3f") + (CONTENDED_MARK if r.post_contended else ""),
        _fmt(r.speedup, ".2f", "x") + (f" [{r.speedup_ci[0]:.2f}, {r.speedup_ci[1]:.2f}]" if r.speedup_ci else "")
        + (" (not significant)" if r.significant is False else ""),
        _fmt(r.max_abs_diff, ".2e"),
        _fmt(None if r.top1_agreement is None else 100 * r.top1_agreement, ".1f", "%")
        + (f" ({100 * r.top1_decisive_agreement:.1f}% of {r.top1_decisive_items} decisive)"
           if r.top1_decisive_items and r.top1_decisive_agreement is not None else ""),
        r.post_gate or "n/a",
        "n/a" if r.pre_task_accuracy is None and r.post_task_accuracy is None else
        f"{_fmt(None if r.pre_task_accuracy is None else 100 * r.pre_task_accuracy, '.1f', '%')} / "
        f"{_fmt(None if r.post_task_accuracy is None else 100 * r.post_task_accuracy, '.1f', '%')}",
    ]


def _sections(table: Table1):
    tasks = []
    for r in table.rows:
        if r.task not in tasks:
            tasks.append(r.task)
    return [(TASK_TITLES.get(t, t or "Other"), [r for r in table.rows if r.task == t]) for t in tasks]


def run_flags(table: Table1) -> list[str]:
    """What makes the whole table provisional, one phrase each (for titles)."""
    flags = []
    if table.quick:
        flags.append("QUICK smoke run: not a result")
    if table.interrupted:
        flags.append("INTERRUPTED run: partial results")
    return flags


def footnotes(table: Table1) -> list[str]:
    """Plain-text notes for the cells and models the table marks, one per line (markdown list
    items without the dash): contended cells, quick timing, an interrupted run, models with no
    speedup, and cells that failed or were turned down by the accuracy gate, with the reason."""
    out = []
    for model, which, label, other, before in table.contended_cells:
        used = f"{other:.0f}% CPU" if other is not None else "CPU"
        out.append(f"{CONTENDED_MARK} {model} {which} ({label}): contended: other processes used {used} during timing"
                   + (f" ({before:.0f}% just before)" if before is not None else ""))
    if table.contended_cells:
        out.append(f"{CONTENDED_MARK} CPU percentages are of one core; a contended cell's time may be inflated.")
    quick_rows = [r.model for r in table.rows if r.quick]
    if quick_rows:
        out.append(f"{QUICK_MARK} quick smoke-run timing (--quick), too short to be a result: {', '.join(quick_rows)}")
    if table.interrupted:
        out.append("The run was interrupted: only the cells that finished are shown"
                   + (f"; models not reached: {', '.join(table.not_reached)}" if table.not_reached else ""))
    if table.failed:
        out.append("No speedup (failed): " + "; ".join(f"{m} ({why})" for m, why in table.failed))
    for r in table.rows:
        if r.note:
            out.append(f"Not used for {r.model}: {r.note}")
    return out


def render_markdown(table: Table1) -> str:
    run = table.run
    env = run.get("env", {})
    cfg = run.get("config", {})
    flags = run_flags(table)
    lines = [
        "# Table 1: pre- vs post-optimisation inference time" + (f" ({'; '.join(flags)})" if flags else ""),
        "",
        f"- Device: **{table.device_name}** ({cfg.get('device', '?')}); host {env.get('host', '?')}, "
        f"{env.get('cpu_physical', '?')} physical / {env.get('cpu_logical', '?')} logical cores; GPU: {env.get('gpu', 'none')}",
        f"- Versions: Python {env.get('python', '?')}, torch {env.get('torch', '?')}, onnx {env.get('onnx', '?')}, "
        f"onnxruntime {env.get('onnxruntime', '?')}, TensorRT {env.get('tensorrt', '?')}",
        f"- Run `{run.get('run_id', '?')}`, started {run.get('started_at', '?')}, status {run.get('status', '?')}; "
        f"batch {table.batch_size}; weights: {table.weights or 'n/a'}",
        f"- Timing: {_timing_text(cfg.get('timing', {}))}; latencies are medians (p50) per batch, host wall-clock "
        "including host<->device copies" + _inputs_text(cfg) + "; speedup = pre p50 / post p50; parity (max abs diff, top-1 agreement) and "
        "the accuracy gate = post vs pre outputs on the same task inputs; post-opt = the fastest cell that ran and "
        "passed its precision's accuracy gate; [a, b] = 95% bootstrap interval of the speedup (ratio of medians), "
        f"\"not significant\" when it includes 1; {CONTENDED_MARK} = contended cell, {QUICK_MARK} = quick timing "
        "(notes below the table).",
        "",
        "| " + " | ".join(HEADERS) + " |",
        "|" + "|".join("---" if i == 0 or i in (3, 5, 10) else "---:" for i in range(len(HEADERS))) + "|",
    ]
    for title, rows in _sections(table):
        lines.append(f"| **{title}** |" + " |" * (len(HEADERS) - 1))
        for r in rows:
            lines.append("| " + " | ".join(_cells(r)) + " |")
    lines.append("")
    lines.append(
        f"**Mean speedup across {sum(r.speedup is not None for r in table.rows)} models: "
        f"{_fmt(table.mean_speedup, '.2f', 'x')}** (the paper's Jetson Nano figure: 7.011x)."
    )
    notes = footnotes(table)
    if notes:
        lines += ["", "Notes:", *(f"- {n}" for n in notes)]
    if table.overhead:
        lines += [
            "",
            "Harness overhead check: the harness path (run + synchronize) and a bare loop around the backend's own "
            "call, interleaved in blocks of 10 on one input.",
            "",
            "| Model | Backend | Reported p50 (ms) | Harness p50 (ms) | Bare-loop p50 (ms) | Overhead |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for model, backend, precision, p50, hp50, bp50, pct in table.overhead:
            lines.append(f"| {model} | {backend} {precision} | {p50:.3f} | {hp50:.3f} | {bp50:.3f} | {pct:+.1f}% |")
    lines += _cold_start_section(table)
    warn = [(rec.model, rec.backend, rec.precision, w) for rec in table.records for w in rec.warnings]
    if warn:
        lines += ["", "Warnings:"] + [f"- {m} / {b} {p}: {w}" for m, b, p, w in warn]
    return "\n".join(lines) + "\n"


def _cold_start_section(table: Table1) -> list[str]:
    rows = [r for r in table.rows if r.post_backend]
    if not rows:
        return []
    gpu = any(r.post_device_p50_ms is not None for r in rows)
    head = ["Model", "Post-opt", "Pre cold start (s)", "Post cold start (s)", "Break-even (inferences)"]
    if gpu:
        head += ["Pre GPU p50 (ms)", "Post GPU p50 (ms)", "GPU speedup", "Post items/s (GPU time)", "Post peak GPU mem (MiB)"]
    out = [
        "",
        "Cold start = export + build/compile + load + first inference; break-even = extra cold start of the "
        "post-opt path over the per-inference saving (host p50)."
        + (" GPU columns: CUDA-event time per batch on device-resident inputs (no host<->device copies); "
           "peak memory: the post-opt cell's peak allocation through torch's allocator, from prepare to its first "
           "inferences, above what the process held before (weights, activations, workspaces; not TensorRT's or "
           "ONNX Runtime's own allocations)." if gpu else ""),
        "",
        "| " + " | ".join(head) + " |",
        "|---|---|" + "---:|" * (len(head) - 2),
    ]
    for r in rows:
        cells = [r.model, _post_label(r), _fmt(r.pre_cold_start_s, ".2f"), _fmt(r.post_cold_start_s, ".2f"),
                 _fmt_int(r.break_even_inferences) if r.break_even_inferences is not None else "never / n/a"]
        if gpu:
            cells += [_fmt(r.pre_device_p50_ms, ".3f"), _fmt(r.post_device_p50_ms, ".3f"),
                      _fmt(r.device_speedup, ".2f", "x"), _fmt(r.post_throughput_items_per_s, ",.0f"),
                      _fmt(r.post_gpu_mem_peak_mb, ",.0f")]
        out.append("| " + " | ".join(cells) + " |")
    energy = [r for r in rows if r.pre_energy_mj is not None or r.post_energy_mj is not None]
    out += ["", "Energy per item above the idle baseline over the timed window, and the post-opt cell's peak host "
            "memory: " + (f"measured with {energy[0].energy_source}." if energy else
                          "energy n/a (no NVML, RAPL or tegrastats meter was readable on this machine)."), "",
            "| Model | Pre energy (mJ/item) | Post energy (mJ/item) | Post peak RSS (MiB) |", "|---|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r.model} | {_fmt(r.pre_energy_mj, '.3f')} | {_fmt(r.post_energy_mj, '.3f')} | {_fmt(r.post_rss_mb, ',.0f')} |")
    dev = [r.device_speedup for r in rows if r.device_speedup is not None]
    if dev:
        out += ["", f"Mean GPU-time speedup across {len(dev)} models: {sum(dev) / len(dev):.2f}x."]
    return out


def _inputs_text(cfg: dict) -> str:
    if cfg.get("device") == "cuda" and cfg.get("cuda_host_inputs") == "page-locked":
        return " (inputs in page-locked host memory, copied to the device by DMA as trtexec's are)"
    return ""


def _timing_text(t: dict) -> str:
    if not t:
        return "n/a"
    return (
        f"warm-up >= {t.get('warmup_iters')} iters and {t.get('warmup_s')} s, then >= {t.get('min_iters')} iters "
        f"and {t.get('min_time_s')} s"
    )


def render_csv(table: Table1) -> str:
    buf = io.StringIO()
    fields = list(Table1Row.__dataclass_fields__)
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for r in table.rows:
        w.writerow(asdict(r))
    return buf.getvalue()


def render_json(table: Table1) -> str:
    return json.dumps(
        {
            "run_id": table.run.get("run_id"),
            "device_name": table.device_name,
            "batch_size": table.batch_size,
            "weights": table.weights,
            "mean_speedup": table.mean_speedup,
            "baseline": table.baseline,
            "run_status": table.status,
            "quick": table.quick,
            "interrupted": table.interrupted,
            "not_reached": table.not_reached,
            "failed_models": [{"model": m, "reason": why} for m, why in table.failed],
            "rows": [asdict(r) for r in table.rows],
            "environment": table.run.get("env", {}),
        },
        indent=2,
    )


def render_terminal(table: Table1) -> str:
    rows = [HEADERS] + [_cells(r) for r in table.rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADERS))]
    out = [f"** {flag} **" for flag in run_flags(table)]
    for j, row in enumerate(rows):
        out.append("  ".join(c.ljust(w) if i in (0, 3, 5, 10) else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if j == 0:
            out.append("  ".join("-" * w for w in widths))
    out.append(f"mean speedup: {_fmt(table.mean_speedup, '.2f', 'x')}  (device: {table.device_name}; "
               f"baseline {table.baseline_title})")
    out += footnotes(table)
    return "\n".join(out)
