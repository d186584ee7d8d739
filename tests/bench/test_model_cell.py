"""The model as every command benchmarks it: a random-init model's BatchNorm statistics are made
once and kept in the cache; a second load gives the very same weights."""
from __future__ import annotations

import pytest

from edgebench.bench.model_cell import load_model
from edgebench.config import ModelOptions


def test_batchnorm_statistics_are_cached_and_give_the_same_weights(tmp_path, monkeypatch):
    import edgebench.models.build as build

    opts = ModelOptions(calibration_size=8)
    first = load_model("test_cnn", opts, tmp_path)
    assert "BatchNorm statistics from 8" in first.weights
    assert list((tmp_path / "batchnorm").iterdir())

    def recalibrated(*args, **kwargs):
        raise AssertionError("the statistics should have come from the cache")

    monkeypatch.setattr(build, "recalibrate_batchnorm", recalibrated)
    again = load_model("test_cnn", opts, tmp_path)
    assert (again.weights, again.weights_sha256) == (first.weights, first.weights_sha256)
    # other inputs (fewer of them): not the cached entry, the statistics are made again
    with pytest.raises(AssertionError, match="should have come from the cache"):
        load_model("test_cnn", ModelOptions(calibration_size=4), tmp_path)


def test_a_models_counts_are_made_once_and_kept_in_the_cache(tmp_path, monkeypatch):
    """Params and FLOPs are the same for every cell of a model: counted by the first, read from
    edgebench's cache by the others (each in its own process)."""
    import edgebench.models.stats as stats
    from edgebench.bench.model_cell import ModelCell

    opts = ModelOptions(calibration_size=8)
    counted = ModelCell("test_cnn", opts, 1, 2, tmp_path).stats()
    assert counted["flops"] > 0 and counted["params"] > 0 and counted["macs"] == counted["flops"] // 2

    def count_flops(*args, **kwargs):
        raise AssertionError("the counts should have come from the cache")

    monkeypatch.setattr(stats, "count_flops", count_flops)
    assert ModelCell("test_cnn", opts, 1, 2, tmp_path).stats() == counted
    with pytest.raises(AssertionError, match="should have come from the cache"):  # another model: counted
        ModelCell("test_mlp", opts, 1, 2, tmp_path).stats()
