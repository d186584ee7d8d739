"""The Python API: `benchmark` (one cell) and `run_suite` (models x backends -> store ->
Table 1 / Figure 4). The CLI is a thin layer over these two functions."""
from __future__ import annotations

import copy
import datetime as _dt
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from edgebench.backends.base import BackendContext
from edgebench.backends.registry import backend_class, entry
from edgebench.bench import environment
from edgebench.bench.harness import TimingConfig, infer, overhead_check, time_backend, time_device
from edgebench.bench.inputs import input_pool
from edgebench.bench.stats import LatencyStats
from edgebench.config import (
    PRECISIONS,
    ModelOptions,
    SuiteConfig,
    baseline_is_reference,
    check_batch_size,
    parse_backend_spec,
    resolve_device,
)
from edgebench.errors import (
    BackendUnavailableError,
    BuildError,
    EdgebenchError,
    ExportError,
    InvalidConfigError,
    UserError,
)
from edgebench.results.record import Record

if TYPE_CHECKING:
    from edgebench.report.table1 import Table1


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def new_run_id() -> str:
    return _dt.datetime.now().strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


#: where CUDA cells' timing inputs lie (ModelCell.pool_for); stored with each run, part of the
#: resume fingerprint, so rows timed from pageable inputs never join a run of page-locked ones
CUDA_HOST_INPUTS = "page-locked"


def load_model(name: str, opts: ModelOptions, cache_dir: Path | None = None):
    """The model exactly as every command benchmarks and exports it (a models.LoadedModel).
    Weights from outside edgebench (a factory, --weights, --pretrained) are returned untouched;
    only weights edgebench initialised at random get BatchNorm statistics from the task's
    calibration inputs (the ones INT8 calibration uses), so that their activations and logits
    have a realistic scale, and their label says so."""
    from edgebench.models import build_model, get_spec
    from edgebench.models.build import batchnorm_layers, recalibrate_batchnorm

    spec = get_spec(name, opts.input_shape)
    loaded = build_model(spec, opts.num_classes, opts.weights_for(name), opts.pretrained, opts.seed)
    if loaded.edgebench_made and batchnorm_layers(loaded.module):
        from edgebench.data.task_inputs import task_inputs

        items, _, desc = task_inputs(spec, opts.data, opts.calibration_size, opts.seed, cache_dir, split="train")
        recalibrate_batchnorm(loaded, items, desc)
    return loaded


def check_pristine(loaded) -> None:
    """Raise if the module's weights changed since they were built: parity and the accuracy gate
    must compare against the model as given, never against one a transform has altered."""
    from edgebench.models.build import state_dict_sha256

    if state_dict_sha256(loaded.module) != loaded.weights_sha256:
        raise RuntimeError(f"edgebench altered the weights of {loaded.spec.name} ({loaded.weights}); this is a bug, "
                           "please report it")


def export(model: str, opts: ModelOptions | None = None, cache_dir: str | Path | None = None,
           format: str = "onnx", device: str = "cpu", precision: str = "fp32"):
    """Export a model as `bench` and `run` do (the same weights, the same cached file): an ONNX
    export.Artifact, or for format "aot-inductor" the compiled package's backend (`.package`)."""
    opts = opts or ModelOptions()
    cache = Path(cache_dir) if cache_dir else None
    loaded = load_model(model, opts, cache)
    if format == "aot-inductor":
        context = BackendContext(tuple(loaded.spec.input_shape), _source_key(model, loaded))
        bk = backend_class("aot-inductor")(device=device, precision=precision, cache_dir=cache, context=context)
        bk.prepare(copy.deepcopy(loaded.module), 1)  # it may cast or move its module
        return bk
    if format != "onnx":
        raise InvalidConfigError(f"export format must be onnx or aot-inductor, not {format!r}")
    from edgebench.export import export_onnx

    art = export_onnx(loaded, opset=opts.opset, cache_dir=cache)
    check_pristine(loaded)
    return art


def _source_key(name: str, loaded) -> dict:
    """What identifies a model's weights and input, for backends' own caches."""
    return {"model": name, "weights": loaded.weights, "weights_sha256": loaded.weights_sha256,
            "input_shape": list(loaded.spec.input_shape), "num_classes": loaded.num_classes}


