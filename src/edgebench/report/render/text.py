"""What every rendering of Table 1 shares: the column headers, a row's cell texts, the task
sections, the markers and the notes that qualify the numbers; and the LoadGen scenario tables'
columns and texts."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from edgebench.report.table1 import ScenarioRow, Table1, Table1Row, post_label, scenario_figure

TASK_TITLES = {
    "image-classification": "Image classification",
    "classification": "Classification",
    "action-recognition": "Human action recognition",
    "object-detection": "Object detection",
    "semantic-segmentation": "Semantic segmentation",
}
#: rendered markers (never stored): a cell timed while other processes took CPU; quick timing
CONTENDED_MARK = "\u2020"  # dagger
QUICK_MARK = "\u2021"  # double dagger

HEADERS = [
    "Model", "Input", "Params", "FLOPs", "Pre-opt", "Pre p50 (ms)", "Post-opt", "Post p50 (ms)",
    "Speedup", "Max abs diff", "Agreement", "Gate", "Task acc pre/post",
]
#: HEADERS' columns of text (left-aligned); the others are numbers
TEXT_COLUMNS = (0, 1, 4, 6, 11)


def fmt_int(v) -> str:
    return f"{v:,}" if v is not None else "n/a"


def fmt(v, spec: str, suffix: str = "") -> str:
    return f"{v:{spec}}{suffix}" if v is not None else "n/a"


def cells(r: Table1Row) -> list[str]:
    """A row's texts, one per HEADERS column."""
    return [
        r.model + (QUICK_MARK if r.quick else ""),
        r.input or "n/a",
        fmt_int(r.params),
        fmt_int(r.flops),
        r.pre_backend,
        fmt(r.pre_p50_ms, ".3f") + (CONTENDED_MARK if r.pre_contended else ""),
        post_label(r),
        fmt(r.post_p50_ms, ".3f") + (CONTENDED_MARK if r.post_contended else ""),
        fmt(r.speedup, ".2f", "x") + (f" [{r.speedup_ci[0]:.2f}, {r.speedup_ci[1]:.2f}]" if r.speedup_ci else "")
        + (" (not significant)" if r.significant is False else ""),
        fmt(r.max_abs_diff, ".2e"),
        r.task_agreement or fmt(None if r.top1_agreement is None else 100 * r.top1_agreement, ".1f", "%")
        + (f" ({100 * r.top1_decisive_agreement:.1f}% of {r.top1_decisive_items} decisive)"
           if r.top1_decisive_items and r.top1_decisive_agreement is not None else ""),
        r.post_gate or "n/a",
        "n/a" if r.pre_task_accuracy is None and r.post_task_accuracy is None else
        f"{fmt(None if r.pre_task_accuracy is None else 100 * r.pre_task_accuracy, '.1f', '%')} / "
        f"{fmt(None if r.post_task_accuracy is None else 100 * r.post_task_accuracy, '.1f', '%')}",
    ]


def sections(table: Table1):
    """(task title, its rows) per task, in the order the rows first name it."""
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


def target_parts(env: dict, em=str) -> list[str]:
    """A remote target's facts, one phrase each (none for a local run): which device over SSH,
    its L4T / JetPack, power mode, memory and trtexec. `em` marks up the target's name."""
    if not env.get("target"):
        return []
    parts = [f"measured on target {em(env['target'])} ({env.get('target_address', '?')}) over SSH"]
    if env.get("l4t"):
        parts.append(f"L4T {env['l4t']}" + (f" (JetPack {env['jetpack']})" if env.get("jetpack") else ""))
    if env.get("power_mode"):
        parts.append(f"power mode {env['power_mode']}")
    if env.get("memory_total_mib"):
        parts.append(f"{env['memory_total_mib']:,} MiB memory")
    parts.append(f"trtexec {env['trtexec']}" if env.get("trtexec") else "no trtexec")
    return parts


def setup_text(env: dict, config: dict) -> str:
    """The run's setup fingerprint (results.setup) and its timing scope, in one line."""
    from edgebench.results import setup

    return f"{setup.summary(env.get('setup'))}; timing scope: {setup.timing_scope(config, env)}"


def setup_warning_lines(env: dict) -> list[str]:
    """The run's setup warnings, as stored with its environment."""
    return [f"setup: {w}" for w in env.get("setup_warnings") or []]


def footnotes(table: Table1) -> list[str]:
    """Plain-text notes for the cells and models the table marks, one per line (markdown list
    items without the dash): contended cells, quick timing, an interrupted run, models with no
    speedup, cells that failed or were turned down by the accuracy gate, with the reason, and what a
    detector's time covers."""
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
    if any(r.task == "object-detection" for r in table.rows):
        out.append("Object detection times the model's forward pass: for edgebench's registered torchvision detectors the "
                   "network alone, raw boxes and class scores per anchor (their NMS runs for the accuracy check only, "
                   "untimed); for a detector file, its forward as written")
    return out


def timing_text(t: dict) -> str:
    """A run's timing configuration (its config's "timing") in words."""
    if not t:
        return "n/a"
    text = (f"warm-up >= {t.get('warmup_iters')} iters and {t.get('warmup_s')} s, then >= {t.get('min_iters')} iters "
            f"and {t.get('min_time_s')} s")
    if t.get("ci_pct") is not None:  # the stop-when-known rule (rows stored before it have no ci_pct)
        text += f", then until the median's 95% interval is within {t['ci_pct']:g}% (at most {t.get('max_time_s'):g} s)"
    return text


def tool_text(run) -> str:
    """Which edgebench measured: its version and, from a git checkout, its commit."""
    text = f"edgebench {run.edgebench_version or '?'}"
    return text + (f" at commit {run.git_commit}" if run.git_commit else "")


