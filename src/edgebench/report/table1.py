"""Table 1 as a pure function of stored records: pre-opt (the baseline backend, FP32) vs
post-opt (the fastest successful other backend) per model, with parity and mean speedup, and
what qualifies each number: quick timing, contention, an interrupted run, the models that failed.
A run's MLPerf LoadGen scenario cells (`run --scenario`) become ScenarioRows beside it."""
from __future__ import annotations

from dataclasses import dataclass, field

from edgebench.models.inputs import describe, normalize
from edgebench.report.statistics import break_even, mean, speedup_interval
from edgebench.results.record import Accuracy, Record
from edgebench.results.run import Run, RunStatus

BACKEND_TITLES = {
    "pytorch": "PyTorch eager", "onnxruntime": "ONNX Runtime", "torch-compile": "torch.compile",
    "aot-inductor": "AOTInductor", "tensorrt": "TensorRT", "openvino": "OpenVINO",
}


def backend_title(spec: str) -> str:
    """"pytorch@fp32" -> "PyTorch eager FP32", for titles."""
    name, _, precision = spec.partition("@")
    return f"{BACKEND_TITLES.get(name, name)} {(precision or 'fp32').upper()}"


@dataclass(frozen=True)
class ScenarioFigure:
    """What an MLPerf LoadGen scenario reports as its figure, and where a record keeps it."""

    title: str  # LoadGen's name for the scenario
    what: str  # the scenario and its figure, in words
    figure: str  # the figure's name
    field: str  # the LoadGen group's field that holds it
    unit: str
    column: str  # the figure's column title
    spec: str  # its number format


#: per `--scenario` name: the scenario's figure
SCENARIO_FIGURES = {
    "single-stream": ScenarioFigure(
        "SingleStream", "one query of one sample at a time; figure: the 90th percentile latency",
        "p90 latency", "p90_ms", "ms", "p90 (ms)", ".3f"),
    "multi-stream": ScenarioFigure(
        "MultiStream", "queries of 8 samples, one at a time; figure: the 99th percentile latency per query",
        "p99 latency per query", "p99_ms", "ms", "p99 (ms)", ".3f"),
    "offline": ScenarioFigure(
        "Offline", "every sample in one query; figure: samples per second",
        "samples per second", "samples_per_s", "samples/s", "Samples/s", ",.1f"),
    "server": ScenarioFigure(
        "Server", "Poisson arrivals; figure: the highest scheduled rate LoadGen called VALID under the latency bound "
        "on the 99th percentile, found by doubling then bisecting",
        "scheduled queries per second", "server_qps", "queries/s", "Scheduled QPS", ",.1f"),
}


def scenario_figure(scenario: str) -> ScenarioFigure:
    """A scenario's figure; one this edgebench does not know (a newer store's) has none."""
    return SCENARIO_FIGURES.get(scenario) or ScenarioFigure(scenario, "", "", "", "", "Figure", ".3f")


