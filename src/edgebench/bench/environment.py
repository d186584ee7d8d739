"""The environment a measurement was taken in, stored with every record."""
from __future__ import annotations

import os
import platform
import socket
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec

from edgebench import system

# import name -> distribution names to try (TensorRT ships under several)
_PACKAGES = {
    "torch": ("torch",),
    "torchvision": ("torchvision",),
    "onnx": ("onnx",),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu"),
    "tensorrt": ("tensorrt", "tensorrt-cu12", "tensorrt-cu13", "tensorrt_libs"),
    "openvino": ("openvino",),
}


def _package_version(module: str) -> str:
    if find_spec(module) is None:
        return "absent"
    for dist in _PACKAGES[module]:
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return "present (version unknown)"


def capture() -> dict:
    env = {
        "host": socket.gethostname(),
        "os": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "cpu": system.cpu_model(),
        "cpu_logical": os.cpu_count(),
        "cpu_physical": system.physical_cores(),
        "jetson": system.is_jetson(),
        "gpu": "none",
    }
    for module in _PACKAGES:
        env[module] = _package_version(module)
    if env["torch"] != "absent":
        import torch

        env["torch_threads"] = torch.get_num_threads()
        env["cuda"] = torch.version.cuda or "none"
        if torch.cuda.is_available():
            p = torch.cuda.get_device_properties(0)
            env["gpu"] = p.name
            env["gpu_compute_capability"] = f"{p.major}.{p.minor}"
    return env


def device_name(env: dict, device: str) -> str:
    """The name a record is filed under: the GPU for cuda, the CPU model otherwise."""
    return env.get("gpu", "none") if device == "cuda" else env.get("cpu", "unknown")
