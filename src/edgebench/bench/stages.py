"""Where a run's wall time goes: a process-wide clock of named stages (model build, export,
compile, timed rounds...). Stages nest exclusively: while an inner stage runs, the outer one's
clock stops, so the stages of one process add up to no more than its wall time. An isolated
worker sends its own totals back with its record (details["stage_s"]); the suite adds them to
its own and writes the breakdown of the run (breakdown.json beside Table 1)."""
from __future__ import annotations

import time
from contextlib import contextmanager

#: the stages, in the order a cell meets them (the breakdown lists them so)
STAGES = (
    "import", "worker start", "model build", "task inputs", "batchnorm statistics", "model stats", "export",
    "int8 calibration", "compile/build", "check outputs", "reference outputs", "gate evaluation", "timed rounds",
    "trust checks", "profiling", "report",
)


class StageClock:
    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._stack: list[list] = []  # [name, started] of the running stages, innermost last
        #: told each stage's name as it begins (`bench` prints them, so a long check is not silent)
        self.listener = None

    @contextmanager
    def stage(self, name: str):
        if name not in STAGES:
            raise ValueError(f"unknown stage {name!r}")
        now = time.perf_counter()
        if self._stack:  # the outer stage's clock stops while this one runs
            outer = self._stack[-1]
            self._add(outer[0], now - outer[1])
        self._stack.append([name, now])
        if self.listener is not None:
            self.listener(name)
        try:
            yield
        finally:
            now = time.perf_counter()
            _, started = self._stack.pop()
            self._add(name, now - started)
            if self._stack:  # the outer stage's clock runs again
                self._stack[-1][1] = now

    def _add(self, name: str, s: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + s

    def snapshot(self) -> dict[str, float]:
        return dict(self.seconds)

    def absorb(self, part: dict | None) -> None:
        """Another process's totals (an isolated worker's), added to this one's."""
        add(self.seconds, part)


#: this process's clock
CLOCK = StageClock()


def stage(name: str):
    """`with stage("export"): ...` on this process's clock."""
    return CLOCK.stage(name)


def since(before: dict[str, float]) -> dict[str, float]:
    """This process's seconds per stage since `before` (a snapshot)."""
    return {k: v - before.get(k, 0.0) for k, v in CLOCK.seconds.items() if v - before.get(k, 0.0) > 0}


def add(total: dict[str, float], part: dict) -> None:
    for k, v in (part or {}).items():
        if k in STAGES and isinstance(v, (int, float)):
            total[k] = total.get(k, 0.0) + float(v)


def breakdown(seconds: dict[str, float], wall_s: float) -> dict:
    """The run's breakdown: seconds and share of the wall time per stage, in STAGES' order, and
    what no stage covers ("other": the parent waiting on pipes, the progress bar, the store).
    Workers' stages overlap the parent's waiting, so stages are summed, not wall-clocked."""
    parts = [{"stage": k, "s": round(seconds[k], 3), "share": round(seconds[k] / wall_s, 4) if wall_s > 0 else None}
             for k in STAGES if seconds.get(k)]
    covered = sum(seconds.get(k, 0.0) for k in STAGES)
    return {"wall_s": round(wall_s, 3), "stages": parts, "other_s": round(max(0.0, wall_s - covered), 3)}
