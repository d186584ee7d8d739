"""ONNX Runtime: CPU EP with all graph optimisations and threads = physical cores; CUDA and
TensorRT EPs where onnxruntime-gpu has them. Never a silent fallback to another EP."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from edgebench.backends.base import Backend
from edgebench.backends.options import BackendOptions
from edgebench.errors import BackendUnavailableError, InvalidConfigError

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

    def _load(self) -> None:
        ort = self._ort
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.intra_op_num_threads = self.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.log_severity_level = 3
        providers: list = [self.provider]
        if self.provider == "TensorrtExecutionProvider":
            opts = {"trt_fp16_enable": self.precision == "fp16"}
            if self.cache_dir:
                opts.update(trt_engine_cache_enable=True, trt_engine_cache_path=str(self.cache_dir / "ort-trt"))
            providers = [(self.provider, opts)]
        self.session = ort.InferenceSession(str(self.artifact.path), sess_options=so, providers=providers)
        used = self.session.get_providers()
        if not used or used[0] != self.provider:
            raise BackendUnavailableError(
                f"requested provider was {self.provider}, but the session runs on {', '.join(used)}; "
                "check the CUDA/TensorRT libraries onnxruntime-gpu needs"
            )
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name
        self.details.update(onnxruntime=ort.__version__, provider=used[0], threads=self.threads)

    def _run(self, x):
        return self.session.run([self.output_name], {self.input_name: x})[0]

    def native_call(self, x):
        feed = {self.input_name: x}
        outs = [self.output_name]
        return lambda: self.session.run(outs, feed)

    def _unload(self) -> None:
        self.session = None
