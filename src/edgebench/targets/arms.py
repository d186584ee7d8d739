"""A suite's cells on a remote target, as arms of the one engine (bench.engine drives them,
interleaving a model's arms round by round): the common part (record, failures, energy from
tegrastats, the finish) and `pytorch` / `onnxruntime`, held by the agent's `serve` process on the
device (the device's own torch rebuilds the model from its torchvision name or shipped definition
with the host's weights; ONNX Runtime loads the host's ONNX, the QDQ model for int8) and timed
there. `tensorrt` through trtexec is targets.trtexec_arm; targets.executor picks the arm.

The model is built, exported and its inputs made on the host (bench.model_cell.ModelCell); the host
compares every cell's outputs with PyTorch FP32 run on the host. A connection lost in a cell makes
that cell `target_lost`, which `run --resume` measures again; the cells after it are recorded at
once (targets.executor).
"""
from __future__ import annotations

import json
import math
import shlex
import time

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
        return TEGRASTATS_MS if self.hold.probe.tegrastats else None

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

    def check(self) -> None:
        """What the agent's engines run, refused before anything is copied."""
        if self.rec.precision not in ("fp32", "fp16") and not (self.backend == "onnxruntime" and self.rec.precision == "int8"):
            raise InvalidConfigError(f"{self.backend} on a target runs fp32 or fp16"
                                     + (" (and int8 on onnxruntime)" if self.backend == "pytorch" else "")
                                     + f", not {self.rec.precision}")

    def open_request(self, pool: dict, check: dict, source: dict) -> dict:
        """The agent's `open` request: the inputs ({"path", "count"}) and the model (`source`:
        "onnx" and "providers", or "model" and "weights")."""
        return {"op": "open", "engine": self.backend, "device": self.hold.device, "precision": self.rec.precision,
                "batch": self.cell.batch_size, "item_shape": list(self.cell.item_shape), "pool": pool, "check": check,
                "threads": self.options.get("threads"), **source}

    def measure_request(self, timing, first: bool) -> dict:
        """The agent's `measure` request for one round (the first also samples the idle power)."""
        tegrastats = self._tegrastats_ms()
        return {"op": "measure", "warmup_iters": timing.warmup_iters, "warmup_s": timing.warmup_s,
                "min_iters": timing.min_iters, "min_time_s": timing.min_time_s, "tegrastats_ms": tegrastats,
                "idle_s": IDLE_S if first and tegrastats else 0.0}

    def plan(self, rounds: list) -> list[str]:
        """The dry run: the requests this arm sends, with placeholders for the files it copies."""
        stem = self.cell.stem
        source = ({"onnx": f".cache/edgebench/files/<sha256 of {stem}.onnx>/{stem}.onnx"}
                  if self.backend == "onnxruntime" else
                  {"model": "<torchvision name or shipped definition>", "weights": f"<state dict of {stem}>"})
        files = {"path": "<sha256 path>", "count": "<n>"}
        lines = [f"$ {shlex.join([self.hold.target.python, self.hold.agent_path, 'serve'])}",
                 "> " + json.dumps(self.open_request(files, files, source))]
        lines += ["> " + json.dumps(self.measure_request(t, r == 0)) for r, t in enumerate(rounds)]
        return lines + ["> " + json.dumps({"op": "close"})]

    def _open(self) -> None:
        rec, cell, hold = self.rec, self.cell, self.hold
        self.check()
        staged = hold.staged(cell)
        inputs = hold.upload_many([staged.pool, staged.check])
        if self.backend == "onnxruntime":
            art = cell.artifact(rec.precision)
            rec.artifact.size_bytes, rec.artifact.sha256 = art.size_bytes, art.sha256
            rec.cold_start.export_s = art.export_s
            rec.details["opset"] = art.metadata.get("opset")
            source = {"onnx": hold.upload(art.path),
                      "providers": {"cpu": ["CPUExecutionProvider"],
                                    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"]}.get(hold.device)}
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
            source = {"model": model, "weights": hold.upload(remote.weights_file(cell.loaded, hold.staging))}
        request = self.open_request({"path": inputs[staged.pool], "count": staged.pool_count},
                                    {"path": inputs[staged.check], "count": staged.check_count}, source)
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
        request = self.measure_request(timing, self.first)
        self.first = False
        reply = self._call(request)
        values = _samples(reply.get("samples_ms"), f"{self.hold.name}: measure")
        self.values += values
        rss = reply.get("rss_peak_mb")
        if isinstance(rss, (int, float)) and not isinstance(rss, bool):
            self.rec.memory.host_rss_peak_mb = float(rss)
        self._add_energy(reply.get("tegrastats_idle"), reply.get("tegrastats"), sum(values),
                         len(values) * self.cell.batch_size)


class UnsupportedArm(TargetArm):
    """A backend a target does not run: a skipped row that says which ones it does."""

    def _open(self) -> None:
        raise InvalidConfigError(self.why())

    def why(self) -> str:
        return (f"backend {self.backend} does not run on a target; a target runs "
                f"{', '.join(TARGET_BACKENDS)} (tensorrt through trtexec)")

    def plan(self, rounds: list) -> list[str]:
        return [f"# skipped: {self.why()}"]
