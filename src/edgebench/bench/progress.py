"""The suite's progress bar: tqdm on a terminal, a bar that shows nothing otherwise."""
from __future__ import annotations


class _NoBar:
    total = 0

    def update(self, n=1):
        pass

    def set_description(self, s):
        pass

    def close(self):
        pass


def progress_bar(total: int, enabled: bool):
    """A bar over `total` cells; without `enabled`, one with the same methods that shows nothing."""
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="cell", dynamic_ncols=True)


#: stages whose time grows with the model's arithmetic (its FLOPs per item): the rest (worker
#: start, imports, export, compiles, the report) is taken as the same for every model
COMPUTE_STAGES = ("batchnorm statistics", "model stats", "int8 calibration", "check outputs", "reference outputs",
                  "timed rounds", "trust checks", "profiling")


class TimeLeft:
    """The time a suite has left, from the models it finished: each one's stage seconds split into
    what scales with its declared FLOPs and what does not. A model left to run is estimated at the
    mean fixed part plus its FLOPs times the finished models' compute seconds per FLOP; where a
    model's FLOPs are unknown (a user's file), every model counts as the mean of the finished."""

    def __init__(self, flops: dict):
        self.flops = dict(flops)  # model -> declared FLOPs per item, or None
        self.done: dict[str, tuple[float, float]] = {}  # model -> (fixed s, compute s)

    def model_done(self, model: str, seconds: dict) -> None:
        compute = sum(seconds.get(k, 0.0) for k in COMPUTE_STAGES)
        self.done[model] = (sum(seconds.values()) - compute, compute)

    def left(self) -> float | None:
        if not self.done:
            return None
        rest = [m for m in self.flops if m not in self.done]
        totals = [f + c for f, c in self.done.values()]
        known = all(self.flops.get(m) for m in self.flops)
        if not known:
            return sum(totals) / len(totals) * len(rest)
        fixed = sum(f for f, _ in self.done.values()) / len(self.done)
        rate = sum(c for _, c in self.done.values()) / sum(self.flops[m] for m in self.done)
        return sum(fixed + rate * self.flops[m] for m in rest)