@dataclass
class ScenarioRow:
    """One MLPerf LoadGen scenario cell: LoadGen's verdict and the scenario's figure, the
    constraints it was held to, and the cell's accuracy."""

    model: str
    backend: str
    precision: str
    scenario: str  # single-stream, multi-stream, offline, server
    status: str  # the cell's: ok, skipped, run_failed, ...
    result: str  # LoadGen's verdict: VALID, INVALID, or "" (not measured)
    figure: str  # the scenario's figure (SCENARIO_FIGURES), its value and unit
    figure_value: float | None
    figure_unit: str
    p90_ms: float | None = None
    p99_ms: float | None = None
    samples_per_s: float | None = None
    server_qps: float | None = None
    latency_bound_ms: float | None = None  # server: the bound on the 99th percentile
    early_stopping_ms: float | None = None
    frame_budget_ms: float | None = None  # 1000 / --target-fps
    meets_frame_budget: bool | None = None
    compliant: bool = False  # MLPerf's minimum durations and query counts
    reasons: str = ""  # LoadGen's reasons for INVALID, "; "-joined
    error: str = ""  # the first line of the cell's error
    task_accuracy: float | None = None  # 0..1, on labelled task data
    accuracy_gate: str = ""  # "passed", "failed", or ""
    accuracy_gate_reason: str = ""
    top1_agreement: float | None = None
    max_abs_diff: float | None = None
    server_rates: str = ""  # server: each arrival rate tried, "QPS: verdict", in the order tried


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
    #: a detector's or segmenter's agreement with the reference (bench.task_parity), e.g. "mAP 0.997"
    task_agreement: str = ""
    # over the decisive check inputs only, which the accuracy gate judges (bench.accuracy)
    top1_decisive_agreement: float | None = None
    top1_decisive_items: int | None = None
    post_gate: str = ""
    speedup_ci: tuple | None = None  # 95% bootstrap interval of the speedup (ratio of medians)
    significant: bool | None = None  # False when the interval includes 1
    pre_task_accuracy: float | None = None
    post_task_accuracy: float | None = None
    input: str = ""  # one item's input shape as the run used it, e.g. "3x224x224"
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
    run: Run
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
    #: MLPerf LoadGen scenario cells (run --scenario), grouped by scenario in the order the run names them
    scenario_rows: list = field(default_factory=list)

    @property
    def interrupted(self) -> bool:
        return self.status == RunStatus.INTERRUPTED

    @property
    def harness_records(self) -> list:
        """The records the harness timed: every record but the LoadGen scenario cells."""
        return [r for r in self.records if not r.loadgen.scenario]

    @property
    def scenarios(self) -> list:
        """(scenario, its ScenarioRows) per scenario, in the order the run names them."""
        out: dict[str, list[ScenarioRow]] = {}
        for r in self.scenario_rows:
            out.setdefault(r.scenario, []).append(r)
        return list(out.items())

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
                out.append((r.model, "post-opt", post_label(r), r.post_other_cpu_pct, r.post_load_before_pct))
        return out


def build_table1(records: list[Record], run: Run) -> Table1:
    """Table 1 of a stored run: one row per model, in the order the records first name it."""
    baseline, _, base_precision = run.baseline.partition("@")
    base_precision = base_precision or "fp32"

    def is_pre(r: Record) -> bool:
        return r.backend == baseline and r.precision == base_precision

    scenarios: dict[str, list[Record]] = {}
    for r in records:
        if r.loadgen.scenario:
            scenarios.setdefault(r.loadgen.scenario, []).append(r)
    scenario_rows = [scenario_row(r) for recs in scenarios.values() for r in recs]
    harness = [r for r in records if not r.loadgen.scenario]
    by_model: dict[str, list[Record]] = {}
    for r in harness:
        by_model.setdefault(r.model, []).append(r)
    rows = [_row(model, recs, baseline, is_pre) for model, recs in by_model.items()]
    speedups = [r.speedup for r in rows if r.speedup is not None]
    first = records[0] if records else None
    weights = sorted({r.model_facts.weights for r in records if r.model_facts.weights})
    cfg = run.config
    status = run.status.value
    return Table1(
        baseline=f"{baseline}@{base_precision}",
        status=status,
        quick=bool(cfg.get("timing", {}).get("quick")) or any(r.quick for r in rows),
        not_reached=[m for m in cfg.get("models", []) if m not in by_model and m not in
                     {r.model for r in scenario_rows}] if status == RunStatus.INTERRUPTED
        else [],
        rows=rows,
        mean_speedup=mean(speedups),
        run=run,
        device_name=first.device_name if first else "",
        batch_size=first.batch_size if first else None,
        weights=", ".join(weights),
        overhead=[
            (r.model, r.backend, r.precision, r.latency.host.p50_ms, r.overhead.harness_check_p50_ms,
             r.overhead.bare_p50_ms, r.overhead.pct)
            for r in harness
            if r.ok and r.overhead.pct is not None
        ],
        records=list(records),
        scenario_rows=scenario_rows,
    )


