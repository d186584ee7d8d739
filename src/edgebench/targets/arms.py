"""A suite's cells on a remote target: the same open / measure / finish interface as a local cell
(bench.suite drives them, interleaving a model's arms round by round), run by the device's agent.

- `pytorch` and `onnxruntime`: the agent's `serve` process on the device holds the model (the
  device's own torch rebuilds it from its torchvision name or shipped definition with the host's
  weights; ONNX Runtime loads the host's ONNX) and times it there.
- `tensorrt`: JetPack's trtexec, driven through the agent's `exec`: build the engine (cached on
  the device, keyed by the ONNX, precision, shapes and TensorRT version), run the check inputs
  (--loadInputs / --exportOutput) for the accuracy gate, time each round (--exportTimes: the
  enqueue / H2D / compute / D2H split is kept), and one profiling run for per-layer times.

The model is built, exported and its inputs made on the host (bench.cell.ModelCell); the host
compares every cell's outputs with PyTorch FP32 run on the host. A connection lost in a cell makes
that cell `target_lost`, which `run --resume` measures again.
"""
from __future__ import annotations

import math
import time
import uuid

from edgebench.backends.profiling import TRTEXEC
from edgebench.bench.recorder import fail, new_record
from edgebench.errors import CellFailed, InvalidConfigError, TargetLostError, TargetOutputError
from edgebench.results.latency import LatencyStats
from edgebench.results.record import Record, Status
from edgebench.targets import remote

#: the backends a target runs, and how
TARGET_BACKENDS = ("pytorch", "onnxruntime", "tensorrt")

#: seconds one agent request may take before the cell is a timeout: a TensorRT build on a Nano
#: takes minutes; everything else far less
BUILD_TIMEOUT_S = 3600.0
CALL_TIMEOUT_S = 900.0

#: tegrastats sampling interval, ms, and the idle window sampled before a cell's first round, s
TEGRASTATS_MS = 100
IDLE_S = 1.0

#: trtexec's builder scratch memory cap on a target, MiB (a 4 GB Nano shares it with the OS)
WORKSPACE_MIB = 1024


def _checked(reply: dict, what: str) -> dict:
    if not isinstance(reply, dict) or "ok" not in reply:
        raise TargetOutputError(f"{what}: the agent's reply has no 'ok' field")
    if not reply["ok"]:
        status = reply.get("status") if reply.get("status") in {s.value for s in Status} else Status.RUN_FAILED.value
        raise CellFailed(status, str(reply.get("error") or "the agent gave no reason"))
    return reply


def _samples(values, what: str) -> list[float]:
    """Latencies in ms from the device -> seconds; anything but finite non-negative numbers is refused."""
    if not isinstance(values, list) or not values:
        raise TargetOutputError(f"{what}: no latency samples in the agent's reply")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise TargetOutputError(f"{what}: latency sample {v!r} is not a finite number >= 0")
        out.append(v / 1e3)
    return out


