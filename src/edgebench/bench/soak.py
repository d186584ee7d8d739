"""Thermal steady state: `run --soak DURATION` keeps one cell running for that long and reports
its latency per window (p50/p90 per minute by default) beside the device's temperature, clocks and
power, read while it runs: NVML on NVIDIA GPUs, tegrastats on a Jetson, /sys/class/thermal and
cpufreq elsewhere. It flags throttling: a clock that drops under load, or a window whose median
is slower than the first window's p90 (slower than nine in ten calls were when the run began, so
past the run's own noise). `wait_until_cool` holds a cell until the device is cooler than a given
temperature, within a time limit."""
from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field

import numpy as np

#: a clock below this fraction of its highest window mean is a drop
CLOCK_DROP = 0.90
#: a soak's record keeps at most this many of its latencies (every k-th; its statistics see all)
MAX_STORED_SAMPLES = 20000

_TEGRA_TEMP = re.compile(r"\b([A-Za-z][\w-]*)@(-?\d+(?:\.\d+)?)C\b")
_TEGRA_CPU = re.compile(r"CPU \[([^\]]*)\]")
_TEGRA_GPU = re.compile(r"GR3D_FREQ (\d+)%(?:@\[?(\d+))?")


def parse_tegrastats_line(line: str) -> dict:
    """One tegrastats line -> {"temp_c": hottest sensor, "cpu_mhz": mean clock of the online
    cores, "cpu_offline": cores shown "off", "gpu_mhz": GR3D's clock (None when the line has no
    clock), "power_w": the board input rail}. What the line lacks is None."""
    from edgebench.bench.energy import board_power

    # -256C: an unused zone; PMIC: a fixed 100C on the Nano, no measurement
    temps = [float(t) for name, t in _TEGRA_TEMP.findall(line) if float(t) > -40 and "pmic" not in name.lower()]
    cpu = _TEGRA_CPU.search(line)
    cores = cpu.group(1).split(",") if cpu else []
    clocks = [int(c.split("@")[1]) for c in cores if "@" in c and c.split("@")[1].isdigit()]
    gpu = _TEGRA_GPU.search(line)
    board = board_power(line)
    return {"temp_c": max(temps) if temps else None, "cpu_mhz": float(np.mean(clocks)) if clocks else None,
            "cpu_offline": sum(c.strip() == "off" for c in cores) if cores else None,
            "gpu_mhz": float(gpu.group(2)) if gpu and gpu.group(2) else None,
            "power_w": board[1] if board else None}


class Sensors:
    """Reads the device once per call: {"temp_c", "cpu_mhz", "gpu_mhz", "power_w"}, None where
    this machine does not say. `source` names where they come from."""

    source = "/sys/class/thermal and cpufreq"
    #: the setup readings' files that change while a cell runs (system.SETUP_FILES): what each
    #: read takes, no more, since it runs beside the timed calls
    FILES = ("/sys/devices/system/cpu/online", "/sys/devices/system/cpu/present",
             "/sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_cur_freq",
             "/sys/class/thermal/thermal_zone[0-9]*/type", "/sys/class/thermal/thermal_zone[0-9]*/temp",
             "/sys/class/devfreq/*/cur_freq")

    def __init__(self, root: str = "/"):
        self.root = root

    def read(self) -> dict:
        from edgebench import system
        from edgebench.results.setup import fingerprint

        fp = fingerprint(system.setup_readings(self.root, which=lambda name: None, patterns=self.FILES))
        return {"temp_c": fp["temperature_max_c"], "cpu_mhz": fp["cpu_mhz_cur"], "gpu_mhz": fp["gpu_mhz_cur"],
                "power_w": None}

    def close(self) -> None:
        pass


class NvmlSensors(Sensors):
    source = "NVML (GPU 0) and /sys"

    def __init__(self, index: int = 0):
        import pynvml

        pynvml.nvmlInit()
        self.nvml, self.h = pynvml, pynvml.nvmlDeviceGetHandleByIndex(index)
        super().__init__()

    def read(self) -> dict:
        out = super().read()
        n, h = self.nvml, self.h
        for key, fn in (("temp_c", lambda: float(n.nvmlDeviceGetTemperature(h, n.NVML_TEMPERATURE_GPU))),
                        ("gpu_mhz", lambda: float(n.nvmlDeviceGetClockInfo(h, n.NVML_CLOCK_SM))),
                        ("power_w", lambda: n.nvmlDeviceGetPowerUsage(h) / 1000.0)):
            try:
                out[key] = fn()
            except Exception:  # an unsupported query costs its own value
                pass
        return out


