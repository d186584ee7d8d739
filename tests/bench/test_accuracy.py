import math

import numpy as np
import pytest

from edgebench.bench.accuracy import (
    DECISIVE_MARGIN,
    TOLERANCES,
    agreement_lower_bound,
    compare,
    min_decisive_items,
    task_accuracy,
)


def _ref(seed=0, n=20, k=10):
    return [np.random.default_rng(seed).standard_normal((n, k))]


def _decisive(n, k=10, margin=3.0, seed=0):
    """n reference rows whose top-1 logit leads by `margin` (decisive), cycling the class."""
    rng = np.random.default_rng(seed)
    ref = 0.1 * rng.standard_normal((n, k))
    ref[np.arange(n), np.arange(n) % k] += margin
    return ref


def _flip(out, rows):
    """Swap the top-1 and runner-up logits of `rows`."""
    out = out.copy()
    for i in rows:
        a, b = np.argsort(out[i])[-2:][::-1]
        out[i, [a, b]] = out[i, [b, a]]
    return out


def test_identical_outputs_pass_every_precision():
    for p in TOLERANCES:
        r = compare(_ref(), _ref(), p)
        assert r.passed and r.cosine == pytest.approx(1.0) and r.top1_agreement == 1.0 and r.max_abs_diff == 0


def test_fp32_is_tight_and_int8_is_looser():
    ref = _ref()
    noisy = [ref[0] + 0.01 * np.random.default_rng(1).standard_normal(ref[0].shape)]
    fp32 = compare(ref, noisy, "fp32")
    assert not fp32.passed and "max relative error" in fp32.reason
    int8 = compare(ref, noisy, "int8")
    assert int8.cosine > 0.99 and int8.max_rel_diff > 1e-3
    assert int8.passed or "top-1" in int8.reason


def test_top1_and_cosine_failures_and_nan():
    ref = [np.array([[3.0, 0.0], [0.0, 3.0]] * 50)]
    flipped = [ref[0][:, ::-1]]
    r = compare(ref, flipped, "int8")
    assert not r.passed and "top-1 agreement 0.0% on 100 decisive inputs" in r.reason and "cosine" in r.reason
    bad = [ref[0].copy()]
    bad[0][0, 0] = np.nan
    assert "NaN" in compare(ref, bad, "fp16").reason
    assert "shape" in compare(ref, [np.zeros((100, 3))], "fp32").reason


def test_lower_bound_is_clopper_pearson():
    # all n agreeing: the bound solves p ** n = 0.05
    for n in (1, 16, 59, 299):
        assert agreement_lower_bound(n, n) == pytest.approx(0.05 ** (1 / n))
    assert agreement_lower_bound(299, 299) > 0.99 > agreement_lower_bound(298, 298)
    assert agreement_lower_bound(0, 10) == 0.0 and agreement_lower_bound(0, 0) == 0.0
    # values of the beta quantile Beta(0.05; k, n - k + 1), computed with scipy.stats.beta.ppf
    assert agreement_lower_bound(15, 16) == pytest.approx(0.73604, abs=1e-5)
    assert agreement_lower_bound(395, 400) == pytest.approx(0.97390, abs=1e-5)
    scipy_stats = pytest.importorskip("scipy.stats")
    for k, n in [(1, 10), (92, 93), (199, 200), (350, 400)]:
        assert agreement_lower_bound(k, n) == pytest.approx(scipy_stats.beta.ppf(0.05, k, n - k + 1), abs=1e-9)


def test_top1_needs_enough_decisive_inputs():
    """Fewer than min_decisive_items() decisive inputs: top-1 not judged, and the note says so."""
    assert min_decisive_items() == 59 == math.ceil(math.log(0.05) / math.log(0.95))
    ref = _decisive(58)
    r = compare([ref], [_flip(ref, range(10))], "int8")
    assert r.decisive_items == 58 and r.top1_lower_bound is None
    assert "not judged" in r.note and "58 of 58" in r.note and "59 are needed" in r.note
    assert "top-1" not in r.reason  # cosine decides alone
    ref = _decisive(59)
    r = compare([ref], [ref], "int8")
    assert r.passed and r.note == "" and r.top1_lower_bound == pytest.approx(0.05 ** (1 / 59)) and r.top1_lower_bound >= 0.95


def test_one_disagreement_needs_a_hundred_decisive_inputs():
    ref = _decisive(99)
    r = compare([ref], [_flip(ref, [0])], "int8")
    assert not r.passed and "1 differ" in r.reason and "99 decisive" in r.reason and "lower bound" in r.reason
    ref = _decisive(100)
    r = compare([ref], [_flip(ref, [0])], "int8")
    assert r.passed and r.decisive_agreement == 0.99 and r.top1_lower_bound > 0.95


def test_near_ties_do_not_count_against_top1():
    """Flips among inputs whose reference top-1 leads by less than ln 2 are rounding noise."""
    decisive = _decisive(80)
    ties = _decisive(40, margin=0.5 * DECISIVE_MARGIN, seed=1)
    ref = np.concatenate([decisive, ties])
    out = _flip(ref, range(80, 120))
    r = compare([ref], [out], "int8", {"min_cosine": 0.0})
    assert r.top1_agreement == pytest.approx(80 / 120) and r.decisive_items == 80 and r.decisive_agreement == 1.0
    assert r.passed
    out = _flip(ref, [0, 1])
    r = compare([ref], [out], "int8", {"min_cosine": 0.0})
    assert not r.passed and "97.5% on 80 decisive inputs" in r.reason


def test_random_init_logits_are_not_judged_on_top1():
    """Nearly flat logits (random-init weights): no input is decisive."""
    ref = 1e-3 * np.random.default_rng(0).standard_normal((300, 10))
    r = compare([ref], [ref[:, ::-1].copy()], "int8", {"min_cosine": -1.0})
    assert r.decisive_items == 0 and r.decisive_agreement is None and r.passed and "0 of 300" in r.note


def test_custom_tolerance_and_task_accuracy():
    ref = _ref()
    assert not compare(ref, ref, "int8", {"min_cosine": 1.5}).passed
    # a tolerance table without the bound key (older callers) still works
    legacy = {"max_rel_diff": None, "min_cosine": 0.5, "min_top1": 0.99}
    assert compare([_decisive(60)], [_decisive(60)], "int8", legacy).passed
    assert task_accuracy([np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])], [1, 0, 0]) == pytest.approx(2 / 3)
