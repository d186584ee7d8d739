"""Synthetic data a newcomer (and the tests) can train on in minutes.

Videos: `OUT/UCF50/<Class>/v_<Class>_gGG_cCC.avi`, exactly UCF50's layout, four "actions" that
are a shape moving right, left, down or up over a noisy background, several groups. Images: a
two-class image folder (`OUT/train/<class>/*.png`, `OUT/val/<class>/*.png`): circles vs squares.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

VIDEO_CLASSES = {"MoveRight": (1, 0), "MoveLeft": (-1, 0), "MoveDown": (0, 1), "MoveUp": (0, -1)}
IMAGE_CLASSES = ("circle", "square")


def _draw(cv2, frame, kind: str, cx: float, cy: float, r: int, color) -> None:
    if kind == "circle":
        cv2.circle(frame, (int(cx), int(cy)), r, color, -1)
    else:
        cv2.rectangle(frame, (int(cx - r), int(cy - r)), (int(cx + r), int(cy + r)), color, -1)


def write_video_set(
    out: str | Path, groups: int = 5, clips_per_group: int = 4, frames: int = 24, size: int = 64, fps: int = 25, seed: int = 0
) -> Path:
    """Write the synthetic UCF50-layout set; returns the UCF50 root folder."""
    import cv2

    rng = np.random.default_rng(seed)
    root = Path(out) / "UCF50"
    for cls, (dx, dy) in VIDEO_CLASSES.items():
        folder = root / cls
        folder.mkdir(parents=True, exist_ok=True)
        for g in range(1, groups + 1):
            for c in range(1, clips_per_group + 1):
                path = folder / f"v_{cls}_g{g:02d}_c{c:02d}.avi"
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (size, size))
                if not writer.isOpened():
                    raise RuntimeError(f"OpenCV cannot write MJPG .avi files to {path}")
                r = int(rng.integers(size // 10, size // 6))
                speed = rng.uniform(1.2, 2.0) * size / frames
                cx = rng.uniform(r, size - r) if dx == 0 else (r + 1 if dx > 0 else size - r - 1)
                cy = rng.uniform(r, size - r) if dy == 0 else (r + 1 if dy > 0 else size - r - 1)
                kind = ("circle", "square")[int(rng.integers(2))]
                color = tuple(int(v) for v in rng.integers(120, 256, 3))
                bg = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
                for t in range(frames):
                    frame = bg.copy()
                    _draw(cv2, frame, kind, (cx + dx * speed * t) % size, (cy + dy * speed * t) % size, r, color)
                    noise = rng.integers(0, 20, frame.shape, dtype=np.uint8)
                    writer.write(cv2.add(frame, noise))
                writer.release()
    return root


def write_image_set(out: str | Path, per_class: int = 40, val_fraction: float = 0.25, size: int = 64, seed: int = 0) -> Path:
    """Write a two-class image folder (train/ and val/ splits); returns `out`."""
    import cv2

    rng = np.random.default_rng(seed)
    out = Path(out)
    n_val = max(1, int(per_class * val_fraction))
    for cls in IMAGE_CLASSES:
        for i in range(per_class):
            split = "val" if i < n_val else "train"
            folder = out / split / cls
            folder.mkdir(parents=True, exist_ok=True)
            img = rng.integers(0, 80, (size, size, 3), dtype=np.uint8)
            r = int(rng.integers(size // 8, size // 4))
            cx, cy = (float(v) for v in rng.uniform(r, size - r, 2))
            color = tuple(int(v) for v in rng.integers(120, 256, 3))
            _draw(cv2, img, cls, cx, cy, r, color)
            cv2.imwrite(str(folder / f"{cls}_{i:04d}.png"), img)
    return out
