"""A run as one self-contained HTML page (table1.html), and the compare view of several runs.

The page needs nothing but itself: Table 1 with sortable columns, Figure 4 with its 95%
intervals, each cell's latency distribution, cold start, energy, memory, the per-layer profiles,
the MLPerf LoadGen scenario cells, the warnings and the environment, so it opens offline and can
be mailed. Two libraries make it, the ones a Python user expects: Jinja2 lays out the page (the
template engine of Flask, Sphinx and pandas' Styler; it autoescapes, so no stored string, a model
name or an error message, ever becomes markup), and matplotlib, edgebench's plotting library
already (Figure 4), draws the figures as inline SVG: vector, small, its text selectable, no
JavaScript charting library and no CDN. The only script is a few lines that sort the tables
(templates/sortable.js).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from edgebench.report.render.text import (
    COMPLIANT_TEXT, CONTENDED_MARK, HEADERS, NOT_COMPLIANT_TEXT, QUICK_MARK, cells, fmt, fmt_int, footnotes, loadgen_text,
    run_flags, scenario_columns, scenario_compliant, scenario_intro, sections, setup_text, setup_warning_lines,
    target_parts, timing_text, tool_text,
)
from edgebench.report.paper import PAPER
from edgebench.report.references import gap_lines
from edgebench.report.table1 import Table1, pick_cells, scenario_figure
from edgebench.results.record import Record

#: the slowest layers a cell's profile shows; the rest are summed in one line
TOP_LAYERS = 15
#: Table 1's sort value per HEADERS column (a Table1Row field), None: sort by the text
TABLE1_KEYS = (None, None, "params", "flops", None, "pre_p50_ms", None, "post_p50_ms", "speedup", "max_abs_diff",
               "top1_agreement", None, "post_task_accuracy")


@dataclass
class Column:
    title: str
    key: str  # the th's data-key: what #sort=KEY in the page's address sorts by
    numeric: bool = True


@dataclass
class Cell:
    """A table cell: its text, the number it sorts by (None: its text; "" sorts last), a CSS class."""

    text: str
    v: object = None
    cls: str = ""
    title: str = ""
    bar: float | None = None  # a bar behind the text, percent of the cell's width


@dataclass
class Body:
    """A table's <tbody>: rows of Cells, sorted within it, under an optional section title."""

    rows: list
    title: str = ""


@dataclass
class Grid:
    """A sortable table for the template."""

    id: str
    columns: list
    bodies: list = field(default_factory=list)
    caption: str = ""


def render_html(table: Table1) -> str:
    """The run of a built Table 1 as one HTML page (str): nothing outside it is loaded."""
    run, env = table.run, table.run.env
    flags = run_flags(table)
    # the harness's views (Table 1, Figure 4, the cells, the distributions) leave out the LoadGen
    # scenario cells, which have no harness latency; a run of those only shows its scenarios
    records = table.harness_records
    harness = bool(table.rows) or not table.scenario_rows
    by_model: dict[str, list[Record]] = {}
    for r in records:
        by_model.setdefault(r.model, []).append(r)
    roles = _roles(table, by_model)
    warnings = [("the run", w) for w in setup_warning_lines(env)]
    warnings += [(f"{rec.model} / {rec.backend} {rec.precision}", w) for rec in table.records for w in rec.warnings]
    n_speedups = sum(r.speedup is not None for r in table.rows)
    context = dict(
        title=f"{'Table 1' if harness else 'MLPerf LoadGen scenarios'}: {table.device_name or 'no device'}, "
              f"run {run.run_id}",
        flags=flags,
        facts=_run_facts(table, harness),
        target=", ".join(target_parts(env)),
        harness=harness,
        table1=_table1_grid(table),
        mean_line=(f"Mean speedup across {n_speedups} models: {fmt(table.mean_speedup, '.2f', 'x')} "
                   f"(the paper's {PAPER.device} figure: {PAPER.mean_speedup:.3f}x)."),
        notes=footnotes(table) + [f"Published figure: {line}" for line in gap_lines(table)],
        figure4=_figure4(table) if harness else "",
        cells=_cells_grid(records, roles, table),
        scenarios=_scenario_views(table),
        energy_source=next((r.energy.source for r in records if r.energy.source), ""),
        models=[_model_view(model, recs, i) for i, (model, recs) in enumerate(by_model.items())],
        overhead=_overhead_grid(table),
        warnings=warnings,
        env=[(k, _value_text(v)) for k, v in env.items()],
        config=json.dumps(run.config, indent=2, sort_keys=True, default=str),
        marks={"contended": CONTENDED_MARK, "quick": QUICK_MARK},
        tool=tool_text(run),
    )
    return _render("report.html.j2", context)