def scenario_row(rec: Record) -> ScenarioRow:
    """A LoadGen scenario cell's row."""
    lg, acc = rec.loadgen, rec.accuracy
    fig = scenario_figure(lg.scenario)
    error = rec.error.strip().splitlines()[0] if rec.error and rec.error.strip() else ""
    return ScenarioRow(
        model=rec.model, backend=rec.backend, precision=rec.precision, scenario=lg.scenario, status=str(rec.status),
        result=lg.result, figure=fig.figure, figure_value=getattr(lg, fig.field) if fig.field else None,
        figure_unit=fig.unit, p90_ms=lg.p90_ms, p99_ms=lg.p99_ms, samples_per_s=lg.samples_per_s,
        server_qps=lg.server_qps, latency_bound_ms=lg.latency_bound_ms, early_stopping_ms=lg.early_stopping_ms,
        frame_budget_ms=lg.frame_budget_ms, meets_frame_budget=lg.meets_frame_budget, compliant=lg.compliant,
        reasons="; ".join(lg.reasons or []), error=error[:300], task_accuracy=acc.task_accuracy, accuracy_gate=acc.gate,
        accuracy_gate_reason=acc.gate_reason, top1_agreement=acc.top1_agreement, max_abs_diff=acc.max_abs_diff,
        server_rates=", ".join(f"{t['qps']:g}: {t['result']}" for t in rec.details.get("loadgen_server_rates") or []),
    )


def pick_cells(recs: list[Record], is_pre) -> tuple:
    """One model's rows -> (its baseline row or None, that row if ok else None, the post-opt row
    or None): the post-opt row is the fastest ok row other than the baseline row."""
    # the baseline is the model's first row of the baseline backend and precision; later rows
    # of the same pair (other options, a precision fallback) are post-opt candidates
    pre_row = next((r for r in recs if is_pre(r)), None)
    pre = pre_row if pre_row is not None and pre_row.ok else None
    # a cell whose accuracy could not be judged is never the pick: its speed may be that of wrong outputs
    posts = sorted((r for r in recs if r is not pre_row and r.ok and r.latency.host is not None
                    and r.accuracy.gate != Accuracy.NOT_JUDGED), key=lambda r: r.latency.host.p50_ms)
    return pre_row, pre, posts[0] if posts else None


def _row(model: str, recs: list[Record], baseline: str, is_pre) -> Table1Row:
    """Table 1's row for one model's records."""
    pre_row, pre, post = pick_cells(recs, is_pre)
    failed = [f"{r.backend} {r.precision}: " + (r.accuracy.gate if r.ok else str(r.status)) + (f" ({_why(r)})" if _why(r) else "")
              for r in recs if not r.ok or r.accuracy.gate == Accuracy.NOT_JUDGED]
    any_rec = pre or post or recs[0]
    speedup = pre.latency.host.p50_ms / post.latency.host.p50_ms if pre and post else None
    ci = speedup_interval(pre.latency.samples_ms, post.latency.samples_ms) if pre and post else None
    pre_dev = pre.latency.device.p50_ms if pre and pre.latency.device else None
    post_dev = post.latency.device.p50_ms if post and post.latency.device else None
    return Table1Row(
        model=model,
        task=any_rec.task,
        params=any_rec.model_facts.params,
        flops=any_rec.model_facts.flops,
        input=_input_text(any_rec, pre, post),
        pre_backend=baseline,
        pre_p50_ms=pre.latency.host.p50_ms if pre else None,
        post_backend=post.backend if post else "",
        post_precision=post.precision if post else "",
        post_options=_variant_note(post) if post else "",
        post_p50_ms=post.latency.host.p50_ms if post else None,
        speedup=speedup,
        max_abs_diff=post.accuracy.max_abs_diff if post else None,
        top1_agreement=post.accuracy.top1_agreement if post else None,
        top1_decisive_agreement=post.details.get("top1_decisive_agreement") if post else None,
        top1_decisive_items=post.details.get("top1_decisive_items") if post else None,
        task_agreement=task_agreement(post.details.get("task_parity")) if post else "",
        note="; ".join(failed),
        post_gate=post.accuracy.gate if post else "",
        speedup_ci=ci,
        pre_energy_mj=pre.energy.per_item_mj if pre else None,
        post_energy_mj=post.energy.per_item_mj if post else None,
        energy_source=(post or pre).energy.source if (post or pre) else "",
        post_rss_mb=post.memory.host_rss_peak_mb if post else None,
        significant=None if ci is None else not (ci[0] <= 1.0 <= ci[1]),
        pre_task_accuracy=pre.accuracy.task_accuracy if pre else None,
        post_task_accuracy=post.accuracy.task_accuracy if post else None,
        pre_cold_start_s=pre.cold_start.total_s if pre else None,
        post_cold_start_s=post.cold_start.total_s if post else None,
        break_even_inferences=break_even(pre, post),
        pre_device_p50_ms=pre_dev,
        post_device_p50_ms=post_dev,
        device_speedup=pre_dev / post_dev if pre_dev and post_dev else None,
        post_gpu_mem_peak_mb=post.memory.gpu_peak_allocated_mb if post else None,
        post_throughput_items_per_s=(
            post.batch_size * 1e3 / (post_dev or post.latency.host.p50_ms) if post else None
        ),
        quick=any(_quick(r) for r in (pre, post) if r is not None),
        # rows stored before contention was measured read as not contended, with no figures
        pre_contended=pre.contention.contended if pre else False,
        post_contended=post.contention.contended if post else False,
        pre_other_cpu_pct=pre.contention.other_cpu_pct if pre else None,
        post_other_cpu_pct=post.contention.other_cpu_pct if post else None,
        pre_load_before_pct=pre.contention.load_before_pct if pre else None,
        post_load_before_pct=post.contention.load_before_pct if post else None,
        failed_reason=("" if pre and post else
                       "no ok post-opt cell" if pre else
                       f"baseline {pre_row.status}" if pre_row is not None else "no baseline cell"),
    )