class TegrastatsSensors(Sensors):
    """The last line of `tegrastats --interval 500`, read in a thread."""

    source = "tegrastats"

    def __init__(self, interval_ms: int = 500):
        import shutil
        import subprocess

        if shutil.which("tegrastats") is None:
            raise OSError("tegrastats not found")
        self.proc = subprocess.Popen(["tegrastats", "--interval", str(interval_ms)], stdout=subprocess.PIPE, text=True)
        self.last: dict = {}
        threading.Thread(target=self._follow, daemon=True).start()
        super().__init__()

    def _follow(self) -> None:
        for line in self.proc.stdout:
            self.last = parse_tegrastats_line(line)

    def read(self) -> dict:
        return {k: self.last.get(k) for k in ("temp_c", "cpu_mhz", "gpu_mhz", "power_w")}

    def close(self) -> None:
        self.proc.terminate()


def open_sensors(device: str) -> Sensors:
    """tegrastats on a Jetson, NVML for CUDA, /sys otherwise (falling back to /sys)."""
    from edgebench.system import is_jetson

    for cls in ((TegrastatsSensors,) if is_jetson() else (NvmlSensors,) if device == "cuda" else ()):
        try:
            return cls()
        except Exception:  # the tool or library is missing: /sys still says something
            continue
    return Sensors()


@dataclass
class SoakResult:
    """The soak's windows, throttling flags and raw series (plain data for the record)."""

    window_s: float
    duration_s: float
    sensors: str
    windows: list[dict] = field(default_factory=list)
    throttling: list[str] = field(default_factory=list)
    samples: list[dict] = field(default_factory=list)  # sensor readings: {"t_s", "temp_c", ...}

    def to_dict(self) -> dict:
        return {"window_s": self.window_s, "duration_s": self.duration_s, "sensors": self.sensors,
                "windows": self.windows, "throttling": self.throttling, "samples": self.samples}


def soak_loop(call, pool: list, duration_s: float, sensors: Sensors, interval_s: float = 1.0,
              clock=time.perf_counter) -> tuple[list[float], list[float], list[dict]]:
    """Run `call(x)` (one synchronized inference) over `pool` for `duration_s`: (start times in s
    from the beginning, latencies in s, sensor readings each `interval_s` with their time)."""
    readings: list[dict] = []
    stop = threading.Event()
    start = clock()

    def sample() -> None:
        while True:
            readings.append({"t_s": clock() - start, **sensors.read()})
            if stop.wait(interval_s):
                return

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    starts, values = [], []
    try:
        i = 0
        while clock() - start < duration_s:
            t0 = clock()
            call(pool[i % len(pool)])
            values.append(clock() - t0)
            starts.append(t0 - start)
            i += 1
    finally:
        stop.set()
        thread.join()
    return starts, values, readings


def windows(starts: list[float], values: list[float], readings: list[dict], window_s: float) -> list[dict]:
    """Per window of `window_s`: its calls' count, p50 and p90 (ms), and the mean of each sensor
    reading taken in it."""
    starts_a, values_a = np.asarray(starts), np.asarray(values) * 1e3
    n = int(np.ceil(max(starts_a.max() if len(starts_a) else 0.0, 1e-9) / window_s)) if len(starts_a) else 0
    out = []
    for k in range(max(n, 1) if len(starts_a) else 0):
        lo, hi = k * window_s, (k + 1) * window_s
        inside = values_a[(starts_a >= lo) & (starts_a < hi)]
        if not len(inside):
            continue
        row = {"start_s": lo, "end_s": hi, "n": int(len(inside)), "p50_ms": float(np.percentile(inside, 50)),
               "p90_ms": float(np.percentile(inside, 90))}
        for key in ("temp_c", "cpu_mhz", "gpu_mhz", "power_w"):
            got = [r[key] for r in readings if lo <= r["t_s"] < hi and r.get(key) is not None]
            row[key] = float(np.mean(got)) if got else None
        out.append(row)
    return out


def throttling(rows: list[dict]) -> list[str]:
    """What says the device throttled: a clock that fell below CLOCK_DROP of its highest window
    mean, or a window whose p50 is above the first window's p90."""
    out = []
    for key, what in (("cpu_mhz", "CPU clock"), ("gpu_mhz", "GPU clock")):
        series = [(i, r[key]) for i, r in enumerate(rows) if r.get(key) is not None]
        if len(series) < 2:
            continue
        top = max(v for _, v in series)
        low_i, low = min(series, key=lambda s: s[1])
        if low < CLOCK_DROP * top:
            out.append(f"{what} fell to {low:.0f} MHz in window {low_i + 1} (highest window mean {top:.0f} MHz)")
    if len(rows) >= 2:
        first = rows[0]
        slow = [(i, r) for i, r in enumerate(rows[1:], start=2) if r["p50_ms"] > first["p90_ms"]]
        if slow:
            i, r = max(slow, key=lambda s: s[1]["p50_ms"])
            out.append(f"slowdown: window {i}'s p50 {r['p50_ms']:.3f} ms is above the first window's p90 "
                       f"{first['p90_ms']:.3f} ms ({len(slow)} of {len(rows) - 1} later windows)")
    return out