class ModelCell:
    """One model's shared state across its backend cells: built once, exported once,
    one input pool, one reference output list."""

    def __init__(self, name: str, opts: ModelOptions, batch_size: int, pool_size: int, cache_dir: Path | None):
        self.name = name
        self.opts = opts
        self.batch_size = batch_size
        self.cache_dir = cache_dir
        self.loaded = None
        self.onnx_file = None
        if name.endswith(".onnx"):
            from edgebench.export import load_onnx_file

            self.onnx_file = load_onnx_file(name)
            self.item_shape = tuple(self.onnx_file.metadata["input_shape"])
            self.task = "unknown"
        else:
            self.loaded = load_model(name, opts, cache_dir)
            self.item_shape = self.loaded.spec.input_shape
            self.task = self.loaded.spec.task
        self.spec = None if self.loaded is None else self.loaded.spec
        self.pool = input_pool(self.item_shape, batch_size, pool_size, opts.seed)
        self._pinned_pool: list | None = None
        self.reference: list | None = None  # PyTorch FP32 outputs on the check batches
        self._artifacts: dict = {}
        self._export_errors: dict = {}
        self._stats: dict | None = None
        self._check = None

    def pool_for(self, device: str) -> list:
        """The timing inputs: on CUDA the same values in page-locked host memory (made once)."""
        if device != "cuda":
            return self.pool
        if self._pinned_pool is None:
            from edgebench.bench.inputs import page_locked

            self._pinned_pool = page_locked(self.pool)
        return self._pinned_pool

    def check_batches(self):
        """(batches, labels or None, description): task inputs grouped into batches of the
        benchmark's size (the last one padded by repetition), for the accuracy gate."""
        if self._check is None:
            import numpy as np

            if self.spec is None:
                self._check = (self.pool, None, "random inputs (fixed seed)")
            else:
                from edgebench.data.task_inputs import task_inputs

                items, labels, desc = task_inputs(self.spec, self.opts.data, self.opts.check_size, self.opts.seed + 1,
                                                  self.cache_dir)
                b = self.batch_size
                n = len(items)
                padded = items + [items[i % n] for i in range((-n) % b)]
                batches = [np.stack(padded[i : i + b]).astype(np.float32) for i in range(0, len(padded), b)]
                self._check = (batches, labels, desc)
                self.check_items = n
        return self._check

    def stats(self) -> dict:
        if self._stats is None:
            if self.loaded is None:
                self._stats = {"params": self.onnx_file.metadata.get("params"), "flops": None, "macs": None}
            else:
                import torch

                from edgebench.models.stats import count_flops, trainable_params

                # FLOPs per item (batch 1), as the paper's Table 1 gives them
                flops = count_flops(self.loaded.module, torch.from_numpy(self.pool[0][:1]))
                self._stats = {"params": trainable_params(self.loaded.module), "flops": flops, "macs": flops // 2}
        return self._stats

    def check_info(self) -> tuple:
        """(labels or None, description, number of real items) of the check batches."""
        _, labels, desc = self.check_batches()
        return labels, desc, getattr(self, "check_items", None)

    def artifact(self, precision: str = "fp32"):
        """The ONNX artifact: FP32 export (the user's file when given), or its INT8 QDQ
        quantization calibrated on task inputs. Built once; a failure is remembered."""
        kind = "int8" if precision == "int8" else "fp32"
        if kind in self._export_errors:
            raise self._export_errors[kind]
        if kind not in self._artifacts:
            try:
                if kind == "fp32":
                    if self.onnx_file is not None:
                        art = self.onnx_file
                    else:
                        from edgebench.export import export_onnx

                        art = export_onnx(self.loaded, opset=self.opts.opset, cache_dir=self.cache_dir)
                else:
                    from edgebench.export.quantize import quantize_int8

                    fp32 = self.artifact("fp32")
                    if self.spec is None:
                        raise ExportError("INT8 calibration needs the model's task inputs; pass a model name, not an .onnx file")
                    from edgebench.data.task_inputs import task_inputs

                    calib, _, desc = task_inputs(self.spec, self.opts.data, self.opts.calibration_size, self.opts.seed,
                                                 self.cache_dir, split="train")
                    art = quantize_int8(fp32, calib, self.cache_dir, calibration_desc=desc)
            except ExportError as exc:
                self._export_errors[kind] = exc
                raise
            self._artifacts[kind] = art
        return self._artifacts[kind]

    def source_key(self) -> dict:
        """What identifies this model's weights and input, for backends' own caches."""
        if self.loaded is not None:
            return _source_key(self.name, self.loaded)
        return {"model": self.name, "onnx_sha256": self.onnx_file.sha256, "input_shape": list(self.item_shape)}

    def source_for(self, consumes: str, precision: str = "fp32"):
        if consumes == "module":
            if self.loaded is None:
                raise InvalidConfigError(f"{self.name} is an ONNX file; the pytorch backend needs a model name or file.py:factory")
            if precision == "int8":
                raise InvalidConfigError("int8 runs the quantized ONNX model: use onnxruntime, openvino or tensorrt")
            return copy.deepcopy(self.loaded.module)  # backends may move or cast it
        return self.artifact(precision)

    def reference_outputs(self) -> list | None:
        """The pristine module's FP32 CPU outputs on the check batches, when no baseline cell
        supplied them. The module is checked against the hash taken when it was built first."""
        if self.reference is None and self.loaded is not None:
            import torch

            check_pristine(self.loaded)
            with torch.inference_mode():
                self.reference = [self.loaded.module(torch.from_numpy(x)).numpy() for x in self.check_batches()[0]]
        return self.reference


def error_text(exc: BaseException) -> str:
    """A failure as one row's error: edgebench's own message whole, anything else as its type and
    first line."""
    text = str(exc).strip()
    if isinstance(exc, EdgebenchError):
        return text
    return f"{type(exc).__name__}: {text.splitlines()[0][:400] if text else ''}"


class BackendCell:
    """One backend on one model: `open` (create, prepare, load, outputs on the check batches
    for the accuracy gate), `measure` in one or more rounds, `finish`. A failure at any step lands in the
    record's status (export_failed / build_failed / run_failed / skipped); with `strict`,
    user errors and missing dependencies are raised instead (the single-cell `bench`)."""

    def __init__(self, cell: ModelCell, backend: str, run_id: str, device: str, precision: str,
                 timing: TimingConfig, env: dict, backend_options: dict | None = None, strict: bool = False):
        self.cell, self.backend, self.strict = cell, backend, strict
        self.backend_options = dict(backend_options or {})
        self.context = BackendContext(tuple(cell.item_shape), cell.source_key())
        self.bk = None
        self.outputs: list | None = None
        self.values: list[float] = []
        self.device_values: list[float] = []
        self.energy = None
        self.contention = None
        self.rec = Record(
            run_id=run_id,
            model=cell.name,
            backend=backend,
            precision=precision,
            batch_size=cell.batch_size,
            device=device,
            task=cell.task,
            device_name=environment.device_name(env, device),
            num_classes=cell.loaded.num_classes if cell.loaded else None,
            input_shape=list(cell.item_shape),
            weights=cell.loaded.weights if cell.loaded else cell.onnx_file.path.name,
            timing=timing.to_dict(),
            env=env,
        )

    @property
    def alive(self) -> bool:
        return self.bk is not None

    def _fail(self, stage: str, exc: BaseException) -> None:
        if isinstance(exc, KeyboardInterrupt) or (isinstance(exc, UserError) and not isinstance(exc, InvalidConfigError)):
            raise exc
        if self.strict and isinstance(exc, (BackendUnavailableError, InvalidConfigError, ExportError, BuildError)):
            raise exc
        if self.strict and stage == "run_failed":
            raise exc
        if isinstance(exc, (BackendUnavailableError, InvalidConfigError)):
            stage = "skipped"
        elif isinstance(exc, ExportError):
            stage = "export_failed"
        elif isinstance(exc, BuildError):
            stage = "build_failed"
        self.rec.status = stage
        self.rec.error = error_text(exc)
        self.close()

    def open(self) -> bool:
        rec, cell = self.rec, self.cell
        stage = "run_failed"
        try:
            rec.params, rec.flops, rec.macs = (cell.stats()[k] for k in ("params", "flops", "macs"))
            stage = "skipped"
            from edgebench.system import fast_precisions

            slow = fast_precisions(rec.device).get(rec.precision, "")
            if slow:
                raise InvalidConfigError(f"{rec.precision} not measured: {slow}; it would only show a slowdown")
            cls = backend_class(self.backend)
            bk = cls(device=rec.device, precision=rec.precision, cache_dir=cell.cache_dir, options=self.backend_options,
                     context=self.context)
            stage = "export_failed"
            source = cell.source_for(cls.consumes, rec.precision)
            if cls.consumes == "onnx":
                rec.artifact_bytes, rec.artifact_sha256, rec.export_s = source.size_bytes, source.sha256, source.export_s
                rec.details["onnx_max_abs_diff_vs_torch"] = source.metadata.get("max_abs_diff_vs_torch")
                rec.details["opset"] = source.metadata.get("opset")
            stage = "build_failed"
            self.bk = bk
            if rec.device == "cuda":
                import torch

                torch.cuda.synchronize()
                mem_base = (torch.cuda.memory_allocated(), torch.cuda.memory_reserved())
                torch.cuda.reset_peak_memory_stats()
            t0 = time.perf_counter()
            bk.prepare(source, cell.batch_size)
            rec.prepare_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            bk.load()
            rec.load_s = time.perf_counter() - t0
            rec.build_s = bk.timings.get("build_s", rec.prepare_s)
            stage = "run_failed"
            batches = cell.check_batches()[0]
            t0 = time.perf_counter()
            self.outputs = [infer(bk, batches[0])]
            rec.first_infer_s = time.perf_counter() - t0
            self.outputs += [infer(bk, x) for x in batches[1:]]
            if rec.device == "cuda":
                # this cell's own peak: above what the process held before it (a model's other
                # backends stay loaded while the arms are interleaved)
                rec.gpu_mem_peak_allocated_mb = (torch.cuda.max_memory_allocated() - mem_base[0]) / 2**20
                rec.gpu_mem_peak_reserved_mb = (torch.cuda.max_memory_reserved() - mem_base[1]) / 2**20
            return True
        except BaseException as exc:
            self._fail(stage, exc)
            return False

    def measure(self, timing: TimingConfig) -> None:
        if self.alive:
            try:
                if self.energy is None:
                    from edgebench.bench.contention import ContentionProbe
                    from edgebench.bench.energy import EnergyProbe

                    # the energy meter's idle baseline, topped up by a sleep, is the quiet window
                    # whose other-CPU share is the load before this cell
                    self.contention = ContentionProbe()
                    self.energy = self.contention.before(during=lambda: EnergyProbe(self.rec.device))
                pool = self.cell.pool_for(self.rec.device)
                self.values += self.contention.window(lambda: self.energy.window(lambda: time_backend(self.bk, pool, timing)))
                if self.rec.device == "cuda":
                    self.device_values += time_device(self.bk, pool, timing)
            except BaseException as exc:
                self._fail("run_failed", exc)

    def finish(self, check_overhead: bool = False) -> Record:
        rec = self.rec
        if self.alive:
            try:
                rec.latency = LatencyStats.from_values(self.values, self.cell.batch_size)
                rec.samples_ms = [round(v * 1e3, 5) for v in self.values]
                if self.device_values:
                    rec.device_latency = LatencyStats.from_values(self.device_values, self.cell.batch_size)
                self._validity()
                if check_overhead:
                    harness, bare = overhead_check(self.bk, self.cell.pool_for(rec.device)[0], max(20, min(len(self.values), 200)))
                    rec.harness_check_p50_ms = LatencyStats.from_values(harness).p50_ms
                    rec.bare_p50_ms = LatencyStats.from_values(bare).p50_ms
                rec.details.update(self.bk.details)
                rec.status = "ok"
            except BaseException as exc:
                self._fail("run_failed", exc)
            self.close()
        return rec

    def _validity(self) -> None:
        """Energy, peak RSS and the trust checks (bench.validity), into the record."""
        import resource

        from edgebench.bench import validity

        rec = self.rec
        rec.host_rss_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if self.energy is not None:
            e = self.energy.result()
            if e is not None and self.values:
                items = len(self.values) * self.cell.batch_size
                rec.energy_per_item_mj = 1e3 * e.joules / items
                rec.items_per_joule = items / e.joules if e.joules > 0 else None
                rec.idle_power_w, rec.energy_source = e.idle_watts, e.source
            self.energy.close()
        rec.warnings = validity.timing_warnings(rec) + validity.environment_warnings(rec.env)
        if len(self.cell.pool) > 1:
            same, varied = validity.same_input_check(self.bk, self.cell.pool_for(self.rec.device), iters=20)
            rec.details["same_input_p50_ms"], rec.details["varied_input_p50_ms"] = 1e3 * same, 1e3 * varied
            warning = validity.caching_warning(same, varied)
            if warning:
                rec.warnings.append(warning)
        if rec.timing.get("quick"):
            rec.warnings.append("quick run: fewer iterations than the defaults; a smoke test, not a result")
        if self.contention is not None:
            from edgebench.bench import contention

            rec.other_cpu_pct = self.contention.other_pct()
            before = self.contention.before_share
            rec.load_before_pct = before.other_pct if before is not None else None
            rec.details.update(self.contention.summary())
            rec.contended = contention.contended(rec.other_cpu_pct)
            if rec.contended:
                rec.warnings.append(contention.warning(rec.other_cpu_pct))

    def close(self) -> None:
        if self.bk is not None:
            bk, self.bk = self.bk, None
            bk.unload()


def split_timing(timing: TimingConfig, rounds: int) -> list[TimingConfig]:
    """One full warm-up, then the minimum count and duration shared across `rounds` rounds, so
    that interleaved arms together meet the same minima as one long loop."""
    if rounds < 1:
        raise InvalidConfigError(f"repetitions must be >= 1, got {rounds}")
    per_iters = -(-timing.min_iters // rounds)
    first = replace(timing, min_iters=per_iters, min_time_s=timing.min_time_s / rounds)
    rest = replace(first, warmup_iters=min(2, timing.warmup_iters), warmup_s=0.0)
    return [first] + [rest] * (rounds - 1)


def benchmark(
    model: str,
    backend: str = "onnxruntime",
    batch_size: int = 1,
    precision: str = "fp32",
    device: str = "cpu",
    timing: TimingConfig | None = None,
    num_classes: int | None = None,
    weights: str | None = None,
    pretrained: bool = False,
    input_shape: tuple[int, ...] | None = None,
    opset: int = 18,
    pool_size: int = 8,
    cache_dir: str | Path | None = None,
    check_overhead: bool = False,
    backend_options: dict | None = None,
    data: str | None = None,
    calibration_size: int = 32,
    check_size: int = 256,
) -> Record:
    """Benchmark one model on one backend; returns the Record (statistics in `.latency`;
    parity against PyTorch FP32 on task inputs in `.max_abs_diff` / `.cosine_similarity` /
    `.top1_agreement`; the precision's accuracy gate in `.accuracy_gate`)."""
    check_batch_size(batch_size)
    entry(backend)  # unknown names fail before any work
    if precision not in PRECISIONS:
        raise InvalidConfigError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    device = resolve_device(device)
    cell = ModelCell(
        model,
        ModelOptions(num_classes, weights, pretrained, input_shape, opset, data=data, calibration_size=calibration_size,
                     check_size=check_size),
        batch_size,
        pool_size,
        Path(cache_dir) if cache_dir else None,
    )
    timing = timing or TimingConfig()
    bc = BackendCell(cell, backend, new_run_id(), device, precision, timing, environment.capture(), backend_options, strict=True)
    if bc.open():
        bc.measure(timing)
    rec = bc.finish(check_overhead)
    _attach_accuracy(rec, cell.check_info(), bc.outputs, cell.reference_outputs())
    return rec


def stream(
    model: str,
    source: str,
    backend: str = "onnxruntime",
    target_fps: float = 30.0,
    stride: int = 1,
    max_frames: int | None = None,
    show: bool = False,
    device: str = "cpu",
    precision: str = "fp32",
    num_classes: int | None = None,
    weights: str | None = None,
    class_names: list[str] | None = None,
    opset: int = 18,
    cache_dir: str | Path | None = None,
):
    """Run a model over a video file or camera in real time; returns a bench.stream.StreamResult.
    Class names default to the ones stored in an `edgebench train` checkpoint."""
    from edgebench.bench.stream import StreamConfig, run_stream

    cfg = StreamConfig(source, target_fps, stride, max_frames, show)
    entry(backend)
    device = resolve_device(device)
    cell = ModelCell(model, ModelOptions(num_classes, weights, False, None, opset), 1, 1,
                     Path(cache_dir) if cache_dir else None)
    if class_names is None and weights:
        class_names = _checkpoint_classes(weights)
    bk = backend_class(backend)(device=device, precision=precision, cache_dir=cell.cache_dir,
                                context=BackendContext(tuple(cell.item_shape), cell.source_key()))
    with bk:
        bk.prepare(cell.source_for(bk.consumes, precision), 1)
        bk.load()
        return run_stream(bk, cell.item_shape, cfg, class_names)


def _checkpoint_classes(weights: str) -> list[str] | None:
    import torch

    try:
        obj = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception:
        return None
    meta = obj.get("meta", {}) if isinstance(obj, dict) else {}
    return meta.get("classes")


def _attach_accuracy(rec: Record, check_info: tuple, outputs, reference, gate: bool = True) -> None:
    """Parity against PyTorch FP32 on the task inputs, the precision's accuracy gate, and the
    task accuracy when the inputs are labelled. A cell that fails the gate keeps its timing and
    is marked accuracy_failed, so it is never picked as the post-opt result."""
    if outputs is None:
        return
    from edgebench.bench.accuracy import compare, task_accuracy

    labels, desc, n = check_info
    rec.details["accuracy_inputs"] = desc
    if labels is not None and n:
        import numpy as np

        rec.task_accuracy = task_accuracy([np.concatenate(outputs)[:n]], labels)
    if reference is None:
        return
    res = compare(reference, outputs, rec.precision if rec.precision in ("fp32", "fp16", "bf16", "int8") else "fp32")
    rec.max_abs_diff, rec.max_rel_diff = res.max_abs_diff, res.max_rel_diff
    rec.cosine_similarity, rec.top1_agreement = res.cosine, res.top1_agreement
    rec.details["top1_decisive_items"] = res.decisive_items
    rec.details["top1_decisive_agreement"] = res.decisive_agreement
    if gate:
        rec.accuracy_gate = "passed" if res.passed else "failed"
        # a pass says what it could not judge (too few decisive inputs for top-1), never silently
        rec.accuracy_gate_reason = res.reason or res.note
        if not res.passed and rec.status == "ok":
            rec.status = "accuracy_failed"


@dataclass
class SuiteResult:
    run_id: str
    records: list[Record]
    outputs: dict  # report name -> Path
    status: str
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
    _check_writable(cfg.out_dir)
    env = environment.capture()
    run_id = new_run_id()
    records: list[Record] = []
    baseline = "@".join(parse_backend_spec(cfg.backends[0], "fp32")[:2])  # stored as name@precision
    bar = _progress(len(cfg.models) * len(cfg.backends), progress)
    with Store(cfg.db) as store:
        store.begin_run(run_id, _now(), baseline, _config_dict(cfg), env)
        status = "interrupted"
        try:
            for model in cfg.models:
                shared: dict = {}
                arms = _model_arms(cfg, model, run_id, env, store, shared)
                if arms is None:  # the model could not be built in-process: recorded, go on
                    for b in cfg.backends:
                        rec = Record(run_id, model, b, cfg.precision, cfg.batch_size, cfg.device, "run_failed",
                                     shared.get("build_error", "model build failed"), env=env)
                        store.add(rec)
                        records.append(rec)
                        bar.update(1)
                        if on_record is not None:
                            on_record(rec)
                    continue
                reference = None
                for i, arm in enumerate(arms):
                    bar.set_description(f"{model} / {arm.rec.backend} {arm.rec.precision}: load")
                    if arm.open() and i == 0 and baseline_is_reference(cfg):
                        reference = arm.outputs
                extra = _fallback_arms(cfg, model, run_id, env, store, arms, reference, shared)
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
                        _attach_accuracy(rec, arm.check_info, arm.outputs, ref, gate=i > 0)
                    store.add(rec)
                    records.append(rec)
                    bar.update(1)
                    if on_record is not None:
                        on_record(rec)
            status = "finished"
        finally:
            bar.close()
            store.finish_run(run_id, _now(), status)
            table = build_table1(store.records(run_id), store.run(run_id))
            outputs = write_table(table, cfg.out_dir) if records else {}
    return SuiteResult(run_id, records, outputs, status, table)


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


def cell_fingerprint(cfg: "SuiteConfig", model: str, name: str, precision: str, options: dict, env: dict) -> str:
    """Everything that defines a cell's measurement: a stored ok row with the same fingerprint is
    the same measurement, so `run --resume` may reuse it."""
    from dataclasses import asdict

    from edgebench.export.artifact import cache_key

    weights = cfg.model_options.weights_for(model)
    weights_id = None
    if weights and Path(weights).is_file():
        st = Path(weights).stat()
        weights_id = [str(weights), st.st_size, st.st_mtime_ns]
    keep = ("host", "cpu", "gpu", "torch", "onnxruntime", "openvino", "tensorrt", "cuda")
    return cache_key({
        "model": model, "model_options": asdict(cfg.model_options), "weights": weights_id,
        "backend": name, "precision": precision, "options": options, "batch": cfg.batch_size,
        "device": cfg.device, "timing": asdict(cfg.timing), "repetitions": cfg.repetitions,
        "pool": cfg.pool_size, "env": {k: env.get(k) for k in keep}, "cuda_host_inputs": CUDA_HOST_INPUTS,
    })


def _model_arms(cfg: "SuiteConfig", model: str, run_id: str, env: dict, store, shared: dict) -> list | None:
    """The arms of one model in backend order: resumed rows, isolated workers, or in-process cells
    (which share the model's one ModelCell through `shared`)."""
    arms = []
    for i, spec in enumerate(cfg.backends):
        # the baseline (the first backend) is the paper's pre-opt: FP32 unless named
        default = "fp32" if i == 0 or cfg.precision == "auto" else cfg.precision
        name, precision, options = parse_backend_spec(spec, default)
        arm = _make_arm(cfg, model, run_id, env, store, name, precision, options, shared, need_reference=i > 0)
        if arm is None:
            return None
        arms.append(arm)
    return arms


def _make_arm(cfg: "SuiteConfig", model: str, run_id: str, env: dict, store, name: str, precision: str,
              options: dict, shared: dict, need_reference: bool):
    """One arm: the stored row when resuming finds the same fingerprint, else an isolated worker
    or an in-process cell (sharing one ModelCell through `shared`); None if the model cannot be built."""
    from dataclasses import asdict

    fp = cell_fingerprint(cfg, model, name, precision, options, env)
    if cfg.resume:
        old = store.find_ok(fp)
        if old is not None:
            return _ResumedCell(old, run_id)
    backend_options = {k: v for k, v in options.items() if k != "fallback"}
    if cfg.isolate:
        from edgebench.isolation import RemoteCell

        base = Record(run_id, model, name, precision, cfg.batch_size, cfg.device, env=env,
                      device_name=environment.device_name(env, cfg.device), timing=asdict(cfg.timing))
        spec_dict = {
            "model": model, "model_options": asdict(cfg.model_options), "batch_size": cfg.batch_size,
            "pool_size": cfg.pool_size, "cache_dir": cfg.cache_dir, "backend": name, "run_id": run_id,
            "device": cfg.device, "precision": precision, "timing": asdict(cfg.timing), "env": env,
            "options": backend_options,
            "need_reference": need_reference and (cfg.resume or not baseline_is_reference(cfg)),
        }
        arm = RemoteCell(spec_dict, base, cfg.cell_timeout_s)
        arm.reference_fallback = lambda a=arm: a.reference
    else:
        if "cell" not in shared:
            try:
                shared["cell"] = ModelCell(model, cfg.model_options, cfg.batch_size, cfg.pool_size, cfg.cache_dir)
            except Exception as exc:  # a factory that raises, a checkpoint that does not fit: a row, not a lost run
                shared["build_error"] = error_text(exc)
                return None
        arm = _LocalArm(BackendCell(shared["cell"], name, run_id, cfg.device, precision, cfg.timing, env, backend_options))
    if options:
        arm.rec.details["options"] = options
    arm.rec.fingerprint = fp
    return arm


def _fallback_arms(cfg: "SuiteConfig", model: str, run_id: str, env: dict, store, arms: list, reference,
                   shared: dict) -> list:
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
        new = _make_arm(cfg, model, run_id, env, store, arm.rec.backend, fallback, options, shared, need_reference=True)
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


def _check_writable(folder: Path) -> None:
    from edgebench.errors import OutputDirError

    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".edgebench-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise OutputDirError(f"output folder {folder} is not writable ({exc.strerror}); pass --out DIR with a writable folder") from exc


class _NoBar:
    total = 0

    def update(self, n=1):
        pass

    def set_description(self, s):
        pass

    def close(self):
        pass


def _progress(total: int, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="cell", dynamic_ncols=True)


__all__ = ["EdgebenchError", "ModelOptions", "SuiteConfig", "SuiteResult", "TimingConfig", "benchmark", "run_suite"]
