"""The environment a measurement was taken in, stored once per run (results.run.Run.env)."""
from __future__ import annotations

import os
import platform
import socket
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec
from pathlib import Path

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


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip() or "unknown"
    except OSError:
        return "unknown"


def _command(args: list[str], timeout: float = 5.0) -> str:
    import shutil
    import subprocess

    if shutil.which(args[0]) is None:
        return "unknown"
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return (out.stdout or out.stderr).strip()[:500] or "unknown"


def thermal_zones() -> dict:
    """Each readable /sys/class/thermal zone: type -> degrees C."""
    zones = {}
    for z in sorted(Path("/sys/class/thermal").glob("thermal_zone*")):
        kind, temp = _read(str(z / "type")), _read(str(z / "temp"))
        try:
            zones[kind] = int(temp) / 1000.0
        except ValueError:
            continue
    return zones


def jetson_info() -> dict:
    """JetPack/L4T release, power mode, clocks; each "unknown" when unreadable."""
    return {
        "l4t_release": _read("/etc/nv_tegra_release").splitlines()[0] if Path("/etc/nv_tegra_release").is_file() else "unknown",
        "nvpmodel": _command(["nvpmodel", "-q"]),
        "jetson_clocks": _command(["jetson_clocks", "--show"]),
    }


def gpu_info() -> dict:
    """Driver, clocks and other tenants of GPU 0 through NVML (pynvml), where available."""
    info = {"gpu_driver": "unknown", "gpu_sm_clock_mhz": "unknown", "gpu_mem_clock_mhz": "unknown",
            "gpu_other_processes": []}
    if find_spec("pynvml") is None:
        return info
    try:
        import pynvml

        pynvml.nvmlInit()
        h = pynvml.nvmlDeviceGetHandleByIndex(0)
        info["gpu_driver"] = pynvml.nvmlSystemGetDriverVersion()
        info["gpu_sm_clock_mhz"] = pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_SM)
        info["gpu_mem_clock_mhz"] = pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_MEM)
        me = os.getpid()
        info["gpu_other_processes"] = [p.pid for p in pynvml.nvmlDeviceGetComputeRunningProcesses(h) if p.pid != me]
    except Exception:  # no NVIDIA driver, or NVML not permitted in this container
        pass
    return info


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
        "cpu_governor": _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        "thermal_c": thermal_zones(),
        "gpu": "none",
    }
    if env["jetson"]:
        env.update(jetson_info())
    for module in _PACKAGES:
        env[module] = _package_version(module)
    if env["onnxruntime"] != "absent":
        import onnxruntime

        env["onnxruntime_providers"] = onnxruntime.get_available_providers()
    if env["torch"] != "absent":
        import torch

        env["torch_threads"] = torch.get_num_threads()
        env["cuda"] = torch.version.cuda or "none"
        env["cudnn"] = str(torch.backends.cudnn.version()) if torch.backends.cudnn.is_available() else "none"
        if torch.cuda.is_available():
            p = torch.cuda.get_device_properties(0)
            env["gpu"] = p.name
            env["gpu_compute_capability"] = f"{p.major}.{p.minor}"
            env.update(gpu_info())
    return env


def device_name(env: dict, device: str) -> str:
    """The name a record is filed under: the GPU for cuda, the CPU model otherwise."""
    return env.get("gpu", "none") if device == "cuda" else env.get("cpu", "unknown")