def render_compare_html(comparison) -> str:
    """The compare view of a report.compare.Comparison (or any object with its fields: labels,
    runs, cells, env_differences, unmatched) as one HTML page (str): each run, the matched cells
    side by side (p50 per run, the ratio to the first run with its 95% interval, the verdict), a
    figure of the ratios, the environment's differences and the cells found in one run only."""
    from edgebench.report.compare_figure import draw_ratios
    from edgebench.report.render.svg import figure_svg

    labels = list(comparison.labels)
    later = range(1, len(labels))
    columns = [Column("Model", "model", False), Column("Backend", "backend", False),
               Column("Precision", "precision", False), Column("Batch", "batch")]
    columns += [Column(f"p50 (ms) {label}", f"p50-{i}") for i, label in enumerate(labels)]
    for i in later:
        columns += [Column(f"Ratio {labels[i]} [95%]", f"ratio-{i}"), Column(f"Verdict {labels[i]}", f"verdict-{i}", False)]
    rows = []
    for c in comparison.cells:
        row = [Cell(c.model), Cell(c.backend), Cell(c.precision), Cell(str(c.batch_size), _v(c.batch_size))]
        status, contended = getattr(c, "status", None), getattr(c, "contended", None)  # optional fields
        for i in range(len(labels)):
            p50 = _at(c.p50_ms, i)
            text = fmt(p50, ".3f") if p50 is not None or not _at(status, i) else str(_at(status, i))
            row.append(Cell(text + (CONTENDED_MARK if _at(contended, i) else ""), _v(p50),
                            cls="bad" if p50 is None else ""))
        for i in later:
            ratio, ci, verdict = _at(c.ratio, i), _at(c.ci, i), _at(c.verdict, i) or "missing"
            text = fmt(ratio, ".3f") + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")
            row += [Cell(text, _v(ratio)), Cell(verdict, cls=f"nowrap {_VERDICT_CLASS.get(verdict, '')}".strip())]
        rows.append(row)
    summary = []
    for i in later:
        verdicts = [_at(c.verdict, i) or "missing" for c in comparison.cells]
        counts = ", ".join(f"{verdicts.count(v)} {v}" for v in ("faster", "slower", "no significant change", "missing")
                           if verdicts.count(v))
        summary.append(f"{labels[i]} against {labels[0]}: {counts or 'no matched cell'}")
    fig = draw_ratios(comparison)
    context = dict(
        title="Compare: " + " vs ".join(labels),
        runs=[_compare_run(label, run) for label, run in zip(labels, comparison.runs)],
        summary=summary,
        grid=Grid("compare", columns, [Body(rows)]),
        figure=figure_svg(fig, "compare") if fig is not None else "",
        env_columns=["Setting", *labels],
        env_rows=[(key, [_value_text(v) for v in values]) for key, values in comparison.env_differences],
        unmatched=[list(u) for u in comparison.unmatched],
        explanations=[(f"{label} against {labels[0]} ({counts})",
                       [f"{what}: {_value_text(a)} in {labels[0]}, {_value_text(b)} in {label}" for what, a, b in differ])
                      for label, counts, differ in getattr(comparison, "explanations", [])],
        contended_mark=CONTENDED_MARK,
    )
    return _render("compare.html.j2", context)


# -- the page's parts ---------------------------------------------------------------------------

_VERDICT_CLASS = {"faster": "faster", "slower": "slower", "no significant change": "ns", "missing": "bad"}


