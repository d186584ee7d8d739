"""Real photographs that ship with scikit-image (no download): inputs for calibration and
accuracy checks of image classifiers where no data set is given."""
from __future__ import annotations

import numpy as np

# colour photographs in skimage.data (RGB uint8)
PHOTO_NAMES = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina", "cat")


def sample_photos() -> list:
    """The RGB photographs available in this scikit-image, as HxWx3 uint8 arrays."""
    from edgebench.errors import DependencyError

    try:
        from skimage import data
    except ImportError as exc:
        raise DependencyError("real sample photos need scikit-image: pip install scikit-image") from exc
    photos = []
    for name in PHOTO_NAMES:
        fn = getattr(data, name, None)
        if fn is None:
            continue
        try:
            img = fn()
        except Exception:  # a data file missing from this build of scikit-image
            continue
        if img.ndim == 3 and img.shape[2] >= 3:
            photos.append(np.ascontiguousarray(img[..., :3]))
    return photos


def photo_inputs(size: tuple[int, int], count: int, seed: int = 0) -> list:
    """`count` preprocessed (3, H, W) inputs: random crops (50-100% of the side) and flips of the
    sample photos, cycled, ImageNet-normalised."""
    from edgebench.data.images import preprocess_image

    photos = sample_photos()
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        img = photos[i % len(photos)]
        h, w = img.shape[:2]
        s = rng.uniform(0.5, 1.0)
        ch, cw = max(8, int(h * s)), max(8, int(w * s))
        y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        crop = img[y : y + ch, x : x + cw]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        out.append(preprocess_image(np.ascontiguousarray(crop), size))
    return out
