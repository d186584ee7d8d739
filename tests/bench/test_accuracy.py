import numpy as np
import pytest

from edgebench.bench.accuracy import TOLERANCES, compare, task_accuracy


def _ref(seed=0, n=20, k=10):
    return [np.random.default_rng(seed).standard_normal((n, k))]


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
    ref = [np.array([[1.0, 0.0], [0.0, 1.0]] * 10)]
    flipped = [ref[0][:, ::-1]]
    r = compare(ref, flipped, "int8")
    assert not r.passed and "top-1 agreement 0.0%" in r.reason and "cosine" in r.reason
    bad = [ref[0].copy()]
    bad[0][0, 0] = np.nan
    assert "NaN" in compare(ref, bad, "fp16").reason
    assert "shape" in compare(ref, [np.zeros((20, 3))], "fp32").reason


def test_custom_tolerance_and_task_accuracy():
    ref = _ref()
    assert not compare(ref, ref, "int8", {"min_cosine": 1.5}).passed
    assert task_accuracy([np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])], [1, 0, 0]) == pytest.approx(2 / 3)
