"""Output parity of a backend against the PyTorch FP32 reference on the same inputs."""
from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Parity:
    max_abs_diff: float
    max_rel_diff: float
    top1_agreement: float  # fraction of items whose arg-max class matches, 0..1
    items: int

    def to_dict(self) -> dict:
        return asdict(self)


def compare_outputs(reference: list, outputs: list) -> Parity:
    import numpy as np

    if len(reference) != len(outputs) or not reference:
        raise ValueError("reference and outputs must be non-empty lists of equal length")
    ref = np.concatenate([np.asarray(r, dtype=np.float64).reshape(len(r), -1) for r in reference])
    out = np.concatenate([np.asarray(o, dtype=np.float64).reshape(len(o), -1) for o in outputs])
    if ref.shape != out.shape:
        raise ValueError(f"output shapes differ: reference {ref.shape} vs backend {out.shape}")
    diff = np.abs(out - ref)
    scale = np.maximum(np.abs(ref).max(), 1e-12)
    agree = float(np.mean(ref.argmax(axis=1) == out.argmax(axis=1)))
    return Parity(float(diff.max()), float(diff.max() / scale), agree, int(ref.shape[0]))