def _render(template: str, context: dict) -> str:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(loader=PackageLoader("edgebench.report.render", "templates"),
                      autoescape=select_autoescape(("html", "j2")), undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    return env.get_template(template).render(**context)


def _v(x) -> str:
    """A number as a cell's sort value ("" for none: such cells sort last)."""
    return "" if x is None else f"{float(x):.6g}"


def _at(values, i):
    return values[i] if values is not None and i < len(values) else None


def _value_text(v) -> str:
    if isinstance(v, (dict, list, tuple)):
        return json.dumps(v, sort_keys=True, default=str)
    return "n/a" if v is None else str(v)


def _run_facts(table: Table1, harness: bool = True) -> list[tuple[str, str]]:
    """(label, text) lines about the run above Table 1: the harness's timing when it timed cells,
    LoadGen's durations when it ran scenarios."""
    run, env, cfg = table.run, table.run.env, table.run.config
    facts = [
        ("Device", f"{table.device_name or '?'} ({cfg.get('device', '?')}); host {env.get('host', '?')}, "
                   f"{env.get('cpu_physical', '?')} physical / {env.get('cpu_logical', '?')} logical cores; "
                   f"GPU: {env.get('gpu', 'none')}"),
        ("Versions", f"Python {env.get('python', '?')}, torch {env.get('torch', '?')}, onnx {env.get('onnx', '?')}, "
                     f"onnxruntime {env.get('onnxruntime', '?')}, TensorRT {env.get('tensorrt', '?')}"),
        ("Setup", setup_text(env, cfg)),
        ("Run", f"{run.run_id}, started {run.started_at}, status {run.status}, {tool_text(run)}"),
        ("Cells", f"batch {table.batch_size}; baseline {table.baseline_title}; weights: {table.weights or 'n/a'}"),
    ]
    if harness:
        facts.append(("Timing", f"{timing_text(cfg.get('timing', {}))}; latencies are medians (p50) per batch, host "
                                "wall-clock including host<->device copies; speedup = pre p50 / post p50, [a, b] its "
                                "95% bootstrap interval"))
    if table.scenario_rows:
        facts.append(("LoadGen", loadgen_text(cfg.get("loadgen") or {})))
    return facts


def _table1_grid(table: Table1) -> Grid:
    columns = [Column(h, _slug(h), key is not None) for h, key in zip(HEADERS, TABLE1_KEYS)]
    bodies = []
    for title, rows in sections(table):
        out = []
        for r in rows:
            texts = cells(r)
            row = [Cell(text, None if key is None else _v(getattr(r, key))) for text, key in zip(texts, TABLE1_KEYS)]
            speed = row[HEADERS.index("Speedup")]
            speed.cls = ("ns" if r.significant is False else "faster" if (r.speedup or 0) >= 1 else "slower"
                         ) if r.speedup is not None else "bad"
            if r.speedup is None and r.failed_reason:
                speed.title = r.failed_reason
            out.append(row)
        bodies.append(Body(out, title))
    return Grid("table1", columns, bodies)


def _figure4(table: Table1) -> str:
    from edgebench.report.figure4 import draw_speedup
    from edgebench.report.render.svg import figure_svg

    return figure_svg(draw_speedup(table), "figure4")


def _roles(table: Table1, by_model: dict) -> dict[int, str]:
    """id(record) -> "pre-opt" | "post-opt" for the cells Table 1 set side by side."""
    baseline, _, precision = table.baseline.partition("@")
    out = {}
    for recs in by_model.values():
        _, pre, post = pick_cells(recs, lambda r: r.backend == baseline and r.precision == precision)
        if pre is not None:
            out[id(pre)] = "pre-opt"
        if post is not None:
            out[id(post)] = "post-opt"
    return out


def _cells_grid(records: list[Record], roles: dict, table: Table1) -> Grid:
    """Every cell the harness timed: its latency, cold start, energy, memory and contention."""
    from edgebench.report.distribution import cell_label

    break_even = {r.model: r.break_even_inferences for r in table.rows}
    gpu = any(r.latency.device is not None for r in records)
    gpu_mem = any(r.memory.gpu_peak_allocated_mb is not None for r in records)
    energy = any(r.energy.per_item_mj is not None for r in records)
    columns = [Column("Model", "model", False), Column("Cell", "cell", False), Column("Role", "role", False),
               Column("Status", "status", False), Column("Samples", "samples"), Column("p50 (ms)", "p50"),
               Column("p90 (ms)", "p90"), Column("p99 (ms)", "p99"), Column("CV (%)", "cv")]
    if gpu:
        columns.append(Column("GPU p50 (ms)", "gpu-p50"))
    columns += [Column("Cold start (s)", "cold-start"), Column("Break-even (inferences)", "break-even")]
    if energy:
        columns.append(Column("Energy (mJ/item)", "energy"))
    columns.append(Column("Peak RSS (MiB)", "rss"))
    if gpu_mem:
        columns.append(Column("Peak GPU mem (MiB)", "gpu-mem"))
    columns.append(Column("Other CPU (%)", "other-cpu"))
    rows = []
    for rec in records:
        s, cold = rec.latency.host, rec.cold_start
        role = roles.get(id(rec), "")
        status = Cell(str(rec.status), cls="nowrap" if rec.ok else "nowrap bad", title=_reason(rec))
        row = [Cell(rec.model, cls="nowrap"), Cell(cell_label(rec), cls="nowrap"), Cell(role, cls="nowrap"), status,
               Cell(fmt_int(len(rec.latency.samples_ms)) if rec.latency.samples_ms else "n/a",
                    _v(len(rec.latency.samples_ms) or None))]
        for attr in ("p50_ms", "p90_ms", "p99_ms"):
            value = getattr(s, attr) if s else None
            row.append(Cell(fmt(value, ".3f"), _v(value)))
        row.append(Cell(fmt(s.cv_pct if s else None, ".1f"), _v(s.cv_pct if s else None)))
        if gpu:
            dev = rec.latency.device.p50_ms if rec.latency.device else None
            row.append(Cell(fmt(dev, ".3f"), _v(dev)))
        row.append(Cell(fmt(cold.total_s, ".2f"), _v(cold.total_s),
                        title=f"build/compile {cold.build_s:.2f} s" if cold.build_s is not None else ""))
        be = break_even.get(rec.model) if role == "post-opt" else None
        row.append(Cell(fmt_int(be) if be is not None else ("never / n/a" if role == "post-opt" else ""), _v(be)))
        if energy:
            row.append(Cell(fmt(rec.energy.per_item_mj, ".3f"), _v(rec.energy.per_item_mj)))
        row.append(Cell(fmt(rec.memory.host_rss_peak_mb, ",.0f"), _v(rec.memory.host_rss_peak_mb)))
        if gpu_mem:
            row.append(Cell(fmt(rec.memory.gpu_peak_allocated_mb, ",.0f"), _v(rec.memory.gpu_peak_allocated_mb)))
        other = rec.contention.other_cpu_pct
        row.append(Cell(fmt(other, ".0f") + (CONTENDED_MARK if rec.contention.contended else ""), _v(other),
                        cls="bad" if rec.contention.contended else ""))
        rows.append(row)
    return Grid("cells", columns, [Body(rows)])


def _scenario_views(table: Table1) -> list[dict]:
    """A section per LoadGen scenario: what it runs, whether its durations were MLPerf's, and a
    grid of its cells with LoadGen's verdict and figure (the columns are markdown's)."""
    out = []
    for scenario, rows in table.scenarios:
        slug = _slug(scenario) or "scenario"
        cols = scenario_columns(scenario, rows)
        grid_rows = [[Cell(c.text(r), None if c.key is None else _v(getattr(r, c.key)),
                           cls="bad" if c.bad is not None and c.bad(r) else "",
                           title=c.hint(r) if c.hint is not None else "") for c in cols] for r in rows]
        compliant = scenario_compliant(rows)
        out.append(dict(
            anchor=f"scenario-{slug}", title=scenario_figure(scenario).title, intro=scenario_intro(scenario, rows),
            compliant="" if compliant is None else COMPLIANT_TEXT if compliant else "",
            not_compliant=NOT_COMPLIANT_TEXT if compliant is False else "",
            grid=Grid(f"loadgen-{slug}", [Column(c.title, _slug(c.title), c.key is not None) for c in cols],
                      [Body(grid_rows)])))
    return out


def _reason(rec: Record) -> str:
    """Why a cell failed: the accuracy gate's reason, else its error's first line."""
    if rec.ok:
        return ""
    error = rec.error.strip().splitlines()[0] if rec.error and rec.error.strip() else ""
    return (rec.accuracy.gate_reason or error)[:300]


def _model_view(model: str, recs: list[Record], index: int) -> dict:
    """One model's section: its cells' distributions, layer profiles and trtexec split."""
    from edgebench.report.distribution import cell_label, draw_distribution, plotted
    from edgebench.report.render.svg import figure_svg

    failed = [f"{cell_label(r)}: {r.status}" + (f" ({_reason(r)})" if _reason(r) else "")
              for r in recs if not plotted([r])]
    profiles = [_profile_view(rec, f"layers-{index}-{j}") for j, rec in enumerate(recs)
                if (rec.details.get("layer_profile") or {}).get("layers")]
    return dict(
        name=model, anchor=f"model-{index}", task=recs[0].task,
        figure=figure_svg(draw_distribution(recs), f"dist-{index}") if plotted(recs) else "",
        unplotted=failed,
        profiles=profiles,
        trtexec=_trtexec_rows(recs),
    )


def _profile_view(rec: Record, grid_id: str) -> dict:
    """A cell's stored per-layer profile: the slowest TOP_LAYERS layers by total time."""
    from edgebench.report.distribution import cell_label

    prof = rec.details["layer_profile"]
    layers = sorted(prof["layers"], key=lambda x: -(x.get("total_ms") or 0.0))
    shown, rest = layers[:TOP_LAYERS], layers[TOP_LAYERS:]
    has_op = any(x.get("op_type") for x in layers)
    has_median = any(x.get("median_ms") is not None for x in layers)
    columns = [Column("Layer", "layer", False)] + ([Column("Op type", "op-type", False)] if has_op else [])
    columns += [Column("Total (ms)", "total"), Column("Average (ms)", "average")]
    columns += [Column("Median (ms)", "median")] if has_median else []
    columns += [Column("Share of the profiled time", "share")]
    rows = []
    for x in shown:
        row = [Cell(str(x.get("layer", "?")), cls="layer")] + ([Cell(x.get("op_type") or "", cls="nowrap")] if has_op else [])
        row += [Cell(fmt(x.get("total_ms"), ".3f"), _v(x.get("total_ms"))),
                Cell(fmt(x.get("average_ms"), ".4f"), _v(x.get("average_ms")))]
        if has_median:
            row.append(Cell(fmt(x.get("median_ms"), ".4f"), _v(x.get("median_ms"))))
        pct = x.get("percentage")
        row.append(Cell(fmt(pct, ".1f", "%"), _v(pct), cls="share", bar=min(100.0, max(0.0, pct or 0.0))))
        rows.append(row)
    source = prof.get("source") or ("trtexec --exportProfile" if rec.details.get("trtexec_p50_ms") else "")
    queries = prof.get("queries")
    caption = (f"{cell_label(rec)}: the slowest {len(shown)} of {len(layers)} layers"
               + (f" from {source}" if source else "") + (f", {queries:,} inferences profiled" if queries else "")
               + (f"; the other {len(rest)} take {sum(x.get('percentage') or 0.0 for x in rest):.1f}% of the time"
                  if rest else ""))
    return dict(grid=Grid(grid_id, columns, [Body(rows)], caption))


#: trtexec's per-query parts, as stored in a tensorrt target row's details["trtexec_p50_ms"]
_TRTEXEC_PARTS = (("enqueue", "Enqueue"), ("h2d", "H2D"), ("compute", "GPU compute"), ("d2h", "D2H"),
                  ("end_to_end", "End-to-end"))


def _trtexec_rows(recs: list[Record]) -> list[list[str]]:
    return [[r.precision, str(r.details.get("engine", "?"))]
            + [fmt(r.details["trtexec_p50_ms"].get(key), ".3f") for key, _ in _TRTEXEC_PARTS]
            for r in recs if r.details.get("trtexec_p50_ms")]


def _overhead_grid(table: Table1) -> Grid | None:
    if not table.overhead:
        return None
    columns = [Column("Model", "model", False), Column("Cell", "cell", False), Column("Reported p50 (ms)", "p50"),
               Column("Harness p50 (ms)", "harness"), Column("Bare-loop p50 (ms)", "bare"), Column("Overhead", "pct")]
    rows = [[Cell(m), Cell(f"{b} {p}"), Cell(f"{p50:.3f}", _v(p50)), Cell(f"{h:.3f}", _v(h)), Cell(f"{bare:.3f}", _v(bare)),
             Cell(f"{pct:+.1f}%", _v(pct))] for m, b, p, p50, h, bare, pct in table.overhead]
    return Grid("overhead", columns, [Body(rows)])


def _compare_run(label: str, run) -> dict:
    env, cfg = run.env or {}, run.config or {}
    device = env.get("gpu") if cfg.get("device") == "cuda" else env.get("cpu")
    return dict(label=label, run_id=run.run_id, started=run.started_at, status=str(run.status),
                device=f"{device or '?'} ({cfg.get('device', '?')}), host {env.get('host', '?')}"
                       + (f"; {', '.join(target_parts(env))}" if env.get("target") else ""),
                tool=tool_text(run))


def _slug(title: str) -> str:
    """"Pre p50 (ms)" -> "pre-p50-ms": a column's key in the page's address (#sort=-speedup)."""
    out = "".join(c if c.isalnum() else "-" for c in title.lower())
    return "-".join(p for p in out.split("-") if p)
