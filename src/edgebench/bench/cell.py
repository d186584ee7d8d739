"""One model's cell (built, exported and its inputs made once) and one backend's cell on it
(lifecycle, cold start, GPU memory, energy, validity, the record), plus the accuracy attached to
a finished record. The suite (bench.suite) and the single-cell entry points (bench.single) drive
these; an isolated worker (bench.isolation) runs one BackendCell in its own process."""
from __future__ import annotations

import copy
import time
from pathlib import Path

from edgebench.backends.base import BackendContext
from edgebench.backends.registry import backend_class
from edgebench.bench import environment
from edgebench.bench.harness import infer, overhead_check, time_backend, time_device
from edgebench.bench.inputs import input_pool
from edgebench.bench.recorder import error_text, fail, must_raise, new_record
from edgebench.bench import stages
from edgebench.config import ModelOptions, TimingConfig
from edgebench.errors import ExportError, InvalidConfigError
from edgebench.results.latency import LatencyStats
from edgebench.results.record import ModelFacts, Record, Status


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
    with stages.stage("model build"):
        loaded = build_model(spec, opts.num_classes, opts.weights_for(name), opts.pretrained, opts.seed)
    if loaded.edgebench_made and batchnorm_layers(loaded.module):
        from edgebench.data.task_inputs import task_inputs

        with stages.stage("task inputs"):
            items, _, desc = task_inputs(spec, opts.data, opts.calibration_size, opts.seed, cache_dir, split="train")
        with stages.stage("batchnorm statistics"):
            recalibrate_batchnorm(loaded, items, desc)
    return loaded


#: items per call when the accuracy check's inputs run through eager PyTorch (the reference, an
#: eager baseline): far fewer calls than one per timed batch, the same numerics per item
CHECK_BATCH = 32


