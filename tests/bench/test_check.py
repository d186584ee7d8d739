"""How many check inputs a cell runs: every decisive one and a sample, the rest only when the
sample's verdict is in doubt; the reference cell's outputs kept in the cache and reused only
while they reproduce."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from edgebench.bench.accuracy import PARITY_ITEMS, check_plan, compare, verdict_clear
from edgebench.bench.check import planned_outputs
from edgebench.bench.suite import run_suite
from edgebench.config import ModelOptions, SuiteConfig, TimingConfig
from edgebench.results import Status
from edgebench.results.record import Record
from tests.conftest import FAST_TIMING


def _reference(n: int, decisive: set[int], k: int = 10, seed: int = 0) -> list:
    """n batches of one item: near-ties, except the `decisive` items, whose top class leads by 3."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        row = 0.05 * rng.standard_normal((1, k))
        if i in decisive:
            row[0, i % k] += 3.0
        out.append(row)
    return out


def test_the_plan_runs_every_decisive_batch_and_a_sample():
    ref = _reference(256, {5, 100, 200, 255})
    first, rest = check_plan(ref)
    assert {5, 100, 200, 255} <= set(first) and len(first) == PARITY_ITEMS
    assert sorted(first + rest) == list(range(256)) and not set(first) & set(rest)
    # fewer batches than the sample: all of them
    assert check_plan(_reference(10, set()))[1] == []
    # 100 decisive inputs: all 100 are run, top-1 judged on the same inputs as with the whole set
    many = _reference(256, set(range(0, 200, 2)))
    assert set(range(0, 200, 2)) <= set(check_plan(many)[0])


class _Cell:
    """What planned_outputs reads of a ModelCell: the check batches and their description."""

    def __init__(self, batches, labels=None):
        self.batches, self.labels = batches, labels

    def check_batches(self):
        return self.batches, self.labels, "test inputs"

    def check_info(self):
        return self.labels, "test inputs", len(self.batches), None


def _record(precision: str) -> Record:
    return Record("run", "m", "onnxruntime", precision, 1, "cpu")


def _planned(ref: list, outputs_of, precision: str = "fp32", labels=None):
    """planned_outputs on 1-item batches, a cell whose output for batch j is outputs_of(j); the
    outputs and the batches it ran."""
    ran = [0]  # the first batch, run before the plan
    cell = _Cell([np.zeros((1, 3), np.float32)] * len(ref), labels)

    def run(indices):
        ran.extend(indices)
        return [outputs_of(j) for j in indices]

    rec = _record(precision)
    return planned_outputs(cell, rec, ref, outputs_of(0), run), sorted(ran), rec


def test_a_clear_pass_runs_only_the_plan_and_gives_the_same_verdict():
    ref = _reference(256, {7, 77, 177})
    outputs, ran, rec = _planned(ref, lambda j: ref[j] * (1 + 1e-7))
    assert len(ran) == PARITY_ITEMS and sum(o is None for o in outputs) == 256 - PARITY_ITEMS
    assert rec.details["check_inputs_run"] == PARITY_ITEMS and "3 decisive" in rec.details["check_plan"]
    assert compare(ref, outputs, "fp32").passed == compare(ref, ref, "fp32").passed


def _at_cosine(r: np.ndarray, c: float, seed: int) -> np.ndarray:
    """A vector of r's norm at cosine similarity c to it."""
    u = np.random.default_rng(seed).standard_normal(r.shape)
    u -= (u * r).sum() / (r * r).sum() * r
    return np.linalg.norm(r) * (c * r / np.linalg.norm(r) + np.sqrt(1 - c * c) * u / np.linalg.norm(u))


def test_a_doubtful_sample_runs_the_rest():
    """An INT8 cell whose sample's mean cosine (0.981) passes 0.98 but not with 95% confidence,
    and whose other outputs point the other way: the rest is run, and the verdict fails."""
    ref = _reference(256, set())
    first, _ = check_plan(ref)

    def out(j):
        return _at_cosine(ref[j], (1.0, 0.962)[j % 2], j) if j in first else -ref[j]

    sample = compare(ref, [out(j) if j in first else None for j in range(256)], "int8")
    assert sample.passed and "lower bound" in verdict_clear(sample, "int8")
    outputs, ran, rec = _planned(ref, out, "int8")
    assert len(ran) == 256 and "all 256" in rec.details["check_plan"]
    assert not compare(ref, outputs, "int8").passed


