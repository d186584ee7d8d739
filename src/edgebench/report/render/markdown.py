"""Table 1 as markdown (table1.md): the run's device, versions and timing above the table,
the notes below it, then the harness-overhead, cold-start and energy sections."""
from __future__ import annotations

from edgebench.report.paper import PAPER
from edgebench.report.profile import profile_source, slowest_layers
from edgebench.report.references import gap_lines
from edgebench.report.render.text import (
    COMPLIANT_TEXT, CONTENDED_MARK, HEADERS, NOT_COMPLIANT_TEXT, QUICK_MARK, TEXT_COLUMNS, cells, fmt, fmt_int,
    footnotes, loadgen_text, run_flags, scenario_columns, scenario_compliant, scenario_intro, sections,
    setup_text, setup_warning_lines, target_parts, timing_text, tool_text,
)
from edgebench.report.statistics import mean
from edgebench.report.table1 import Table1, post_label


def _target_lines(env: dict) -> list[str]:
    """A remote target's line: which device, its L4T / JetPack and power mode, its trtexec."""
    parts = target_parts(env, em=lambda name: f"**{name}**")
    return ["- Target: " + ", ".join(parts)] if parts else []


def render_markdown(table: Table1) -> str:
    run = table.run
    env, cfg = run.env, run.config
    flags = run_flags(table)
    lines = [
        "# Table 1: pre- vs post-optimisation inference time" + (f" ({'; '.join(flags)})" if flags else ""),
        "",
        f"- Device: **{table.device_name}** ({cfg.get('device', '?')}); host {env.get('host', '?')}, "
        f"{env.get('cpu_physical', '?')} physical / {env.get('cpu_logical', '?')} logical cores; GPU: {env.get('gpu', 'none')}",
        f"- Versions: Python {env.get('python', '?')}, torch {env.get('torch', '?')}, onnx {env.get('onnx', '?')}, "
        f"onnxruntime {env.get('onnxruntime', '?')}, TensorRT {env.get('tensorrt', '?')}",
        *_target_lines(env),
        f"- Setup: {setup_text(env, cfg)}",
        f"- Run `{run.run_id}`, started {run.started_at}, status {run.status}, {tool_text(run)}; "
        f"batch {table.batch_size}; weights: {table.weights or 'n/a'}",
        f"- Timing: {timing_text(cfg.get('timing', {}))}; latencies are medians (p50) per batch, host wall-clock "
        "including host<->device copies" + _inputs_text(cfg) + "; speedup = pre p50 / post p50; parity (max abs diff; "
        "agreement: top-1, or a detector's mAP against the reference's boxes, a segmenter's mIoU) and the accuracy gate = post vs pre outputs on the same task inputs; post-opt = the fastest cell that ran and "
        "passed its precision's accuracy gate; [a, b] = 95% bootstrap interval of the speedup (ratio of medians), "
        f"\"not significant\" when it includes 1; {CONTENDED_MARK} = contended cell, {QUICK_MARK} = quick timing "
        "(notes below the table).",
        "",
    ]
    if table.scenarios and not table.rows:  # run --scenario: LoadGen's sections only
        lines = [lines[0].replace("pre- vs post-optimisation inference time", "MLPerf LoadGen scenarios"), *lines[1:-2],
                 f"- LoadGen: {loadgen_text(cfg.get('loadgen') or {})}"]
        lines += _scenario_sections(table) + _warnings_section(table)
        return "\n".join(lines) + "\n"
    lines += [
        "| " + " | ".join(HEADERS) + " |",
        "|" + "|".join("---" if i in TEXT_COLUMNS else "---:" for i in range(len(HEADERS))) + "|",
    ]
    for title, rows in sections(table):
        lines.append(f"| **{title}** |" + " |" * (len(HEADERS) - 1))
        for r in rows:
            lines.append("| " + " | ".join(cells(r)) + " |")
    lines.append("")
    lines.append(
        f"**Mean speedup across {sum(r.speedup is not None for r in table.rows)} models: "
        f"{fmt(table.mean_speedup, '.2f', 'x')}** (the paper's {PAPER.device} figure: {PAPER.mean_speedup:.3f}x)."
    )
    notes = footnotes(table)
    if notes:
        lines += ["", "Notes:", *(f"- {n}" for n in notes)]
    published = gap_lines(table)
    if published:
        lines += ["", "Published figures for this device class (report.references; speed above 1: faster than "
                      "published):", *(f"- {n}" for n in published)]
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
    lines += _scenario_sections(table)
    lines += _trtexec_section(table)
    lines += _layers_section(table)
    lines += _warnings_section(table)
    return "\n".join(lines) + "\n"


