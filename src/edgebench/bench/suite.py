"""The suite: every model x backend cell through the one engine (bench.engine): a model's arms
kept alive together and timed in interleaved rounds, precision fallback, resume by fingerprint,
each row stored as it completes (bench.lifecycle), then the reports rendered from the store.
Where the cells run is the executor's (bench.executors; a target's is passed in by the caller)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from edgebench.bench import environment, stages
from edgebench.bench.model_cell import CUDA_HOST_INPUTS
from edgebench.bench.engine import Reference, ResumedArm, measure_model, split_timing
from edgebench.bench.lifecycle import RunRecorder, check_writable, new_run_id
from edgebench.bench.progress import progress_bar
from edgebench.config import SuiteConfig, backend_cells, baseline_is_reference, model_cells
from edgebench.errors import InvalidConfigError
from edgebench.results.record import Record
from edgebench.results.run import RunStatus

if TYPE_CHECKING:
    from edgebench.report.table1 import Table1


@dataclass
class SuiteResult:
    run_id: str
    records: list[Record]
    outputs: dict  # report name -> Path
    status: RunStatus
    table: Table1 | None = None  # Table 1 of the stored rows; outputs hold its renderings (none without rows)
    #: where the run's wall time went (bench.stages.breakdown), also written to OUT/breakdown.json
    breakdown: dict | None = None


def check_config(cfg: SuiteConfig) -> None:
    """Everything about a resolved config that can be refused before a run begins, a target is
    reached or a model is built: model names, backend specs, the store, the output folder,
    whether the inputs fit in memory, and the environment's reference-cache limit."""
    from edgebench.bench.check import reference_cache_limit_mb
    from edgebench.bench.inputs import check_input_memory
    from edgebench.models import get_spec
    from edgebench.results.store import validate

    for m in cfg.models:
        if not m.endswith(".onnx"):
            spec = get_spec(m, cfg.model_options.input_shape)
            check_input_memory(m, spec.input_shape, cfg.batch_size, cfg.pool_size)
    if cfg.backends:  # a target's default pair is known only once it is probed
        backend_cells(cfg.backends, cfg.precision)
    validate(cfg.db)  # a bad --db is refused before the output folder exists, so none is left behind
    check_writable(cfg.out_dir)
    reference_cache_limit_mb()


def run_suite(config: SuiteConfig, progress: bool = False, on_record=None, executor=None,
              time_left=None) -> SuiteResult:
    """Run every model x backend cell, store each row as it completes, then render Table 1
    and Figure 4 from the stored rows. The first backend is the baseline (pre-opt, FP32).
    `executor`: where the cells run (bench.executors); by default isolated workers, or this
    process with `isolate=False`. A config with a target needs the target's executor
    (edgebench.api.run_suite passes it). `time_left` (a bench.progress.TimeLeft) is told each
    model's stage seconds as it finishes, before its rows are kept."""
    import time

    from edgebench.bench.executors import IsolatedExecutor, LocalExecutor
    from edgebench.results.store import Store

    started, before = time.perf_counter(), stages.CLOCK.snapshot()
    with stages.stage("import"):
        import torch  # noqa: F401 - every run needs it; its import is the first part of the breakdown
    cfg = config.resolved()
    check_config(cfg)
    if executor is None:
        if cfg.target is not None:
            raise InvalidConfigError(f"target {cfg.target}: its cells run through targets.executor.TargetExecutor; "
                                     "call edgebench.api.run_suite, which passes it")
        executor = IsolatedExecutor() if cfg.isolate else LocalExecutor()
    cfg, env = executor.open(cfg)  # a target: connected and probed first (unreachable: exit 3, nothing stored)
    environment.announce(env)
    try:
        cells = backend_cells(cfg.backends, cfg.precision)
        bar = progress_bar(len(cfg.models) * len(model_cells(cfg)), progress)
        with Store(cfg.db) as store:
            recorder = RunRecorder(store, new_run_id(), "@".join(cells[0][:2]), _config_dict(cfg), env, on_record)
            status = RunStatus.INTERRUPTED
            try:
                for model in cfg.models:
                    session = executor.session(cfg, model, recorder.run_id, env)
                    at_start = stages.CLOCK.snapshot()
                    try:
                        rows = (_scenario_records(cfg, session, store, env, model) if cfg.loadgen is not None
                                else _model_records(cfg, session, store, env, model, cells, bar))
                        if time_left is not None:
                            time_left.model_done(model, stages.since(at_start))
                        for rec in rows:
                            recorder.keep(rec)
                            bar.update(1)
                    finally:
                        session.close()
                status = RunStatus.FINISHED
            finally:
                bar.close()
                with stages.stage("report"):
                    table, outputs = recorder.finish(status, cfg.out_dir)
                # written even when the run was interrupted: where its time went so far
                breakdown = stages.breakdown(stages.since(before), time.perf_counter() - started)
                if outputs:
                    outputs["breakdown"] = _write_breakdown(breakdown, recorder.run_id, cfg.out_dir)
    finally:
        executor.close()
    return SuiteResult(recorder.run_id, recorder.records, outputs, status, table, breakdown)


def _write_breakdown(breakdown: dict, run_id: str, out_dir: Path) -> Path:
    import json

    path = Path(out_dir) / "breakdown.json"
    path.write_text(json.dumps({"run_id": run_id, **breakdown}, indent=2) + "\n")
    return path


