"""The setup fingerprint: how the device was set up when it was measured (power mode, clocks
locked or not, CPU cores online, governors, CPU/GPU/EMC clocks, temperatures at start, a
data-centre GPU's power limit and clock-throttle reasons), and the warnings for whatever makes
numbers lower than the device can give, each naming the command that fixes it. edgebench never
runs those commands itself.

The raw readings (files under /sys and /etc, `nvpmodel -q`, `jetson_clocks --show`) come from
system.setup_readings locally (bench.environment) and from the device agent's copy of it on a
remote target, which sends them back as text; this module only reads them, as plain data in and
out. The fingerprint is stored with the run's environment under "setup"."""
from __future__ import annotations

import re

#: a devfreq device that is the integrated GPU: Nano 57000000.gpu, TX2 gp10b, Xavier gv11b, Orin ga10b
_GPU_DEVFREQ = re.compile(r"/sys/class/devfreq/([^/]*(?:gpu|gp10b|gv11b|ga10b|gb10b)[^/]*)/", re.IGNORECASE)
_SHOW_CPU = re.compile(r"^cpu(\d+): Online=(\d) Governor=(\S+) MinFreq=(\d+) MaxFreq=(\d+) CurrentFreq=(\d+)", re.M)
_SHOW_GPU = re.compile(r"^GPU MinFreq=(\d+) MaxFreq=(\d+) CurrentFreq=(\d+)", re.M)
_SHOW_EMC = re.compile(r"^EMC MinFreq=(\d+) MaxFreq=(\d+) CurrentFreq=(\d+)(?: FreqOverride=(\d))?", re.M)
_CONF_MODE = re.compile(r"^<\s*POWER_MODEL\s+ID=(\d+)\s+NAME=(\S+)\s*>", re.M)
_CONF_DEFAULT = re.compile(r"^<\s*PM_CONFIG\s+DEFAULT=(\d+)\s*>", re.M)
_POWER_MODE = re.compile(r"NV Power Mode:\s*(\S+)(?:\s*\n\s*(\d+))?")


# -- parsers: text in, value out ---------------------------------------------------------------

def parse_cpu_list(text: str | None) -> list[int]:
    """"0-3,5" (the kernel's CPU list format) -> [0, 1, 2, 3, 5]; blank -> []."""
    out: list[int] = []
    for part in (text or "").strip().split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            return []
        out += range(int(lo), int(hi or lo) + 1)
    return out


def cpu_list_text(cpus: list[int]) -> str:
    """[0, 1, 2, 5] -> "0-2,5"."""
    runs: list[list[int]] = []
    for c in sorted(cpus):
        if runs and c == runs[-1][1] + 1:
            runs[-1][1] = c
        else:
            runs.append([c, c])
    return ",".join(f"{a}-{b}" if b > a else str(a) for a, b in runs)


def parse_nvpmodel_query(text: str | None) -> tuple[str | None, int | None]:
    """`nvpmodel -q` ("NV Power Mode: MAXN" then the id alone on a line) -> ("MAXN", 0)."""
    m = _POWER_MODE.search(text or "")
    if not m:
        return None, None
    return m.group(1), int(m.group(2)) if m.group(2) else None


def parse_nvpmodel_conf(text: str | None) -> tuple[dict[int, str], int | None]:
    """/etc/nvpmodel.conf -> ({mode id: name}, the default mode id or None)."""
    modes = {int(i): name for i, name in _CONF_MODE.findall(text or "")}
    m = _CONF_DEFAULT.search(text or "")
    return modes, int(m.group(1)) if m else None


def parse_jetson_clocks_show(text: str | None) -> dict:
    """`jetson_clocks --show` -> {"cpus": {n: {online, governor, min_khz, max_khz, cur_khz}},
    "gpu": {min_hz, max_hz, cur_hz} or None, "emc": {min_hz, max_hz, cur_hz, override} or None}."""
    text = text or ""
    cpus = {int(n): {"online": on == "1", "governor": gov, "min_khz": int(lo), "max_khz": int(hi), "cur_khz": int(cur)}
            for n, on, gov, lo, hi, cur in _SHOW_CPU.findall(text)}
    g = _SHOW_GPU.search(text)
    e = _SHOW_EMC.search(text)
    return {
        "cpus": cpus,
        "gpu": {"min_hz": int(g.group(1)), "max_hz": int(g.group(2)), "cur_hz": int(g.group(3))} if g else None,
        "emc": ({"min_hz": int(e.group(1)), "max_hz": int(e.group(2)), "cur_hz": int(e.group(3)),
                 "override": e.group(4) == "1" if e.group(4) is not None else None} if e else None),
    }


