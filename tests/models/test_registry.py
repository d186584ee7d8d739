import textwrap

import pytest

from edgebench.errors import ModelFileError, UnknownModelError
from edgebench.models import ModelSpec, get_spec, list_models, register
from edgebench.models.catalog import PAPER_CLASSIFIERS


def test_paper_classifiers_registered_and_wildcards():
    names = list_models()
    assert set(PAPER_CLASSIFIERS) <= set(names)
    assert not any(n.startswith("test_") for n in names)
    assert list_models("res*") == ["resnet50", "resnext50_32x4d"]
    assert "test_cnn" in list_models("test_*")
    assert get_spec("resnext50_32x4d").paper_name == "ResNet V2"


def test_duplicate_registration_raises():
    spec = get_spec("test_cnn")
    with pytest.raises(ValueError, match="already registered"):
        register(ModelSpec("test_cnn", spec.task, spec.input_shape, spec.factory))


def test_unknown_model_suggests_never_autocorrects():
    with pytest.raises(UnknownModelError, match="Did you mean: resnet50"):
        get_spec("resnet5")


def test_any_torchvision_classifier_by_name():
    spec = get_spec("resnet18")
    assert spec.source == "torchvision" and spec.input_shape == (3, 224, 224)
    model = spec.factory(3)
    assert model.fc.out_features == 3


def test_input_shape_override():
    assert get_spec("test_cnn", (3, 48, 48)).input_shape == (3, 48, 48)


def test_user_file_factory(tmp_path):
    f = tmp_path / "mine.py"
    f.write_text(textwrap.dedent('''
        import torch.nn as nn
        INPUT_SHAPE = (3, 20, 20)
        def make(num_classes=2):
            """A user's tiny model."""
            return nn.Sequential(nn.Flatten(), nn.Linear(1200, num_classes))
        def no_args():
            return nn.Sequential(nn.Flatten(), nn.Linear(1200, 5))
    '''))
    spec = get_spec(f"{f}:make")
    assert spec.source == "user" and spec.input_shape == (3, 20, 20)
    assert spec.factory(4)[1].out_features == 4
    assert get_spec(f"{f}:no_args").factory(2)[1].out_features == 5
    with pytest.raises(ModelFileError, match="no callable 'missing'.*make"):
        get_spec(f"{f}:missing")
    with pytest.raises(ModelFileError, match="does not exist"):
        get_spec(f"{tmp_path}/nope.py:make")
