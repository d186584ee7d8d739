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
a check size of 256 gives such a model ~130 decisive inputs.

How many a cell runs (check_plan, verdict_clear): the reference runs every check input, so which
inputs are decisive is known before an optimised cell runs any. The cell runs every batch that
holds a decisive input (top-1 is judged on exactly the inputs it would be judged on with all of
them) and others up to PARITY_ITEMS in all; the rest only when that sample leaves the cosine or
relative-error verdict in doubt: the mean cosine's one-sided 95% bound on the wrong side of the
threshold, or the largest relative error above a tenth of the tolerance. A random-init model,
whose inputs are almost all near-ties, then runs 64 of 256 inputs per optimised cell."""
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
    # e4m3: 3 mantissa bits, as coarse as INT8 over a layer's range: INT8's thresholds
    "fp8": {"max_rel_diff": None, "min_cosine": 0.98, "min_top1": 0.99, "min_top1_lower": 0.95},
}
CONFIDENCE = 0.95
TOP1_LOWER = 0.95
#: a check input is decisive when the reference's top-1 logit beats the runner-up by this much
DECISIVE_MARGIN = math.log(2.0)
#: check inputs an optimised cell runs at least (check_plan), all of them when there are fewer
PARITY_ITEMS = 64
#: a sample's largest relative error settles the FP32 verdict when it is this fraction of the tolerance
REL_DIFF_MARGIN = 0.1


@dataclass(frozen=True)
class GateResult:
    passed: bool
    reason: str  # empty when passed
    max_abs_diff: float
    max_rel_diff: float
    cosine: float  # mean over items of the cosine similarity of the logit vectors (several outputs: the lowest)
    top1_agreement: float | None  # over all items; None for a model that is not a one-tensor classifier
    items: int
    decisive_items: int = 0  # items whose reference top-1 wins by DECISIVE_MARGIN
    decisive_agreement: float | None = None  # top-1 agreement over those; None when there are none
    top1_lower_bound: float | None = None  # one-sided 95% bound on it; None when top-1 was not judged
    note: str = ""  # what the gate could not judge, and why
    cosine_lower: float | None = None  # one-sided 95% bound on the mean cosine (t over the items)
    #: a detector's mAP against the reference's detections, a segmenter's mIoU (bench.task_parity)
    task_metrics: dict | None = None
    #: each output's comparison, for a model of several outputs (bench.task_parity.per_output)
    outputs: list | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def compare(reference: list, outputs: list, precision: str, tolerances: dict | None = None) -> GateResult:
    """The gate's verdict on a one-tensor classifier's `outputs` against `reference` (one entry per
    check batch); bench.task_parity.judge sends any other model to its own comparison."""
    tol = {**TOLERANCES[precision], **(tolerances or {})}
    # a batch the cell did not run (check_plan) is None: judged on the batches it ran
    if any(o is None for o in outputs):
        kept = [j for j, o in enumerate(outputs) if o is not None]
        reference, outputs = [reference[j] for j in kept], [outputs[j] for j in kept]
    ref = np.concatenate([np.asarray(r, dtype=np.float64).reshape(len(r), -1) for r in reference])
    out = np.concatenate([np.asarray(o, dtype=np.float64).reshape(len(o), -1) for o in outputs])
    if ref.shape != out.shape:
        return GateResult(False, f"output shape {out.shape} differs from the reference's {ref.shape}",
                          float("inf"), float("inf"), 0.0, 0.0, int(ref.shape[0]))
    if not np.isfinite(out).all():
        return GateResult(False, "outputs contain NaN or Inf", float("inf"), float("inf"), 0.0, 0.0, int(ref.shape[0]))
    diff = np.abs(out - ref)
    rel = float(diff.max() / max(np.abs(ref).max(), 1e-12))
    cosines = row_cosines(ref, out)
    cos = float(np.mean(cosines))
    cos_lower = mean_lower_bound(cosines)
    agree = ref.argmax(axis=1) == out.argmax(axis=1)
    top1 = float(np.mean(agree))
    decisive = _decisive(ref)
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
                      n_dec, dec_agree, lower, note, cos_lower)


def row_cosines(ref: np.ndarray, out: np.ndarray) -> np.ndarray:
    """The cosine similarity of each row of `out` with the same row of `ref` (items x values);
    1 where either row is all zeros."""
    norms = np.linalg.norm(ref, axis=1) * np.linalg.norm(out, axis=1)
    return np.where(norms > 0, (ref * out).sum(axis=1) / np.maximum(norms, 1e-300), 1.0)


def mean_lower_bound(values) -> float:
    """One-sided 95% lower bound on the mean of `values` (Student's t); the mean itself for one."""
    from statistics import NormalDist

    n = len(values)
    if n < 2:
        return float(np.mean(values))
    # Student's t quantile, from the normal one with Cornish-Fisher's first terms (within 0.5% from n = 5)
    z = NormalDist().inv_cdf(CONFIDENCE)
    df = n - 1
    t = z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
    return float(np.mean(values) - t * np.std(values, ddof=1) / math.sqrt(n))


def _decisive(ref: np.ndarray) -> np.ndarray:
    """Per row of `ref` (items x outputs): whether its top-1 value beats the runner-up by
    DECISIVE_MARGIN (a single-output model has none)."""
    if ref.shape[1] < 2:
        return np.zeros(len(ref), dtype=bool)
    top2 = np.sort(ref, axis=1)[:, -2:]
    return (top2[:, 1] - top2[:, 0]) >= DECISIVE_MARGIN


def decisive_items(reference: list) -> list[bool]:
    """Per check item of the reference's batches: whether it is decisive (compare's rule)."""
    return list(_decisive(np.concatenate([np.asarray(r, dtype=np.float64).reshape(len(r), -1) for r in reference])))


def gate_precision(precision: str) -> str:
    """The tolerances a cell of `precision` is judged by: its own, or FP32's for any other."""
    return precision if precision in TOLERANCES else "fp32"


def check_plan(reference: list, items: int | None = None) -> tuple[list[int], list[int]]:
    """(the batches an optimised cell runs first, the rest): every batch holding a decisive input,
    then others in order up to PARITY_ITEMS items. `items`: the real items (the last batch may be
    padded by repetition)."""
    sizes = [len(r) for r in reference]
    decisive = decisive_items(reference)
    total = sum(sizes) if items is None else items
    first, seen, start = [], 0, 0
    for j, size in enumerate(sizes):
        if any(decisive[start:min(start + size, total)]):
            first.append(j)
            seen += size
        start += size
    for j, size in enumerate(sizes):
        if seen >= PARITY_ITEMS:
            break
        if j not in first:
            first.append(j)
            seen += size
    first.sort()
    return first, [j for j in range(len(sizes)) if j not in first]


def verdict_clear(result: GateResult, precision: str, tolerances: dict | None = None) -> str:
    """Why the gate's verdict on a sample of the check inputs (check_plan's first batches) needs
    the rest, or "" when it cannot change: a failure on every decisive input or past the relative
    tolerance stands; a pass stands when the mean cosine's 95% lower bound clears the threshold and
    the largest relative error is within a tenth of the tolerance."""
    tol = {**TOLERANCES[precision], **(tolerances or {})}
    if not result.passed:
        # a top-1 failure was judged on every decisive input, a largest error only grows, a NaN
        # or a wrong shape stays: only a mean cosine below the threshold may rise with the rest
        if all(reason.startswith("cosine") for reason in result.reason.split("; ")):
            return "the mean cosine fails on the sample"
        return ""
    if result.cosine_lower is not None and result.cosine_lower < tol["min_cosine"]:
        return f"the mean cosine's 95% lower bound {result.cosine_lower:.6f} is below {tol['min_cosine']:g}"
    if tol["max_rel_diff"] is not None and result.max_rel_diff > REL_DIFF_MARGIN * tol["max_rel_diff"]:
        return f"the largest relative error {result.max_rel_diff:.3g} is above a tenth of {tol['max_rel_diff']:g}"
    return ""

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