def _quick(rec: Record) -> bool:
    return bool((rec.timing or {}).get("quick"))


def _why(rec: Record) -> str:
    """A failed cell's reason: the accuracy gate's (metric, value, threshold), else its error."""
    text = rec.accuracy.gate_reason or (rec.error.strip().splitlines()[0] if rec.error and rec.error.strip() else "")
    return text[:200]


def _variant_note(rec) -> str:
    """Options of a post-opt cell, and the precision it fell back from, for its label."""
    parts = [f"{k}={v}" for k, v in rec.options.items()]
    if rec.details.get("fallback_from"):
        parts.append(f"fallback from {rec.details['fallback_from']}")
    return "+".join(parts)


def post_label(r: Table1Row) -> str:
    """A row's post-opt cell as "backend precision (options)", or "none"."""
    if not r.post_backend:
        return "none"
    return f"{r.post_backend} {r.post_precision}" + (f" ({r.post_options})" if r.post_options else "")


def task_agreement(metrics: dict | None) -> str:
    """A detector's or segmenter's agreement with the reference in a few words (bench.task_parity):
    "mAP 0.997 on 68 boxes", "mIoU 0.9981, 99.9% of decisive pixels"; "" without them."""
    if not metrics:
        return ""
    if "pseudo_labels" in metrics:
        if metrics["map"] is None:
            return "no confident reference boxes"
        return f"mAP {metrics['map']:.3f} on {metrics['pseudo_labels']} boxes"
    if metrics.get("miou") is None:
        return "no decisive pixels"
    return f"mIoU {metrics['miou']:.4f}, {100 * metrics['decisive_pixel_agreement']:.1f}% of decisive pixels"


def _input_text(any_rec, pre, post) -> str:
    """One item's input shape ("3x320x320"); with --pipeline, the frame it is made from too
    ("640x480 frames -> 3x320x320, whole pipeline timed": bench.pipeline)."""
    shape = describe(normalize(any_rec.model_facts.input_shape or []))
    frame = next((r.details["pipeline_frame"] for r in (pre, post) if r is not None and r.details.get("pipeline_frame")),
                 None)
    return f"{frame[0]}x{frame[1]} frames -> {shape}, whole pipeline timed" if frame else shape
