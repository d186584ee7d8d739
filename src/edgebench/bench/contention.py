"""CPU contention around a cell's timed windows, from Linux /proc: how much CPU everything other
than the measuring process took while it was timed, and just before. Elsewhere it measures
nothing (None) and never flags a cell."""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

#: other CPU above this, in percent of one core, flags a cell contended. Measured on two pinned
#: cores of a 16-core Xeon (squeezenet1_1, eager, 2 threads, a competitor on one core at set duty
#: cycles): quiet windows read 0-1.3% (idle, all 16 CPUs: 0-4%); p50 was 16-18 ms quiet, 15-21 ms
#: up to 10% of a core (noise), 19-21 ms at 12-17%, 24-26 ms (+40%) at 27-28%, and 34-960 ms
#: with the competitor always busy. 10% sits well above the floor and errs towards warning.
CONTENDED_PCT = 10.0
#: the quiet window measured just before a cell's first timed window
BEFORE_S = 0.5

# /proc/stat "cpu" columns: user nice system idle iowait irq softirq steal guest guest_nice;
# guest time is already inside user/nice, idle and iowait are not busy
_BUSY = (0, 1, 2, 5, 6, 7)
_STEAL = 7


def parse_proc_stat(text: str, cpus: set[int] | None = None) -> tuple[int, int]:
    """(busy, steal) jiffies from /proc/stat, busy = user + nice + system + irq + softirq +
    steal: summed over `cpus` (the per-CPU lines), or over all CPUs (the aggregate line)."""
    busy = steal = found = 0
    for line in text.splitlines():
        parts = line.split()
        if not parts or not parts[0].startswith("cpu"):
            continue
        name = parts[0][3:]
        if (name == "" and cpus is None) or (name.isdigit() and cpus is not None and int(name) in cpus):
            cols = [int(v) for v in parts[1:]] + [0] * 10
            busy += sum(cols[i] for i in _BUSY)
            steal += cols[_STEAL]
            found += 1
    if not found:
        raise ValueError(f"no {'aggregate' if cpus is None else 'per-CPU'} 'cpu' line in /proc/stat text")
    return busy, steal


def parse_self_stat(text: str) -> int:
    """utime + stime jiffies of one process (all its threads, not its children) from
    /proc/<pid>/stat; the command name may itself hold spaces and parentheses."""
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5), counted after the name


def parse_pressure(text: str) -> int | None:
    """Total microseconds in which some runnable task waited for a CPU, from /proc/pressure/cpu."""
    for line in text.splitlines():
        if line.startswith("some "):
            for item in line.split()[1:]:
                key, _, value = item.partition("=")
                if key == "total":
                    return int(value)
    return None


@dataclass(frozen=True)
class CpuSample:
    t: float  # time.monotonic(), s
    busy: int  # jiffies, all CPUs
    steal: int  # jiffies, all CPUs
    own: int  # this process's jiffies
    pressure_us: int | None


@dataclass(frozen=True)
class CpuShare:
    """What happened between two samples, each figure in percent of one core (100 = one core
    busy the whole window; up to 100 x cores)."""

    seconds: float
    other_pct: float  # busy minus this process: other processes, kernel work, hypervisor steal
    own_pct: float
    steal_pct: float
    pressure_pct: float | None  # wall-time share with some task waiting for a CPU (PSI "some")


def share(a: CpuSample, b: CpuSample, hz: float) -> CpuShare:
    seconds = max(b.t - a.t, 1e-9)
    pct = 100.0 / (hz * seconds)
    own = b.own - a.own
    pressure = None
    if a.pressure_us is not None and b.pressure_us is not None:
        pressure = min(100.0, (b.pressure_us - a.pressure_us) / 1e4 / seconds)
    # jiffy ticks and the process's own precise accounting disagree by a tick or so: never < 0
    return CpuShare(seconds, max(0.0, (b.busy - a.busy - own) * pct), own * pct, (b.steal - a.steal) * pct, pressure)