def _int(text) -> int | None:
    try:
        return int(str(text).strip().split()[0])
    except (ValueError, IndexError):
        return None


def _mhz(value, per_mhz: int) -> int | None:
    return None if value is None else round(value / per_mhz)


# -- the fingerprint ---------------------------------------------------------------------------

def fingerprint(readings: dict | None, nvml: dict | None = None) -> dict:
    """The setup as plain data from system.setup_readings' dict (and, for a local NVIDIA GPU,
    bench.environment.nvml_facts()). Each fact is None where the readings do not say."""
    files = (readings or {}).get("files") or {}
    commands = (readings or {}).get("commands") or {}
    show = parse_jetson_clocks_show(commands.get("jetson_clocks --show"))
    board = (files.get("/proc/device-tree/model") or "").strip("\x00 \n") or None
    jetson = bool(board and ("jetson" in board.lower() or "tegra" in board.lower())) \
        or "/etc/nvpmodel.conf" in files or commands.get("nvpmodel -q") is not None
    fp: dict = {"board": board, "jetson": jetson}
    fp.update(_power_mode(commands.get("nvpmodel -q"), files.get("/etc/nvpmodel.conf")))
    fp.update(_cpus(files, show))
    fp.update(_gpu(files, show))
    emc = show["emc"]
    fp["emc_mhz_max"] = _mhz(emc["max_hz"], 10**6) if emc else None
    fp["emc_mhz_cur"] = _mhz(emc["cur_hz"], 10**6) if emc else None
    fp["jetson_clocks"] = _clocks_locked(fp, show) if jetson else None
    fp["temperatures_c"] = _temperatures(files)
    fp["temperature_max_c"] = max(fp["temperatures_c"].values()) if fp["temperatures_c"] else None
    fp.update(nvml or {})
    return fp


def _power_mode(query: str | None, conf: str | None) -> dict:
    name, ident = parse_nvpmodel_query(query)
    modes, default = parse_nvpmodel_conf(conf)
    # the maximum: the mode named MAXN (MAXN, MAXN_SUPER, ...), else mode 0 (NVIDIA's convention)
    maxn = sorted(i for i, n in modes.items() if n.upper().startswith("MAXN"))
    top = maxn[-1] if maxn else (0 if 0 in modes else None)
    if ident is None and name is not None:
        ident = next((i for i, n in modes.items() if n == name), None)
    return {"power_mode": name, "power_mode_id": ident,
            "power_mode_max": modes.get(top) if top is not None else None, "power_mode_max_id": top,
            "power_mode_default_id": default}


