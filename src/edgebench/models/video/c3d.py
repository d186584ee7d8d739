"""3D-CNN (the paper's "3D-CNN" row), C3D-style.

Architecture: three Conv3d(3x3x3)+BN+ReLU+MaxPool3d stages (16, 32, 64 channels; the first
pool keeps time), then Flatten -> Linear(8192, 2368) -> ReLU -> Dropout -> Linear(2368, 512)
-> ReLU -> Dropout -> Linear(512, classes). Clip: 3 x 8 x 64 x 64 (C, T, H, W).
Trainable params with 4 classes: 20,686,644 (paper: 20,333,956, +1.7%); most sit in the first
fully-connected layer, as in the paper's count. FLOPs per clip: ~0.47 G (2 per multiply-add).
"""
from typing import Tuple

from torch import nn

CLIP_SHAPE = (3, 8, 64, 64)


def _stage(cin: int, cout: int, pool: Tuple[int, int, int]) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv3d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm3d(cout), nn.ReLU(inplace=True), nn.MaxPool3d(pool)
    )


class C3D(nn.Module):
    """3D-CNN for action recognition on 3x8x64x64 clips (C3D-style, ~20.7 M params)."""

    def __init__(self, num_classes: int = 4, hidden: int = 2368, dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            _stage(3, 16, (1, 2, 2)),  # 8 x 32 x 32
            _stage(16, 32, (2, 2, 2)),  # 4 x 16 x 16
            _stage(32, 64, (2, 2, 2)),  # 2 x 8 x 8
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(64 * 2 * 8 * 8, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, 512),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(512, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))
