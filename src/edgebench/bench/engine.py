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
    (`outputs`, for the gate; `check_info` = (labels, description, items, a
    bench.task_parity.ParityInfo)); `measure` runs one
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
    check_info = (None, "", None, None)

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

    def known(self) -> list | None:
        """The outputs, when the baseline has given them (nothing is computed)."""
        return self._outputs

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


def _timed(arm) -> list:
    """The host samples an arm has taken so far (none: it failed, was resumed, or keeps none)."""
    if arm.resumed or not getattr(arm, "alive", False):
        return []
    return getattr(arm, "values", None) or []


def _widths(arm, values: list) -> tuple[float | None, float | None]:
    """(the 95% half-width of the median of all `values`, in %; the largest of each timing
    process's own, None unless several took samples). Samples from processes whose medians
    differ pile up on either side of a gap, so the first stops narrowing at about that gap however
    many are taken; the second keeps narrowing as each process's median is known."""
    from edgebench.results.latency import median_halfwidth_pct

    pooled = median_halfwidth_pct(values)
    per = getattr(arm, "per_process", None) or []
    if len(per) < 2:
        return pooled, None
    each = [median_halfwidth_pct(v) for v in per]
    return pooled, None if None in each else max(each)


def _known(width: float | None, each: float | None, ci_pct: float) -> bool:
    """The median is known to ci_pct, or, where the timing processes' medians differ, each
    process's is (more samples would not narrow the median of them all)."""
    return width is not None and width <= ci_pct or each is not None and each <= ci_pct


def _unknown(arm, timing: TimingConfig) -> bool:
    """Whether an arm may take more samples and they would narrow its median: not yet known
    (_known), and under max_time_s of samples."""
    values = _timed(arm)
    if not values or sum(values) >= timing.max_time_s:
        return False
    return not _known(*_widths(arm, values), timing.ci_pct)


def measure_round(arm, timing: TimingConfig, sizes: dict | None = None) -> int:
    """One timed round of `arm`; the samples it took (also appended to sizes[id(arm)])."""
    before = len(_timed(arm))
    arm.measure(timing)
    took = len(_timed(arm)) - before
    if sizes is not None and took > 0:
        sizes.setdefault(id(arm), []).append(took)
    return took


def until_known(arms: list, rounds: list[TimingConfig], say: Callable, sizes: dict | None = None) -> None:
    """The stop-when-known rule: after the planned rounds, every arm whose median is not yet known
    to ci_pct % (95% interval half-width) gets another round, the unsettled arms still interleaved,
    until each is known or has max_time_s seconds of samples."""
    first = rounds[0]
    more = replace(first, warmup_iters=min(2, first.warmup_iters), warmup_s=0.0)
    pending = [a for a in arms if _unknown(a, first)]
    while pending:
        stalled = []
        for arm in pending:
            say(arm, "time")
            if measure_round(arm, first if getattr(arm, "cold_rounds", False) else more, sizes) <= 0:
                stalled.append(arm)  # took no sample (it failed): nothing more to learn
        pending = [a for a in pending if a not in stalled and _unknown(a, first)]


def say_how_known(rec: Record, values: list, timing: TimingConfig, arm=None) -> None:
    """Into a measured row: how well its median is known, and a warning where it is not known to
    the asked precision: the rule stopped at max_time_s, or the timing processes' medians differ
    by more than that (more samples would not narrow it)."""
    from edgebench.results.record import Status

    if rec.status != Status.OK or not values:
        return
    width, each = _widths(arm, values)
    rec.details["median_ci_pct"] = None if width is None else round(width, 3)
    if width is None or width > timing.ci_pct:
        known = "not known (too few samples)" if width is None else f"known to +-{width:.1f}% (95%)"
        if _known(width, each, timing.ci_pct):
            p50s = ", ".join(f"{p:.4g}" for p in rec.details.get("process_p50_ms", []))
            why = (f"its timing processes' medians differ ({p50s} ms), which more samples do not narrow; "
                   f"compare's interval includes that spread")
        else:
            why = f"its {timing.max_time_s:g} s of samples ran out (--max-time); a speedup within that is not resolved"
        rec.warnings.append(f"median {known}, not the +-{timing.ci_pct:g}% asked: {why}")


def measure_model(arms: list, rounds: list[TimingConfig], reference: Reference, *, baseline_is_reference: bool,
                  check_overhead: bool = False, fallbacks: Callable | None = None,
                  on_stage: Callable[[object, str], None] | None = None) -> list[Record]:
    """Open `arms` (the first is the baseline), add the fallback arms `fallbacks(arms, reference)`
    gives, time every arm round by round, finish each and attach its accuracy; the records in
    order (fallbacks last)."""
    say = on_stage or (lambda arm, what: None)
    for i, arm in enumerate(arms):
        say(arm, "load")
        if baseline_is_reference and hasattr(arm, "check_against"):
            # the baseline makes the reference; the others, knowing it, run the inputs their verdict needs
            arm.check_against(reference.known(), makes_reference=i == 0)
        if arm.open() and i == 0:
            if baseline_is_reference:
                reference.give(arm.outputs)
            elif arm.rec.precision == "fp32":
                reference.offer_baseline(arm.outputs, f"{arm.rec.backend} fp32")
    if fallbacks is not None:
        arms = arms + fallbacks(arms, reference)
    sizes: dict[int, list[int]] = {}  # per arm, the samples each round took (compare reads the rounds)
    for r in range(len(rounds)):
        for arm in arms:
            say(arm, "time")
            measure_round(arm, round_timing(arm, rounds, r), sizes)
    if rounds[0].ci_pct is not None:
        until_known(arms, rounds, say, sizes)
    records = []
    for i, arm in enumerate(arms):
        values = list(_timed(arm))
        rec = arm.finish(check_overhead)
        if not arm.resumed and rec.latency.host is not None and sum(sizes.get(id(arm), [])) == len(values):
            rec.details["round_sizes"] = sizes[id(arm)]
        if rounds[0].ci_pct is not None and not arm.resumed:
            say_how_known(rec, values, rounds[0], arm)
        if not arm.resumed and arm.outputs is not None:
            ref = reference.get()
            with stages.stage("gate evaluation"):
                attach_accuracy(rec, arm.check_info, arm.outputs, ref, gate=i > 0, no_reference=reference.why)
            if reference.source:
                rec.details["accuracy_reference"] = reference.source
        records.append(rec)
    return records
