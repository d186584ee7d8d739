"""Real-time streams: decode frames from a video file or camera, keep a sliding clip buffer (or
single frames for image models), run the model every `stride` frames, and measure inference
latency, the whole pipeline's achieved FPS (decode + preprocess + infer, and a detector's
post-processing: its NMS) and deadline misses against the target frame period."""
from __future__ import annotations

import collections
import logging
import os
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from edgebench.bench.harness import infer
from edgebench.models.outputs import as_list
from edgebench.results.latency import LatencyStats
from edgebench.errors import InvalidConfigError

log = logging.getLogger("edgebench.stream")


@dataclass(frozen=True)
class StreamConfig:
    source: str  # a video file path or a camera index ("0")
    target_fps: float = 30.0
    stride: int = 1
    max_frames: int | None = None
    show: bool = False

    def __post_init__(self):
        if self.target_fps <= 0 or self.stride < 1 or (self.max_frames is not None and self.max_frames < 1):
            raise InvalidConfigError(
                f"stream needs --target-fps > 0, --stride >= 1 and --max-frames >= 1, got {asdict(self)}"
            )
        # a missing file is found here, before the model is built and exported, and before
        # OpenCV tries each of its readers on it (URLs and "%d" image sequences go to OpenCV)
        if not (self.source.isdigit() or "://" in self.source or "%" in self.source or os.path.isfile(self.source)):
            raise InvalidConfigError(
                f"cannot open video file {self.source!r}: it does not exist; pass an existing video file or a "
                "camera index (0, 1, ...)"
            )


@dataclass
class StreamResult:
    frames: int
    inferences: int
    wall_s: float
    achieved_fps: float  # frames through the whole pipeline per second
    frame_period_ms: float
    deadline_misses: int  # frames whose pipeline time exceeded the frame period
    deadline_miss_rate: float
    inference: LatencyStats | None
    frame_time: LatencyStats | None  # per frame: decode + preprocess (+ inference on inference frames)
    #: (frame index, class index, its score); a detector: (frame index, detections, None) (predict)
    predictions: list = field(default_factory=list)
    #: what a frame's time holds beside decode, preprocess and inference ("" for nothing)
    postprocess: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        return d


def open_source(source: str):
    from edgebench.data.ucf50 import open_video

    cap = open_video(source)
    if not cap.isOpened():
        kind = "camera" if source.isdigit() else "video file"
        raise InvalidConfigError(f"cannot open {kind} {source!r}; pass an existing video file or a camera index")
    return cap


def predict(out, decode=None, class_names: list[str] | None = None) -> tuple:
    """(index, score, label) of one inference on one frame: a classifier's top class and its
    logit; a detector's number of detections with a score of at least 0.5 (`decode`: its own
    post-processing, models.dense, run here as part of the frame's pipeline); a segmenter's most
    frequent class other than 0 and the share of pixels it covers; (None, None, "") otherwise."""
    arrays = as_list(out)
    first = np.asarray(arrays[0])
    if decode is not None:
        found = int((np.asarray(decode(arrays)[0]["scores"]) >= 0.5).sum())
        return found, None, f"{found} objects"
    if len(arrays) == 1 and first.ndim == 2:
        k = int(np.argmax(first[0]))
        return k, float(first[0][k]), class_names[k] if class_names and k < len(class_names) else str(k)
    if first.ndim == 4:
        mask = first[0].argmax(axis=0)
        counts = np.bincount(mask.ravel(), minlength=first.shape[1])
        k = int(np.argmax(counts[1:]) + 1) if len(counts) > 1 and counts[1:].any() else 0
        share = float(counts[k] / mask.size)
        name = class_names[k] if class_names and k < len(class_names) else f"class {k}"
        return k, share, f"{name} on {100 * share:.0f}% of pixels"
    return None, None, ""


def check_frame_input(item_shape) -> None:
    """Refuse, in one line, a model that a video's frames cannot feed: one image (C, H, W) or clip
    (C, T, H, W) input only."""
    from edgebench.models.inputs import describe, several

    if several(item_shape) or len(item_shape) not in (3, 4):
        raise InvalidConfigError(f"stream feeds a model one image (C, H, W) or clip (C, T, H, W) input from the video; this "
                                 f"model takes {describe(item_shape)}: benchmark it with `edgebench bench` or `run`")


def run_stream(backend, item_shape: tuple[int, ...], cfg: StreamConfig, class_names: list[str] | None = None,
               decode=None) -> StreamResult:
    """Stream through a loaded backend. `item_shape` is (C, H, W) for frame models or
    (C, T, H, W) for clip models; `decode`: a detector's post-processing (models.dense), run on
    each inference as part of the frame's time."""
    import cv2

    from edgebench.data.images import preprocess_image
    from edgebench.data.ucf50 import preprocess_frames
    check_frame_input(item_shape)
    clip = len(item_shape) == 4
    t_len = item_shape[1] if clip else 1
    h, w = item_shape[-2:]
    buffer: collections.deque = collections.deque(maxlen=t_len)
    show = cfg.show and bool(os.environ.get("DISPLAY"))
    if cfg.show and not show:
        log.warning("--show ignored: no display (DISPLAY is not set)")
    cap = open_source(cfg.source)
    period = 1.0 / cfg.target_fps
    infer_s, frame_s, preds = [], [], []
    frames = misses = 0
    label = ""
    start = time.perf_counter()
    try:
        while cfg.max_frames is None or frames < cfg.max_frames:
            t0 = time.perf_counter()
            ok, bgr = cap.read()
            if not ok:
                break
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            if clip:
                buffer.append(preprocess_frames([rgb], (h, w))[:, 0])  # (C, H, W), video normalisation
            else:
                buffer.append(preprocess_image(rgb, (h, w)))
            if frames % cfg.stride == 0 and len(buffer) == t_len:
                x = np.stack(buffer, axis=1)[None] if clip else buffer[-1][None]
                ti = time.perf_counter()
                out = infer(backend, np.ascontiguousarray(x, dtype=np.float32))
                infer_s.append(time.perf_counter() - ti)
                k, score, label = predict(out, decode, class_names)
                preds.append((frames, k, score))
            dt = time.perf_counter() - t0
            frame_s.append(dt)
            misses += dt > period
            frames += 1
            if show:
                cv2.putText(bgr, label, (5, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 255, 0), 2)
                cv2.imshow("edgebench stream", bgr)
                if cv2.waitKey(1) & 0xFF == ord("q"):
                    break
    finally:
        cap.release()
        if show:
            cv2.destroyAllWindows()
    wall = time.perf_counter() - start
    if frames == 0:
        raise InvalidConfigError(f"no frames could be read from {cfg.source!r}; check the file or camera")
    return StreamResult(
        frames=frames,
        inferences=len(infer_s),
        wall_s=wall,
        achieved_fps=frames / wall if wall > 0 else 0.0,
        frame_period_ms=1e3 * period,
        deadline_misses=int(misses),
        deadline_miss_rate=misses / frames,
        inference=LatencyStats.from_values(infer_s) if infer_s else None,
        frame_time=LatencyStats.from_values(frame_s),
        predictions=preds,
        postprocess="the detector's box decoding and NMS" if decode is not None else "",
    )