def allowed_cpus() -> set[int] | None:
    """The CPUs this process may run on, where that is fewer than all (taskset, a cpuset):
    other work elsewhere does not compete with it. None: every CPU."""
    try:
        cpus = os.sched_getaffinity(0)
    except (AttributeError, OSError):
        return None
    return cpus if len(cpus) < (os.cpu_count() or len(cpus)) else None


def sample(cpus: set[int] | None = None) -> CpuSample | None:
    """Now, or None where /proc is not readable (not Linux, a sandbox). `cpus`: count only
    these CPUs' busy time (default: all)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        busy, steal = parse_proc_stat(Path("/proc/stat").read_text(), cpus)
        own = parse_self_stat(Path("/proc/self/stat").read_text())
    except (OSError, ValueError, IndexError):
        return None
    try:
        pressure = parse_pressure(Path("/proc/pressure/cpu").read_text())
    except (OSError, ValueError):
        pressure = None  # kernels without PSI
    return CpuSample(time.monotonic(), busy, steal, own, pressure)


def _hz() -> float:
    try:
        return float(os.sysconf("SC_CLK_TCK"))
    except (AttributeError, ValueError, OSError):
        return 100.0


class ContentionProbe:
    """`before()` once, then `window(fn)` around each timed window; `other_pct()` and
    `summary()` give the shares. "Own" CPU is the process that calls it, all its threads, none of
    its children: in an isolated cell that is the worker, and its parent, asleep on the pipe,
    counts as other. Only the CPUs the process may run on are counted."""

    def __init__(self):
        self.hz = _hz()
        self.cpus = allowed_cpus() if sys.platform.startswith("linux") else None
        self.available = sample(self.cpus) is not None
        self.before_share: CpuShare | None = None
        self.windows: list[CpuShare] = []

    def before(self, seconds: float = BEFORE_S, during=None):
        """The other-CPU share over `seconds` just before timing; `during` (optional) runs inside
        that window (something mostly idle, e.g. an idle-power baseline), the rest is slept."""
        a = sample(self.cpus) if self.available else None
        t0 = time.monotonic()
        result = during() if during is not None else None
        if a is not None:
            time.sleep(max(0.0, seconds - (time.monotonic() - t0)))
            b = sample(self.cpus)
            if b is not None:
                self.before_share = share(a, b, self.hz)
        return result

    def window(self, fn):
        a = sample(self.cpus) if self.available else None
        result = fn()
        b = sample(self.cpus) if a is not None else None
        if b is not None:
            self.windows.append(share(a, b, self.hz))
        return result

    def other_pct(self) -> float | None:
        """Other CPU over all windows together, weighted by their length."""
        total = sum(w.seconds for w in self.windows)
        if not total:
            return None
        return sum(w.other_pct * w.seconds for w in self.windows) / total

    def summary(self) -> dict:
        """Steal and CPU pressure over the windows, for the record's details."""
        total = sum(w.seconds for w in self.windows)
        if not total:
            return {}
        out = {"steal_pct": round(sum(w.steal_pct * w.seconds for w in self.windows) / total, 2),
               "own_cpu_pct": round(sum(w.own_pct * w.seconds for w in self.windows) / total, 1)}
        if self.cpus is not None:
            out["contention_cpus"] = sorted(self.cpus)
        if all(w.pressure_pct is not None for w in self.windows):
            out["cpu_pressure_some_pct"] = round(sum(w.pressure_pct * w.seconds for w in self.windows) / total, 1)
        return out


def contended(other_pct: float | None, threshold: float = CONTENDED_PCT) -> bool:
    return other_pct is not None and other_pct > threshold


def warning(other_pct: float, threshold: float = CONTENDED_PCT) -> str:
    return (f"contended: other processes used {other_pct:.0f}% of one core while this cell was timed "
            f"(threshold {threshold:g}%); its latency is not this machine's quiet figure")
