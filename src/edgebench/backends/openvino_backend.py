"""OpenVINO (CPU): reads the ONNX file (FP32, or the INT8 QDQ model), reshapes it to the
benchmark batch, compiles with the LATENCY performance hint. The inference precision is pinned:
f32 for fp32 and int8 (OpenVINO would otherwise pick bf16 on CPUs with AMX), bf16/f16 when asked."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edgebench.backends.base import Backend
from edgebench.backends.options import BackendOptions
from edgebench.backends.profiling import RuntimeProfile, per_query_layers
from edgebench.profilers import OPENVINO
from edgebench.errors import BackendUnavailableError
from edgebench.export.artifact import input_names, item_shape
from edgebench.models.inputs import feed, length, named
from edgebench.models.outputs import pack

_HINT = {"fp32": "f32", "int8": "f32", "bf16": "bf16", "fp16": "f16"}
#: its compiled models in edgebench's cache: the namespace and the blob's file in an entry
NAMESPACE, BLOB = "openvino", "model.blob"


@dataclass(frozen=True)
class OpenVINOOptions(BackendOptions):
    #: INFERENCE_NUM_THREADS (default, or 0: OpenVINO's own)
    threads: int | None = field(default=None, metadata={"min": 0})


class OpenVINOBackend(Backend):
    name = "openvino"
    options_class = OpenVINOOptions
    consumes = "onnx"
    devices = ("cpu",)
    precisions = ("fp32", "int8", "bf16", "fp16")
    auto_precisions = {"cpu": ("fp32", "int8", "bf16")}
    profiler = OPENVINO

    def _prepare(self, artifact, batch_size: int) -> None:
        import openvino as ov

        self._ov = ov
        self.core = ov.Core()
        caps = self.core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
        need = {"bf16": "BF16", "fp16": "FP16", "int8": "INT8"}.get(self.precision)
        if need and need not in caps:
            raise BackendUnavailableError(
                f"this CPU has no fast {self.precision} in OpenVINO (capabilities: {', '.join(caps)}); use --precision fp32"
            )
        self.artifact = artifact
        model = self.core.read_model(str(artifact.path))
        self.input_names = input_names(artifact)
        model.reshape({name: [batch_size, *shape] for name, (_, shape) in zip(self.input_names, named(item_shape(artifact)))})
        self.model = model
        self.details.update(openvino=ov.__version__, inference_precision=_HINT[self.precision], hint="LATENCY")

    def _config(self) -> dict:
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": _HINT[self.precision]}
        if self.options.threads:
            config["INFERENCE_NUM_THREADS"] = self.options.threads
        return config

    def _load(self) -> None:
        self.compiled = self._compiled()
        self.request = self.compiled.create_infer_request()
        self.batch = self.compiled.input(0).get_shape()[0]

    def _compiled(self):
        """The compiled model: from edgebench's cache (OpenVINO's own exported blob, verified by
        its hash like every entry) when this ONNX file was compiled before with the same shape,
        settings, OpenVINO version and CPU; else compiled now and stored. A blob the runtime
        cannot import is discarded and compiled afresh."""
        import time

        from edgebench.cache import Cache
        from edgebench.system import device_identity

        fields = {"onnx_sha256": self.artifact.sha256, "shape": [list(p.get_shape()) for p in self.model.inputs],
                  "config": self._config(), "openvino": self._ov.__version__, "device": device_identity("cpu")}
        cache, label = Cache(self.cache_dir), self.artifact.path.stem
        t0 = time.perf_counter()
        built = {}

        def build(folder: Path) -> None:
            built["model"] = self.core.compile_model(self.model, "CPU", self._config())
            blob = built["model"].export_model()  # bytes, or a BytesIO in some releases
            (folder / BLOB).write_bytes(blob.getvalue() if hasattr(blob, "getvalue") else blob)

        entry = cache.get_or_build(NAMESPACE, fields, build, label)
        compiled = built.get("model")
        if compiled is None:
            try:
                compiled = self.core.import_model(entry.path(BLOB).read_bytes(), "CPU", self._config())
            except RuntimeError as exc:
                cache.discard(NAMESPACE, fields, label)
                self.details["cache"] = f"rebuilt: OpenVINO could not import the cached blob ({str(exc)[:120]})"
                compiled = self.core.compile_model(self.model, "CPU", self._config())
        self.timings["build_s"] = time.perf_counter() - t0
        self.details["compile_cached"] = "model" not in built and "cache" not in self.details
        return compiled

    def _run(self, x):
        if length(x) != self.batch:
            self.model.reshape({name: list(a.shape) for name, a in feed(self.input_names, x).items()})
            self._load()
        self.request.infer(feed(self.input_names, x))
        return pack(self.request.get_output_tensor(i).data for i in range(len(self.compiled.outputs)))

    def _profile(self, x, queries: int, warmup: int, folder: Path) -> RuntimeProfile:
        """The same model compiled a second time with PERF_COUNT on (the timed request never
        counts), its per-layer counters read after each query: the executed layers of the
        compiled graph (fused ones included), their type and real time."""
        request = self.core.compile_model(self.model, "CPU", {**self._config(), "PERF_COUNT": True}).create_infer_request()
        inputs = feed(self.input_names, x)
        for _ in range(warmup):
            request.infer(inputs)
        executed = []
        for _ in range(queries):
            request.infer(inputs)
            executed.append({info.node_name: (info.node_type, info.real_time.total_seconds() * 1e3)
                             for info in request.profiling_info if info.status == info.Status.EXECUTED})
        return RuntimeProfile(OPENVINO, queries, per_query_layers(executed))

    def native_call(self, x):
        request, inputs = self.request, feed(self.input_names, x)
        return lambda: request.infer(inputs)

    def _unload(self) -> None:
        self.request = None
        self.compiled = None
