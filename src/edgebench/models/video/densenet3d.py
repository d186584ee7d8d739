"""A small 3D DenseNet (the paper's video "DenseNet" row).

Stem Conv3d(3->16, 3x3x3, stride (1,2,2)) + MaxPool3d(1,2,2) (to 8x16x16) -> dense block (4 layers, growth 12, BN-ReLU-Conv3d
3x3x3) -> transition (BN-ReLU-Conv3d 1x1x1 to half the channels, AvgPool3d 2) -> dense block
(4 layers, growth 12) -> BN-ReLU -> mean over (T, H, W) -> Linear(80, classes).
Clip: 3 x 8 x 64 x 64. Trainable params with 4 classes: 113,492 (paper: 109,386, +3.8%).
FLOPs per clip: ~0.24 G.
"""
from typing import Tuple

import torch
from torch import nn


CLIP_SHAPE = (3, 8, 64, 64)


class _DenseLayer(nn.Module):
    def __init__(self, cin: int, growth: int):
        super().__init__()
        self.body = nn.Sequential(nn.BatchNorm3d(cin), nn.ReLU(inplace=True), nn.Conv3d(cin, growth, 3, padding=1, bias=False))

    def forward(self, x):
        return torch.cat([x, self.body(x)], dim=1)


def _block(cin: int, layers: int, growth: int) -> Tuple[nn.Sequential, int]:
    mods = []
    for i in range(layers):
        mods.append(_DenseLayer(cin + i * growth, growth))
    return nn.Sequential(*mods), cin + layers * growth


class DenseNet3D(nn.Module):
    """Small 3D DenseNet for action recognition on 3x8x64x64 clips (~0.11 M params)."""

    def __init__(self, num_classes: int = 4, growth: int = 12, layers: int = 4, stem: int = 16):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv3d(3, stem, 3, stride=(1, 2, 2), padding=1, bias=False), nn.MaxPool3d((1, 2, 2))
        )
        self.block1, c = _block(stem, layers, growth)
        half = c // 2
        self.transition = nn.Sequential(
            nn.BatchNorm3d(c), nn.ReLU(inplace=True), nn.Conv3d(c, half, 1, bias=False), nn.AvgPool3d(2)
        )
        self.block2, c = _block(half, layers, growth)
        self.norm = nn.Sequential(nn.BatchNorm3d(c), nn.ReLU(inplace=True))
        self.head = nn.Linear(c, num_classes)

    def forward(self, x):
        x = self.block2(self.transition(self.block1(self.stem(x))))
        return self.head(self.norm(x).mean(dim=(2, 3, 4)))
