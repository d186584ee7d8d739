"""Models of several named inputs (models.inputs): declared as a dict INPUT_SHAPE or with
--input-shape NAME:SHAPE, fed by name to every local backend, exported with those ONNX input
names, checked on inputs made for each, and refused in one line where a path feeds one input."""
from __future__ import annotations

import argparse

import numpy as np
import pytest

from edgebench.config import ModelOptions
from edgebench.errors import InvalidConfigError, ModelFileError
from edgebench.models import get_spec, inputs
from edgebench.results import Status
from tests.conftest import small_suite

#: an RGB-D segmenter: an image and a depth map in, class scores per pixel out
RGBD = '''
import torch
from torch import nn

TASK = "semantic-segmentation"
INPUT_SHAPE = {"image": (3, 16, 16), "depth": (1, 16, 16)}


class RGBD(nn.Module):
    def __init__(self, num_classes=3):
        super().__init__()
        self.rgb = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU())
        self.depth = nn.Conv2d(1, 6, 3, padding=1)
        self.head = nn.Conv2d(12, num_classes, 1)

    def forward(self, image, depth):
        return self.head(torch.cat([self.rgb(image), self.depth(depth)], 1))


def make(num_classes=3):
    torch.manual_seed(0)
    return RGBD(num_classes)
'''

#: a classifier of a feature vector and a sequence
VECTORS = '''
import torch
from torch import nn

INPUT_SHAPE = {"features": (12,), "history": (4, 6)}


class Two(nn.Module):
    def __init__(self, num_classes=3):
        super().__init__()
        self.a, self.b, self.out = nn.Linear(12, 8), nn.Linear(24, 8), nn.Linear(16, num_classes)

    def forward(self, features, history):
        return self.out(torch.relu(torch.cat([self.a(features), self.b(history.flatten(1))], 1)))


def make(num_classes=3):
    torch.manual_seed(0)
    return Two(num_classes)
'''


def _model(folder, text: str, name: str = "multi") -> str:
    path = folder / f"{name}.py"
    path.write_text(text)
    return f"{path}:make"


def _suite(tmp_path, model: str, backends: list[str], shape=None):
    return small_suite(tmp_path, [model], backends, check_size=16, calibration_size=8, input_shape=shape)


def test_shapes_parse_describe_and_batches_stack_split_and_feed():
    pairs = inputs.normalize({"image": [3, 8, 8], "depth": (1, 8, 8)})
    assert pairs == (("image", (3, 8, 8)), ("depth", (1, 8, 8)))
    assert inputs.normalize(inputs.to_json(pairs)) == pairs  # through a results store's JSON
    assert inputs.normalize([3, 8, 8]) == (3, 8, 8) and not inputs.several((3, 8, 8))
    assert inputs.describe(pairs) == "image 3x8x8, depth 1x8x8" and inputs.describe((3, 8, 8)) == "3x8x8"
    assert inputs.parse_option(["image:3,8,8", "depth:1,8,8"]) == pairs
    assert inputs.parse_option(["3,8,8"]) == (3, 8, 8)
    assert inputs.parse_option(["images:3,8,8"]) == (("images", (3, 8, 8)),)  # one input with its ONNX name
    for bad, why in ((["3,x"], "not a shape"), (["3,0"], "positive"), (["a:3", "4"], "a name each")):
        with pytest.raises(ValueError, match=why):
            inputs.parse_option(bad)
    with pytest.raises(ValueError, match="repeat"):
        inputs.normalize([("a", (1,)), ("a", (2,))])

    items = [(np.full((3, 8, 8), i, np.float32), np.full((1, 8, 8), -i, np.float32)) for i in range(5)]
    batch = inputs.stack(items)
    assert [a.shape for a in batch] == [(5, 3, 8, 8), (5, 1, 8, 8)] and inputs.length(batch) == 5
    two = inputs.concatenate([inputs.take(batch, 0, 2), inputs.take(batch, 2)])
    assert all(np.array_equal(a, b) for a, b in zip(two, batch))
    assert float(inputs.items(batch)[3][1][0, 0, 0]) == -3.0
    assert list(inputs.feed(["image", "depth"], batch)) == ["image", "depth"]
    with pytest.raises(ValueError, match="2 input arrays for the inputs a"):
        inputs.feed(["a"], batch)
    one = inputs.stack([np.zeros(4, np.float32)] * 3)  # one input: one array, as before
    assert isinstance(one, np.ndarray) and one.shape == (3, 4)


def test_input_shape_option_takes_a_name_per_input():
    from edgebench.cli.options import add_model_options

    p = argparse.ArgumentParser(exit_on_error=False)
    add_model_options(p)
    assert p.parse_args(["--input-shape", "image:3,8,8", "depth:1,8,8"]).input_shape == (
        ("image", (3, 8, 8)), ("depth", (1, 8, 8)))
    assert p.parse_args(["--input-shape", "3,8,8"]).input_shape == (3, 8, 8)
    with pytest.raises(argparse.ArgumentError, match="'depth:x' is not a shape"):
        p.parse_args(["--input-shape", "image:3,8,8", "depth:x"])


