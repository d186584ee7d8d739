"""Tiny `test_*` models: same registry, milliseconds to build, export and run."""
from __future__ import annotations

from edgebench.models.registry import register
from edgebench.models.spec import IMAGE_CLASSIFICATION, ModelSpec


def tiny_cnn(num_classes: int = 2):
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, num_classes),
    )


def tiny_mlp(num_classes: int = 2):
    from torch import nn

    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 32), nn.ReLU(), nn.Linear(32, num_classes))


register(ModelSpec("test_cnn", IMAGE_CLASSIFICATION, (3, 32, 32), tiny_cnn, description="tiny CNN for tests"))
register(ModelSpec("test_mlp", IMAGE_CLASSIFICATION, (3, 16, 16), tiny_mlp, description="tiny MLP for tests"))
