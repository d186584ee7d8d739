"""Tiny `test_*` models: same registry, milliseconds to build, export and run."""


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


def tiny_cnn3d(num_classes: int = 4):
    """Conv3d, BatchNorm3d and 3-D pooling, as the action models use them, on 3x4x16x16 clips."""
    from torch import nn

    return nn.Sequential(
        nn.Conv3d(3, 8, 3, padding=1),
        nn.BatchNorm3d(8),
        nn.ReLU(),
        nn.MaxPool3d((1, 2, 2)),
        nn.Conv3d(8, 8, (3, 1, 1), padding=(1, 0, 0)),
        nn.ReLU(),
        nn.AdaptiveAvgPool3d(1),
        nn.Flatten(),
        nn.Linear(8, num_classes),
    )