def _cpus(files: dict, show: dict) -> dict:
    present = parse_cpu_list(files.get("/sys/devices/system/cpu/present"))
    online = parse_cpu_list(files.get("/sys/devices/system/cpu/online"))
    if not present and show["cpus"]:
        present = sorted(show["cpus"])
        online = sorted(n for n, c in show["cpus"].items() if c["online"])

    def per_cpu(name: str) -> dict[int, str]:
        out = {}
        for path, text in files.items():
            m = re.fullmatch(r"/sys/devices/system/cpu/cpu(\d+)/cpufreq/" + name, path)
            if m and int(m.group(1)) in online:
                out[int(m.group(1))] = text.strip()
        return out

    governors = per_cpu("scaling_governor") or {n: c["governor"] for n, c in show["cpus"].items() if c["online"]}
    mins = {n: _int(v) for n, v in per_cpu("scaling_min_freq").items()} or \
        {n: c["min_khz"] for n, c in show["cpus"].items() if c["online"]}
    maxs = {n: _int(v) for n, v in per_cpu("scaling_max_freq").items()} or \
        {n: c["max_khz"] for n, c in show["cpus"].items() if c["online"]}
    curs = {n: _int(v) for n, v in per_cpu("scaling_cur_freq").items()} or \
        {n: c["cur_khz"] for n, c in show["cpus"].items() if c["online"]}
    hw = {n: _int(v) for n, v in per_cpu("cpuinfo_max_freq").items()}
    kinds = sorted(set(governors.values()))
    boost = files.get("/sys/devices/system/cpu/cpufreq/boost")
    no_turbo = files.get("/sys/devices/system/cpu/intel_pstate/no_turbo")
    values = lambda d: [v for v in d.values() if v is not None]  # noqa: E731
    return {
        "cpu_cores_present": len(present) or None,
        "cpu_cores_online": len(online) or None,
        "cpu_cores_offline": cpu_list_text(sorted(set(present) - set(online))) if present else None,
        "cpu_governor": (kinds[0] if len(kinds) == 1 else "mixed: " + ", ".join(kinds)) if kinds else None,
        "cpu_mhz_min": _mhz(min(values(mins)), 1000) if values(mins) else None,
        "cpu_mhz_max": _mhz(max(values(maxs)), 1000) if values(maxs) else None,
        "cpu_mhz_cur": _mhz(max(values(curs)), 1000) if values(curs) else None,
        "cpu_mhz_hw_max": _mhz(max(values(hw)), 1000) if values(hw) else None,
        "cpu_min_is_max": (all(mins.get(n) == maxs.get(n) for n in maxs) if maxs and mins else None),
        "cpu_boost": (_int(boost) == 1 if boost is not None else
                      _int(no_turbo) == 0 if no_turbo is not None else None),
    }


def _gpu(files: dict, show: dict) -> dict:
    dev = {}
    for path, text in files.items():
        m = _GPU_DEVFREQ.match(path)
        if m:
            dev.setdefault(m.group(1), {})[path.rsplit("/", 1)[1]] = text
    out = {"gpu_mhz_min": None, "gpu_mhz_max": None, "gpu_mhz_cur": None, "gpu_mhz_hw_max": None}
    if dev:
        d = dev[sorted(dev)[0]]
        steps = [int(v) for v in (d.get("available_frequencies") or "").split() if v.isdigit()]
        out.update(gpu_mhz_min=_mhz(_int(d.get("min_freq")), 10**6), gpu_mhz_max=_mhz(_int(d.get("max_freq")), 10**6),
                   gpu_mhz_cur=_mhz(_int(d.get("cur_freq")), 10**6),
                   gpu_mhz_hw_max=_mhz(max(steps), 10**6) if steps else None)
    elif show["gpu"]:
        g = show["gpu"]
        out.update(gpu_mhz_min=_mhz(g["min_hz"], 10**6), gpu_mhz_max=_mhz(g["max_hz"], 10**6),
                   gpu_mhz_cur=_mhz(g["cur_hz"], 10**6))
    return out


def _clocks_locked(fp: dict, show: dict) -> bool | None:
    """jetson_clocks is on when every online CPU's and the GPU's minimum clock equals its maximum
    (and, where `jetson_clocks --show` says, the EMC clock is overridden): what it sets."""
    checks = []
    if fp["cpu_min_is_max"] is not None:
        checks.append(fp["cpu_min_is_max"])
    if fp["gpu_mhz_min"] is not None and fp["gpu_mhz_max"] is not None:
        checks.append(fp["gpu_mhz_min"] == fp["gpu_mhz_max"])
    if show["emc"] and show["emc"]["override"] is not None:
        checks.append(show["emc"]["override"])
    return all(checks) if checks else None


def _temperatures(files: dict) -> dict:
    """thermal zone type -> degrees C (the kernel's millidegrees; the invalid -256000 of an unused
    Jetson zone, anything under -40 C, and a PMIC zone, which on the Nano reads a fixed 100 C,
    left out)."""
    out = {}
    for path, kind in files.items():
        m = re.fullmatch(r"/sys/class/thermal/(thermal_zone\d+)/type", path)
        if not m:
            continue
        value = _int(files.get(f"/sys/class/thermal/{m.group(1)}/temp"))
        if value is not None and value > -40000 and "pmic" not in kind.lower():
            name = kind.strip() or m.group(1)
            out[name if name not in out else f"{name} ({m.group(1)})"] = round(value / 1000.0, 1)
    return out


