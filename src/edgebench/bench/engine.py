"""The one driver of a model's cells. Every cell is an Arm, whatever runs it (an executor: in
process, an isolated worker, a target's agent or trtexec, a fleet node's suite); the driver opens
a model's arms in backend order, adds precision-fallback arms, times them in interleaved rounds,
finishes them and hands each record to the recorder for its accuracy. Resume is a wrapper around
any arm (ResumedArm), a cell that never ran is a FailedArm."""
from __future__ import annotations

from dataclasses import replace
from typing import Callable, Protocol

from edgebench.bench import stages
from edgebench.bench.recorder import attach_accuracy, error_text
from edgebench.config import TimingConfig
from edgebench.errors import InvalidConfigError
from edgebench.results.record import Record


class Arm(Protocol):
    """One cell as the driver sees it. `open` builds and loads it and runs the check batches
    (`outputs`, for the gate; `check_info` = (labels, description, items)); `measure` runs one
    timed round; `finish` returns the record. A failure at any step lands in `rec`. `cold_rounds`:
    each round starts a new process (trtexec), so each gets the first round's whole warm-up."""

    rec: Record
    outputs: list | None
    check_info: tuple
    resumed: bool
    cold_rounds: bool

    def open(self) -> bool: ...

    def measure(self, timing: TimingConfig) -> None: ...

    def finish(self, check_overhead: bool = False) -> Record: ...


class ResumedArm:
    """A cell already measured ok with the same fingerprint: its stored row joins this run."""

    resumed, cold_rounds, outputs = True, False, None
    check_info = (None, "", None)

    def __init__(self, rec: Record, run_id: str):
        self.rec = rec
        self.rec.details = {**rec.details, "resumed_from": rec.run_id}
        self.rec.run_id = run_id

    def open(self) -> bool:
        return False

    def measure(self, timing) -> None:
        pass

    def finish(self, check_overhead: bool = False) -> Record:
        return self.rec


class FailedArm(ResumedArm):
    """A cell that cannot run at all (its model could not be built, its target is gone): its
    record, already failed, under the cell's own backend, precision and options."""

    resumed = False

    def __init__(self, rec: Record):
        self.rec = rec


class Reference:
    """The pristine model's FP32 outputs on the check batches, got once per model and only when a
    cell has outputs to judge: the baseline's own (eager PyTorch FP32), else `compute()`; for a
    model with no PyTorch module (an ONNX file), the FP32 baseline cell's outputs. `source` says
    which it was, `why` why there is none."""

    def __init__(self, compute: Callable[[], list | None]):
        self._compute = compute
        self._outputs: list | None = None
        self._baseline: tuple | None = None
        self._tried = False
        self.source = self.why = ""

    def give(self, outputs: list | None, source: str = "the baseline cell (eager PyTorch FP32)") -> None:
        if outputs is not None:
            self._outputs, self._tried, self.source = outputs, True, source

    def offer_baseline(self, outputs: list | None, label: str) -> None:
        """The FP32 baseline cell's outputs, for a model that has no module to compute them."""
        if outputs is not None:
            self._baseline = (outputs, label)

    def get(self) -> list | None:
        if not self._tried:
            self._tried = True
            try:
                self._outputs = self._compute()
                self.source = "the pristine PyTorch module, FP32 on the CPU"
                if self._outputs is None and self._baseline is not None:
                    self._outputs, label = self._baseline
                    self.source = f"the baseline cell ({label}): the model has no PyTorch module"
                elif self._outputs is None:
                    self.why = "the model has no PyTorch module and no FP32 baseline cell gave outputs"
            except Exception as exc:  # noqa: BLE001 - the cells keep their timing; the gate says why
                self.why = f"the reference model failed: {error_text(exc)}"
        return self._outputs


def split_timing(timing: TimingConfig, rounds: int) -> list[TimingConfig]:
    """One full warm-up, then the minimum count and duration shared across `rounds` rounds, so
    that interleaved arms together meet the same minima as one long loop."""
    if rounds < 1:
        raise InvalidConfigError(f"repetitions must be >= 1, got {rounds}")
    per_iters = -(-timing.min_iters // rounds)
    first = replace(timing, min_iters=per_iters, min_time_s=timing.min_time_s / rounds)
    rest = replace(first, warmup_iters=min(2, timing.warmup_iters), warmup_s=0.0)
    return [first] + [rest] * (rounds - 1)


def round_timing(arm, rounds: list[TimingConfig], r: int) -> TimingConfig:
    """Round `r`'s timing for `arm`: rounds after the first skip the warm-up, since the arm stayed
    warm, except where each round is a cold process (Arm.cold_rounds)."""
    return rounds[0] if getattr(arm, "cold_rounds", False) else rounds[r]


def measure_model(arms: list, rounds: list[TimingConfig], reference: Reference, *, baseline_is_reference: bool,
                  check_overhead: bool = False, fallbacks: Callable | None = None,
                  on_stage: Callable[[object, str], None] | None = None) -> list[Record]:
    """Open `arms` (the first is the baseline), add the fallback arms `fallbacks(arms, reference)`
    gives, time every arm round by round, finish each and attach its accuracy; the records in
    order (fallbacks last)."""
    say = on_stage or (lambda arm, what: None)
    for i, arm in enumerate(arms):
        say(arm, "load")
        if arm.open() and i == 0:
            if baseline_is_reference:
                reference.give(arm.outputs)
            elif arm.rec.precision == "fp32":
                reference.offer_baseline(arm.outputs, f"{arm.rec.backend} fp32")
    if fallbacks is not None:
        arms = arms + fallbacks(arms, reference)
    for r in range(len(rounds)):
        for arm in arms:
            say(arm, "time")
            arm.measure(round_timing(arm, rounds, r))
    records = []
    for i, arm in enumerate(arms):
        rec = arm.finish(check_overhead)
        if not arm.resumed and arm.outputs is not None:
            ref = reference.get()
            with stages.stage("gate evaluation"):
                attach_accuracy(rec, arm.check_info, arm.outputs, ref, gate=i > 0, no_reference=reference.why)
            if reference.source:
                rec.details["accuracy_reference"] = reference.source
        records.append(rec)
    return records
