"""The image classifiers come from torchvision: one built at random init with N classes (the
paper's eight are listed in models.catalog; any other torchvision name resolves through the
registry)."""
from __future__ import annotations


def build_torchvision(name: str, num_classes: int):
    import torchvision

    return torchvision.models.get_model(name, weights=None, num_classes=num_classes)
