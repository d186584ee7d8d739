"""The paper's own figures that the reports set beside a run's (Swaminathan, Silver, Akilan,
2024: PyTorch eager vs TensorRT on a Jetson Nano): data in one place, not literals in renderers."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PaperFigure:
    """A figure the paper reports: the device it measured on and the value."""

    device: str
    mean_speedup: float  # mean of pre p50 / post p50 over the paper's models (x)


#: Table 1's mean speedup, Jetson Nano + TensorRT over PyTorch eager
PAPER = PaperFigure(device="Jetson Nano", mean_speedup=7.011)
