"""Backends named by string and imported only when used; availability checked without
importing the heavy library (find_spec first, then the device). What each backend supports
(devices, precisions, `--precision auto` candidates, options) is read from its class: importing
a backend's module is cheap, it imports its library only when it prepares."""
from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from importlib.util import find_spec

from edgebench.errors import BackendUnavailableError, UnknownBackendError


@dataclass(frozen=True)
class BackendEntry:
    name: str
    target: str  # "module:Class", imported on first use
    modules: tuple[str, ...]  # import names that must be findable
    install: str  # the exact command that makes it available
    description: str


BACKENDS: dict[str, BackendEntry] = {
    e.name: e
    for e in (
        BackendEntry(
            "pytorch",
            "edgebench.backends.pytorch_backend:PyTorchBackend",
            ("torch",),
            "pip install torch torchvision",
            "PyTorch eager (the paper's pre-optimisation baseline), CPU or CUDA",
        ),
        BackendEntry(
            "onnxruntime",
            "edgebench.backends.onnxruntime_backend:OnnxRuntimeBackend",
            ("onnxruntime",),
            "pip install onnxruntime  (GPU: pip install onnxruntime-gpu)",
            "ONNX Runtime: CPU EP, or CUDA / TensorRT EPs with onnxruntime-gpu",
        ),
        BackendEntry(
            "torch-compile",
            "edgebench.backends.torch_compile.backend:TorchCompileBackend",
            ("torch",),
            "pip install torch  (CPU needs a C++ compiler; CUDA needs triton, shipped with CUDA torch)",
            "torch.compile (Inductor), default or reduce-overhead (CUDA graphs) mode",
        ),
        BackendEntry(
            "aot-inductor",
            "edgebench.backends.aot_inductor_backend:AOTInductorBackend",
            ("torch",),
            "pip install torch  (needs a C++ compiler)",
            "torch.export + AOTInductor package (.pt2), cached and loaded without the model's code",
        ),
        BackendEntry(
            "openvino",
            "edgebench.backends.openvino_backend:OpenVINOBackend",
            ("openvino",),
            "pip install openvino  (or pip install 'edgebench[openvino]')",
            "Intel OpenVINO on the CPU: the FP32 or INT8 (QDQ) ONNX model, latency hint",
        ),
        BackendEntry(
            "tensorrt",
            "edgebench.backends.tensorrt_backend:TensorRTBackend",
            ("tensorrt",),
            "pip install tensorrt  (Jetson: JetPack's python3-libnvinfer, with a venv made --system-site-packages)",
            "NVIDIA TensorRT engine from the ONNX file (the paper's optimiser)",
        ),
    )
}

#: the post-optimisation set when the user names none: every one of these installed here is
#: measured, and Table 1 keeps each model's fastest that passes the accuracy gate. On the CPU,
#: torch-compile is opt-in (name it in --backends): it needs a C++ compiler and compiles every
#: model anew at each cold start, where the ONNX runtimes load a file; on CUDA it is PyTorch's own
#: optimiser. ONNX Runtime's CPU build cannot use the GPU, so on CUDA it joins only where its CUDA
#: provider is installed.
DEFAULT_POST_BACKENDS = {"cpu": ("onnxruntime", "openvino"), "cuda": ("tensorrt", "torch-compile", "onnxruntime")}


@dataclass(frozen=True)
class Availability:
    name: str
    available: bool
    reason: str
    install: str


def entry(name: str) -> BackendEntry:
    if name not in BACKENDS:
        close = difflib.get_close_matches(name, list(BACKENDS), n=2)
        hint = f" Did you mean {' or '.join(close)}?" if close else ""
        raise UnknownBackendError(f"unknown backend {name!r}.{hint} Known: {', '.join(BACKENDS)} (see `edgebench backends`)")
    return BACKENDS[name]


def availability(name: str) -> Availability:
    e = entry(name)
    missing = [m for m in e.modules if find_spec(m) is None]
    if missing:
        return Availability(name, False, f"python module {', '.join(missing)} not found", e.install)
    if "cpu" not in _import_class(e).devices:
        from edgebench.system import cuda_available

        if not cuda_available():
            return Availability(name, False, "needs an NVIDIA GPU with CUDA; torch.cuda.is_available() is False", e.install)
    return Availability(name, True, "ok", e.install)


def list_availability() -> list[Availability]:
    return [availability(n) for n in BACKENDS]


def default_post_backends(device: str = "cpu") -> list[str]:
    """Every optimiser installed here that runs on `device` (DEFAULT_POST_BACKENDS), in order."""
    found = [n for n in DEFAULT_POST_BACKENDS[device]
             if availability(n).available and _import_class(entry(n)).usable_on(device)]
    if not found:
        raise BackendUnavailableError("no optimising backend is available; install one: pip install onnxruntime")
    return found


def auto_precisions(name: str, device: str) -> tuple[str, ...]:
    """What `--precision auto` tries for backend `name` on `device` (its class's
    auto_precisions; fp32 on a device it lists none for): the accuracy gate then decides."""
    return _import_class(entry(name)).auto_precisions.get(device, ("fp32",))


def backend_class(name: str):
    e = entry(name)
    a = availability(name)
    if not a.available:
        raise BackendUnavailableError(f"backend {name} is unavailable: {a.reason}; install with: {a.install}")
    return _import_class(e)


def _import_class(e: BackendEntry):
    """The backend's class, from its "module:Class" target (the module imports its library lazily)."""
    module_name, cls_name = e.target.split(":")
    return getattr(importlib.import_module(module_name), cls_name)


def check_options(name: str, options: dict):
    """Backend `name`'s options object from a KEY=VALUE dict; InvalidConfigError for a key it
    does not know or a value of the wrong type. Needs no backend library: the backend's module
    imports its library only when it prepares."""
    return _import_class(entry(name)).parse_options(options)


def create_backend(name: str, **kwargs):
    return backend_class(name)(**kwargs)