def soak(call, pool: list, duration_s: float, window_s: float, sensors: Sensors, interval_s: float | None = None,
         clock=time.perf_counter) -> tuple[SoakResult, list[float]]:
    """Run the soak; (its result, every latency in s)."""
    interval = interval_s if interval_s is not None else min(1.0, window_s / 4)
    starts, values, readings = soak_loop(call, pool, duration_s, sensors, interval, clock)
    rows = windows(starts, values, readings, window_s)
    return SoakResult(window_s, duration_s, sensors.source, rows, throttling(rows), readings), values


def wait_until_cool(max_c: float, timeout_s: float, read_temp, sleep=time.sleep, clock=time.monotonic,
                    poll_s: float = 2.0) -> tuple[bool, float, float | None]:
    """Wait until `read_temp()` is below `max_c`, at most `timeout_s`: (cooled, seconds waited,
    the last temperature). A device that says no temperature counts as cool."""
    start = clock()
    while True:
        temp = read_temp()
        if temp is None or temp < max_c:
            return True, clock() - start, temp
        if clock() - start >= timeout_s:
            return False, clock() - start, temp
        sleep(poll_s)


def cool_before(cfg) -> tuple[dict, str] | None:
    """With cfg.cool_to_c: wait until the device is cooler than that (at most cfg.cool_timeout_s)
    before a model's cells are measured (their timed rounds are interleaved, so they start
    together): (what the wait was, for each record's details; a warning when the time ran out,
    else ""). None without cfg.cool_to_c."""
    if cfg.cool_to_c is None:
        return None
    sensors = open_sensors(cfg.device)
    try:
        cooled, waited, temp = wait_until_cool(cfg.cool_to_c, cfg.cool_timeout_s, lambda: sensors.read()["temp_c"])
    finally:
        sensors.close()
    details = {"below_c": cfg.cool_to_c, "waited_s": round(waited, 1), "temp_c": temp, "cooled": cooled,
               "sensors": sensors.source}
    warning = "" if cooled else (f"started at {temp:g} C: not below --cool-to {cfg.cool_to_c:g} C after "
                                 f"{cfg.cool_timeout_s:g} s")
    return details, warning


