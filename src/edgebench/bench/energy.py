"""Energy over exactly the timed window, minus an idle baseline: NVML's total-energy counter on
NVIDIA GPUs, tegrastats power rails on a Jetson (POM_5V_IN on the Nano, VDD_IN on Orin/Xavier),
RAPL powercap on x86 where readable; none otherwise (reported "n/a")."""
from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

# "POM_5V_IN 1188/1188" (Nano, mW) or "VDD_IN 5000mW/5000mW" (Orin, Xavier)
_RAIL = re.compile(r"\b((?:POM|VDD|VIN)_[A-Z0-9_]+)\s+(\d+)(?:mW)?/(\d+)(?:mW)?")
BOARD_RAILS = ("POM_5V_IN", "VDD_IN")  # whole-board input rail, Nano then Orin/Xavier


def parse_tegrastats(line: str) -> dict[str, int]:
    """Rail name -> instantaneous power in mW from one tegrastats line."""
    return {name: int(now) for name, now, _avg in _RAIL.findall(line)}


def board_power(line: str) -> tuple[str, float] | None:
    """The whole-board input rail of one tegrastats line and its power in watts, or None."""
    rails = parse_tegrastats(line)
    rail = next((r for r in BOARD_RAILS if r in rails), None)
    return None if rail is None else (rail, rails[rail] / 1e3)


def board_watts(text: str) -> tuple[str | None, list[float]]:
    """The whole-board input rail and its power in watts, one value per line of tegrastats output
    (the lines a remote target's agent sent back); (None, []) when no line names a board rail."""
    rail, watts = None, []
    for line in text.splitlines():
        found = board_power(line)
        if found:
            rail = found[0]
            watts.append(found[1])
    return rail, watts


@dataclass
class EnergyWindow:
    joules: float  # above the idle baseline
    seconds: float
    idle_watts: float
    source: str


class _Meter:
    source = ""

    def start(self) -> None: ...

    def stop(self) -> tuple[float, float]:
        """(joules, seconds) since start."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class NvmlMeter(_Meter):
    def __init__(self, index: int = 0):
        import pynvml

        pynvml.nvmlInit()
        self.nvml = pynvml
        self.handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        pynvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)  # raises where unsupported
        self.source = f"NVML total-energy counter, GPU {index} (mJ, whole board)"

    def start(self):
        self.t0, self.e0 = time.perf_counter(), self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)

    def stop(self):
        e1 = self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)
        return (e1 - self.e0) / 1e3, time.perf_counter() - self.t0


class RaplMeter(_Meter):
    def __init__(self, zone: Path = Path("/sys/class/powercap/intel-rapl:0")):
        self.file = zone / "energy_uj"
        self.wrap = int((zone / "max_energy_range_uj").read_text())
        int(self.file.read_text())  # raises where unreadable
        self.source = f"RAPL powercap {(zone / 'name').read_text().strip()} (CPU package)"

    def start(self):
        self.t0, self.e0 = time.perf_counter(), int(self.file.read_text())

    def stop(self):
        e1 = int(self.file.read_text())
        return ((e1 - self.e0) % self.wrap) / 1e6, time.perf_counter() - self.t0


class TegrastatsMeter(_Meter):
    """Integrates the board input rail from `tegrastats --interval 100` in a reader thread."""

    interval_ms = 100

    def __init__(self):
        if shutil.which("tegrastats") is None:
            raise OSError("tegrastats not found")
        self.proc = subprocess.Popen(["tegrastats", "--interval", str(self.interval_ms)], stdout=subprocess.PIPE, text=True)
        self.samples: list[tuple[float, float]] = []  # (time, watts)
        self.rail = None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        self.source = f"tegrastats board rail, {self.interval_ms} ms sampling"

    def _read(self):
        for line in self.proc.stdout:
            found = board_power(line)
            if found:
                self.rail = found[0]
                self.samples.append((time.perf_counter(), found[1]))

    def start(self):
        self.t0 = time.perf_counter()

    def stop(self):
        t1 = time.perf_counter()
        inside = [w for t, w in self.samples if self.t0 <= t <= t1]
        watts = sum(inside) / len(inside) if inside else 0.0
        if self.rail:
            self.source = f"tegrastats {self.rail}, {self.interval_ms} ms sampling"
        return watts * (t1 - self.t0), t1 - self.t0

    def close(self):
        self.proc.terminate()


def open_meter(device: str):
    """The best meter for this device, or None."""
    from edgebench.system import is_jetson

    candidates = []
    if is_jetson():
        candidates.append(TegrastatsMeter)
    elif device == "cuda":
        candidates.append(NvmlMeter)
    else:
        candidates.append(RaplMeter)
    for cls in candidates:
        try:
            return cls()
        except Exception:  # unsupported counter, unreadable file, missing tool
            continue
    return None


class EnergyProbe:
    """Idle baseline once, then energy summed over each timed window."""

    def __init__(self, device: str, idle_s: float = 0.5):
        self.meter = open_meter(device)
        self.joules = self.seconds = 0.0
        self.idle_watts = 0.0
        if self.meter is not None:
            self.meter.start()
            time.sleep(idle_s)
            j, s = self.meter.stop()
            self.idle_watts = j / s if s > 0 else 0.0

    @classmethod
    def off(cls) -> "EnergyProbe":
        """A probe that measures nothing: its windows just run."""
        probe = cls.__new__(cls)
        probe.meter, probe.joules, probe.seconds, probe.idle_watts = None, 0.0, 0.0, 0.0
        return probe

    @property
    def available(self) -> bool:
        return self.meter is not None

    def window(self, fn):
        if self.meter is None:
            return fn()
        self.meter.start()
        result = fn()
        j, s = self.meter.stop()
        self.joules += max(0.0, j - self.idle_watts * s)
        self.seconds += s
        return result

    def result(self) -> EnergyWindow | None:
        if self.meter is None:
            return None
        return EnergyWindow(self.joules, self.seconds, self.idle_watts, self.meter.source)

    def close(self):
        if self.meter is not None:
            self.meter.close()
