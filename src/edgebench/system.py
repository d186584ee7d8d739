"""Facts about this machine that several stages need (a leaf module: imports nothing heavy)."""
from __future__ import annotations

import glob
import os
import platform
import shutil
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



#: what the setup fingerprint (results.setup) reads: files, as globs (a missing one is left out)...
SETUP_FILES = (
    "/sys/devices/system/cpu/online", "/sys/devices/system/cpu/offline", "/sys/devices/system/cpu/present",
    "/sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_governor",
    "/sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_min_freq",
    "/sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_max_freq",
    "/sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_cur_freq",
    "/sys/devices/system/cpu/cpu[0-9]*/cpufreq/cpuinfo_max_freq",
    "/sys/devices/system/cpu/cpufreq/boost", "/sys/devices/system/cpu/intel_pstate/no_turbo",
    "/sys/class/thermal/thermal_zone[0-9]*/type", "/sys/class/thermal/thermal_zone[0-9]*/temp",
    "/sys/class/devfreq/*/min_freq", "/sys/class/devfreq/*/max_freq", "/sys/class/devfreq/*/cur_freq",
    "/sys/class/devfreq/*/available_frequencies",
    "/proc/device-tree/model", "/etc/nvpmodel.conf",
)
#: ...and commands, run where they are on PATH (jetson_clocks --show needs root; without it, no answer)
SETUP_COMMANDS = (("nvpmodel", "-q"), ("jetson_clocks", "--show"))
#: the most read of one file (an nvpmodel.conf is a few kB)
SETUP_FILE_CAP = 256 * 1024


def _run(argv: list[str]) -> tuple[int | None, str]:
    import subprocess

    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None, ""
    return out.returncode, out.stdout


def setup_readings(root: str = "/", run=None, which=shutil.which, patterns: tuple = SETUP_FILES) -> dict:
    """{"files": {path: text}, "commands": {"nvpmodel -q": stdout or None}}: what the setup
    fingerprint reads, unparsed (results.setup.fingerprint reads it); `patterns` narrows the files
    (a soak's sensors read only what changes). The device agent (targets/agent.py, one Python 3.6
    file that imports nothing of edgebench) has a copy of this function and its lists; a test keeps
    the two the same. Never raises."""
    files = {}
    for pattern in patterns:
        for path in sorted(glob.glob(os.path.join(root, pattern.lstrip("/")))):
            try:
                with open(path, "rb") as f:
                    files["/" + os.path.relpath(path, root).lstrip("/")] = f.read(SETUP_FILE_CAP).decode("utf-8", "replace")
            except OSError:
                continue
    commands = {}
    for argv in SETUP_COMMANDS:
        if which(argv[0]) is None:
            continue
        try:
            rc, out = (run or _run)(list(argv))[:2]
        except Exception:  # an injected runner's failure: no answer
            rc, out = None, ""
        commands[" ".join(argv)] = out if rc == 0 else None
    return {"files": files, "commands": commands}