class TargetArm:
    """The common part: record, failure mapping, energy from tegrastats, the finish."""

    resumed, cold_rounds = False, False

    def __init__(self, hold, cell, backend: str, run_id: str, precision: str, timing, options: dict):
        self.hold, self.cell, self.backend = hold, cell, backend
        self.options = {k: v for k, v in options.items() if k != "fallback"}
        self.session = None
        self.outputs: list | None = None
        self.values: list[float] = []
        self.device_values: list[float] = []
        self.energy_windows: list[tuple[float, float, int]] = []  # (watts, seconds, items)
        self.idle_watts: float | None = None
        self.rail = None
        self.alive = False
        self.rec = new_record(run_id, cell.name, backend, precision, cell.batch_size, hold.default_device,
                              options=options, task=cell.task,
                              device_name=remote.device_name(hold.env, hold.default_device), facts=cell.facts(),
                              timing=timing.to_dict())
        self.rec.details["target"] = hold.summary()

    # -- the arm interface bench.suite drives

    @property
    def check_info(self):
        return self.cell.check_info()

    def open(self) -> bool:
        stage = Status.RUN_FAILED
        try:
            if self.hold.lost:  # an earlier cell lost the connection: this one is recorded at once
                raise TargetLostError(self.hold.lost)
            facts = self.rec.model_facts
            facts.params, facts.flops, facts.macs = (self.cell.stats()[k] for k in ("params", "flops", "macs"))
            self._open()
            self.alive = True
            return True
        except BaseException as exc:
            self._fail(stage, exc)
            return False

    def measure(self, timing) -> None:
        if self.alive:
            try:
                self._measure(timing)
            except BaseException as exc:
                self._fail(Status.RUN_FAILED, exc)

    def finish(self, check_overhead: bool = False) -> Record:
        rec = self.rec
        if self.alive:
            try:
                from edgebench.bench import validity

                rec.latency.host = LatencyStats.from_values(self.values, self.cell.batch_size)
                rec.latency.samples_ms = [round(v * 1e3, 5) for v in self.values]
                if self.device_values:
                    rec.latency.device = LatencyStats.from_values(self.device_values, self.cell.batch_size)
                self._finish()
                self._energy()
                rec.warnings = validity.timing_warnings(rec.latency) + rec.warnings
                if rec.timing.get("quick"):
                    rec.warnings.append("quick run: fewer iterations than the defaults; a smoke test, not a result")
                if check_overhead:
                    rec.warnings.append("--check-overhead is not measured on a target")
                rec.status = Status.OK
            except BaseException as exc:
                self._fail(Status.RUN_FAILED, exc)
            self.close()
        return rec

    def close(self) -> None:
        self.alive = False
        if self.session is not None:
            session, self.session = self.session, None
            try:
                session.close()
            except Exception:  # the connection may be gone; the row already says so
                pass

    # -- shared steps

    def _fail(self, stage: Status, exc: BaseException) -> None:
        if isinstance(exc, KeyboardInterrupt):
            self.close()
            raise exc
        fail(self.rec, exc, stage)
        if self.rec.status == Status.TARGET_LOST:
            self.hold.mark_lost(self.rec.error)
        self.close()

    def _call(self, request: dict, timeout_s: float = CALL_TIMEOUT_S) -> dict:
        if self.session is None:
            self.session = self.hold.session()
        return _checked(self.session.call(request, timeout_s), f"{self.hold.name}: {request.get('op')}")

    def _tegrastats_ms(self):
        return TEGRASTATS_MS if self.hold.env.get("tegrastats") else None

    def _add_energy(self, idle_text, window_text, seconds: float, items: int) -> None:
        from edgebench.bench.energy import board_watts

        if idle_text and self.idle_watts is None:
            _, idle = board_watts(idle_text)
            if idle:
                self.idle_watts = sum(idle) / len(idle)
        if window_text:
            rail, watts = board_watts(window_text)
            if watts:
                self.rail = rail
                watts.sort()
                self.energy_windows.append((watts[len(watts) // 2], seconds, items))

    def _energy(self) -> None:
        """Median board power of each window above the idle baseline, times the window's timed
        seconds, per item. tegrastats samples the whole request (warm-up too), hence the median."""
        if not self.energy_windows or self.idle_watts is None:
            return
        joules = sum(max(0.0, w - self.idle_watts) * s for w, s, _ in self.energy_windows)
        items = sum(n for _, _, n in self.energy_windows)
        e = self.rec.energy
        e.per_item_mj = 1e3 * joules / items if items else None
        e.items_per_joule = items / joules if joules > 0 else None
        e.idle_power_w = self.idle_watts
        e.source = f"tegrastats {self.rail} on {self.hold.name}, {TEGRASTATS_MS} ms sampling, median over each window"

    def _open(self) -> None:
        raise NotImplementedError

    def _measure(self, timing) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        pass


class AgentArm(TargetArm):
    """pytorch or onnxruntime, held by the agent's `serve` process on the device."""

    def _open(self) -> None:
        rec, cell, hold = self.rec, self.cell, self.hold
        if rec.precision not in ("fp32", "fp16") and not (self.backend == "onnxruntime" and rec.precision == "int8"):
            raise InvalidConfigError(f"{self.backend} on a target runs fp32 or fp16"
                                     + (" (and int8 on onnxruntime)" if self.backend == "pytorch" else "")
                                     + f", not {rec.precision}")
        staged = hold.staged(cell)
        inputs = hold.upload_many([staged.pool, staged.check])
        request = {
            "op": "open", "engine": self.backend, "device": hold.device, "precision": rec.precision,
            "batch": cell.batch_size, "item_shape": list(cell.item_shape),
            "pool": {"path": inputs[staged.pool], "count": staged.pool_count},
            "check": {"path": inputs[staged.check], "count": staged.check_count},
            "threads": self.options.get("threads"),
        }
        if self.backend == "onnxruntime":
            art = cell.artifact(rec.precision)
            rec.artifact.size_bytes, rec.artifact.sha256 = art.size_bytes, art.sha256
            rec.cold_start.export_s = art.export_s
            rec.details["opset"] = art.metadata.get("opset")
            request["onnx"] = hold.upload(art.path)
            request["providers"] = {"cpu": ["CPUExecutionProvider"],
                                    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"]}.get(hold.device)
        else:
            if cell.loaded is None:
                raise InvalidConfigError(f"{cell.name} is an ONNX file; the pytorch backend needs a model name or file.py:factory")
            try:
                recipe, definition = remote.model_recipe(cell.loaded.spec)
            except ValueError as exc:
                raise InvalidConfigError(str(exc)) from exc
            model = {**recipe, "num_classes": cell.loaded.num_classes}
            if definition is not None:
                model["file"] = hold.upload(definition)
            request["model"] = model
            request["weights"] = hold.upload(remote.weights_file(cell.loaded, hold.staging))
        t0 = time.perf_counter()
        reply = self._call(request)
        rec.cold_start.prepare_s = time.perf_counter() - t0 - float(reply.get("load_s") or 0) - float(reply.get("first_infer_s") or 0)
        rec.device = reply.get("device") if reply.get("device") in ("cpu", "cuda") else rec.device
        rec.device_name = remote.device_name(hold.env, rec.device)
        rec.cold_start.load_s = reply.get("load_s")
        rec.cold_start.first_infer_s = reply.get("first_infer_s")
        rec.details.update({f"device_{k}": v for k, v in (reply.get("details") or {}).items()})
        self.outputs = remote.decode_outputs(reply, f"{hold.name}: {self.backend} outputs")
        self.first = True

    def _measure(self, timing) -> None:
        request = {"op": "measure", "warmup_iters": timing.warmup_iters, "warmup_s": timing.warmup_s,
                   "min_iters": timing.min_iters, "min_time_s": timing.min_time_s,
                   "tegrastats_ms": self._tegrastats_ms(), "idle_s": IDLE_S if self.first and self._tegrastats_ms() else 0.0}
        self.first = False
        reply = self._call(request)
        values = _samples(reply.get("samples_ms"), f"{self.hold.name}: measure")
        self.values += values
        rss = reply.get("rss_peak_mb")
        if isinstance(rss, (int, float)) and not isinstance(rss, bool):
            self.rec.memory.host_rss_peak_mb = float(rss)
        self._add_energy(reply.get("tegrastats_idle"), reply.get("tegrastats"), sum(values),
                         len(values) * self.cell.batch_size)


class TrtexecArm(TargetArm):
    """tensorrt through the device's trtexec. Each timing round is a fresh trtexec process, so
    every round gets the cell's whole warm-up (cold_rounds)."""

    cold_rounds = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.hold.env.get("gpu", "none") != "none":  # trtexec runs on the GPU
            self.rec.device = "cuda"
            self.rec.device_name = remote.device_name(self.hold.env, "cuda")
        self.work = f".cache/edgebench/runs/{uuid.uuid4().hex[:12]}"
        self.splits: dict[str, list[float]] = {}

    def _exec(self, argv: list[str], read: dict | None = None, timeout_s: float = CALL_TIMEOUT_S,
              tegrastats: bool = False) -> dict:
        return self._call({"op": "exec", "argv": argv, "timeout_s": timeout_s, "read": read or {},
                           "tegrastats_ms": self._tegrastats_ms() if tegrastats else None}, timeout_s + 60)

    def _failed(self, reply: dict, what: str, status: Status) -> CellFailed:
        tail = (reply.get("output_tail") or reply.get("error") or "").strip().splitlines()
        text = " | ".join(line.strip() for line in tail[-4:])
        low = (reply.get("output_tail") or "").lower()
        # CUDA writes "out of memory"; TensorRT's own allocator errors read "Error Code 2:
        # OutOfMemory (no further information)"; the OOM killer's SIGKILL is rc -9
        if "out of memory" in low or "outofmemory" in low or reply.get("rc") in (-9, 137):
            status = Status.OOM
        if reply.get("timed_out"):
            status = Status.TIMEOUT
        return CellFailed(status.value, f"trtexec {what} failed (exit {reply.get('rc')}): {text[-600:]}")

    def _open(self) -> None:
        from edgebench.cache import cache_key
        from edgebench.targets import trtexec

        rec, cell, hold = self.rec, self.cell, self.hold
        tool, version = hold.env.get("trtexec"), hold.env.get("tensorrt")
        if not tool:
            raise InvalidConfigError(f"no trtexec on target {hold.name} ({hold.reason('trtexec')}); "
                                     "JetPack's TensorRT installs it at /usr/src/tensorrt/bin/trtexec")
        if version in (None, "absent"):
            raise InvalidConfigError(f"target {hold.name} has trtexec but no TensorRT version was found "
                                     f"({hold.reason('tensorrt_version')})")
        if rec.precision not in trtexec.PRECISIONS:
            raise InvalidConfigError(f"tensorrt on a target builds fp32, fp16 or int8, not {rec.precision}")
        if rec.precision == "int8" and not remote.fast_int8(hold.env.get("gpu")):
            raise InvalidConfigError(f"int8 not measured on {hold.env.get('gpu')}: its GPU has no fast INT8 "
                                     "(it would only show a slowdown); use tensorrt@fp16")
        art = cell.artifact("int8" if rec.precision == "int8" else "fp32")  # int8: the QDQ model, calibrated on the host
        rec.artifact.size_bytes, rec.artifact.sha256 = art.size_bytes, art.sha256
        rec.cold_start.export_s = art.export_s
        rec.details["opset"] = art.metadata.get("opset")
        onnx = hold.upload(art.path)
        staged = hold.staged(cell)
        self.shape = tuple(cell.item_shape)
        max_batch = max(cell.batch_size, staged.parity_batch)
        key = cache_key({"onnx": art.sha256, "precision": rec.precision, "tensorrt": version, "item": list(self.shape),
                         "batch": cell.batch_size, "max_batch": max_batch, "workspace_mib": WORKSPACE_MIB,
                         "gpu": hold.env.get("gpu")})
        self.engine = f".cache/edgebench/engines/{key}.engine"
        build = trtexec.build_argv(tool, onnx, self.engine, sample_shape=self.shape, trt_version=version,
                                   precision=rec.precision, opt_batch=cell.batch_size, max_batch=max_batch,
                                   workspace_mib=WORKSPACE_MIB)
        if hold.present(self.engine):
            rec.details["engine"] = "cached on the device"
            rec.cold_start.prepare_s = rec.cold_start.build_s = 0.0
        else:
            self._build(build)
        try:
            self.outputs = self._parity(staged)
        except CellFailed:
            if rec.details["engine"] != "cached on the device":
                raise
            # a cached engine that does not load (another TensorRT wrote it): built again, once
            self._build(build)
            rec.details["engine"] = "rebuilt: the cached engine did not load"
            self.outputs = self._parity(staged)

    def _build(self, argv: list[str]) -> None:
        reply = self._exec(["mkdir", "-p", ".cache/edgebench/engines", self.work])
        reply = self._exec(argv, timeout_s=BUILD_TIMEOUT_S)
        if reply.get("rc") != 0:
            raise self._failed(reply, "engine build", Status.BUILD_FAILED)
        self.rec.cold_start.prepare_s = self.rec.cold_start.build_s = reply.get("elapsed_s")
        self.rec.details["engine"] = "built"

    def _parity(self, staged) -> list:
        """The check items through the engine, PARITY_BATCH at a time, regrouped into the
        benchmark's check batches."""
        import numpy as np

        from edgebench.targets import trtexec

        self._exec(["mkdir", "-p", self.work])
        remote_chunks = self.hold.upload_many(staged.parity)  # one check of what the device has
        items = []
        for i, chunk in enumerate(staged.parity):
            out = f"{self.work}/parity-{i}.json"
            argv = trtexec.parity_argv(self.hold.env["trtexec"], self.engine, remote_chunks[chunk], out,
                                       sample_shape=self.shape, batch=staged.parity_batch)
            reply = self._exec(argv, read={"out": out})
            if reply.get("rc") != 0 or not (reply.get("files") or {}).get("out"):
                raise self._failed(reply, "parity run", Status.RUN_FAILED)
            if i == 0:  # engine deserialization and one query: the cell's load
                self.rec.cold_start.load_s = reply.get("elapsed_s")
            outputs = trtexec.parse_outputs(reply["files"]["out"], f"trtexec --exportOutput on {self.hold.name}")
            dims, values = next(iter(outputs.values()))
            items.append(np.asarray(values, dtype=np.float32).reshape(dims))
        flat = np.concatenate(items)[: staged.check_items]
        b, n = self.cell.batch_size, staged.check_count
        padded = np.concatenate([flat, flat[: n * b - len(flat)]]) if len(flat) < n * b else flat[: n * b]
        return [padded[i * b : (i + 1) * b] for i in range(n)]

    def _measure(self, timing) -> None:
        from edgebench.targets import trtexec

        times = f"{self.work}/times.json"
        warmup_ms = int(round(timing.warmup_s * 1e3))
        argv = trtexec.timing_argv(self.hold.env["trtexec"], self.engine, times, sample_shape=self.shape,
                                   batch=self.cell.batch_size, warmup_ms=warmup_ms, duration_s=timing.min_time_s,
                                   iterations=timing.min_iters, trt_version=self.hold.env["tensorrt"])
        if self.idle_watts is None and self._tegrastats_ms():
            idle = self._exec(["sleep", str(IDLE_S)], tegrastats=True)
            self._add_energy(idle.get("tegrastats"), None, 0.0, 0)
        reply = self._exec(argv, read={"times": times}, tegrastats=True)
        if reply.get("rc") != 0 or not (reply.get("files") or {}).get("times"):
            raise self._failed(reply, "timing run", Status.RUN_FAILED)
        trace = trtexec.parse_times(reply["files"]["times"], f"trtexec --exportTimes on {self.hold.name}")
        trace = trace.after_warmup(warmup_ms)
        self.values += [v / 1e3 for v in trace.latency_ms]
        self.device_values += [v / 1e3 for v in trace.compute_ms]
        for part in ("enqueue_ms", "h2d_ms", "compute_ms", "d2h_ms", "end_to_end_ms"):
            seq = getattr(trace, part)
            if seq is not None:
                self.splits.setdefault(part, []).extend(seq)
        window_s = (trace.start_compute_ms[-1] - trace.start_compute_ms[0] + trace.compute_ms[-1]) / 1e3
        self._add_energy(None, reply.get("tegrastats"), window_s, trace.count * self.cell.batch_size)
        self.rec.details["trace_format"] = trace.format

    def _finish(self) -> None:
        from edgebench.targets import trtexec

        rec = self.rec
        rec.details["trtexec_p50_ms"] = {part[:-3]: LatencyStats.from_values([v / 1e3 for v in seq]).p50_ms
                                        for part, seq in self.splits.items()}
        rec.details["trtexec_timing"] = ("host latency = trtexec's H2D + GPU compute + D2H per query; "
                                         "device latency = GPU compute; warm-up by time only (--warmUp)")
        version = self.hold.env["tensorrt"]
        profile, layers = f"{self.work}/profile.json", f"{self.work}/layers.json"
        argv = trtexec.profile_argv(self.hold.env["trtexec"], self.engine, profile, layers, sample_shape=self.shape,
                                    trt_version=version, batch=self.cell.batch_size)
        try:
            reply = self._exec(argv, read={"profile": profile, "layers": layers})
            if reply.get("rc") != 0 or not (reply.get("files") or {}).get("profile"):
                raise self._failed(reply, "profiling run", Status.RUN_FAILED)
            prof = trtexec.parse_profile(reply["files"]["profile"], f"trtexec --exportProfile on {self.hold.name}")
            rec.details["layer_profile"] = {"source": TRTEXEC, "queries": prof.count, "layers": prof.to_rows()}
            if reply["files"].get("layers"):
                rec.details["engine_layers"] = trtexec.parse_layer_info(
                    reply["files"]["layers"], f"trtexec --exportLayerInfo on {self.hold.name}")
        except (CellFailed, TargetOutputError) as exc:
            rec.warnings.append(f"no per-layer profile: {exc}")

    def close(self) -> None:
        """Remove the cell's work folder on the device (trtexec's JSON files), then end the session."""
        if self.session is not None:
            try:
                self._exec(["rm", "-rf", self.work])
            except Exception:  # the connection may be gone: the folder is left, the row says why
                pass
        super().close()


class UnsupportedArm(TargetArm):
    """A backend a target does not run: a skipped row that says which ones it does."""

    def _open(self) -> None:
        raise InvalidConfigError(f"backend {self.backend} does not run on a target; a target runs "
                                 f"{', '.join(TARGET_BACKENDS)} (tensorrt through trtexec)")


def make_arm(hold, cell, backend: str, run_id: str, precision: str, timing, options: dict) -> TargetArm:
    """The arm for one backend on a target."""
    cls = {"pytorch": AgentArm, "onnxruntime": AgentArm, "tensorrt": TrtexecArm}.get(backend, UnsupportedArm)
    return cls(hold, cell, backend, run_id, precision, timing, options)
