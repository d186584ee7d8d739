"""What a model is, apart from any backend: its task, input shape and class count."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

IMAGE_CLASSIFICATION = "image-classification"
ACTION_RECOGNITION = "action-recognition"


@dataclass(frozen=True)
class ModelSpec:
    """A registered model.

    `input_shape` is one item's shape without the batch axis (C, H, W) or (C, T, H, W).
    `factory(num_classes)` returns a freshly initialised nn.Module.
    """

    name: str
    task: str
    input_shape: tuple[int, ...]
    factory: Callable = field(repr=False, compare=False)
    default_num_classes: int = 2
    source: str = "edgebench"
    paper_name: str = ""
    description: str = ""

    def batch_shape(self, batch_size: int) -> tuple[int, ...]:
        return (batch_size, *self.input_shape)
