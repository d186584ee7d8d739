"""Check and calibration inputs follow the model's declared input: photos converted to its channel
count and size where it is an image, a documented synthetic distribution where it is not."""
from __future__ import annotations

import numpy as np
import pytest

from edgebench.bench.suite import run_suite
from edgebench.config import ModelOptions, SuiteConfig, TimingConfig
from edgebench.data import task_inputs as ti
from edgebench.models import get_spec
from edgebench.results import Status
from tests.conftest import FAST_TIMING

GREY_CNN = ("import torch\nINPUT_SHAPE = (1, 28, 28)\n"
            "def make(num_classes=2):\n"
            "    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),\n"
            "                               torch.nn.Linear(4 * 26 * 26, num_classes))\n")
MLP = ("import torch\nINPUT_SHAPE = (64,)\n"
       "def make(num_classes=2):\n"
       "    return torch.nn.Sequential(torch.nn.Linear(64, 16), torch.nn.ReLU(), torch.nn.Linear(16, num_classes))\n")
FOUR_CHANNELS = ("import torch\nINPUT_SHAPE = (4, 16, 16)\n"
                 "def make(num_classes=2):\n"
                 "    return torch.nn.Sequential(torch.nn.Conv2d(4, 4, 3), torch.nn.Flatten(),\n"
                 "                               torch.nn.Linear(4 * 14 * 14, num_classes))\n")


def _spec(tmp_path, name: str, text: str):
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    return f"{path}:make", get_spec(f"{path}:make")


@pytest.mark.parametrize("name,text,shape", [("grey", GREY_CNN, (1, 28, 28)), ("mlp", MLP, (64,)),
                                             ("four", FOUR_CHANNELS, (4, 16, 16))])
def test_builtin_inputs_have_the_declared_shape(tmp_path, name, text, shape):
    _, spec = _spec(tmp_path, name, text)
    for split in ("val", "train"):
        items, labels, desc = ti.task_inputs(spec, None, 6, seed=1, cache_dir=tmp_path / "cache", split=split)
        assert len(items) == 6 and labels is None and desc
        assert all(x.shape == shape and x.dtype == np.float32 and np.isfinite(x).all() for x in items)
        assert len({x.tobytes() for x in items}) > 1  # not one input repeated


def test_a_grey_image_input_gets_the_photos_in_grey(tmp_path):
    """One channel: the photos' luma, normalised by the ImageNet statistics averaged over the
    channels; the same crops as the 3-channel inputs."""
    from edgebench.data.images import IMAGENET_MEAN, IMAGENET_STD

    _, grey = _spec(tmp_path, "grey", GREY_CNN)
    colour = get_spec("test_cnn", (3, 28, 28))
    g, _, desc = ti.task_inputs(grey, None, 4, seed=2)
    c, _, _ = ti.task_inputs(colour, None, 4, seed=2)
    assert "grey" in desc
    rgb = c[0] * IMAGENET_STD[:, None, None] + IMAGENET_MEAN[:, None, None]
    luma = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]
    np.testing.assert_allclose(g[0][0], (luma - IMAGENET_MEAN.mean()) / IMAGENET_STD.mean(), atol=1e-4)


def test_a_vector_input_gets_synthetic_inputs_and_says_so(tmp_path):
    _, spec = _spec(tmp_path, "mlp", MLP)
    items, _, desc = ti.task_inputs(spec, None, 64, seed=5)
    assert "synthetic standard-normal inputs" in desc
    v = np.stack(items)
    assert abs(v.mean()) < 0.1 and abs(v.std() - 1) < 0.1


@pytest.mark.parametrize("name,text", [("grey", GREY_CNN), ("mlp", MLP)])
def test_models_that_are_not_3_channel_images_run_on_every_cpu_path(tmp_path, name, text):
    """The issue's cases: a 1-channel 28x28 CNN and an MLP on 64 features, through eager PyTorch,
    ONNX Runtime FP32 and INT8 (calibrated on inputs of their own shape), checked by the gate."""
    model, _ = _spec(tmp_path, name, text)
    cfg = SuiteConfig(models=[model], backends=["pytorch", "onnxruntime", "onnxruntime@int8"], device="cpu",
                      timing=TimingConfig(**FAST_TIMING), pool_size=2, out_dir=tmp_path / "out", isolate=False,
                      model_options=ModelOptions(check_size=16, calibration_size=8), cache_dir=tmp_path / "cache")
    records = run_suite(cfg).records
    assert [r.status for r in records][:2] == [Status.OK, Status.OK], [r.error for r in records]
    assert records[2].status in (Status.OK, Status.ACCURACY_FAILED), records[2].error
    assert records[1].accuracy.gate == "passed"


def test_a_model_whose_input_is_not_an_image_is_a_classifier_not_an_image_classifier(tmp_path):
    """Its task (Table 1's section) follows its input, unless the file declares TASK."""
    model, spec = _spec(tmp_path, "mlp", MLP)
    assert spec.task == "classification" and _spec(tmp_path, "grey", GREY_CNN)[1].task == "image-classification"
    declared = _spec(tmp_path, "declared", MLP.replace("INPUT_SHAPE = (64,)", "INPUT_SHAPE = (64,)\nTASK = 'tabular'"))[1]
    assert declared.task == "tabular"
    cfg = SuiteConfig(models=[model], backends=["pytorch", "onnxruntime"], device="cpu", isolate=False,
                      timing=TimingConfig(**FAST_TIMING), pool_size=2, out_dir=tmp_path / "out",
                      model_options=ModelOptions(check_size=16), cache_dir=tmp_path / "cache")
    run_suite(cfg)
    md = (tmp_path / "out" / "table1.md").read_text()
    assert "| **Classification** |" in md and "Image classification" not in md
