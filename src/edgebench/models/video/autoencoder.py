"""3D convolutional autoencoder whose encoder feeds a classification head (the paper's AE row).

Encoder: Conv3d(3->24, s2)+BN+ReLU -> Conv3d(24->48, s2)+BN+ReLU -> Conv3d(48->96, s2)+BN+ReLU
(3x3x3 kernels, 8x64x64 -> 1x8x8). Decoder: the mirror with ConvTranspose3d back to 3x8x64x64,
used for the reconstruction loss in training. Head: mean over (T, H, W) -> Linear(96, classes).
Inference (`forward`) returns the logits only; the decoder is trained but not run there.
Clip: 3 x 8 x 64 x 64. Trainable params with 4 classes, decoder included: 316,039 (paper: 332,807,
-5.0%). FLOPs per clip (the classification path that inference runs): ~0.064 G.
"""
import torch
from torch import nn

CLIP_SHAPE = (3, 8, 64, 64)
WIDTHS = (24, 48, 96)


def _down(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(cin, cout, 3, stride=2, padding=1), nn.BatchNorm3d(cout), nn.ReLU(inplace=True))


def _up(cin: int, cout: int, last: bool = False) -> nn.Sequential:
    conv = nn.ConvTranspose3d(cin, cout, 3, stride=2, padding=1, output_padding=1)
    return nn.Sequential(conv) if last else nn.Sequential(conv, nn.BatchNorm3d(cout), nn.ReLU(inplace=True))


class ConvAutoencoder(nn.Module):
    """3D convolutional autoencoder with a classification head on its encoder (~0.32 M params)."""

    def __init__(self, num_classes: int = 4, recon_weight: float = 1.0):
        super().__init__()
        a, b, c = WIDTHS
        self.encoder = nn.Sequential(_down(3, a), _down(a, b), _down(b, c))
        self.decoder = nn.Sequential(_up(c, b), _up(b, a), _up(a, 3, last=True))
        self.head = nn.Linear(c, num_classes)
        self.recon_weight = recon_weight

    def forward(self, x):
        # mean over (T, H, W): exports as ReduceMean, unlike adaptive pooling of odd sizes
        return self.head(self.encoder(x).mean(dim=(2, 3, 4)))

    def training_loss(self, x, y, criterion):
        """Classification loss plus reconstruction error, so the encoder stays an autoencoder."""
        z = self.encoder(x)
        logits = self.head(z.mean(dim=(2, 3, 4)))
        recon = self.decoder(z)
        return criterion(logits, y) + self.recon_weight * torch.nn.functional.mse_loss(recon, x), logits
