"""Real photographs that ship with scikit-image (no download): inputs for calibration and
accuracy checks of image classifiers where no data set is given."""
from __future__ import annotations

import numpy as np

# colour photographs in skimage.data (RGB uint8); data.cat() is the same picture as chelsea()
PHOTO_NAMES = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "immunohistochemistry", "retina")
# grey-level photographs (a camera operator, a clock, coins, the moon, textures, printed text):
# INT8 calibration sees them too, for a wider spread of activations than seven colour photos give
GRAY_PHOTO_NAMES = ("camera", "clock", "coins", "moon", "brick", "grass", "gravel", "page", "text")

AUGMENTS = ("crops", "varied")


def _load(names: tuple) -> list:
    from edgebench.errors import DependencyError

    try:
        from skimage import data
    except ImportError as exc:
        raise DependencyError("real sample photos need scikit-image: pip install scikit-image") from exc
    photos = []
    for name in names:
        fn = getattr(data, name, None)
        if fn is None:
            continue
        try:
            img = fn()
        except Exception:  # a data file missing from this build of scikit-image
            continue
        if img.dtype != np.uint8:
            continue
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        if img.ndim == 3 and img.shape[2] >= 3:
            photos.append(np.ascontiguousarray(img[..., :3]))
    return photos


def sample_photos(gray: bool = False) -> list:
    """The RGB photographs available in this scikit-image, as HxWx3 uint8 arrays; with `gray`,
    the grey-level ones too (as three equal channels), after the colour ones."""
    return _load(PHOTO_NAMES + (GRAY_PHOTO_NAMES if gray else ()))


def photo_inputs(size: tuple[int, int], count: int, seed: int = 0, augment: str = "crops") -> list:
    """`count` preprocessed (3, H, W) inputs from the sample photos, cycled, ImageNet-normalised.
    `augment`: "crops": random crops (50-100% of the side) and flips of the colour photos (the
    accuracy gate's check inputs); "varied": the grey-level photos too, crops of 25-100% of
    the side with aspect ratios 3:4 to 4:3, flips, and brightness, contrast and saturation
    jitter of +-30% (INT8 calibration: ranges observed on more kinds of input clip less on new
    ones)."""
    from edgebench.data.images import preprocess_image
    from edgebench.errors import InvalidConfigError

    if augment not in AUGMENTS:
        raise InvalidConfigError(f"photo augmentation must be one of {', '.join(AUGMENTS)}, not {augment!r}")
    varied = augment == "varied"
    photos = sample_photos(gray=varied)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        img = photos[i % len(photos)]
        h, w = img.shape[:2]
        if varied:
            area, aspect = rng.uniform(0.25, 1.0) ** 2, np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
            ch = min(h, max(8, int(round(h * np.sqrt(area / aspect)))))
            cw = min(w, max(8, int(round(w * np.sqrt(area * aspect)))))
        else:
            s = rng.uniform(0.5, 1.0)
            ch, cw = max(8, int(h * s)), max(8, int(w * s))
        y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
        crop = img[y : y + ch, x : x + cw]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        if varied:
            crop = _jitter(crop, rng)
        out.append(preprocess_image(np.ascontiguousarray(crop), size))
    return out


def _jitter(rgb: np.ndarray, rng, strength: float = 0.3) -> np.ndarray:
    """Brightness, contrast and saturation each scaled by a factor in [1 - s, 1 + s]."""
    x = rgb.astype(np.float32)
    x = x * rng.uniform(1 - strength, 1 + strength)
    mean = x.mean()
    x = mean + (x - mean) * rng.uniform(1 - strength, 1 + strength)
    grey = x.mean(axis=2, keepdims=True)
    x = grey + (x - grey) * rng.uniform(1 - strength, 1 + strength)
    return np.clip(x, 0, 255).astype(np.uint8)
