"""OpenVINO (CPU): reads the ONNX file (FP32, or the INT8 QDQ model), reshapes it to the
benchmark batch, compiles with the LATENCY performance hint. The inference precision is pinned:
f32 for fp32 and int8 (OpenVINO would otherwise pick bf16 on CPUs with AMX), bf16/f16 when asked."""
from __future__ import annotations

from dataclasses import dataclass, field

from edgebench.backends.base import Backend
from edgebench.backends.options import BackendOptions
from edgebench.errors import BackendUnavailableError

_HINT = {"fp32": "f32", "int8": "f32", "bf16": "bf16", "fp16": "f16"}


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
        model.reshape({artifact.input_name: [batch_size, *artifact.metadata["input_shape"]]})
        self.model = model
        self.details.update(openvino=ov.__version__, inference_precision=_HINT[self.precision], hint="LATENCY")

    def _load(self) -> None:
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": _HINT[self.precision]}
        if self.options.threads:
            config["INFERENCE_NUM_THREADS"] = self.options.threads
        self.compiled = self.core.compile_model(self.model, "CPU", config)
        self.request = self.compiled.create_infer_request()
        self.batch = self.compiled.input(0).get_shape()[0]

    def _run(self, x):
        if x.shape[0] != self.batch:
            self.model.reshape({self.artifact.input_name: list(x.shape)})
            self._load()
        self.request.infer({0: x})
        return self.request.get_output_tensor(0).data

    def native_call(self, x):
        request = self.request
        return lambda: request.infer({0: x})

    def _unload(self) -> None:
        self.request = None
        self.compiled = None