def test_a_failure_on_a_decisive_input_stands_and_is_the_whole_sets_verdict():
    decisive = set(range(0, 120, 2))
    ref = _reference(256, decisive)

    def out(j):
        y = ref[j].copy()
        if j in (0, 2, 4):  # three decisive inputs flip their top-1
            a, b = np.argsort(y[0])[-2:]
            y[0, [a, b]] = y[0, [b, a]]
        return y

    outputs, ran, _ = _planned(ref, out, "int8")
    assert len(ran) < 256
    partial, full = compare(ref, outputs, "int8"), compare(ref, [out(j) for j in range(256)], "int8")
    assert not partial.passed and not full.passed and "top-1" in partial.reason
    assert partial.decisive_items == full.decisive_items == 60


def test_fp32_relative_error_near_the_tolerance_runs_the_rest():
    ref = _reference(128, set())
    outputs, ran, rec = _planned(ref, lambda j: ref[j] * (1 + 5e-4))
    assert len(ran) == 128 and "relative error" in rec.details["check_plan"]


def test_labelled_inputs_run_every_batch():
    ref = _reference(100, set())
    outputs, ran, _ = _planned(ref, lambda j: ref[j], labels=[0] * 100)
    assert all(o is not None for o in outputs) and len(ran) == 100


def _cfg(tmp_path, **kw):
    return SuiteConfig(models=["test_cnn"], backends=["pytorch", "onnxruntime", "onnxruntime@int8"], device="cpu",
                       timing=TimingConfig(**FAST_TIMING), pool_size=2, out_dir=tmp_path / "out", repetitions=1,
                       model_options=ModelOptions(check_size=96), cache_dir=tmp_path / "cache", **kw)


@pytest.mark.parametrize("isolate", [False, True])
def test_suite_cells_run_the_plan_and_the_reference_is_reused(tmp_path, isolate):
    first = run_suite(_cfg(tmp_path / "a", isolate=isolate))
    assert [r.status for r in first.records] == [Status.OK] * 3
    base, fp32, int8 = first.records
    assert base.details["reference_cache"] == "built"
    assert fp32.details["check_inputs_run"] == PARITY_ITEMS < 96 and fp32.accuracy.gate == "passed"
    assert int8.accuracy.gate in ("passed", "failed")
    again = run_suite(replace(_cfg(tmp_path / "a", isolate=isolate), out_dir=tmp_path / "b"))
    assert again.records[0].details["reference_cache"] == "hit"
    assert [r.accuracy.cosine_similarity for r in again.records[1:]] == pytest.approx(
        [r.accuracy.cosine_similarity for r in first.records[1:]], rel=1e-6)


def test_reference_outputs_over_the_size_limit_are_not_cached(tmp_path, monkeypatch):
    """A segmenter's logits at the default check size are gigabytes (LR-ASPP MobileNetV3: 5.5 GB in
    one entry): outputs over the limit are used, not stored, and the record says so."""
    monkeypatch.setenv("EDGEBENCH_REFERENCE_CACHE_MB", "0.0001")
    result = run_suite(replace(_cfg(tmp_path), backends=["pytorch", "onnxruntime"], pool_size=1))
    assert [r.status for r in result.records] == [Status.OK] * 2
    note = result.records[0].details["reference_cache"]
    assert note.startswith("not stored: ") and "over the cache's limit" in note, note
    assert not (tmp_path / "cache" / "reference").exists() or not any((tmp_path / "cache" / "reference").iterdir())
    assert result.records[1].accuracy.gate == "passed"


def test_a_reference_cache_limit_that_is_not_a_number_is_refused_in_one_line(monkeypatch):
    from edgebench.bench import check
    from edgebench.errors import InvalidConfigError

    for text in ("lots", "-5", "nan"):
        monkeypatch.setenv("EDGEBENCH_REFERENCE_CACHE_MB", text)
        with pytest.raises(InvalidConfigError, match=f"EDGEBENCH_REFERENCE_CACHE_MB='{text}' is not a number of MiB"):
            check.reference_cache_limit_mb()
    monkeypatch.setenv("EDGEBENCH_REFERENCE_CACHE_MB", "0")
    assert check.reference_cache_limit_mb() == 0.0