def test_a_dict_input_shape_declares_named_inputs_and_input_shape_must_name_them(tmp_path):
    model = _model(tmp_path, RGBD)
    spec = get_spec(model)
    assert spec.input_shape == (("image", (3, 16, 16)), ("depth", (1, 16, 16)))
    assert get_spec(model, (("image", (3, 8, 8)), ("depth", (1, 8, 8)))).input_shape[0] == ("image", (3, 8, 8))
    with pytest.raises(InvalidConfigError, match="does not name .* inputs image, depth; .* --input-shape image:3,16,16 depth:1,16,16"):
        get_spec(model, (3, 8, 8))
    bad = _model(tmp_path, "INPUT_SHAPE = {'a': (3, 'x')}\ndef make():\n    pass\n", "bad")
    with pytest.raises(ModelFileError, match="INPUT_SHAPE .* is not a shape"):
        get_spec(bad)


def test_check_inputs_are_made_for_each_input(tmp_path):
    from edgebench.data.task_inputs import task_inputs

    spec = get_spec(_model(tmp_path, VECTORS.replace('"features": (12,)', '"photo": (1, 12, 12), "features": (12,)')
                           .replace("def forward(self, features, history)", "def forward(self, photo, features, history)")))
    items, labels, desc = task_inputs(spec, None, 6, seed=1, cache_dir=tmp_path / "cache")
    assert labels is None and len(items) == 6
    assert [a.shape for a in items[0]] == [(1, 12, 12), (12,), (4, 6)]
    assert desc.startswith("photo: scikit-image sample photos") and "in grey" in desc
    assert "features: synthetic standard-normal" in desc and "history: synthetic standard-normal" in desc
    assert not np.allclose(items[0][1][:6], items[0][2][0])  # each input's values from its own seed
    again, _, _ = task_inputs(spec, None, 6, seed=1, cache_dir=tmp_path / "cache")  # from the cache
    assert all(np.array_equal(a, b) for x, y in zip(items, again) for a, b in zip(x, y))
    with pytest.raises(InvalidConfigError, match="holds one input per item, but .* takes several"):
        task_inputs(spec, tmp_path, 6)


def test_a_two_input_model_runs_on_every_cpu_path_and_exports_named_inputs(tmp_path):
    """The issue's case: several named inputs were refused; each is now fed by name, exported under
    its name, quantized with calibration inputs for each, and the segmenter judged by its masks."""
    import onnx

    records = _suite(tmp_path, _model(tmp_path, RGBD),
                     ["pytorch", "onnxruntime", "openvino", "torch-compile", "onnxruntime@int8", "openvino@int8"])
    assert [r.status for r in records][:4] == [Status.OK] * 4, [r.error for r in records]
    for rec in records[1:4]:
        assert rec.accuracy.gate == "passed" and rec.accuracy.max_abs_diff < 1e-4
    assert all(r.status in (Status.OK, Status.ACCURACY_FAILED) for r in records[4:]), [r.error for r in records]
    assert all(r.details["task_parity"]["pixel_agreement"] > 0.9 for r in records[4:])
    assert records[0].model_facts.input_shape == [["image", [3, 16, 16]], ["depth", [1, 16, 16]]]
    assert "image 3x16x16, depth 1x16x16" in next((tmp_path / "out").rglob("table1.md")).read_text()
    onnx_files = list((tmp_path / "cache").rglob("model.onnx"))
    assert onnx_files and all([i.name for i in onnx.load(str(f)).graph.input] == ["image", "depth"] for f in onnx_files)


def test_an_onnx_file_of_two_inputs_runs_at_its_own_names(tmp_path):
    from edgebench.bench.single import export as export_model

    model = _model(tmp_path, VECTORS)
    art = export_model(model, ModelOptions(), cache_dir=tmp_path / "cache")
    assert art.metadata["input_names"] == ["features", "history"]
    records = _suite(tmp_path, str(art.path), ["onnxruntime", "openvino"])
    assert [r.status for r in records] == [Status.OK, Status.OK], [r.error for r in records]
    assert records[0].model_facts.input_shape == [["features", [12]], ["history", [4, 6]]]


def test_paths_that_feed_one_input_refuse_several_in_one_line(tmp_path):
    from edgebench.bench.pipeline import Pipeline
    from edgebench.bench.stream import check_frame_input
    from edgebench.models.spec import SEGMENTATION
    from edgebench.targets.remote import one_input

    shape = get_spec(_model(tmp_path, RGBD)).input_shape
    with pytest.raises(InvalidConfigError, match="feed a model one unnamed input; m takes image 3x16x16, depth 1x16x16"):
        one_input("m", shape)
    with pytest.raises(InvalidConfigError, match="--pipeline makes one image input"):
        Pipeline(None, shape, SEGMENTATION)
    with pytest.raises(InvalidConfigError, match="stream feeds a model one image .* this model takes image 3x16x16"):
        check_frame_input(shape)
    with pytest.raises(InvalidConfigError, match="this model takes 12"):
        check_frame_input((12,))


def test_a_model_of_several_inputs_and_outputs_exports_both_names(tmp_path):
    import onnx

    from edgebench.export import export_onnx
    from edgebench.models import build_model
    from tests.conftest import several_inputs_model

    art = export_onnx(build_model(get_spec(several_inputs_model(tmp_path))), cache_dir=tmp_path / "cache")
    graph = onnx.load(str(art.path)).graph
    assert [i.name for i in graph.input] == ["image", "extra"] and [o.name for o in graph.output] == ["cls", "embedding"]
    assert all(i.type.tensor_type.shape.dim[0].dim_param for i in graph.input)  # the batch axis stays dynamic
