"""The UCF50 loader: `UCF50/<Class>/v_<Class>_gGG_cCC.avi`, label from the folder, T frames
sampled uniformly per clip, resized and normalised, split by group so that no group is in both
train and validation. Unreadable, empty, truncated or too-short videos are skipped, counted and
named in the log; they never stop training or evaluation."""
from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgebench.errors import InvalidConfigError

log = logging.getLogger("edgebench.data")

# v_<Name>_gGG_cCC.avi; the Name part may differ from the folder (Billiards holds v_Billards_*)
_NAME = re.compile(r"^v_(?P<name>.+)_g(?P<group>\d+)_c(?P<clip>\d+)\.avi$", re.IGNORECASE)
DEFAULT_NUM_CLASSES = 4
MEAN = np.array([0.45, 0.45, 0.45], dtype=np.float32)  # Kinetics-style video normalisation
STD = np.array([0.225, 0.225, 0.225], dtype=np.float32)


@dataclass(frozen=True)
class VideoItem:
    path: Path
    label: int
    group: int
    clip: int


@dataclass
class VideoIndex:
    root: Path
    classes: list[str]
    items: list[VideoItem]
    ignored: list[Path] = field(default_factory=list)  # files not named like UCF50 videos

    def groups(self) -> list[int]:
        return sorted({i.group for i in self.items})

    def split(self, val_groups: list[int] | None = None, val_fraction: float = 0.2):
        """(train, val) item lists; validation takes whole groups (default: the last
        `val_fraction` of the groups present)."""
        groups = self.groups()
        if val_groups is None:
            k = max(1, round(len(groups) * val_fraction))
            val_groups = groups[-k:]
        val_set = set(val_groups)
        if not val_set or val_set >= set(groups):
            raise InvalidConfigError(f"validation groups {sorted(val_set)} leave no training group among {groups}")
        train = [i for i in self.items if i.group not in val_set]
        val = [i for i in self.items if i.group in val_set]
        return train, val

    def leave_one_group_out(self):
        """Yield (group, train, val) for each group held out in turn."""
        for g in self.groups():
            yield g, *self.split([g])


def index_ucf50(root: str | Path, classes: list[str] | None = None) -> VideoIndex:
    """Scan a UCF50 root. `classes` by folder name; default: the first four in alphabetical
    order (BaseballPitch, Basketball, BenchPress, Biking on the real set)."""
    root = Path(root)
    if (root / "UCF50").is_dir():
        root = root / "UCF50"
    if not root.is_dir():
        raise InvalidConfigError(f"data folder {root} does not exist; pass --data with a UCF50 root (UCF50/<Class>/*.avi)")
    available = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not available:
        raise InvalidConfigError(f"{root} has no class folders; expected UCF50/<Class>/v_<Class>_gGG_cCC.avi")
    if classes is None:
        classes = available[:DEFAULT_NUM_CLASSES]
    missing = [c for c in classes if c not in available]
    if missing:
        raise InvalidConfigError(f"class folder(s) {', '.join(missing)} not in {root}; available: {', '.join(available)}")
    items, ignored = [], []
    for label, cls in enumerate(classes):
        for path in sorted((root / cls).iterdir()):
            m = _NAME.match(path.name)
            if not m:
                ignored.append(path)
                continue
            items.append(VideoItem(path, label, int(m["group"]), int(m["clip"])))
    if ignored:
        log.warning("ignored %d files not named v_<Class>_gGG_cCC.avi, e.g. %s", len(ignored), ignored[0])
    return VideoIndex(root, list(classes), items, ignored)


@contextlib.contextmanager
def native_stderr_to_log():
    """Send what native code writes to file descriptor 2 meanwhile to this module's debug log.
    OpenCV's built-in AVI reader prints to stderr with fprintf ("Unexpected element. Expected:
    LIST"), which no log level silences, and its camera probes and FFmpeg warn there too, ahead
    of edgebench's own one-line error. Not for timed code: it costs a temporary file."""
    import tempfile

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no usable fd 2 (closed, or replaced in-process)
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read().decode(errors="replace").strip()
            if text:
                log.debug("OpenCV/FFmpeg output: %s", text)


def open_video(source: str | Path):
    """A cv2.VideoCapture on a video file, or on a camera for a source of digits ("0"); check
    `isOpened()`. OpenCV's and FFmpeg's chatter while it tries its readers goes to the debug log."""
    import cv2

    source = str(source)
    with native_stderr_to_log():
        return cv2.VideoCapture(int(source)) if source.isdigit() else cv2.VideoCapture(source)


def read_frames(path: Path):
    """All frames of a video as RGB uint8 arrays, or None when it cannot be decoded."""
    import cv2

    with native_stderr_to_log():  # a damaged file makes the decoder warn on every frame
        cap = open_video(path)
        if not cap.isOpened():
            return None
        frames = []
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        cap.release()
    return frames


def preprocess_frames(frames, size: tuple[int, int]):
    """List of HxWx3 uint8 RGB frames -> float32 (3, T, H, W), resized and normalised."""
    import cv2

    h, w = size
    arr = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in frames]).astype(np.float32) / 255.0
    arr = (arr - MEAN) / STD
    return np.ascontiguousarray(arr.transpose(3, 0, 1, 2))


def sample_indices(n_frames: int, t: int) -> np.ndarray:
    """T indices spread uniformly over a video of n_frames (n_frames >= T)."""
    return np.linspace(0, n_frames - 1, t).round().astype(int)


@dataclass
class SkipReport:
    skipped: dict = field(default_factory=dict)  # path -> reason

    def add(self, path: Path, reason: str) -> None:
        self.skipped[str(path)] = reason
        log.warning("skipped %s: %s", path, reason)

    def __len__(self) -> int:
        return len(self.skipped)


class ClipDataset:
    """Decoded clips (3, T, H, W) float32 and labels; decodes everything once, up front, so that
    bad videos are found, counted and named before training starts."""

    def __init__(self, items: list[VideoItem], frames: int, size: tuple[int, int], skips: SkipReport | None = None):
        self.skips = skips if skips is not None else SkipReport()
        self.clips, self.labels, self.paths = [], [], []
        for item in items:
            try:
                raw = read_frames(item.path)
            except Exception as exc:  # a corrupt file can raise inside the decoder
                self.skips.add(item.path, f"decoder error: {exc}")
                continue
            if raw is None:
                self.skips.add(item.path, "cannot be opened (corrupt or not a video)")
            elif not raw:
                self.skips.add(item.path, "no decodable frames (empty or truncated)")
            elif len(raw) < frames:
                self.skips.add(item.path, f"too short: {len(raw)} frames, {frames} needed")
            else:
                picked = [raw[i] for i in sample_indices(len(raw), frames)]
                self.clips.append(preprocess_frames(picked, size))
                self.labels.append(item.label)
                self.paths.append(item.path)

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i):
        import torch

        return torch.from_numpy(self.clips[i]), self.labels[i]
