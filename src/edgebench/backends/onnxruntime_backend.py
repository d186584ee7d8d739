"""ONNX Runtime: CPU EP with all graph optimisations and threads = physical cores; CUDA and
TensorRT EPs where onnxruntime-gpu has them. Never a silent fallback to another EP."""
from __future__ import annotations

import bisect
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from edgebench.backends.base import Backend
from edgebench.backends.options import BackendOptions
from edgebench.backends.profiling import LayerTimes, RuntimeProfile
from edgebench.profilers import ONNXRUNTIME
from edgebench.errors import BackendUnavailableError, InvalidConfigError
from edgebench.models import inputs
from edgebench.models.outputs import pack

PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}


@dataclass(frozen=True)
class OnnxRuntimeOptions(BackendOptions):
    #: the execution provider, a key of PROVIDERS (default: cuda with --device cuda, else cpu)
    provider: Literal["cpu", "cuda", "tensorrt"] | None = None
    #: intra-op threads (default, or 0: the physical cores)
    threads: int | None = field(default=None, metadata={"min": 0})


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"
    options_class = OnnxRuntimeOptions
    consumes = "onnx"
    devices = ("cpu", "cuda")
    precisions = ("fp32", "fp16", "int8")  # int8: the QDQ model from export.quantize
    auto_precisions = {"cpu": ("fp32", "int8"), "cuda": ("fp32", "int8")}
    profiler = ONNXRUNTIME

    @classmethod
    def usable_on(cls, device: str) -> bool:
        """ONNX Runtime's CPU build cannot use the GPU: on CUDA only with its CUDA provider."""
        if device == "cuda":
            import onnxruntime

            return "CUDAExecutionProvider" in onnxruntime.get_available_providers()
        return super().usable_on(device)

    def _prepare(self, artifact, batch_size: int) -> None:
        import onnxruntime as ort

        provider_key = self.options.provider or ("cuda" if self.device == "cuda" else "cpu")
        self.provider = PROVIDERS[provider_key]
        if self.precision == "fp16" and self.provider != "TensorrtExecutionProvider":
            raise InvalidConfigError(
                "onnxruntime runs the FP32 ONNX model on the CPU and CUDA EPs; for fp16 use --backend tensorrt, "
                "--backend pytorch, or onnxruntime with provider=tensorrt"
            )
        available = ort.get_available_providers()
        if self.provider not in available:
            raise BackendUnavailableError(
                f"requested provider was {self.provider}, but available providers are {', '.join(available)}; "
                "install onnxruntime-gpu for CUDA/TensorRT"
            )
        self._ort = ort
        self.artifact = artifact
        from edgebench.system import physical_cores

        self.threads = self.options.threads or physical_cores()

    def _session(self, profile_prefix: str | None = None):
        """An InferenceSession of the artifact with the backend's options; with `profile_prefix`,
        one that writes ONNX Runtime's profiling trace to PREFIX_<date>.json."""
        ort = self._ort
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.intra_op_num_threads = self.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.log_severity_level = 3
        if profile_prefix is not None:
            so.enable_profiling = True
            so.profile_file_prefix = profile_prefix
        providers: list = [self.provider]
        if self.provider == "TensorrtExecutionProvider":
            opts = {"trt_fp16_enable": self.precision == "fp16"}
            if self.cache_dir:
                opts.update(trt_engine_cache_enable=True, trt_engine_cache_path=str(self.cache_dir / "ort-trt"))
            providers = [(self.provider, opts)]
        return ort.InferenceSession(str(self.artifact.path), sess_options=so, providers=providers)

    def _load(self) -> None:
        ort = self._ort
        self.session = self._session()
        used = self.session.get_providers()
        if not used or used[0] != self.provider:
            raise BackendUnavailableError(
                f"requested provider was {self.provider}, but the session runs on {', '.join(used)}; "
                "check the CUDA/TensorRT libraries onnxruntime-gpu needs"
            )
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.details.update(onnxruntime=ort.__version__, provider=used[0], threads=self.threads)

    def _profile(self, x, queries: int, warmup: int, folder: Path) -> RuntimeProfile:
        """A second session of the same model and options with ONNX Runtime's profiling on (the
        timed session never profiles), its trace written into `folder` and read back."""
        session = self._session(str(folder / "onnxruntime"))
        try:
            feed, outs = inputs.feed(self.input_names, x), self.output_names
            for _ in range(warmup + queries):
                session.run(outs, feed)
        finally:
            trace = session.end_profiling()
        with open(trace) as f:
            return node_times(json.load(f), warmup, trace)

    def _run(self, x):
        return pack(self.session.run(self.output_names, inputs.feed(self.input_names, x)))

    @property
    def any_batch(self) -> bool:
        """On the CPU provider, with a symbolic batch axis (edgebench's exports have one), a
        session runs any batch size with the same kernels per item; other providers may build an
        engine per shape."""
        session = getattr(self, "session", None)
        if session is None or session.get_providers()[0] != "CPUExecutionProvider":
            return False
        return not isinstance(session.get_inputs()[0].shape[0], int)

    def native_call(self, x):
        feed = inputs.feed(self.input_names, x)
        outs = self.output_names
        return lambda: self.session.run(outs, feed)

    def _unload(self) -> None:
        self.session = None


def node_times(events: list, skip_runs: int, source: str = "ONNX Runtime's profile") -> RuntimeProfile:
    """ONNX Runtime's profiling trace (Chrome trace events) -> each node's time per run, the
    first `skip_runs` runs (the warm-up) left out. A run is a Session "model_run" event; a node's
    time is its "<node>_kernel_time" event (microseconds), its op type args.op_name; nodes are
    the optimised graph's (fused nodes included), in the order they first ran."""
    runs = sorted((e["ts"], e["ts"] + e["dur"]) for e in events
                  if e.get("cat") == "Session" and e.get("name") == "model_run")
    if len(runs) <= skip_runs:
        raise ValueError(f"{source} holds {len(runs)} runs, not the {skip_runs} warm-up runs and more")
    starts = [start for start, _ in runs]
    times: dict[str, dict[int, float]] = {}
    op_types: dict[str, str | None] = {}
    for e in events:
        if e.get("cat") != "Node" or not str(e.get("name", "")).endswith("_kernel_time"):
            continue
        run = bisect.bisect_right(starts, e["ts"]) - 1
        if run < skip_runs or e["ts"] > runs[run][1]:
            continue
        node = e["name"][: -len("_kernel_time")]
        op_types.setdefault(node, (e.get("args") or {}).get("op_name"))
        per_run = times.setdefault(node, {})
        per_run[run] = per_run.get(run, 0.0) + e["dur"] / 1e3
    queries = len(runs) - skip_runs
    layers = tuple(LayerTimes(node, op_types[node], sum(per_run.values()),
                              tuple(per_run.get(r, 0.0) for r in range(skip_runs, len(runs))))
                   for node, per_run in times.items())
    return RuntimeProfile(ONNXRUNTIME, queries, layers)
