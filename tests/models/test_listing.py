"""`edgebench models`' rows: declared sizes for the built-ins, counted for a model without one."""
import pytest

from edgebench.errors import InvalidConfigError
from edgebench.models import IMAGE_CLASSIFICATION, ModelSpec
from edgebench.models.listing import summarize, summarize_models
from edgebench.models.testing import tiny_mlp


def test_builtins_are_summarised_from_their_declared_size():
    rows = summarize_models("squeezenet*", num_classes=1000)
    assert [(r.name, r.params, r.paper_name) for r in rows] == [("squeezenet1_1", 1_235_496, "SqueezeNet")]
    assert [r.params for r in summarize_models("test_cnn")] == [1_442]


def test_a_model_registered_without_a_size_is_counted():
    spec = ModelSpec("mine", IMAGE_CLASSIFICATION, (3, 16, 16), tiny_mlp)
    summary = summarize(spec, 5)
    assert summary.params == 3 * 16 * 16 * 32 + 32 + 32 * 5 + 5
    assert summary.flops == 2 * (3 * 16 * 16 * 32 + 32 * 5)


def test_listing_filters_and_rejects_a_bad_class_count():
    assert [s.name for s in summarize_models("test_*")] == ["test_cnn", "test_cnn3d", "test_mlp"]
    assert summarize_models("nothing*") == []
    with pytest.raises(InvalidConfigError, match="--num-classes must be >= 1"):
        summarize_models("test_cnn", num_classes=0)
