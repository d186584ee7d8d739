"""The paper's eight image classifiers (torchvision), with heads adapted to N classes."""
from __future__ import annotations

from functools import partial

from edgebench.models.registry import IMAGE_INPUT, register
from edgebench.models.spec import IMAGE_CLASSIFICATION, ModelSpec

# torchvision name -> the paper's row label (Table 1)
PAPER_CLASSIFIERS = {
    "alexnet": "AlexNet",
    "vgg19": "VGG",
    "resnet50": "ResNet",
    "squeezenet1_1": "SqueezeNet",
    "densenet121": "DenseNet",
    "shufflenet_v2_x1_0": "ShuffleNet V2",
    "mobilenet_v2": "MobileNet V2",
    "resnext50_32x4d": "ResNet V2",
}


def build_torchvision(name: str, num_classes: int):
    import torchvision

    return torchvision.models.get_model(name, weights=None, num_classes=num_classes)


def torchvision_spec(name: str, paper_name: str = "") -> ModelSpec:
    return ModelSpec(
        name=name,
        task=IMAGE_CLASSIFICATION,
        input_shape=IMAGE_INPUT,
        factory=partial(build_torchvision, name),
        source="torchvision",
        paper_name=paper_name,
        description=f"torchvision {name}",
    )


for _name, _paper in PAPER_CLASSIFIERS.items():
    register(torchvision_spec(_name, _paper))
