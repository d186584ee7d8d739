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


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def slow_precision(device: str, precision: str) -> str:
    """Why `precision` is not measured on `device` (a cell's skipped row says it), or "" when it
    runs fast here."""
    slow = fast_precisions(device).get(precision, "")
    return f"{precision} not measured: {slow}; it would only show a slowdown" if slow else ""


def fast_precisions(device: str) -> dict[str, str]:
    """precision -> "" when this device runs it fast, else the reason it does not. A precision
    without fast hardware support would run, slower, and be reported as a slowdown; edgebench
    says so instead (e.g. the Jetson Nano's Maxwell GPU has fast FP16 but no fast INT8)."""
    out = {"fp32": ""}
    if device == "cuda":
        import torch

        major, minor = torch.cuda.get_device_capability()
        name = torch.cuda.get_device_name()
        cc = (major, minor)
        out["fp16"] = "" if cc in ((5, 3), (6, 0), (6, 2)) or cc >= (7, 0) else f"{name} (sm_{major}{minor}) has no fast FP16"
        out["bf16"] = "" if cc >= (8, 0) else f"{name} (sm_{major}{minor}) has no BF16 tensor cores (needs sm_80+)"
        out["int8"] = "" if cc >= (6, 1) else f"{name} (sm_{major}{minor}) has no fast INT8 (DP4A needs sm_61+)"
        out["fp8"] = "" if cc >= (8, 9) else f"{name} (sm_{major}{minor}) has no FP8 tensor cores (needs sm_89+)"
        return out
    flags = cpu_flags()
    arm = platform.machine().lower() in ("aarch64", "arm64")
    int8 = {"avx512_vnni", "avx_vnni", "amx_int8", "avx512bw", "avx2"} if not arm else {"asimddp", "i8mm"}
    out["int8"] = "" if flags & int8 else "this CPU has no fast INT8 dot-product instructions"
    out["bf16"] = "" if flags & ({"avx512_bf16", "amx_bf16"} if not arm else {"bf16"}) else "this CPU has no BF16 instructions"
    out["fp16"] = "" if flags & ({"avx512_fp16", "amx_fp16"} if not arm else {"fphp", "asimdhp"}) else "this CPU has no fast FP16 arithmetic"
    out["fp8"] = "CPUs have no FP8 arithmetic"
    return out


def device_identity(device: str) -> str:
    """What a compiled artifact is specific to: the GPU's name and architecture, or the CPU's
    model (its instruction set); part of every compiled-artifact cache key."""
    if device == "cuda":
        import torch

        p = torch.cuda.get_device_properties(torch.cuda.current_device())
        return f"{p.name} sm_{p.major}{p.minor}"
    return f"cpu {cpu_model()}"