#: NVML's clocks-event (throttle) reason bits that lower clocks below what the card can give
#: (nvmlClocksEventReason*: idle and application-clock settings are left out; they are not a limit
#: under load)
THROTTLE_REASONS = {0x4: "software power cap", 0x8: "hardware slowdown", 0x20: "software thermal slowdown",
                    0x40: "hardware thermal slowdown", 0x80: "hardware power brake", 0x100: "display clock setting"}


def clock_reasons(mask: int) -> list[str]:
    return [name for bit, name in THROTTLE_REASONS.items() if mask & bit]


# -- warnings ----------------------------------------------------------------------------------

def warnings(fp: dict | None) -> list[str]:
    """What in the setup makes numbers lower than the device can give, a line each, with the
    command that fixes it. edgebench never runs these commands."""
    if not fp:
        return []
    out = []
    mode, top = fp.get("power_mode"), fp.get("power_mode_max_id")
    if mode is not None and top is not None and fp.get("power_mode_id") not in (None, top):
        out.append(f"power mode {mode} (id {fp.get('power_mode_id')}) is not this board's maximum, "
                   f"{fp.get('power_mode_max')} (id {top}): `sudo nvpmodel -m {top}` sets it")
    if fp.get("jetson_clocks") is False:
        parts = []
        if fp.get("cpu_mhz_min") is not None and fp.get("cpu_mhz_max") is not None:
            parts.append(f"CPU {fp['cpu_mhz_min']}-{fp['cpu_mhz_max']} MHz")
        if fp.get("gpu_mhz_min") is not None and fp.get("gpu_mhz_max") is not None:
            parts.append(f"GPU {fp['gpu_mhz_min']}-{fp['gpu_mhz_max']} MHz")
        out.append("clocks are not locked at their maximum (jetson_clocks off" + (": " + ", ".join(parts) if parts else "")
                   + "): `sudo jetson_clocks` locks them until the next boot")
    offline = fp.get("cpu_cores_offline")
    if offline:
        n = len(parse_cpu_list(offline))
        fix = (f"`sudo nvpmodel -m {top}` (a power mode with every core)" if fp.get("jetson") and top is not None
               else f"`echo 1 | sudo tee /sys/devices/system/cpu/cpu{parse_cpu_list(offline)[0]}/online` for each")
        out.append(f"{n} of {fp.get('cpu_cores_present')} CPU cores are offline ({offline}): {fix}")
    governor = fp.get("cpu_governor")
    if governor and governor != "performance" and not fp.get("cpu_min_is_max"):
        out.append(f"CPU frequency governor is {governor}, not performance: "
                   "`sudo cpupower frequency-set -g performance` (or `echo performance | sudo tee "
                   "/sys/devices/system/cpu/cpu*/cpufreq/scaling_governor`)")
    cap, hw = fp.get("cpu_mhz_max"), fp.get("cpu_mhz_hw_max")
    if cap is not None and hw is not None and cap < hw * 0.98 and not (mode and fp.get("power_mode_id") != top):
        out.append(f"CPU clock capped at {cap} of {hw} MHz (scaling_max_freq): "
                   "`sudo cpupower frequency-set -u " + f"{hw}MHz`")
    if fp.get("cpu_boost") is False:
        out.append("CPU boost (turbo) is off: `echo 1 | sudo tee /sys/devices/system/cpu/cpufreq/boost` "
                   "(intel_pstate: `echo 0 | sudo tee /sys/devices/system/cpu/intel_pstate/no_turbo`)")
    limit, top_w = fp.get("gpu_power_limit_w"), fp.get("gpu_power_limit_max_w")
    if limit is not None and top_w is not None and limit < top_w * 0.98:
        out.append(f"GPU power limit is {limit} W of its maximum {top_w} W: `sudo nvidia-smi -pl {top_w}`")
    reasons = [r for r in fp.get("gpu_clock_reasons") or [] if r != "display clock setting"]
    if reasons:
        out.append("GPU clocks are held down at the start (" + ", ".join(reasons) + "): let it cool, check "
                   "`nvidia-smi -q -d PERFORMANCE`")
    return out


