"""What a model is, apart from any backend: its task, input shape and class count, the factory
that builds it (named by string for the built-ins) and its declared size."""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable

IMAGE_CLASSIFICATION = "image-classification"
ACTION_RECOGNITION = "action-recognition"
#: a classifier whose input is not an image (feature vectors, sequences): a user model's default
#: task where its INPUT_SHAPE is not (C, H, W) and it declares no TASK
CLASSIFICATION = "classification"
#: boxes, scores and classes per image (a detector's raw head outputs, or its detections)
DETECTION = "object-detection"
#: per-pixel class scores, [batch, classes, height, width]
SEGMENTATION = "semantic-segmentation"

IMAGE_INPUT = (3, 224, 224)


def is_classifier(task: str) -> bool:
    """Whether a model of `task` outputs one [batch, classes] tensor (top-1 and cosine judge it)."""
    return task in (IMAGE_CLASSIFICATION, CLASSIFICATION, ACTION_RECOGNITION)


def is_image(shape) -> bool:
    """Whether an item of `shape` is one image: (C, H, W) (models.inputs: not several inputs)."""
    from edgebench.models.inputs import several

    return not several(shape) and len(tuple(shape)) == 3


@dataclass(frozen=True)
class FactoryRef:
    """A model factory named by "module:function" and imported on its first call, so that a
    registered model costs no import until it is built. Called as factory(num_classes), it
    passes `args` first: FactoryRef("edgebench.models.classifiers:build_torchvision", ("vgg19",))."""

    target: str
    args: tuple = ()

    def __call__(self, num_classes):
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)(*self.args, num_classes)


@dataclass(frozen=True)
class ModelSize:
    """A model's declared size, so that listing it builds nothing (as torchvision's
    `Weights.meta` declares num_params and _ops); tests/models/test_catalog.py checks every
    built-in's against models.stats on the built module."""

    params: int  # trainable parameters with the spec's default class count
    flops: int  # FLOPs per item with that count (models.stats.count_flops: 2 per multiply-add)
    params_per_class: int  # what each further output class adds: the head's fan-in and bias
    flops_per_class: int  # and the FLOPs per item it adds

    def at(self, extra_classes: int) -> tuple[int, int]:
        """(params, FLOPs per item) with `extra_classes` more outputs than the default (negative: fewer)."""
        return self.params + extra_classes * self.params_per_class, self.flops + extra_classes * self.flops_per_class


@dataclass(frozen=True)
class ModelSpec:
    """A registered model.

    `input_shape` is one item's shape without the batch axis (C, H, W) or (C, T, H, W), or for a
    model of several inputs their (name, shape) pairs (models.inputs).
    `factory(num_classes)` returns a freshly initialised nn.Module (the built-ins' factories are
    FactoryRefs, imported when called). `size` is declared for the built-ins, None otherwise.
    """

    name: str
    task: str
    input_shape: tuple
    factory: Callable = field(repr=False, compare=False)
    default_num_classes: int = 2
    source: str = "edgebench"
    paper_name: str = ""
    description: str = ""
    size: ModelSize | None = None
