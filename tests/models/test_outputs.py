"""A model's outputs as named tensors (models.outputs): the names are stable, the ONNX file's output
names are the same, and every backend gives them back in that order."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from edgebench.errors import ModelFileError
from edgebench.models import outputs


def test_names_follow_the_structure():
    t = torch.zeros(2, 3)
    assert outputs.names(t) == ["logits"]
    assert outputs.names((t, t)) == ["output.0", "output.1"]
    assert outputs.names({"boxes": t, "scores": t}) == ["boxes", "scores"]
    assert outputs.names({"cls": t, "aux": (t, [t, {"x": t}])}) == ["cls", "aux.0", "aux.1.0", "aux.1.1.x"]
    assert outputs.names([{"boxes": t, "labels": t}, {"boxes": t, "labels": t}]) == [
        "output.0.boxes", "output.0.labels", "output.1.boxes", "output.1.labels"]


def test_what_is_not_a_tensor_is_a_one_line_error():
    with pytest.raises(ModelFileError, match="returns a str at out; outputs must be tensors"):
        outputs.flatten({"out": "text"}, where="m")
    with pytest.raises(ModelFileError, match="empty tuple"):
        outputs.flatten((), where="m")
    with pytest.raises(ModelFileError, match="names clash"):
        outputs.flatten({"output.0": torch.zeros(1), "output": (torch.zeros(1),)})


def test_host_form_and_split():
    one = outputs.to_host(torch.ones(4, 2, dtype=torch.float16))
    assert isinstance(one, np.ndarray) and one.dtype == np.float32
    two = outputs.to_host({"a": torch.arange(8.0).view(4, 2), "b": torch.arange(4)})
    assert isinstance(two, tuple) and two[1].dtype == np.float32
    parts = outputs.split(two, [1, 3])
    assert [p[0].shape for p in parts] == [(1, 2), (3, 2)] and parts[1][1].tolist() == [1.0, 2.0, 3.0]
    assert outputs.split(one, [2, 2])[1].shape == (2, 2)
    with pytest.raises(ValueError):
        outputs.split((np.zeros((4, 2)), np.zeros(7)), [2, 2])  # a data-dependent output has no batch axis
