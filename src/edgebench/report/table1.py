"""Table 1 as a pure function of stored records: pre-opt (the baseline backend, FP32) vs
post-opt (the fastest successful other backend) per model, with parity and mean speedup."""
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
    post_p50_ms: float | None
    speedup: float | None
    max_abs_diff: float | None
    top1_agreement: float | None
    note: str = ""


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


def build_table1(records: list[Record], run: dict) -> Table1:
    baseline = run["baseline_backend"]
    by_model: dict[str, list[Record]] = {}
    for r in records:
        by_model.setdefault(r.model, []).append(r)
    rows = []
    for model, recs in by_model.items():
        pre = next((r for r in recs if r.backend == baseline and r.precision == "fp32" and r.ok), None)
        posts = sorted((r for r in recs if r.backend != baseline and r.ok), key=lambda r: r.latency.p50_ms)
        post = posts[0] if posts else None
        failed = [f"{r.backend}: {r.status}" for r in recs if not r.ok]
        any_rec = pre or post or recs[0]
        speedup = pre.latency.p50_ms / post.latency.p50_ms if pre and post else None
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
                post_p50_ms=post.latency.p50_ms if post else None,
                speedup=speedup,
                max_abs_diff=post.max_abs_diff if post else None,
                top1_agreement=post.top1_agreement if post else None,
                note="; ".join(failed),
            )
        )
    speedups = [r.speedup for r in rows if r.speedup is not None]
    first = records[0] if records else None
    weights = sorted({r.weights for r in records if r.weights})
    return Table1(
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
    )


def _fmt_int(v) -> str:
    return f"{v:,}" if v is not None else "n/a"


def _fmt(v, spec: str, suffix: str = "") -> str:
    return f"{v:{spec}}{suffix}" if v is not None else "n/a"


def _post_label(r: Table1Row) -> str:
    return f"{r.post_backend} {r.post_precision}" if r.post_backend else "none"


HEADERS = [
    "Model", "Params", "FLOPs", "Pre-opt", "Pre p50 (ms)", "Post-opt", "Post p50 (ms)",
    "Speedup", "Max abs diff", "Top-1 agree",
]


def _cells(r: Table1Row) -> list[str]:
    return [
        r.model,
        _fmt_int(r.params),
        _fmt_int(r.flops),
        r.pre_backend,
        _fmt(r.pre_p50_ms, ".3f"),
        _post_label(r),
        _fmt(r.post_p50_ms, ".3f"),
        _fmt(r.speedup, ".2f", "x"),
        _fmt(r.max_abs_diff, ".2e"),
        _fmt(None if r.top1_agreement is None else 100 * r.top1_agreement, ".1f", "%"),
    ]


def _sections(table: Table1):
    tasks = []
    for r in table.rows:
        if r.task not in tasks:
            tasks.append(r.task)
    return [(TASK_TITLES.get(t, t or "Other"), [r for r in table.rows if r.task == t]) for t in tasks]


def render_markdown(table: Table1) -> str:
    run = table.run
    env = run.get("env", {})
    cfg = run.get("config", {})
    lines = [
        "# Table 1: pre- vs post-optimisation inference time",
        "",
        f"- Device: **{table.device_name}** ({cfg.get('device', '?')}); host {env.get('host', '?')}, "
        f"{env.get('cpu_physical', '?')} physical / {env.get('cpu_logical', '?')} logical cores; GPU: {env.get('gpu', 'none')}",
        f"- Versions: Python {env.get('python', '?')}, torch {env.get('torch', '?')}, onnx {env.get('onnx', '?')}, "
        f"onnxruntime {env.get('onnxruntime', '?')}, TensorRT {env.get('tensorrt', '?')}",
        f"- Run `{run.get('run_id', '?')}`, started {run.get('started_at', '?')}, status {run.get('status', '?')}; "
        f"batch {table.batch_size}; weights: {table.weights or 'n/a'}",
        f"- Timing: {_timing_text(cfg.get('timing', {}))}; latencies are medians (p50) per batch, host wall-clock "
        "including host<->device copies; speedup = pre p50 / post p50; parity = post vs pre outputs on the same inputs.",
        "",
        "| " + " | ".join(HEADERS) + " |",
        "|" + "|".join("---" if i == 0 or i in (3, 5) else "---:" for i in range(len(HEADERS))) + "|",
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
    notes = [f"- {r.model}: {r.note}" for r in table.rows if r.note]
    if notes:
        lines += ["", "Cells that did not produce a measurement:", *notes]
    return "\n".join(lines) + "\n"


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
            "rows": [asdict(r) for r in table.rows],
            "environment": table.run.get("env", {}),
        },
        indent=2,
    )


def render_terminal(table: Table1) -> str:
    rows = [HEADERS] + [_cells(r) for r in table.rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADERS))]
    out = []
    for j, row in enumerate(rows):
        out.append("  ".join(c.ljust(w) if i in (0, 3, 5) else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if j == 0:
            out.append("  ".join("-" * w for w in widths))
    out.append(f"mean speedup: {_fmt(table.mean_speedup, '.2f', 'x')}  (device: {table.device_name})")
    return "\n".join(out)
