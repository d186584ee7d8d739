"""One cell timed in several worker processes, pyperf's remedy for what one process cannot show: a
process's own state (where the runtime's threads land, how its memory is laid out) moves its
latency by more than its samples' noise, so two runs of one process each can disagree with
intervals that do not overlap. The first process opens the cell as usual (the check outputs for the
gate, the cold start, the memory); the others only load it and time: an ONNX-consuming cell's
later processes are handed the first one's ONNX artifacts and build no model at all. The timed rounds take turns
between the processes, so the spread of the round medians, which `compare` reads, includes the
variation between processes. The row's latency is over every process's samples, and
details["process_p50_ms"] gives each one's median."""
from __future__ import annotations

from dataclasses import replace

from edgebench.config import TimingConfig
from edgebench.results.latency import LatencyStats
from edgebench.results.record import Record


class SpreadArm:
    """The engine's arm (bench.engine.Arm) over `arms`: isolated worker arms of one cell, the first
    the one that runs the check. Round r is taken by process r mod k (a later process opens at its
    first round, with the first round's whole warm-up); a later process that fails costs the cell
    only its share of the rounds."""

    resumed, cold_rounds = False, False

    def __init__(self, arms: list):
        self.arms = arms
        self.values: list[float] = []
        self._per: list[list[float]] = [[] for _ in arms]
        self._opened = [False] * len(arms)
        self._turn = 0
        self._warmup: TimingConfig | None = None
        self._notes: list[str] = []
        for arm in arms[1:]:
            arm.spec["runs_check"] = False

    @property
    def rec(self) -> Record:
        return self.arms[0].rec

    @property
    def outputs(self):
        return self.arms[0].outputs

    @property
    def check_info(self) -> tuple:
        return self.arms[0].check_info

    @property
    def alive(self) -> bool:
        return self.arms[0].alive

    @property
    def per_process(self) -> list[list[float]]:
        """Each process's samples so far (bench.engine's stop rule knows each process's median)."""
        return [v for v in self._per if v]

    def check_against(self, reference: list | None, makes_reference: bool = False) -> None:
        self.arms[0].check_against(reference, makes_reference)

    def open(self) -> bool:
        self._opened[0] = True
        return self.arms[0].open()

    def measure(self, timing: TimingConfig) -> None:
        if self._warmup is None:
            self._warmup = timing  # the first round's, with the whole warm-up
        k = len(self.arms)
        for _ in range(k):
            if not self.arms[0].alive:
                return
            i = self._turn % k
            self._turn += 1
            arm = self.arms[i]
            if not self._opened[i]:
                self._opened[i] = True
                # an ONNX-consuming cell's later process loads the first one's artifacts, building nothing
                arm.spec["handoff"] = getattr(self.arms[0], "handoff", None)
                if not arm.open():
                    self._notes.append(f"process {i + 1} of {k} could not open ({arm.rec.status}: {arm.rec.error}); "
                                       f"the others took its rounds")
                    continue
            if not arm.alive:
                continue
            if not self._per[i]:
                timing = replace(timing, warmup_iters=self._warmup.warmup_iters, warmup_s=self._warmup.warmup_s)
            before = len(arm.values)
            arm.measure(timing)
            took = arm.values[before:]
            self._per[i] += took
            self.values += took
            if i > 0 and not arm.alive:
                self._notes.append(f"process {i + 1} of {k} failed while timed ({arm.rec.status}: {arm.rec.error}); "
                                   f"the others took its rounds")
            return

    def finish(self, check_overhead: bool = False) -> Record:
        others = [arm.finish(False) if arm.alive else None for arm in self.arms[1:]]
        first = self.arms[0]
        if not first.alive:
            return first.rec
        rec = first.finish(check_overhead)
        rec.warnings += self._notes
        if rec.latency.host is None or not self.values:
            return rec
        used = [i for i, v in enumerate(self._per) if v]
        rec.latency.host = LatencyStats.from_values(self.values, rec.batch_size)
        rec.latency.samples_ms = [round(v * 1e3, 5) for v in self.values]
        rec.details["processes"] = len(used)
        rec.details["process_p50_ms"] = [round(LatencyStats.from_values(self._per[i], rec.batch_size).p50_ms, 5)
                                         for i in used]
        for other in others:
            if other is not None and other.contention.contended:
                rec.contention.contended = True
                rec.contention.other_cpu_pct = max(rec.contention.other_cpu_pct or 0.0,
                                                   other.contention.other_cpu_pct or 0.0)
                rec.warnings += [w for w in other.warnings if w.startswith("contended") and w not in rec.warnings]
        return rec
