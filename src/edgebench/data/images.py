"""Image-folder loading for classifier fine-tuning (`<root>/<class>/*.png|jpg`)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edgebench.errors import InvalidConfigError

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
_EXTS = {".png", ".jpg", ".jpeg", ".bmp"}


def preprocess_image(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """HxWx3 uint8 RGB -> float32 (3, H, W) resized and ImageNet-normalised."""
    import cv2

    h, w = size
    x = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    return np.ascontiguousarray(((x - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1))


class ImageFolderDataset:
    """Images under `root/<class>/`; classes sorted by name unless given."""

    def __init__(self, root: str | Path, size: tuple[int, int], classes: list[str] | None = None):
        import cv2

        root = Path(root)
        if not root.is_dir():
            raise InvalidConfigError(f"image folder {root} does not exist; pass --data with <root>/<class>/*.png")
        available = sorted(p.name for p in root.iterdir() if p.is_dir())
        self.classes = list(classes) if classes else available
        missing = [c for c in self.classes if c not in available]
        if missing or not self.classes:
            raise InvalidConfigError(f"class folder(s) {missing or '(none)'} not in {root}; available: {available}")
        self.images, self.labels = [], []
        for label, cls in enumerate(self.classes):
            for path in sorted((root / cls).iterdir()):
                if path.suffix.lower() not in _EXTS:
                    continue
                bgr = cv2.imread(str(path))
                if bgr is None:
                    continue
                self.images.append(preprocess_image(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), size))
                self.labels.append(label)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        import torch

        return torch.from_numpy(self.images[i]), self.labels[i]
