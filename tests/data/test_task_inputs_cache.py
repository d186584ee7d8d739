"""The built-in check and calibration inputs are made once and kept in edgebench's cache."""
import numpy as np
import pytest

from edgebench.data import task_inputs as ti
from edgebench.models import get_spec


def test_builtin_inputs_are_made_once_then_read_from_the_cache(tmp_path, monkeypatch):
    spec = get_spec("test_cnn")
    items, labels, desc = ti.task_inputs(spec, None, 12, seed=3, cache_dir=tmp_path)
    assert len(items) == 12 and items[0].shape == tuple(spec.input_shape) and labels is None

    def remade(*a, **k):
        raise AssertionError("the cached inputs were made again")

    monkeypatch.setattr(ti, "_task_inputs", remade)
    again, _, desc2 = ti.task_inputs(spec, None, 12, seed=3, cache_dir=tmp_path)
    assert desc2 == desc and all(np.array_equal(a, b) for a, b in zip(items, again))
    with pytest.raises(AssertionError, match="made again"):  # another seed is another entry
        ti.task_inputs(spec, None, 12, seed=4, cache_dir=tmp_path)