# -- MLPerf LoadGen scenario cells (run --scenario) ----------------------------------------------

COMPLIANT_TEXT = "MLPerf's compliant durations."
NOT_COMPLIANT_TEXT = ("short runs (--compliant for MLPerf's minimums), a smoke test of the scenario, "
                      "not an MLPerf result.")


def percent(v, spec: str = ".1f") -> str:
    """A 0..1 fraction as a percentage, or "n/a"."""
    return fmt(None if v is None else 100 * v, spec, "%")


def scenario_intro(scenario: str, rows: list[ScenarioRow]) -> str:
    """A scenario's section title line: what LoadGen ran and what its figure is, with the
    latency bound it was held to."""
    fig = scenario_figure(scenario)
    bound = next((r.latency_bound_ms for r in rows if r.latency_bound_ms), None)
    return (f"MLPerf LoadGen {fig.title}" + (f": {fig.what}" if fig.what else "")
            + (f" ({bound:g} ms)" if bound else "") + ".")


def scenario_compliant(rows: list[ScenarioRow]) -> bool | None:
    """Whether every cell LoadGen ran kept MLPerf's minimum durations; None when it ran none."""
    ran = [r for r in rows if r.result]
    return all(r.compliant for r in ran) if ran else None


def scenario_accuracy(r: ScenarioRow) -> str:
    """"87.5% / passed": the task accuracy and the accuracy gate's verdict; "n/a" for neither."""
    if r.task_accuracy is None and not r.accuracy_gate:
        return "n/a"
    return percent(r.task_accuracy) + (f" / {r.accuracy_gate}" if r.accuracy_gate else "")


def scenario_why(r: ScenarioRow) -> str:
    """Why a cell is INVALID or has no figure: LoadGen's reasons, else the cell's error; and the
    accuracy gate's reason when it failed."""
    parts = [r.reasons if r.result != "VALID" and r.reasons else r.error]
    if r.accuracy_gate == "failed":
        parts.append(f"accuracy gate: {r.accuracy_gate_reason or 'failed'}")
    return "; ".join(p for p in parts if p)


def _yes_no(v: bool | None) -> str:
    return "n/a" if v is None else "yes" if v else "no"


@dataclass(frozen=True)
class ScenarioColumn:
    """A column of a scenario's table, the same in markdown and HTML."""

    title: str
    text: Callable[[ScenarioRow], str]
    key: str | None = None  # the ScenarioRow field a column of numbers sorts by; None: a column of text
    bad: Callable[[ScenarioRow], bool] | None = None  # when the cell reads as a failure
    hint: Callable[[ScenarioRow], str] | None = None  # more on the cell (HTML shows it on hover)


def scenario_columns(scenario: str, rows: list[ScenarioRow]) -> list[ScenarioColumn]:
    """A scenario's table: LoadGen's verdict and the figure per cell, the early-stopping
    estimate, the Server rates tried, the frame budget, accuracy and why a cell is INVALID;
    the columns no row of `rows` has a value for are left out."""
    fig = scenario_figure(scenario)
    budget = next((r.frame_budget_ms for r in rows if r.frame_budget_ms), None)
    cols = [
        ScenarioColumn("Model", lambda r: r.model),
        ScenarioColumn("Backend", lambda r: r.backend),
        ScenarioColumn("Precision", lambda r: r.precision),
        ScenarioColumn("LoadGen", lambda r: r.result or r.status, bad=lambda r: r.result != "VALID"),
        ScenarioColumn(fig.column, lambda r: fmt(r.figure_value, fig.spec), "figure_value"),
        ScenarioColumn("Early-stopping estimate (ms)", lambda r: fmt(r.early_stopping_ms, ".3f"), "early_stopping_ms"),
    ]
    if scenario == "server" or any(r.server_rates for r in rows):
        cols.append(ScenarioColumn("Rates tried (QPS: verdict)", lambda r: r.server_rates))
    if budget:
        cols.append(ScenarioColumn(f"Meets {budget:.1f} ms frame budget", lambda r: _yes_no(r.meets_frame_budget),
                                   bad=lambda r: r.meets_frame_budget is False))
    cols.append(ScenarioColumn("Task accuracy / gate", scenario_accuracy, "task_accuracy",
                               bad=lambda r: r.accuracy_gate == "failed", hint=lambda r: r.accuracy_gate_reason))
    if any(r.top1_agreement is not None for r in rows):
        cols.append(ScenarioColumn("Top-1 agree", lambda r: percent(r.top1_agreement), "top1_agreement"))
    if any(r.max_abs_diff is not None for r in rows):
        cols.append(ScenarioColumn("Max abs diff", lambda r: fmt(r.max_abs_diff, ".2e"), "max_abs_diff"))
    cols.append(ScenarioColumn("Why INVALID / not measured", scenario_why))
    return cols


def loadgen_text(cfg: dict) -> str:
    """A run's LoadGen configuration (its config's "loadgen") in words."""
    if not cfg:
        return "n/a"
    parts = [("MLPerf's compliant minimum durations and query counts" if cfg.get("compliant") else
              f"short runs of at least {cfg.get('min_duration_s')} s each"
              + (f" and {cfg['min_query_count']:,} queries" if cfg.get("min_query_count") else "")
              + " (not MLPerf's compliant durations)")]
    if "server" in (cfg.get("scenarios") or []):
        parts.append(f"Server: latency bound {fmt(cfg.get('server_latency_ms'), 'g')} ms on the 99th percentile, "
                     f"at most {cfg.get('server_steps', '?')} runs to find the highest VALID rate")
    if cfg.get("target_fps"):
        parts.append(f"frame budget 1000 / {cfg['target_fps']:g} fps = {1000 / cfg['target_fps']:.1f} ms")
    return "; ".join(parts)