def _warnings_section(table: Table1) -> list[str]:
    """Every cell's warnings, a line each."""
    warn = [f"- {rec.model} / {rec.backend} {rec.precision}: {w}" for rec in table.records for w in rec.warnings]
    warn = [f"- {w}" for w in setup_warning_lines(table.run.env)] + warn
    return ["", "Warnings:", *warn] if warn else []


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
        row = [r.model, post_label(r), fmt(r.pre_cold_start_s, ".2f"), fmt(r.post_cold_start_s, ".2f"),
               fmt_int(r.break_even_inferences) if r.break_even_inferences is not None else "never / n/a"]
        if gpu:
            row += [fmt(r.pre_device_p50_ms, ".3f"), fmt(r.post_device_p50_ms, ".3f"),
                    fmt(r.device_speedup, ".2f", "x"), fmt(r.post_throughput_items_per_s, ",.0f"),
                    fmt(r.post_gpu_mem_peak_mb, ",.0f")]
        out.append("| " + " | ".join(row) + " |")
    energy = [r for r in rows if r.pre_energy_mj is not None or r.post_energy_mj is not None]
    out += ["", "Energy per item above the idle baseline over the timed window, and the post-opt cell's peak host "
            "memory: " + (f"measured with {energy[0].energy_source}." if energy else
                          "energy n/a (no NVML, RAPL or tegrastats meter was readable on this machine)."), "",
            "| Model | Pre energy (mJ/item) | Post energy (mJ/item) | Post peak RSS (MiB) |", "|---|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r.model} | {fmt(r.pre_energy_mj, '.3f')} | {fmt(r.post_energy_mj, '.3f')} | {fmt(r.post_rss_mb, ',.0f')} |")
    dev = [r.device_speedup for r in rows if r.device_speedup is not None]
    if dev:
        out += ["", f"Mean GPU-time speedup across {len(dev)} models: {mean(dev):.2f}x."]
    return out


def _scenario_sections(table: Table1) -> list[str]:
    """MLPerf LoadGen (`run --scenario`): a section per scenario with LoadGen's verdict and figure
    per cell, accuracy, the reasons it gave for INVALID, and whether its durations were MLPerf's."""
    out = []
    for scenario, rows in table.scenarios:
        compliant = scenario_compliant(rows)
        cols = scenario_columns(scenario, rows)
        out += ["", scenario_intro(scenario, rows)
                + ("" if compliant is None else f" {COMPLIANT_TEXT}" if compliant else
                   f" **Not compliant durations**: {NOT_COMPLIANT_TEXT}"), "",
                "| " + " | ".join(c.title for c in cols) + " |",
                "|" + "|".join("---:" if c.key else "---" for c in cols) + "|"]
        for r in rows:
            out.append("| " + " | ".join(c.text(r).replace("|", "\\|") for c in cols) + " |")
    return out


#: trtexec's per-query parts, as stored in a tensorrt target row's details["trtexec_p50_ms"]
_TRTEXEC_PARTS = (("enqueue", "Enqueue"), ("h2d", "H2D"), ("compute", "GPU compute"), ("d2h", "D2H"),
                  ("end_to_end", "End-to-end"))


def _trtexec_section(table: Table1) -> list[str]:
    """A remote target's tensorrt cells: trtexec's per-query split (their slowest layers are in
    the per-layer section, with every other profiled cell's)."""
    recs = [r for r in table.records if r.details.get("trtexec_p50_ms")]
    if not recs:
        return []
    out = ["", "TensorRT through trtexec on the target: the p50 of each part of trtexec's per-query time (ms; the "
           "row's host latency is H2D + GPU compute + D2H, its GPU latency the compute).",
           "", "| Model | Precision | Engine | " + " | ".join(label for _, label in _TRTEXEC_PARTS) + " |",
           "|---|---|---|" + "---:|" * len(_TRTEXEC_PARTS)]
    for r in recs:
        split = r.details["trtexec_p50_ms"]
        out.append(f"| {r.model} | {r.precision} | {r.details.get('engine', '?')} | "
                   + " | ".join(fmt(split.get(key), ".3f") for key, _ in _TRTEXEC_PARTS) + " |")
    return out


def _layers_section(table: Table1) -> list[str]:
    """Every cell with a per-layer profile (`run --profile`; a target's tensorrt cells always):
    its three slowest layers and their share of the profiled time."""
    recs = [r for r in table.records if (r.details.get("layer_profile") or {}).get("layers")]
    if not recs:
        return []
    out = ["", "Per-layer profiles: the slowest layers of each profiled cell, from one separate pass under the "
           "runtime's own profiler after the timing (profiling slows each layer, so these are shares of the "
           "profiled time, not latencies; `edgebench profile RUN MODEL` lists more).",
           "", "| Model | Backend | Precision | Profiler | Slowest layers (share of the profiled time) |",
           "|---|---|---|---|---|"]
    for r in recs:
        slowest = ", ".join(f"{x['layer']} ({x['percentage']:.1f}%)".replace("|", "\\|")
                            for x in slowest_layers(r.details["layer_profile"], 3))
        out.append(f"| {r.model} | {r.backend} | {r.precision} | {profile_source(r)} | {slowest} |")
    return out


def _inputs_text(cfg: dict) -> str:
    if cfg.get("device") == "cuda" and cfg.get("cuda_host_inputs") == "page-locked":
        return " (inputs in page-locked host memory, copied to the device by DMA as trtexec's are)"
    return ""
