"""The suite: every model x backend cell, a model's backends kept alive together as arms and
timed in interleaved rounds, precision fallback, resume by fingerprint, each row stored as it
completes, then the reports rendered from the store."""
from __future__ import annotations

import datetime as _dt
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from edgebench.bench import environment
from edgebench.bench.cell import CUDA_HOST_INPUTS, BackendCell, ModelCell, attach_accuracy, error_text
from edgebench.config import TimingConfig
from edgebench.bench.isolation import RemoteCell
from edgebench.bench.progress import progress_bar
from edgebench.config import SuiteConfig, backend_cells, baseline_is_reference, parse_backend_spec
from edgebench.errors import InvalidConfigError, OutputDirError
from edgebench.results.record import Record, Status, utc_now
from edgebench.results.run import Run, RunStatus

if TYPE_CHECKING:
    from edgebench.report.table1 import Table1


def new_run_id() -> str:
    return _dt.datetime.now().strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


def split_timing(timing: TimingConfig, rounds: int) -> list[TimingConfig]:
    """One full warm-up, then the minimum count and duration shared across `rounds` rounds, so
    that interleaved arms together meet the same minima as one long loop."""
    if rounds < 1:
        raise InvalidConfigError(f"repetitions must be >= 1, got {rounds}")
    per_iters = -(-timing.min_iters // rounds)
    first = replace(timing, min_iters=per_iters, min_time_s=timing.min_time_s / rounds)
    rest = replace(first, warmup_iters=min(2, timing.warmup_iters), warmup_s=0.0)
    return [first] + [rest] * (rounds - 1)


@dataclass
class SuiteResult:
    run_id: str
    records: list[Record]
    outputs: dict  # report name -> Path
    status: RunStatus
    table: Table1 | None = None  # Table 1 of the stored rows; outputs hold its renderings (none without rows)


def run_suite(config: SuiteConfig, progress: bool = False, on_record=None) -> SuiteResult:
    """Run every model x backend cell, store each row as it completes, then render Table 1
    and Figure 4 from the stored rows. The first backend is the baseline (pre-opt, FP32)."""
    from edgebench.models import get_spec
    from edgebench.report import build_table1, write_table
    from edgebench.results.store import Store, validate

    cfg = config.resolved()
    for m in cfg.models:  # fail fast on names before any measurement
        if not m.endswith(".onnx"):
            get_spec(m, cfg.model_options.input_shape)
    validate(cfg.db)  # a bad --db is refused before the output folder exists, so none is left behind
    check_writable(cfg.out_dir)
    hold = None
    if cfg.target is not None:  # connect and probe first: an unreachable target is exit 3, nothing stored
        from edgebench.targets.remote import TargetHold

        hold = TargetHold.open(cfg.target, cfg.device, cfg.cache_dir)
        cfg = hold.configure(cfg)
        env = hold.env
    else:
        env = environment.capture()
    run_id = new_run_id()
    records: list[Record] = []
    baseline = "@".join(parse_backend_spec(cfg.backends[0], "fp32")[:2])  # stored as name@precision
    per_model = len(cfg.backends) * (len(cfg.loadgen.scenarios) if cfg.loadgen else 1)
    bar = progress_bar(len(cfg.models) * per_model, progress)
    with Store(cfg.db) as store:
        store.begin_run(Run.start(run_id, baseline, _config_dict(cfg), env))
        status = RunStatus.INTERRUPTED

        def keep(rec: Record) -> None:
            """A finished row: stored at once, counted, and told to the caller."""
            store.add(rec)
            records.append(rec)
            bar.update(1)
            if on_record is not None:
                on_record(rec)

        try:
            for model in cfg.models:
                shared: dict = {}
                if cfg.loadgen is not None:
                    for rec in _scenario_records(cfg, model, run_id, env, store, shared):
                        keep(rec)
                    continue
                arms = _model_arms(cfg, model, run_id, env, store, shared, hold)
                if arms is None:  # the model could not be built in-process: recorded, go on
                    for b in cfg.backends:
                        keep(Record(run_id, model, b, cfg.precision, cfg.batch_size, cfg.device, Status.RUN_FAILED,
                                    shared.get("build_error", "model build failed")))
                    continue
                reference = None
                for i, arm in enumerate(arms):
                    bar.set_description(f"{model} / {arm.rec.backend} {arm.rec.precision}: load")
                    if arm.open() and i == 0 and baseline_is_reference(cfg):
                        reference = arm.outputs
                extra = _fallback_arms(cfg, model, run_id, env, store, arms, reference, shared, hold)
                if extra:
                    bar.total += len(extra)
                    arms = arms + extra
                for round_timing in split_timing(cfg.timing, cfg.repetitions):
                    for arm in arms:
                        bar.set_description(f"{model} / {arm.rec.backend} {arm.rec.precision}")
                        arm.measure(round_timing)
                for i, arm in enumerate(arms):
                    rec = arm.finish(cfg.check_overhead)
                    if not getattr(arm, "resumed", False):
                        ref = reference if reference is not None else arm.reference_fallback()
                        attach_accuracy(rec, arm.check_info, arm.outputs, ref, gate=i > 0)
                    keep(rec)
            status = RunStatus.FINISHED
        finally:
            bar.close()
            store.finish_run(run_id, utc_now(), status)
            table = build_table1(store.records(run_id), store.run(run_id))
            outputs = write_table(table, cfg.out_dir) if records else {}
    return SuiteResult(run_id, records, outputs, status, table)


def _scenario_records(cfg: SuiteConfig, model: str, run_id: str, env: dict, store, shared: dict):
    """One model's LoadGen scenario cells (bench.scenario_cells): a backend's scenarios share one
    isolated worker (or, with --no-isolate, one in-process cell on the model's ModelCell)."""
    from edgebench.bench.scenario_cells import IsolatedScenarioArm, LocalScenarioArm, scenario_records

    def make_arm(name: str, precision: str, backend_options: dict):
        if cfg.isolate:
            base, spec = _isolated_spec(cfg, model, run_id, env, name, precision, backend_options, need_reference=False)
            return IsolatedScenarioArm(spec, base, cfg.cell_timeout_s), ""
        cell = _model_cell(cfg, model, shared)
        if cell is None:
            return None, shared.get("build_error", "model build failed")
        return LocalScenarioArm(BackendCell(cell, name, run_id, cfg.device, precision, cfg.timing, env,
                                            backend_options)), ""

    return scenario_records(cfg, model, run_id, env, store, make_arm,
                            lambda name, precision, options, scenario:
                            cell_fingerprint(cfg, model, name, precision, options, env, scenario))


def _isolated_spec(cfg: SuiteConfig, model: str, run_id: str, env: dict, name: str, precision: str,
                   backend_options: dict, need_reference: bool) -> tuple[Record, dict]:
    """An isolated worker's base record and spec (bench.isolation.worker_main)."""
    from dataclasses import asdict

    base = Record(run_id, model, name, precision, cfg.batch_size, cfg.device,
                  device_name=environment.device_name(env, cfg.device), timing=asdict(cfg.timing))
    spec = {
        "model": model, "model_options": asdict(cfg.model_options), "batch_size": cfg.batch_size,
        "pool_size": cfg.pool_size, "cache_dir": cfg.cache_dir, "backend": name, "run_id": run_id,
        "device": cfg.device, "precision": precision, "timing": asdict(cfg.timing), "env": env,
        "options": backend_options, "profile": cfg.profile, "need_reference": need_reference,
    }
    return base, spec


class _ResumedCell:
    """A cell already measured ok with the same fingerprint: its row is copied into this run."""

    resumed = True

    def __init__(self, rec: Record, run_id: str):
        self.source_run = rec.run_id
        self.rec = rec
        self.rec.run_id = run_id
        self.rec.details = {**rec.details, "resumed_from": self.source_run}
        self.outputs = None
        self.check_info = (None, "", None)

    def open(self) -> bool:
        return False

    def measure(self, timing) -> None:
        pass

    def finish(self, check_overhead: bool = False) -> Record:
        return self.rec


class _LocalArm:
    """Adapter: an in-process BackendCell with the arm interface the suite drives."""

    def __init__(self, bc: "BackendCell"):
        self.bc, self.rec = bc, bc.rec

    @property
    def outputs(self):
        return self.bc.outputs

    @property
    def check_info(self):
        return self.bc.cell.check_info()

    def reference_fallback(self):
        return self.bc.cell.reference_outputs()

    def open(self) -> bool:
        return self.bc.open()

    def measure(self, timing) -> None:
        self.bc.measure(timing)

    def finish(self, check_overhead: bool = False) -> Record:
        self.rec = self.bc.finish(check_overhead)
        return self.rec


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


def _model_arms(cfg: "SuiteConfig", model: str, run_id: str, env: dict, store, shared: dict, hold=None) -> list | None:
    """The arms of one model in backend order: resumed rows, isolated workers, in-process cells
    (which share the model's one ModelCell through `shared`), or a remote target's cells."""
    arms = []
    for i, (name, precision, options) in enumerate(backend_cells(cfg.backends, cfg.precision)):
        arm = _make_arm(cfg, model, run_id, env, store, name, precision, options, shared, need_reference=i > 0,
                        hold=hold)
        if arm is None:
            return None
        arms.append(arm)
    return arms


def _make_arm(cfg: "SuiteConfig", model: str, run_id: str, env: dict, store, name: str, precision: str,
              options: dict, shared: dict, need_reference: bool, hold=None):
    """One arm: the stored row when resuming finds the same fingerprint, else a remote target's
    cell, an isolated worker or an in-process cell (these two share one ModelCell through
    `shared`); None if the model cannot be built."""
    fp = cell_fingerprint(cfg, model, name, precision, options, env)
    if cfg.resume:
        old = store.find_ok(fp)
        if old is not None:
            return _ResumedCell(old, run_id)
    backend_options = {k: v for k, v in options.items() if k != "fallback"}
    if hold is not None:
        from edgebench.targets.arms import make_arm

        cell = _model_cell(cfg, model, shared)
        if cell is None:
            return None
        arm = make_arm(hold, cell, name, run_id, precision, cfg.timing, backend_options)
    elif cfg.isolate:
        base, spec_dict = _isolated_spec(cfg, model, run_id, env, name, precision, backend_options,
                                         need_reference and (cfg.resume or not baseline_is_reference(cfg)))
        arm = RemoteCell(spec_dict, base, cfg.cell_timeout_s)
        arm.reference_fallback = lambda a=arm: a.reference
    else:
        cell = _model_cell(cfg, model, shared)
        if cell is None:
            return None
        arm = _LocalArm(BackendCell(cell, name, run_id, cfg.device, precision, cfg.timing, env, backend_options,
                                    profile=cfg.profile))
    if options:
        arm.rec.details["options"] = options
    arm.rec.fingerprint = fp
    return arm


def _model_cell(cfg: "SuiteConfig", model: str, shared: dict) -> ModelCell | None:
    """The model's one in-process ModelCell, kept in `shared`; None (and the reason in
    shared["build_error"]) when the model cannot be built."""
    if "cell" not in shared:
        try:
            shared["cell"] = ModelCell(model, cfg.model_options, cfg.batch_size, cfg.pool_size, cfg.cache_dir)
        except Exception as exc:  # a factory that raises, a checkpoint that does not fit: a row, not a lost run
            shared["build_error"] = error_text(exc)
            return None
    return shared["cell"]


def _fallback_arms(cfg: "SuiteConfig", model: str, run_id: str, env: dict, store, arms: list, reference,
                   shared: dict, hold=None) -> list:
    """Precision fallback (`NAME@PREC:fallback=PREC2`, as TensorRT falls back to higher precision
    per layer): an arm whose outputs already fail its precision's accuracy gate gets a sibling
    arm of the same backend at the fallback precision, opened now and timed in the same rounds.
    The failed arm is still timed and recorded as accuracy_failed."""
    from edgebench.bench.accuracy import compare

    extra = []
    for arm in arms[1:]:
        options = dict(arm.rec.details.get("options") or {})
        fallback = options.pop("fallback", None)
        if not fallback or getattr(arm, "resumed", False) or arm.outputs is None:
            continue
        ref = reference if reference is not None else arm.reference_fallback()
        if ref is None or compare(ref, arm.outputs, arm.rec.precision).passed:
            continue
        if any((a.rec.backend, a.rec.precision) == (arm.rec.backend, fallback) and
               (a.rec.details.get("options") or {}) == options for a in arms[1:] + extra):
            continue  # that variant is already among the candidates
        new = _make_arm(cfg, model, run_id, env, store, arm.rec.backend, fallback, options, shared, need_reference=True,
                        hold=hold)
        if new is None:
            continue
        new.rec.details["fallback_from"] = arm.rec.precision
        new.open()
        extra.append(new)
    return extra


def _config_dict(cfg: SuiteConfig) -> dict:
    from dataclasses import asdict

    d = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()}
    d["cuda_host_inputs"] = CUDA_HOST_INPUTS
    return d


def check_writable(folder: Path) -> None:
    """Make the output folder and prove it takes a file, or raise OutputDirError."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".edgebench-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise OutputDirError(f"output folder {folder} is not writable ({exc.strerror}); pass --out DIR with a writable folder") from exc