# -- what the reports show ---------------------------------------------------------------------

def summary(fp: dict | None) -> str:
    """The setup in one line, for Table 1 and the report."""
    if not fp:
        return "not recorded"
    parts = []
    if fp.get("board"):
        parts.append(fp["board"])
    if fp.get("power_mode"):
        top = fp.get("power_mode_max")
        parts.append(f"power mode {fp['power_mode']}" + (" (the maximum)" if fp.get("power_mode_id") is not None
                                                          and fp.get("power_mode_id") == fp.get("power_mode_max_id")
                                                          else f" (maximum {top})" if top else ""))
    if fp.get("jetson_clocks") is not None:
        parts.append("jetson_clocks " + ("on" if fp["jetson_clocks"] else "off"))
    if fp.get("cpu_cores_online"):
        parts.append(f"{fp['cpu_cores_online']}/{fp.get('cpu_cores_present') or '?'} CPU cores online")
    if fp.get("cpu_governor"):
        parts.append(f"governor {fp['cpu_governor']}")
    if fp.get("cpu_mhz_max") is not None:
        parts.append(f"CPU {fp.get('cpu_mhz_min', '?')}-{fp['cpu_mhz_max']} MHz" +
                     (f" (now {fp['cpu_mhz_cur']})" if fp.get("cpu_mhz_cur") is not None else ""))
    if fp.get("gpu_mhz_max") is not None or fp.get("gpu_mhz_cur") is not None:
        span = f"{fp.get('gpu_mhz_min')}-{fp.get('gpu_mhz_max')} MHz" if fp.get("gpu_mhz_max") is not None else \
            f"{fp.get('gpu_mhz_cur')} MHz (max {fp.get('gpu_mhz_hw_max', '?')})"
        parts.append("GPU " + span)
    if fp.get("emc_mhz_max") is not None:
        parts.append(f"EMC {fp.get('emc_mhz_cur')} of {fp['emc_mhz_max']} MHz")
    if fp.get("gpu_power_limit_w") is not None:
        parts.append(f"GPU power limit {fp['gpu_power_limit_w']} W of {fp.get('gpu_power_limit_max_w', '?')}")
    temp = fp.get("temperature_max_c") if fp.get("temperature_max_c") is not None else fp.get("gpu_temperature_c")
    if temp is not None:
        parts.append(f"{temp:g} C at start")
    return ", ".join(parts) or "nothing readable"


def timing_scope(config: dict, env: dict) -> str:
    """What a row's latency covers, from the run's config and environment."""
    if env.get("target"):
        return "on the target: host wall-clock per batch through the agent (trtexec rows: trtexec's own timing)"
    if config.get("device") == "cuda":
        return ("host wall-clock per batch with host<->device copies; GPU columns: CUDA-event compute time on "
                "device-resident inputs")
    return "host wall-clock per batch (CPU, no copies)"


#: the facts that change speed, as compare names them: (label, key)
SPEED_FACTS = (
    ("power mode", "power_mode"), ("jetson_clocks", "jetson_clocks"), ("CPU cores online", "cpu_cores_online"),
    ("CPU governor", "cpu_governor"), ("CPU max MHz", "cpu_mhz_max"), ("CPU boost", "cpu_boost"),
    ("GPU max MHz", "gpu_mhz_max"), ("EMC max MHz", "emc_mhz_max"), ("GPU power limit W", "gpu_power_limit_w"),
    ("temperature at start C", "temperature_max_c"),
)


__all__ = ["SPEED_FACTS", "THROTTLE_REASONS", "clock_reasons", "cpu_list_text", "fingerprint",
           "parse_cpu_list", "parse_jetson_clocks_show", "parse_nvpmodel_conf", "parse_nvpmodel_query", "summary",
           "timing_scope", "warnings"]
