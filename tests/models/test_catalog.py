"""The built-ins' declared sizes (what `edgebench models` lists without building anything) are
the built modules' own: params exact, GFLOPs to the listing's precision, at the default class
count and with 1000-class heads."""
import importlib
import inspect

import pytest
import torch

from edgebench.models import build_model, get_spec
from edgebench.models.catalog import BUILTIN_MODELS
from edgebench.models.stats import count_flops, trainable_params

#: real-size models whose two builds and forward passes take seconds each on a small CPU
SLOW = {"alexnet", "vgg19", "resnet50", "resnext50_32x4d", "densenet121"}


def _measured(spec, num_classes: int) -> tuple[int, str]:
    module = build_model(spec, num_classes).module
    flops = count_flops(module, torch.zeros(1, *spec.input_shape))
    return trainable_params(module), f"{flops / 1e9:.3f}"


@pytest.mark.parametrize("name", [
    pytest.param(s.name, marks=pytest.mark.slow) if s.name in SLOW else s.name for s in BUILTIN_MODELS
])
def test_declared_size_is_the_built_models(name):
    spec = get_spec(name)
    for classes in (spec.default_num_classes, 1000):
        params, flops = spec.size.at(classes - spec.default_num_classes)
        assert (params, f"{flops / 1e9:.3f}") == _measured(spec, classes), classes


def test_action_models_declared_as_their_files_describe_them():
    """The catalog copies each action model's clip shape and docstring line, as data."""
    for spec in BUILTIN_MODELS:
        if spec.source != "edgebench" or spec.name.startswith("test_"):
            continue
        module_name, _, cls_name = spec.factory.target.partition(":")
        module = importlib.import_module(module_name)
        assert spec.input_shape == module.CLIP_SHAPE
        assert spec.description == inspect.getdoc(getattr(module, cls_name)).splitlines()[0]


def test_an_input_shape_override_drops_the_declared_size():
    assert get_spec("test_cnn").size is not None
    assert get_spec("test_cnn", (3, 48, 48)).size is None
