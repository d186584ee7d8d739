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


#: stages whose time grows with a model's arithmetic on a CPU: inferences over a fixed input
#: set (the rest: worker start, imports, export, compiles, the timed rounds, which stop by time,
#: and the report, is taken as the same for every model)
COMPUTE_STAGES = ("batchnorm statistics", "model stats", "int8 calibration", "check outputs", "reference outputs")
#: latency grows about as FLOPs ** 0.7 across the paper's classifiers on a 2-core CPU (AlexNet to
#: VGG19: 27x the FLOPs, 10x the eager latency)
FLOPS_EXPONENT = 0.7


class TimeLeft:
    """The time a suite has left, from the models it finished. A model left to run is estimated at
    the finished models' mean; with `scale` (on a CPU, where inference dominates) the stages that
    run inferences over a fixed input set (COMPUTE_STAGES) are scaled by each model's declared
    FLOPs ** FLOPS_EXPONENT against the finished models', the rest counted as the mean fixed
    part. A model of unknown size (a user's file) turns scaling off."""

    def __init__(self, flops: dict, scale: bool = True):
        self.flops = dict(flops)  # model -> declared FLOPs per item, or None
        self.scale = scale and all(self.flops.values())
        self.done: dict[str, tuple[float, float]] = {}  # model -> (fixed s, compute s)

    def model_done(self, model: str, seconds: dict) -> None:
        compute = sum(seconds.get(k, 0.0) for k in COMPUTE_STAGES)
        self.done[model] = (sum(seconds.values()) - compute, compute)

    def left(self) -> float | None:
        if not self.done:
            return None
        rest = [m for m in self.flops if m not in self.done]
        if not self.scale:
            return sum(f + c for f, c in self.done.values()) / len(self.done) * len(rest)
        weight = {m: self.flops[m] ** FLOPS_EXPONENT for m in self.flops}
        fixed = sum(f for f, _ in self.done.values()) / len(self.done)
        rate = sum(c for _, c in self.done.values()) / sum(weight[m] for m in self.done)
        return sum(fixed + rate * weight[m] for m in rest)
