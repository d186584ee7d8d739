"""Facts about this machine that several stages need (a leaf module: imports nothing heavy)."""
from __future__ import annotations

import os
import platform
from pathlib import Path


def physical_cores() -> int:
    """Distinct (package, core) pairs from sysfs; os.cpu_count() where sysfs is unreadable."""
    cores = set()
    for topo in Path("/sys/devices/system/cpu").glob("cpu[0-9]*/topology"):
        try:
            cores.add(((topo / "physical_package_id").read_text().strip(), (topo / "core_id").read_text().strip()))
        except OSError:
            continue
    return len(cores) or os.cpu_count() or 1


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "processor\t: arm")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def is_jetson() -> bool:
    return Path("/etc/nv_tegra_release").is_file()


def cuda_available() -> bool:
    from importlib.util import find_spec

    if find_spec("torch") is None:
        return False
    import torch

    return torch.cuda.is_available()
