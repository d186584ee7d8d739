"""One backend's cell on a model (bench.model_cell.ModelCell): its lifecycle, cold start, GPU
memory, energy, validity and the record. The suite (bench.suite) and the single-cell entry points
(bench.single) drive these; an isolated worker (bench.isolation) runs one BackendCell in its own
process."""
from __future__ import annotations

import time

from edgebench.backends.base import BackendContext
from edgebench.backends.registry import backend_class
from edgebench.bench import environment, stages
from edgebench.bench.harness import infer, overhead_check, time_backend, time_device
from edgebench.bench.model_cell import ModelCell, batched
from edgebench.bench.recorder import error_text, fail, must_raise, new_record
from edgebench.config import TimingConfig
from edgebench.errors import InvalidConfigError
from edgebench.results.latency import LatencyStats
from edgebench.results.record import Record, Status


class BackendCell:
    """One backend on one model: `open` (create, prepare, load, outputs on the check batches
    for the accuracy gate), `measure` in one or more rounds, `finish`. A failure at any step lands in the
    record's status (export_failed / build_failed / run_failed / skipped); with `strict`,
    user errors and missing dependencies are raised instead (the single-cell `bench`). `env` is
    the run's environment (bench.environment.capture()), which the record's warnings read. With
    `profile`, `finish` takes the runtime's per-layer profile last, after the timing and its checks."""

    resumed, cold_rounds = False, False
    #: set by check_against before open: the reference's outputs on every check batch (this cell
    #: then runs the batches its verdict needs, bench.accuracy.check_plan), or that this cell's own
    #: outputs are the reference (kept in edgebench's cache and reused while they verify)
    check_reference: list | None = None
    makes_reference = False
    #: False in a cell's later timing processes (bench.spread): the first process's check judges it
    runs_check = True

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
        self._pipeline = None  # with --pipeline: the backend behind a frame's pre- and postprocessing
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

    def check_against(self, reference: list | None, makes_reference: bool = False) -> None:
        """Before open: the reference's outputs, for a check sized by its verdict, or (makes_reference)
        that this cell's outputs are the reference."""
        self.check_reference, self.makes_reference = reference, makes_reference

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
            if self.runs_check:  # a later timing process's row is not kept: its counts would be the same
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
            if not self.runs_check:  # a later timing process: its first inference on a timing input
                t0 = time.perf_counter()
                infer(bk, cell.pool_for(rec.device)[0])
                cold.first_infer_s = time.perf_counter() - t0
                return True
            batches = cell.check_batches()[0]
            with stages.stage("check outputs"):
                t0 = time.perf_counter()
                first = infer(bk, batches[0])
                cold.first_infer_s = time.perf_counter() - t0
                self.outputs = self._check_outputs(bk, batches, first)
            if rec.device == "cuda":
                # this cell's own peak: above what the process held before it (a model's other
                # backends stay loaded while the arms are interleaved)
                memory.gpu_peak_allocated_mb = (torch.cuda.max_memory_allocated() - mem_base[0]) / 2**20
                memory.gpu_peak_reserved_mb = (torch.cuda.max_memory_reserved() - mem_base[1]) / 2**20
            return True
        except BaseException as exc:
            self._fail(stage, exc)
            return False

    def _check_outputs(self, bk, batches: list, first) -> list:
        """The cell's outputs on the check batches (None where check_plan left a batch out), the
        first already run. The reference cell's come from the cache when its first batch agrees."""
        from edgebench.bench import check

        def run(indices: list) -> list:
            chosen = [batches[j] for j in indices]
            return batched(lambda x: infer(bk, x), chosen) if bk.any_batch else [infer(bk, x) for x in chosen]

        if self.makes_reference:
            return check.reference_outputs(self.cell, self.rec, first, lambda: [first] + run(range(1, len(batches))))
        return check.planned_outputs(self.cell, self.rec, self.check_reference, first, run)

    def measure(self, timing: TimingConfig) -> None:
        if self.alive:
            try:
                if self.energy is None:
                    from edgebench.bench.contention import ContentionProbe
                    from edgebench.bench.energy import EnergyProbe

                    # the energy meter's idle baseline, topped up by a sleep, is the quiet window
                    # whose other-CPU share is the load before this cell; a later timing process
                    # (bench.spread), whose row only lends its samples and contention, skips both
                    self.contention = ContentionProbe()
                    if self.runs_check:
                        self.energy = self.contention.before(during=lambda: EnergyProbe(self.rec.device))
                    else:
                        self.energy = EnergyProbe.off()
                pool = self.cell.pool_for(self.rec.device)
                with stages.stage("timed rounds"):
                    self._measure(pool, timing)
            except BaseException as exc:
                self._fail(Status.RUN_FAILED, exc)

    def _measure(self, pool: list, timing: TimingConfig) -> None:
        timed, inputs = self._timed(pool)
        self.values += self.contention.window(lambda: self.energy.window(lambda: time_backend(timed, inputs, timing)))
        if self.rec.device == "cuda":  # the network's own GPU time, whatever the host loop times
            self.device_values += time_device(self.bk, pool, timing)

    def _timed(self, pool: list) -> tuple:
        """(what the host loop times, its inputs): the backend on preprocessed inputs (the network
        alone), or with --pipeline a detector's or segmenter's whole frame (bench.pipeline)."""
        from edgebench.models.spec import DETECTION, SEGMENTATION

        frame = self.cell.opts.pipeline
        if frame is None or self.cell.task not in (DETECTION, SEGMENTATION):  # a classifier's time is its network's
            return self.bk, pool
        if self._pipeline is None:
            from edgebench.bench.pipeline import Pipeline

            self._pipeline = Pipeline(self.bk, tuple(self.cell.item_shape), self.cell.task, self.cell.parity_info().decode)
            self.rec.details["timed"] = self._pipeline.describe(frame)
            self.rec.details["pipeline_frame"] = list(frame)
        return self._pipeline, self.cell.frame_pool()

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
        if len(self.cell.pool) > 1 and self.runs_check:  # a later timing process keeps only its contention
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
