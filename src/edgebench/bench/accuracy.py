"""The accuracy gate: an optimised artifact against PyTorch FP32 on the same inputs, with
tolerances by precision (Polygraphy-style comparison plus top-1 agreement).

FP32 artifacts must match to rounding (different kernels and fusion orders: ~1e-6 relative).
FP16/BF16 keep about 3 significant digits, INT8 about 2; for them the gate is the direction of
the logits (cosine similarity) and the predicted class (top-1 agreement), which is what a user
of the classifier sees. Top-1 agreement means something only on trained weights: random-init
logits are nearly flat and their arg-max is noise."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

# per precision: max relative error (vs the largest |reference| value), min cosine, min top-1
TOLERANCES = {
    "fp32": {"max_rel_diff": 1e-3, "min_cosine": 0.99999, "min_top1": 0.99},
    "fp16": {"max_rel_diff": None, "min_cosine": 0.999, "min_top1": 0.99},
    "bf16": {"max_rel_diff": None, "min_cosine": 0.995, "min_top1": 0.99},
    "int8": {"max_rel_diff": None, "min_cosine": 0.98, "min_top1": 0.99},
}


@dataclass(frozen=True)
class GateResult:
    passed: bool
    reason: str  # empty when passed
    max_abs_diff: float
    max_rel_diff: float
    cosine: float  # mean over items of the cosine similarity of the logit vectors
    top1_agreement: float
    items: int

    def to_dict(self) -> dict:
        return asdict(self)


def compare(reference: list, outputs: list, precision: str, tolerances: dict | None = None) -> GateResult:
    tol = {**TOLERANCES[precision], **(tolerances or {})}
    ref = np.concatenate([np.asarray(r, dtype=np.float64).reshape(len(r), -1) for r in reference])
    out = np.concatenate([np.asarray(o, dtype=np.float64).reshape(len(o), -1) for o in outputs])
    if ref.shape != out.shape:
        return GateResult(False, f"output shape {out.shape} differs from the reference's {ref.shape}",
                          float("inf"), float("inf"), 0.0, 0.0, int(ref.shape[0]))
    if not np.isfinite(out).all():
        return GateResult(False, "outputs contain NaN or Inf", float("inf"), float("inf"), 0.0, 0.0, int(ref.shape[0]))
    diff = np.abs(out - ref)
    rel = float(diff.max() / max(np.abs(ref).max(), 1e-12))
    norms = np.linalg.norm(ref, axis=1) * np.linalg.norm(out, axis=1)
    cos = float(np.mean(np.where(norms > 0, (ref * out).sum(axis=1) / np.maximum(norms, 1e-300), 1.0)))
    top1 = float(np.mean(ref.argmax(axis=1) == out.argmax(axis=1)))
    reasons = []
    if tol["max_rel_diff"] is not None and rel > tol["max_rel_diff"]:
        reasons.append(f"max relative error {rel:.3g} > {tol['max_rel_diff']:g}")
    if cos < tol["min_cosine"]:
        reasons.append(f"cosine similarity {cos:.5f} < {tol['min_cosine']:g}")
    if top1 < tol["min_top1"]:
        reasons.append(f"top-1 agreement {100 * top1:.1f}% < {100 * tol['min_top1']:g}%")
    return GateResult(not reasons, "; ".join(reasons), float(diff.max()), rel, cos, top1, int(ref.shape[0]))


def task_accuracy(outputs: list, labels: list) -> float:
    """Fraction of items whose arg-max equals the label."""
    pred = np.concatenate([np.asarray(o).reshape(len(o), -1).argmax(axis=1) for o in outputs])
    return float(np.mean(pred == np.asarray(labels)))
