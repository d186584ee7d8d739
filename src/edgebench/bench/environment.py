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


def _nvml_device(index: int = 0):
    """(pynvml, the handle of GPU `index`), or None where pynvml, the NVIDIA driver or NVML's
    permission is missing."""
    if find_spec("pynvml") is None:
        return None
    try:
        import pynvml

        pynvml.nvmlInit()
        return pynvml, pynvml.nvmlDeviceGetHandleByIndex(index)
    except Exception:  # no NVIDIA driver, or NVML not permitted in this container
        return None


def gpu_info() -> dict:
    """Driver, clocks and other tenants of GPU 0 through NVML (pynvml), where available."""
    info = {"gpu_driver": "unknown", "gpu_sm_clock_mhz": "unknown", "gpu_mem_clock_mhz": "unknown",
            "gpu_other_processes": []}
    device = _nvml_device()
    if device is None:
        return info
    pynvml, h = device
    try:
        info["gpu_driver"] = pynvml.nvmlSystemGetDriverVersion()
        info["gpu_sm_clock_mhz"] = pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_SM)
        info["gpu_mem_clock_mhz"] = pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_MEM)
        me = os.getpid()
        info["gpu_other_processes"] = [p.pid for p in pynvml.nvmlDeviceGetComputeRunningProcesses(h) if p.pid != me]
    except Exception:  # a query this driver or container does not allow
        pass
    return info


def nvml_facts(index: int = 0) -> dict:
    """A local NVIDIA GPU's power limit (and its maximum), SM clock (and its maximum), temperature
    and the reasons its clocks are held down now, through NVML (pynvml); {} without it."""
    from edgebench.results.setup import clock_reasons

    device = _nvml_device(index)
    if device is None:
        return {}
    pynvml, h = device
    out: dict = {}

    def read(key, fn):
        try:
            out[key] = fn()
        except Exception:  # one unsupported query costs its own fact
            out[key] = None

    read("gpu_power_limit_w", lambda: round(pynvml.nvmlDeviceGetPowerManagementLimit(h) / 1000))
    read("gpu_power_limit_max_w", lambda: round(pynvml.nvmlDeviceGetPowerManagementLimitConstraints(h)[1] / 1000))
    read("gpu_mhz_cur", lambda: pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_SM))
    read("gpu_mhz_hw_max", lambda: pynvml.nvmlDeviceGetMaxClockInfo(h, pynvml.NVML_CLOCK_SM))
    read("gpu_temperature_c", lambda: pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU))
    read("gpu_clock_reasons", lambda: clock_reasons(pynvml.nvmlDeviceGetCurrentClocksThrottleReasons(h)))
    return out


def announce(env: dict, stream=None) -> None:
    """Print the run's setup warnings (env["setup_warnings"], results.setup.warnings) before it
    starts, a line each. edgebench never runs the commands they name."""
    import sys

    for line in env.get("setup_warnings") or []:
        print(f"edgebench: warning: setup: {line} (edgebench does not run it)", file=stream or sys.stderr, flush=True)


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
    from edgebench.results import setup

    env["setup"] = setup.fingerprint(system.setup_readings(), nvml_facts() if env["gpu"] != "none" else None)
    env["setup_warnings"] = setup.warnings(env["setup"])
    return env


def device_name(env: dict, device: str) -> str:
    """The name a record is filed under: the GPU for cuda, the CPU model otherwise."""
    return env.get("gpu", "none") if device == "cuda" else env.get("cpu", "unknown")