def batched(run, batches: list) -> list:
    """`run` over `batches` (arrays of one batch size) in calls of about CHECK_BATCH items, its
    outputs split back into one per batch, as if each batch had been run alone."""
    import numpy as np

    if not batches:
        return []
    b = len(batches[0])
    per = max(1, CHECK_BATCH // b)
    out = []
    for i in range(0, len(batches), per):
        group = batches[i:i + per]
        try:
            y = np.asarray(run(np.concatenate(group)))
        except (MemoryError, RuntimeError) as exc:  # a device short of memory for the large call
            if per == 1 or "memory" not in str(exc).lower() and not isinstance(exc, MemoryError):
                raise
            _release_cuda_memory()
            return out + [np.asarray(run(x)) for x in batches[i:]]
        out += [y[j * b:(j + 1) * b] for j in range(len(group))]
    return out


def _release_cuda_memory() -> None:
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def check_pristine(loaded) -> None:
    """Raise if the module's weights changed since they were built: parity and the accuracy gate
    must compare against the model as given, never against one a transform has altered."""
    from edgebench.models.build import state_dict_sha256

    if state_dict_sha256(loaded.module) != loaded.weights_sha256:
        raise RuntimeError(f"edgebench altered the weights of {loaded.spec.name} ({loaded.weights}); this is a bug, "
                           "please report it")


def source_key(name: str, loaded) -> dict:
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

    def facts(self) -> ModelFacts:
        """What every record of this model says of it (params and FLOPs are added at open)."""
        return ModelFacts(num_classes=self.loaded.num_classes if self.loaded else None, input_shape=list(self.item_shape),
                          weights=self.loaded.weights if self.loaded else self.onnx_file.path.name)

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

                with stages.stage("task inputs"):
                    items, labels, desc = task_inputs(self.spec, self.opts.data, self.opts.check_size,
                                                      self.opts.seed + 1, self.cache_dir)
                b = self.batch_size
                n = len(items)
                padded = items + [items[i % n] for i in range((-n) % b)]
                batches = [np.stack(padded[i : i + b]).astype(np.float32) for i in range(0, len(padded), b)]
                self._check = (batches, labels, desc)
                self.check_items = n
        return self._check

    def stats(self) -> dict:
        with stages.stage("model stats"):
            return self._count_stats()

    def _count_stats(self) -> dict:
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

    def artifact(self, precision: str = "fp32", recipe=None):
        """The ONNX artifact: FP32 export (the user's file when given), or its INT8 QDQ
        quantization calibrated on task inputs (with `recipe`, export.quantize's default when
        None). Built once per recipe; a failure is remembered."""
        kind = "fp32" if precision != "int8" else "int8" if recipe is None else f"int8/{recipe.name}"
        if kind in self._export_errors:
            raise self._export_errors[kind]
        if kind not in self._artifacts:
            try:
                if kind == "fp32":
                    if self.onnx_file is not None:
                        art = self.onnx_file
                    else:
                        from edgebench.export import export_onnx

                        with stages.stage("export"):
                            art = export_onnx(self.loaded, opset=self.opts.opset, cache_dir=self.cache_dir)
                else:
                    from edgebench.export.quantize import quantize_int8

                    fp32 = self.artifact("fp32")
                    if self.spec is None:
                        raise InvalidConfigError("INT8 calibration needs the model's task inputs, which an .onnx file "
                                                 "does not declare; pass the model name or file.py:factory for INT8")
                    from edgebench.data.task_inputs import task_inputs

                    with stages.stage("task inputs"):
                        calib, _, desc = task_inputs(self.spec, self.opts.data, self.opts.calibration_size,
                                                     self.opts.seed, self.cache_dir, split="train")
                    with stages.stage("int8 calibration"):
                        art = quantize_int8(fp32, calib, self.cache_dir, recipe=recipe, calibration_desc=desc)
            except ExportError as exc:
                self._export_errors[kind] = exc
                raise
            self._artifacts[kind] = art
        return self._artifacts[kind]

    def source_key(self) -> dict:
        """What identifies this model's weights and input, for backends' own caches."""
        if self.loaded is not None:
            return source_key(self.name, self.loaded)
        return {"model": self.name, "onnx_sha256": self.onnx_file.sha256, "input_shape": list(self.item_shape)}

    def source_for(self, consumes: str, precision: str = "fp32", recipe=None):
        if consumes == "module":
            if self.loaded is None:
                raise InvalidConfigError(f"{self.name} is an ONNX file; the pytorch backend needs a model name or file.py:factory")
            if precision == "int8":
                raise InvalidConfigError("int8 runs the quantized ONNX model: use onnxruntime, openvino or tensorrt")
            return copy.deepcopy(self.loaded.module)  # backends may move or cast it
        return self.artifact(precision, recipe)

    def reference_outputs(self) -> list | None:
        """The pristine module's FP32 CPU outputs on the check batches, when no baseline cell
        supplied them. The module is checked against the hash taken when it was built first."""
        if self.reference is None and self.loaded is not None:
            import torch

            check_pristine(self.loaded)
            batches = self.check_batches()[0]
            with stages.stage("reference outputs"), torch.inference_mode():
                self.reference = batched(lambda x: self.loaded.module(torch.from_numpy(x)).numpy(), batches)
        return self.reference


class BackendCell:
    """One backend on one model: `open` (create, prepare, load, outputs on the check batches
    for the accuracy gate), `measure` in one or more rounds, `finish`. A failure at any step lands in the
    record's status (export_failed / build_failed / run_failed / skipped); with `strict`,
    user errors and missing dependencies are raised instead (the single-cell `bench`). `env` is
    the run's environment (bench.environment.capture()), which the record's warnings read. With
    `profile`, `finish` takes the runtime's per-layer profile last, after the timing and its checks."""

    resumed, cold_rounds = False, False

    def __init__(self, cell: ModelCell, backend: str, run_id: str, device: str, precision: str,
                 timing: TimingConfig, env: dict, backend_options: dict | None = None, strict: bool = False,
                 profile: bool = False, options: dict | None = None):
        self.cell, self.backend, self.strict, self.env, self.profile = cell, backend, strict, env, profile
        self.backend_options = dict(backend_options or {})
        self.context = BackendContext(tuple(cell.item_shape), cell.source_key())
        self.bk = None
        self.outputs: list | None = None
        self.values: list[float] = []
        self.device_values: list[float] = []
        self.energy = None
        self.contention = None
        self.rec = new_record(run_id, cell.name, backend, precision, cell.batch_size, device,
                              options=options if options is not None else self.backend_options, task=cell.task,
                              device_name=environment.device_name(env, device), facts=cell.facts(),
                              timing=timing.to_dict())

    @property
    def check_info(self) -> tuple:
        return self.cell.check_info()

    @property
    def alive(self) -> bool:
        return self.bk is not None

    def _fail(self, stage: Status, exc: BaseException) -> None:
        if must_raise(exc, self.strict, stage):
            raise exc
        fail(self.rec, exc, stage)
        self.close()

    def open(self) -> bool:
        rec, cell = self.rec, self.cell
        cold, memory = rec.cold_start, rec.memory
        stage = Status.RUN_FAILED
        try:
            facts = rec.model_facts
            facts.params, facts.flops, facts.macs = (cell.stats()[k] for k in ("params", "flops", "macs"))
            stage = Status.SKIPPED
            from edgebench.system import slow_precision

            slow = slow_precision(rec.device, rec.precision)
            if slow:
                raise InvalidConfigError(slow)
            cls = backend_class(self.backend)
            bk = cls(device=rec.device, precision=rec.precision, cache_dir=cell.cache_dir, options=self.backend_options,
                     context=self.context)
            stage = Status.EXPORT_FAILED
            recipe = None
            if rec.precision == "int8" and self.backend == "onnxruntime" and rec.device == "cpu":
                from edgebench.export.quantize import host_cpu_recipe

                recipe = host_cpu_recipe()  # uint8 weights where this CPU's INT8 kernels saturate
            source = cell.source_for(cls.consumes, rec.precision, recipe)
            if cls.consumes == "onnx":
                rec.artifact.size_bytes, rec.artifact.sha256 = source.size_bytes, source.sha256
                cold.export_s = source.export_s
                rec.details["onnx_max_abs_diff_vs_torch"] = source.metadata.get("max_abs_diff_vs_torch")
                rec.details["opset"] = source.metadata.get("opset")
                if source.cache_status.startswith("rebuilt"):  # a damaged cache entry was found and replaced
                    rec.details["artifact_cache"] = source.cache_status
            stage = Status.BUILD_FAILED
            self.bk = bk
            if rec.device == "cuda":
                import torch

                torch.cuda.synchronize()
                mem_base = (torch.cuda.memory_allocated(), torch.cuda.memory_reserved())
                torch.cuda.reset_peak_memory_stats()
            with stages.stage("compile/build"):
                t0 = time.perf_counter()
                bk.prepare(source, cell.batch_size)
                cold.prepare_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                bk.load()
                cold.load_s = time.perf_counter() - t0
            cold.build_s = bk.timings.get("build_s", cold.prepare_s)
            stage = Status.RUN_FAILED
            batches = cell.check_batches()[0]
            with stages.stage("check outputs"):
                t0 = time.perf_counter()
                self.outputs = [infer(bk, batches[0])]
                cold.first_infer_s = time.perf_counter() - t0
                run = (lambda x: infer(bk, x)) if bk.any_batch else None
                self.outputs += batched(run, batches[1:]) if run else [infer(bk, x) for x in batches[1:]]
            if rec.device == "cuda":
                # this cell's own peak: above what the process held before it (a model's other
                # backends stay loaded while the arms are interleaved)
                memory.gpu_peak_allocated_mb = (torch.cuda.max_memory_allocated() - mem_base[0]) / 2**20
                memory.gpu_peak_reserved_mb = (torch.cuda.max_memory_reserved() - mem_base[1]) / 2**20
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
                with stages.stage("timed rounds"):
                    self._measure(pool, timing)
            except BaseException as exc:
                self._fail(Status.RUN_FAILED, exc)

    def _measure(self, pool: list, timing: TimingConfig) -> None:
        self.values += self.contention.window(lambda: self.energy.window(lambda: time_backend(self.bk, pool, timing)))
        if self.rec.device == "cuda":
            self.device_values += time_device(self.bk, pool, timing)

    def finish(self, check_overhead: bool = False) -> Record:
        rec = self.rec
        if self.alive:
            try:
                rec.latency.host = LatencyStats.from_values(self.values, self.cell.batch_size)
                rec.latency.samples_ms = [round(v * 1e3, 5) for v in self.values]
                if self.device_values:
                    rec.latency.device = LatencyStats.from_values(self.device_values, self.cell.batch_size)
                with stages.stage("trust checks"):
                    self._validity()
                    if check_overhead:
                        harness, bare = overhead_check(self.bk, self.cell.pool_for(rec.device)[0],
                                                       max(20, min(len(self.values), 200)))
                        rec.overhead.harness_check_p50_ms = LatencyStats.from_values(harness).p50_ms
                        rec.overhead.bare_p50_ms = LatencyStats.from_values(bare).p50_ms
                rec.details.update(self.bk.details)
                if self.profile:
                    with stages.stage("profiling"):
                        self._layer_profile()
                rec.status = Status.OK
            except BaseException as exc:
                self._fail(Status.RUN_FAILED, exc)
            self.close()
        return rec

    def _layer_profile(self) -> None:
        """The runtime's per-layer profile (bench.profile), once every timed sample is taken;
        where there is none, details["no_layer_profile"] says why. A profiler that fails costs the
        cell only its profile."""
        from edgebench.bench.profile import take_profile

        rec = self.rec
        if self.bk.profiler is None:
            rec.details["no_layer_profile"] = f"backend {self.backend}'s runtime has no per-layer profiler"
            return
        try:
            rec.details["layer_profile"] = take_profile(self.bk, self.cell.pool_for(rec.device)[0],
                                                        rec.latency.host.p50_ms / 1e3)
        except Exception as exc:
            rec.details["no_layer_profile"] = f"profiling failed: {error_text(exc)}"
            rec.warnings.append(f"no per-layer profile: {error_text(exc)}")

    def _validity(self) -> None:
        """Energy, peak RSS and the trust checks (bench.validity), into the record."""
        import resource

        from edgebench.bench import validity

        rec = self.rec
        rec.memory.host_rss_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if self.energy is not None:
            e = self.energy.result()
            if e is not None and self.values:
                items = len(self.values) * self.cell.batch_size
                rec.energy.per_item_mj = 1e3 * e.joules / items
                rec.energy.items_per_joule = items / e.joules if e.joules > 0 else None
                rec.energy.idle_power_w, rec.energy.source = e.idle_watts, e.source
            self.energy.close()
        rec.warnings = validity.timing_warnings(rec.latency) + validity.environment_warnings(self.env)
        if len(self.cell.pool) > 1:
            same, varied = validity.same_input_check(self.bk, self.cell.pool_for(self.rec.device),
                                                     iters=validity.check_iters(self.values))
            rec.details["same_input_p50_ms"], rec.details["varied_input_p50_ms"] = 1e3 * same, 1e3 * varied
            warning = validity.caching_warning(same, varied)
            if warning:
                rec.warnings.append(warning)
        if rec.timing.get("quick"):
            rec.warnings.append(f"quick run: fewer iterations than the defaults, and the gate rests on "
                                f"{self.cell.check_info()[2] or self.cell.opts.check_size} check inputs; a smoke test, not a result")
        if self.contention is not None:
            from edgebench.bench import contention

            share = rec.contention
            share.other_cpu_pct = self.contention.other_pct()
            before = self.contention.before_share
            share.load_before_pct = before.other_pct if before is not None else None
            rec.details.update(self.contention.summary())
            share.contended = contention.contended(share.other_cpu_pct)
            if share.contended:
                rec.warnings.append(contention.warning(share.other_cpu_pct))

    def close(self) -> None:
        if self.bk is not None:
            bk, self.bk = self.bk, None
            bk.unload()
