"""The accuracy gate: an optimised artifact against PyTorch FP32 on the same inputs, with
tolerances by precision (Polygraphy-style comparison plus top-1 agreement).

FP32 artifacts must match to rounding (different kernels and fusion orders: ~1e-6 relative).
FP16/BF16 keep about 3 significant digits, INT8 about 2; for them the gate is the direction of
the logits (cosine similarity) and the predicted class (top-1 agreement), which is what a user
of the classifier sees.

Top-1 agreement is judged on *decisive* check inputs only: those whose reference top-1 logit
beats the runner-up by at least ln 2 (the top class at least twice as probable as any other).
On the rest the reference's arg-max is a near-tie that any rounding flips: on crops of the
scikit-image photos (mostly scenes ImageNet has no class for) EfficientNet-Lite0 with INT8
weights in one single layer flips 3-7% of 80 crops, its fully INT8 model 12% of all 400 but 1.5%
of the decisive ones, and with its first two convolutions in FP32 none of 206 decisive ones
(docs/results/int8-calibration-efficientnet-lite0.md). Random-init logits are nearly flat, so
few or none of their inputs are decisive: their arg-max is noise.

How many: the gate claims, with 95% confidence, that the artifact agrees with PyTorch on at
least 95% of decisive inputs (one-sided Clopper-Pearson lower bound >= TOP1_LOWER), and it
must have observed at least `min_top1` (99%). With n decisive inputs all agreeing the bound is
0.05 ** (1 / n), so the claim needs n >= 59 (min_decisive_items()); one disagreement is
allowed from 100 decisive inputs on, two from 200. With fewer than 59, top-1 is not judged
(too few to show anything), the result says so in `note`, and cosine and the relative error
alone gate. About half of the photo crops are decisive for a trained ImageNet classifier, so
a check size of 256 gives such a model ~130 decisive inputs."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

# per precision: max relative error (vs the largest |reference| value), min cosine, min top-1
# (observed on decisive inputs), min one-sided 95% lower bound on top-1 agreement
TOLERANCES = {
    "fp32": {"max_rel_diff": 1e-3, "min_cosine": 0.99999, "min_top1": 0.99, "min_top1_lower": 0.95},
    "fp16": {"max_rel_diff": None, "min_cosine": 0.999, "min_top1": 0.99, "min_top1_lower": 0.95},
    "bf16": {"max_rel_diff": None, "min_cosine": 0.995, "min_top1": 0.99, "min_top1_lower": 0.95},
    "int8": {"max_rel_diff": None, "min_cosine": 0.98, "min_top1": 0.99, "min_top1_lower": 0.95},
}
CONFIDENCE = 0.95
TOP1_LOWER = 0.95
#: a check input is decisive when the reference's top-1 logit beats the runner-up by this much
DECISIVE_MARGIN = math.log(2.0)


@dataclass(frozen=True)
class GateResult:
    passed: bool
    reason: str  # empty when passed
    max_abs_diff: float
    max_rel_diff: float
    cosine: float  # mean over items of the cosine similarity of the logit vectors
    top1_agreement: float  # over all items
    items: int
    decisive_items: int = 0  # items whose reference top-1 wins by DECISIVE_MARGIN
    decisive_agreement: float | None = None  # top-1 agreement over those; None when there are none
    top1_lower_bound: float | None = None  # one-sided 95% bound on it; None when top-1 was not judged
    note: str = ""  # what the gate could not judge, and why

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
    agree = ref.argmax(axis=1) == out.argmax(axis=1)
    top1 = float(np.mean(agree))
    if ref.shape[1] > 1:
        top2 = np.sort(ref, axis=1)[:, -2:]
        decisive = (top2[:, 1] - top2[:, 0]) >= DECISIVE_MARGIN
    else:
        decisive = np.zeros(len(ref), dtype=bool)
    n_dec, k_dec = int(decisive.sum()), int(agree[decisive].sum())
    dec_agree = k_dec / n_dec if n_dec else None
    min_lower = tol.get("min_top1_lower", TOP1_LOWER)
    needed = min_decisive_items(min_lower)
    reasons, note, lower = [], "", None
    if tol["max_rel_diff"] is not None and rel > tol["max_rel_diff"]:
        reasons.append(f"max relative error {rel:.3g} > {tol['max_rel_diff']:g}")
    if cos < tol["min_cosine"]:
        reasons.append(f"cosine similarity {cos:.5f} < {tol['min_cosine']:g}")
    if n_dec >= needed:
        lower = agreement_lower_bound(k_dec, n_dec)
        if dec_agree < tol["min_top1"] or lower < min_lower:
            reasons.append(
                f"top-1 agreement {100 * dec_agree:.1f}% on {n_dec} decisive inputs ({n_dec - k_dec} differ; "
                f"one-sided 95% lower bound {100 * lower:.1f}%) < {100 * tol['min_top1']:g}% observed and "
                f"{100 * min_lower:g}% bound required"
            )
    else:
        note = (f"top-1 agreement not judged: {n_dec} of {len(ref)} check inputs are decisive (reference top-1 "
                f"logit ahead by >= ln 2); {needed} are needed to show >= {100 * min_lower:g}% agreement at "
                f"95% confidence (raise the check size)")
    return GateResult(not reasons, "; ".join(reasons), float(diff.max()), rel, cos, top1, int(ref.shape[0]),
                      n_dec, dec_agree, lower, note)


def agreement_lower_bound(agreeing: int, items: int, confidence: float = CONFIDENCE) -> float:
    """One-sided Clopper-Pearson lower bound on the true agreement rate after `agreeing` of
    `items` inputs agreed: the smallest rate p at which `agreeing` or more agreements have
    probability >= 1 - confidence. With all n agreeing it is (1 - confidence) ** (1 / n)."""
    from math import exp, lgamma, log, log1p

    if items <= 0 or agreeing <= 0:
        return 0.0
    alpha = 1.0 - confidence
    if agreeing >= items:
        return alpha ** (1.0 / items)

    def tail(p: float) -> float:  # P(X >= agreeing), X ~ Binomial(items, p); rises with p
        lp, lq = log(p), log1p(-p)
        return sum(exp(lgamma(items + 1) - lgamma(k + 1) - lgamma(items - k + 1) + k * lp + (items - k) * lq)
                   for k in range(agreeing, items + 1))

    lo, hi = 0.0, agreeing / items
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if tail(mid) < alpha else (lo, mid)
    return lo


def min_decisive_items(min_lower: float = TOP1_LOWER, confidence: float = CONFIDENCE) -> int:
    """The fewest decisive inputs whose all agreeing puts the lower bound at `min_lower`:
    ceil(ln(1 - confidence) / ln(min_lower)); 59 for 95% at 95% confidence."""
    from math import ceil, log

    return int(ceil(log(1.0 - confidence) / log(min_lower) - 1e-9))


def task_accuracy(outputs: list, labels: list) -> float:
    """Fraction of items whose arg-max equals the label."""
    pred = np.concatenate([np.asarray(o).reshape(len(o), -1).argmax(axis=1) for o in outputs])
    return float(np.mean(pred == np.asarray(labels)))
