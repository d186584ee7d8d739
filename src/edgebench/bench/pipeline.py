"""What a deployed detector or segmenter does per frame, timed as one call (`--pipeline WxH`):
preprocessing (a camera frame of W x H pixels resized to the network's input and normalised), the
network on the backend, and postprocessing (a detector's own decoding and NMS, its boxes scaled
back to the frame; a segmenter's class per pixel, its mask resized to the frame). Without the
option a cell times the network alone (the backend's run on inputs already preprocessed), as
trtexec and the paper time it. Users ask which of the two a published number is
(jetson-inference, tensorrt_demos#357); Table 1 says which a row timed.

The frames are crops of scikit-image's photos resized to W x H (uint8 RGB, fixed seed), so the
postprocessing runs on real image content. The preprocessing and postprocessing run on the host
CPU, with OpenCV and NumPy (the decoding with torchvision), whatever device the network runs on.
The GPU columns (CUDA-event time) stay the network's alone."""
from __future__ import annotations

import numpy as np

from edgebench.errors import InvalidConfigError
from edgebench.models.outputs import as_list
from edgebench.models.spec import SEGMENTATION


def parse_frame(text: str) -> tuple[int, int]:
    """"640x480" -> (640, 480): the frame's width and height."""
    try:
        w, h = (int(t) for t in text.lower().split("x"))
    except ValueError:
        raise InvalidConfigError(f"--pipeline takes a frame size WIDTHxHEIGHT such as 640x480, not {text!r}") from None
    if w < 1 or h < 1:
        raise InvalidConfigError(f"--pipeline frame size must be positive, not {text!r}")
    return w, h


def frame_pool(frame: tuple[int, int], batch: int, count: int, seed: int = 0) -> list:
    """`count` batches of `batch` uint8 RGB frames of `frame` (width, height): crops of the photos."""
    import cv2

    from edgebench.data.photos import sample_photos

    photos = sample_photos()
    rng = np.random.default_rng(seed)
    w, h = frame
    pool = []
    for _ in range(count):
        frames = []
        for _ in range(batch):
            photo = photos[int(rng.integers(len(photos)))]
            side = int(min(photo.shape[:2]) * rng.uniform(0.6, 1.0))
            y, x = (int(rng.integers(0, photo.shape[k] - side + 1)) for k in (0, 1))
            frames.append(cv2.resize(photo[y:y + side, x:x + side], (w, h), interpolation=cv2.INTER_AREA))
        pool.append(np.stack(frames))
    return pool


class Pipeline:
    """A loaded backend behind preprocessing and postprocessing, with the harness's interface
    (run, synchronize), for timing (bench.harness.time_backend)."""

    def __init__(self, backend, item_shape: tuple, task: str, decode=None):
        from edgebench.data.images import IMAGENET_MEAN, IMAGENET_STD
        from edgebench.models.inputs import describe
        from edgebench.models.spec import DETECTION, is_image

        if task not in (DETECTION, SEGMENTATION):
            raise InvalidConfigError(f"--pipeline times a detector's or a segmenter's frames; this model's task is {task}")
        if not is_image(item_shape):
            raise InvalidConfigError(f"--pipeline makes one image input from each frame; this model takes "
                                     f"{describe(item_shape)}: leave --pipeline out")
        self.backend, self.task, self.decode = backend, task, decode
        self.size = tuple(item_shape[1:])  # (H, W)
        self.scale = (1.0 / (255.0 * IMAGENET_STD)).astype(np.float32)
        self.shift = (-IMAGENET_MEAN / IMAGENET_STD).astype(np.float32)

    def preprocess(self, frames: np.ndarray) -> np.ndarray:
        import cv2

        h, w = self.size
        resized = [cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR) for f in frames]
        x = np.stack(resized).astype(np.float32) * self.scale + self.shift  # ImageNet normalisation
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))

    def postprocess(self, out, frame_hw: tuple[int, int]):
        import cv2

        fh, fw = frame_hw
        if self.decode is not None:
            found = self.decode(as_list(out))
            sy, sx = fh / self.size[0], fw / self.size[1]
            for d in found:
                d["boxes"] = d["boxes"] * np.array([sx, sy, sx, sy], dtype=np.float32)
            return found
        if self.task != SEGMENTATION:  # a detector file's forward returned its detections already
            return out
        scores = np.asarray(as_list(out)[0])
        masks = scores.argmax(axis=1).astype(np.uint8)
        return [cv2.resize(m, (fw, fh), interpolation=cv2.INTER_NEAREST) for m in masks]

    def run(self, frames: np.ndarray):
        out = self.backend.run(self.preprocess(frames))
        self.backend.synchronize()
        return self.postprocess(out, frames.shape[1:3])

    def synchronize(self) -> None:
        pass

    def describe(self, frame: tuple[int, int]) -> str:
        w, h = frame
        post = ("decoding, NMS and box scaling" if self.decode is not None else "arg-max and mask resize"
                if self.task == SEGMENTATION else "nothing more (the model's forward returns its detections)")
        return (f"pipeline: {w}x{h} frames resized and normalised, the network, {post} to the frame "
                f"(pre- and postprocessing on the host CPU)")