def _model_records(cfg: SuiteConfig, session, store, env: dict, model: str, cells: list, bar) -> list[Record]:
    """One model's harness cells (interleaved timed rounds) through the engine; with
    cfg.cool_to_c, once the device is cooler than that (bench.soak.cool_before)."""
    arms = [_arm(cfg, session, store, env, model, name, precision, options) for name, precision, options in cells]
    cooling = None
    if cfg.cool_to_c is not None and not all(arm.resumed for arm in arms):
        from edgebench.bench.soak import cool_before

        cooling = cool_before(cfg)

    def stage(arm, what: str) -> None:
        bar.set_description(f"{model} / {arm.rec.backend} {arm.rec.precision}" + (": load" if what == "load" else ""))

    def fallbacks(arms: list, reference: Reference) -> list:
        extra = _fallback_arms(cfg, session, store, env, model, arms, reference)
        bar.total += len(extra)
        return extra

    recs = measure_model(arms, split_timing(cfg.timing, cfg.repetitions), Reference(session.reference),
                         baseline_is_reference=baseline_is_reference(cfg), check_overhead=cfg.check_overhead,
                         fallbacks=fallbacks, on_stage=stage)
    if cooling is not None:
        details, warning = cooling
        for rec in recs:
            if "resumed_from" not in rec.details:
                rec.details["cooling"] = details
                rec.warnings += [warning] if warning else []
    return recs


def _arm(cfg: SuiteConfig, session, store, env: dict, model: str, name: str, precision: str, options: dict):
    """One cell's arm: the stored row when --resume finds the same fingerprint, else the
    executor's arm."""
    fp = cell_fingerprint(cfg, model, name, precision, options, env)
    old = store.find_ok(fp) if cfg.resume else None
    arm = ResumedArm(old, session.run_id) if old is not None else session.arm(name, precision, options)
    arm.rec.fingerprint = fp
    return arm


def _scenario_records(cfg: SuiteConfig, session, store, env: dict, model: str):
    """One model's LoadGen scenario cells (bench.scenario_cells): a backend's scenarios share one
    opened backend (the executor's scenario arm)."""
    from edgebench.bench.scenario_cells import scenario_records

    return scenario_records(cfg, session, store,
                            lambda name, precision, options, scenario:
                            cell_fingerprint(cfg, model, name, precision, options, env, scenario))


def cell_fingerprint(cfg: "SuiteConfig", model: str, name: str, precision: str, options: dict, env: dict,
                     scenario: str | None = None) -> str:
    """Everything that defines a cell's measurement: a stored ok row with the same fingerprint is
    the same measurement, so `run --resume` may reuse it."""
    from dataclasses import asdict

    from edgebench.cache import cache_key

    weights = cfg.model_options.weights_for(model)
    weights_id = None
    if weights and Path(weights).is_file():
        st = Path(weights).stat()
        weights_id = [str(weights), st.st_size, st.st_mtime_ns]
    keep = ("host", "cpu", "gpu", "torch", "onnxruntime", "openvino", "tensorrt", "cuda")
    if "target" in env:  # a remote target's row: which device, its JetPack and power mode too
        keep += ("target", "l4t", "power_mode", "trtexec")
    return cache_key({
        "model": model, "model_options": asdict(cfg.model_options), "weights": weights_id,
        "backend": name, "precision": precision, "options": options, "batch": cfg.batch_size,
        "device": cfg.device, "timing": asdict(cfg.timing), "repetitions": cfg.repetitions,
        "pool": cfg.pool_size, "env": {k: env.get(k) for k in keep}, "cuda_host_inputs": CUDA_HOST_INPUTS,
        # the timings are the same with or without a profile, but a row stored without one must
        # not stand in for a cell --profile asked for; left out when off, so that the rows stored
        # before profiles existed keep their fingerprints
        **({"profile": True} if cfg.profile else {}),
        # a LoadGen scenario cell: its scenario and LoadGen's settings (absent for harness cells)
        **({"scenario": scenario,
             "loadgen": {k: v for k, v in asdict(cfg.loadgen).items() if k != "scenarios"}} if scenario else {}),
    })


def _fallback_arms(cfg: SuiteConfig, session, store, env: dict, model: str, arms: list,
                   reference: Reference) -> list:
    """Precision fallback (`NAME@PREC:fallback=PREC2`, as TensorRT falls back to higher precision
    per layer): an arm whose outputs already fail its precision's accuracy gate gets a sibling
    arm of the same backend at the fallback precision, opened now and timed in the same rounds.
    The failed arm is still timed and recorded as accuracy_failed."""
    from edgebench.bench.task_parity import judge

    def plain(options: dict) -> dict:
        return {k: v for k, v in options.items() if k != "fallback"}

    extra = []
    for arm in arms[1:]:
        fallback = arm.rec.options.get("fallback")
        if not fallback or arm.resumed or arm.outputs is None:
            continue
        ref = reference.get()
        try:
            if ref is None or judge(ref, arm.outputs, arm.rec.precision, parity=arm.check_info[3]).passed:
                continue
        except Exception:  # a gate that cannot be evaluated: its row says why (recorder.attach_accuracy)
            continue
        options = plain(arm.rec.options)
        if any((a.rec.backend, a.rec.precision, plain(a.rec.options)) == (arm.rec.backend, fallback, options)
               for a in arms[1:] + extra):
            continue  # that variant is already among the candidates
        new = _arm(cfg, session, store, env, model, arm.rec.backend, fallback, options)
        new.rec.details["fallback_from"] = arm.rec.precision
        new.open()
        extra.append(new)
    return extra


def _config_dict(cfg: SuiteConfig) -> dict:
    from dataclasses import asdict

    d = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()}
    d["cuda_host_inputs"] = CUDA_HOST_INPUTS
    return d