def figure(result: SoakResult):
    """A matplotlib Figure: p50 and p90 per window, and the temperature, over time."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4))
    ax = fig.add_subplot(111)
    mid = [(w["start_s"] + w["end_s"]) / 2 / 60 for w in result.windows]
    ax.plot(mid, [w["p50_ms"] for w in result.windows], "o-", label="p50")
    ax.plot(mid, [w["p90_ms"] for w in result.windows], "s--", label="p90")
    ax.set_xlabel("minutes")
    ax.set_ylabel("latency per batch (ms)")
    temps = [(s["t_s"] / 60, s["temp_c"]) for s in result.samples if s.get("temp_c") is not None]
    if temps:
        twin = ax.twinx()
        twin.plot([t for t, _ in temps], [c for _, c in temps], color="tab:red", alpha=0.6, label="temperature")
        twin.set_ylabel("temperature (C)", color="tab:red")
    ax.legend(loc="upper left")
    ax.set_title("Soak: latency and temperature over time" + (" (throttling)" if result.throttling else ""))
    fig.tight_layout()
    return fig


def markdown(result: SoakResult, title: str) -> str:
    """The soak's windows as a markdown table, with its throttling verdict."""
    fmt = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
    lines = [f"# Soak: {title}", "",
             f"{result.duration_s:g} s in windows of {result.window_s:g} s; sensors: {result.sensors}.", "",
             "| window | from (s) | calls | p50 (ms) | p90 (ms) | temperature (C) | CPU MHz | GPU MHz | power (W) |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for i, w in enumerate(result.windows, start=1):
        lines.append(f"| {i} | {w['start_s']:g} | {w['n']} | {w['p50_ms']:.3f} | {w['p90_ms']:.3f} | "
                     f"{fmt(w['temp_c'], '.1f')} | {fmt(w['cpu_mhz'], '.0f')} | {fmt(w['gpu_mhz'], '.0f')} | "
                     f"{fmt(w['power_w'], '.1f')} |")
    lines += ["", "Throttling: " + ("; ".join(result.throttling) if result.throttling else
                                    "none seen (no clock drop, no window slower than the first window's p90).")]
    return "\n".join(lines) + "\n"


def parse_duration(text: str, flag: str = "--soak") -> float:
    """"90", "90s", "30m", "1h" -> seconds; anything else is refused in one line."""
    from edgebench.errors import InvalidConfigError

    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", str(text))
    if not m or float(m.group(1)) <= 0:
        raise InvalidConfigError(f"{flag} takes a duration such as 90s, 30m or 1h, not {text!r}")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


def run_soak(cfg, duration_s: float, window_s: float = 60.0):
    """`run --soak`: the config's one model on its one backend, kept running for `duration_s`
    (bench.cell.BackendCell: built and checked as a suite cell is). Its record (stored as a run of
    one row, Table 1 written as for any run) carries the soak under details["soak"]; soak.json,
    soak.md and soak.png go beside Table 1. Returns (record, SoakResult, {name: path})."""
    import json
    from pathlib import Path

    from edgebench.bench import environment
    from edgebench.bench.cell import BackendCell
    from edgebench.bench.contention import ContentionProbe
    from edgebench.bench.energy import EnergyProbe
    from edgebench.bench.lifecycle import RunRecorder, check_writable, new_run_id
    from edgebench.bench.model_cell import ModelCell
    from edgebench.config import backend_cells
    from edgebench.errors import InvalidConfigError
    from edgebench.results.run import RunStatus
    from edgebench.results.store import Store

    cfg = cfg.resolved()
    cells = backend_cells(cfg.backends, cfg.precision)
    if len(cfg.models) != 1 or len(cells) != 1:
        raise InvalidConfigError(f"--soak keeps one cell running: pass one model (--models NAME) and one backend "
                                 f"(--backends NAME[@PRECISION]); this run has {len(cfg.models)} model(s) and "
                                 f"{len(cells)} backend cell(s)")
    if cfg.target is not None or cfg.loadgen is not None:
        raise InvalidConfigError("--soak runs on this machine's harness: leave out --target and --scenario")
    if window_s <= 0 or window_s > duration_s:
        raise InvalidConfigError(f"--soak-window {window_s:g} s must be above 0 and at most the soak's "
                                 f"{duration_s:g} s")
    check_writable(cfg.out_dir)
    env = environment.capture()
    environment.announce(env)
    name, precision, options = cells[0]
    model = ModelCell(cfg.models[0], cfg.model_options, cfg.batch_size, cfg.pool_size, cfg.cache_dir)
    run_id = new_run_id()
    cell = BackendCell(model, name, run_id, cfg.device, precision, cfg.timing, env, backend_options=options,
                       strict=True)
    cell.open()
    pool = model.pool_for(cfg.device)

    def call(x) -> None:
        cell.bk.run(x)
        cell.bk.synchronize()

    for i in range(max(cfg.timing.warmup_iters, 1)):
        call(pool[i % len(pool)])
    sensors = open_sensors(cfg.device)
    try:
        cell.contention = ContentionProbe()
        cell.energy = cell.contention.before(during=lambda: EnergyProbe(cfg.device))
        result, values = cell.contention.window(lambda: cell.energy.window(
            lambda: soak(call, pool, duration_s, window_s, sensors)))
    finally:
        sensors.close()
    cell.values = values
    rec = cell.finish()
    if len(rec.latency.samples_ms) > MAX_STORED_SAMPLES:  # the statistics above saw every call
        step = -(-len(rec.latency.samples_ms) // MAX_STORED_SAMPLES)
        rec.latency.samples_ms = rec.latency.samples_ms[::step]
        rec.details["samples_stored_every"] = step
    rec.details["soak"] = result.to_dict()
    rec.warnings += [f"soak: {line}" for line in result.throttling]
    from dataclasses import asdict

    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()}
    config["soak"] = {"duration_s": duration_s, "window_s": window_s}
    with Store(cfg.db) as store:
        recorder = RunRecorder(store, run_id, f"{name}@{precision}", config, env)
        recorder.keep(rec)
        _, outputs = recorder.finish(RunStatus.FINISHED, cfg.out_dir)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "soak.json").write_text(json.dumps({"run_id": run_id, "model": rec.model, "backend": name,
                                               "precision": precision, **result.to_dict()}, indent=2) + "\n")
    (out / "soak.md").write_text(markdown(result, f"{rec.model} / {name} {precision}, batch {cfg.batch_size}"))
    figure(result).savefig(out / "soak.png", dpi=110)
    files = {**(outputs or {}), "soak_json": out / "soak.json", "soak_md": out / "soak.md", "soak_png": out / "soak.png"}
    return rec, result, files


__all__ = ["CLOCK_DROP", "NvmlSensors", "cool_before", "Sensors", "SoakResult", "TegrastatsSensors", "figure", "markdown",
           "open_sensors", "parse_duration", "parse_tegrastats_line", "run_soak", "soak", "soak_loop", "throttling", "wait_until_cool", "windows"]
