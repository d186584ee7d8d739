"""tensorrt on a target through JetPack's trtexec, driven through the agent's `exec` (no shell):
build the engine (cached on the device, keyed by the ONNX, precision, shapes and TensorRT version),
run the check inputs (--loadInputs / --exportOutput) for the accuracy gate, time each round
(--exportTimes: the enqueue / H2D / compute / D2H split is kept) and one profiling run for
per-layer times. The argv of each use is built by one method, which the dry run calls too."""
from __future__ import annotations

import shlex
import uuid

from edgebench.bench.engine import round_timing
from edgebench.errors import CellFailed, InvalidConfigError, TargetOutputError
from edgebench.export.artifact import output_names
from edgebench.profilers import TRTEXEC
from edgebench.results.record import Status
from edgebench.targets import remote
from edgebench.targets.arms import BUILD_TIMEOUT_S, CALL_TIMEOUT_S, IDLE_S, WORKSPACE_MIB, TargetArm


def _warmup_ms(timing) -> int:
    return int(round(timing.warmup_s * 1e3))


class TrtexecArm(TargetArm):
    """tensorrt through the device's trtexec. Each timing round is a fresh trtexec process, so
    every round gets the cell's whole warm-up (cold_rounds)."""

    cold_rounds = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.hold.probe.has_gpu:  # trtexec runs on the GPU
            self.rec.device = "cuda"
            self.rec.device_name = remote.device_name(self.hold.env, "cuda")
        self.work = f".cache/edgebench/runs/{uuid.uuid4().hex[:12]}"
        self.shape = tuple(self.cell.item_shape)
        self.max_batch = max(self.cell.batch_size, remote.PARITY_BATCH)  # the parity runs' batch fits the engine
        self.engine = ""
        self.traces: list = []  # each round's trtexec_files.TrtexecTimes

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

    def check(self) -> None:
        """What this target's trtexec can build, refused before anything is exported or copied."""
        from edgebench.targets import trtexec

        rec, hold = self.rec, self.hold
        probe = hold.probe
        if probe.trtexec is None:
            raise InvalidConfigError(f"no trtexec on target {hold.name} ({probe.reason('trtexec')}); "
                                     "JetPack's TensorRT installs it at /usr/src/tensorrt/bin/trtexec")
        if probe.tensorrt_version is None:
            raise InvalidConfigError(f"target {hold.name} has trtexec but no TensorRT version was found "
                                     f"({probe.reason('tensorrt_version')})")
        if rec.precision not in trtexec.PRECISIONS:
            raise InvalidConfigError(f"tensorrt on a target builds fp32, fp16 or int8, not {rec.precision}")
        if rec.precision == "int8" and not remote.fast_int8(probe.gpu):
            raise InvalidConfigError(f"int8 not measured on {probe.gpu}: its GPU has no fast INT8 "
                                     "(it would only show a slowdown); use tensorrt@fp16")

    # -- the four uses of trtexec, as argv lists (the run and the dry run take them from here)

    def build_argv(self, onnx: str) -> list[str]:
        from edgebench.targets import trtexec

        return trtexec.build_argv(self.hold.probe.trtexec, onnx, self.engine, sample_shape=self.shape,
                                  trt_version=self.hold.probe.tensorrt_version, precision=self.rec.precision,
                                  opt_batch=self.cell.batch_size, max_batch=self.max_batch,
                                  workspace_mib=WORKSPACE_MIB)

    def parity_argv(self, chunk: str, out: str) -> list[str]:
        from edgebench.targets import trtexec

        return trtexec.parity_argv(self.hold.probe.trtexec, self.engine, chunk, out, sample_shape=self.shape,
                                   batch=remote.PARITY_BATCH)

    def timing_argv(self, timing) -> list[str]:
        from edgebench.targets import trtexec

        return trtexec.timing_argv(self.hold.probe.trtexec, self.engine, f"{self.work}/times.json",
                                   sample_shape=self.shape, batch=self.cell.batch_size,
                                   warmup_ms=_warmup_ms(timing), duration_s=timing.min_time_s,
                                   iterations=timing.min_iters, trt_version=self.hold.probe.tensorrt_version)

    def profile_argv(self) -> list[str]:
        from edgebench.targets import trtexec

        return trtexec.profile_argv(self.hold.probe.trtexec, self.engine, f"{self.work}/profile.json",
                                    f"{self.work}/layers.json", sample_shape=self.shape,
                                    trt_version=self.hold.probe.tensorrt_version, batch=self.cell.batch_size)

    def plan(self, rounds: list) -> list[str]:
        """The dry run: every command this arm runs, with placeholders for what the host makes."""
        try:
            self.check()
        except InvalidConfigError as exc:
            return [f"# skipped: {exc}"]
        stem = self.cell.stem
        self.engine = f".cache/edgebench/engines/<key of {stem} {self.rec.precision} TensorRT {self.hold.probe.tensorrt_version}>.engine"
        self.work = ".cache/edgebench/runs/<cell>"
        chunks = -(-self.cell.check_items // remote.PARITY_BATCH)
        tegrastats = self._tegrastats_ms()
        lines = [f"$ {shlex.join(['mkdir', '-p', '.cache/edgebench/engines', self.work])}",
                 "$ " + shlex.join(self.build_argv(f".cache/edgebench/files/<sha256 of {stem}.onnx>/{stem}.onnx"))
                 + "   # unless the engine is on the device already",
                 "$ " + shlex.join(self.parity_argv(".cache/edgebench/files/<sha256>/parity-<i>.bin",
                                                    f"{self.work}/parity-<i>.json")) + f"   # for i in 0..{chunks - 1}"]
        if tegrastats:
            lines.append(f"$ sleep {IDLE_S:g}   # with tegrastats --interval {tegrastats}: the idle baseline")
        for r, t in enumerate(rounds):
            lines.append("$ " + shlex.join(self.timing_argv(round_timing(self, rounds, r))) + f"   # round {r + 1}"
                         + (f", with tegrastats --interval {tegrastats}" if tegrastats else ""))
        return lines + ["$ " + shlex.join(self.profile_argv()), f"$ {shlex.join(['rm', '-rf', self.work])}"]

    def _open(self) -> None:
        from edgebench.cache import cache_key

        rec, cell, hold = self.rec, self.cell, self.hold
        self.check()
        version = hold.probe.tensorrt_version
        art = cell.artifact("int8" if rec.precision == "int8" else "fp32")  # int8: the QDQ model, calibrated on the host
        rec.artifact.size_bytes, rec.artifact.sha256 = art.size_bytes, art.sha256
        rec.cold_start.export_s = art.export_s
        rec.details["opset"] = art.metadata.get("opset")
        onnx = hold.upload(art.path)
        self.output_names = output_names(art)  # how --exportOutput's outputs map back (models.outputs)
        staged = hold.staged(cell)
        key = cache_key({"onnx": art.sha256, "precision": rec.precision, "tensorrt": version, "item": list(self.shape),
                         "batch": cell.batch_size, "max_batch": self.max_batch, "workspace_mib": WORKSPACE_MIB,
                         "gpu": hold.probe.gpu})
        self.engine = f".cache/edgebench/engines/{key}.engine"
        build = self.build_argv(onnx)
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

        from edgebench.targets.trtexec_files import parse_outputs

        from edgebench.models.outputs import pack

        self._exec(["mkdir", "-p", self.work])
        remote_chunks = self.hold.upload_many(staged.parity)  # one check of what the device has
        names = self.output_names
        items: list[list] = [[] for _ in names]  # per output, its chunks
        for i, chunk in enumerate(staged.parity):
            out = f"{self.work}/parity-{i}.json"
            reply = self._exec(self.parity_argv(remote_chunks[chunk], out), read={"out": out})
            if reply.get("rc") != 0 or not (reply.get("files") or {}).get("out"):
                raise self._failed(reply, "parity run", Status.RUN_FAILED)
            if i == 0:  # engine deserialization and one query: the cell's load
                self.rec.cold_start.load_s = reply.get("elapsed_s")
            source = f"trtexec --exportOutput on {self.hold.name}"
            outputs = parse_outputs(reply["files"]["out"], source)
            # by the ONNX file's output names (models.outputs); a file of one output by its only one
            chosen = [next(iter(outputs.values()))] if len(names) == 1 else [outputs.get(name) for name in names]
            if any(c is None for c in chosen):
                missing = [n for n, c in zip(names, chosen) if c is None]
                raise TargetOutputError(f"{source}: no output named {', '.join(missing)} (it has {', '.join(outputs)})")
            for k, (dims, values) in enumerate(chosen):
                items[k].append(np.asarray(values, dtype=np.float32).reshape(dims))
        b, n = self.cell.batch_size, staged.check_count
        per_output = []
        for chunks in items:
            flat = np.concatenate(chunks)[: staged.check_items]
            padded = np.concatenate([flat, flat[: n * b - len(flat)]]) if len(flat) < n * b else flat[: n * b]
            per_output.append([padded[i * b : (i + 1) * b] for i in range(n)])
        return [pack(p[i] for p in per_output) for i in range(n)]

    def _measure(self, timing) -> None:
        from edgebench.targets.trtexec_files import parse_times

        times = f"{self.work}/times.json"
        if self.idle_watts is None and self._tegrastats_ms():
            idle = self._exec(["sleep", str(IDLE_S)], tegrastats=True)
            self._add_energy(idle.get("tegrastats"), None, 0.0, 0)
        reply = self._exec(self.timing_argv(timing), read={"times": times}, tegrastats=True)
        if reply.get("rc") != 0 or not (reply.get("files") or {}).get("times"):
            raise self._failed(reply, "timing run", Status.RUN_FAILED)
        trace = parse_times(reply["files"]["times"], f"trtexec --exportTimes on {self.hold.name}")
        trace = trace.after_warmup(_warmup_ms(timing))
        self.traces.append(trace)
        self.values += [v / 1e3 for v in trace.latency_ms]
        self.device_values += [v / 1e3 for v in trace.compute_ms]
        window_s = (trace.start_compute_ms[-1] - trace.start_compute_ms[0] + trace.compute_ms[-1]) / 1e3
        self._add_energy(None, reply.get("tegrastats"), window_s, trace.count * self.cell.batch_size)
        self.rec.details["trace_format"] = trace.format

    def _finish(self) -> None:
        from edgebench.targets.trtexec_files import TrtexecTimes, parse_layer_info, parse_profile

        rec = self.rec
        split = TrtexecTimes.joined(self.traces).stats(self.cell.batch_size)
        rec.details["trtexec_p50_ms"] = {part: stats.p50_ms for part, stats in split.items()
                                        if stats is not None and part != "latency"}
        rec.details["trtexec_timing"] = ("host latency = trtexec's H2D + GPU compute + D2H per query; "
                                         "device latency = GPU compute; each round a fresh trtexec with the cell's "
                                         "whole warm-up, by time only (--warmUp)")
        profile, layers = f"{self.work}/profile.json", f"{self.work}/layers.json"
        try:
            reply = self._exec(self.profile_argv(), read={"profile": profile, "layers": layers})
            if reply.get("rc") != 0 or not (reply.get("files") or {}).get("profile"):
                raise self._failed(reply, "profiling run", Status.RUN_FAILED)
            prof = parse_profile(reply["files"]["profile"], f"trtexec --exportProfile on {self.hold.name}")
            rec.details["layer_profile"] = {"source": TRTEXEC, "queries": prof.count, "layers": prof.to_rows()}
            if reply["files"].get("layers"):
                rec.details["engine_layers"] = parse_layer_info(
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
