"""`--pipeline WxH`: a detector's or segmenter's whole frame timed (bench.pipeline), and said."""
from __future__ import annotations

import numpy as np
import pytest

from edgebench.bench.pipeline import Pipeline, frame_pool, parse_frame
from edgebench.errors import InvalidConfigError
from edgebench.models.spec import DETECTION, SEGMENTATION


class Fixed:
    """A loaded backend stand-in: records what it was given and returns fixed outputs."""

    def __init__(self, out):
        self.out, self.seen = out, []

    def run(self, x):
        self.seen.append(x)
        return self.out

    def synchronize(self):
        pass


def test_frames_are_resized_normalised_and_boxes_scaled_back():
    def decode(arrays):
        return [{"boxes": np.array([[10.0, 20.0, 30.0, 40.0]], np.float32), "scores": np.array([0.9]),
                 "labels": np.array([1])}]

    backend = Fixed((np.zeros((1, 5, 4)), np.zeros((1, 5, 3))))
    pipe = Pipeline(backend, (3, 100, 50), DETECTION, decode)
    frames = frame_pool((200, 100), 1, 2)
    assert frames[0].shape == (1, 100, 200, 3) and frames[0].dtype == np.uint8
    found = pipe.run(frames[0])
    x = backend.seen[0]
    assert x.shape == (1, 3, 100, 50) and x.dtype == np.float32 and -2.2 < x.min() and x.max() < 2.7
    np.testing.assert_allclose(found[0]["boxes"], [[40.0, 20.0, 120.0, 40.0]])  # x * 4, y * 1
    assert "640x480 frames resized and normalised, the network, decoding, NMS" in pipe.describe((640, 480))


def test_a_segmenters_mask_comes_back_at_the_frames_size():
    scores = np.zeros((2, 3, 8, 8), np.float32)
    scores[:, 2, :, 4:] = 1.0
    pipe = Pipeline(Fixed(scores), (3, 8, 8), SEGMENTATION)
    masks = pipe.run(np.zeros((2, 24, 32, 3), np.uint8))
    assert masks[0].shape == (24, 32) and set(np.unique(masks[0])) == {0, 2} and masks[1][:, 16:].min() == 2


def test_bad_frames_and_tasks_are_one_line_errors():
    assert parse_frame("640x480") == (640, 480)
    with pytest.raises(InvalidConfigError, match="WIDTHxHEIGHT such as 640x480"):
        parse_frame("640")
    with pytest.raises(InvalidConfigError, match="times a detector's or a segmenter's frames"):
        Pipeline(Fixed(None), (3, 8, 8), "image-classification")


def _run(tmp_path, model: str, shape):
    from edgebench.bench.suite import run_suite
    from edgebench.config import ModelOptions, SuiteConfig, TimingConfig
    from tests.conftest import FAST_TIMING

    cfg = SuiteConfig(models=[model], backends=["pytorch", "onnxruntime"], device="cpu",
                      timing=TimingConfig(**FAST_TIMING), pool_size=2, out_dir=tmp_path / "out", isolate=False,
                      cache_dir=tmp_path / "cache",
                      model_options=ModelOptions(check_size=8, input_shape=shape, pipeline=(96, 72)))
    records = run_suite(cfg).records
    assert all(r.ok for r in records), [r.error for r in records]
    return records, (tmp_path / "out" / "table1.md").read_text()


def test_a_run_with_pipeline_times_the_segmenters_frames_and_table1_says_so(tmp_path):
    records, md = _run(tmp_path, "lraspp_mobilenet_v3_large", (3, 64, 64))
    assert all("pipeline: 96x72 frames resized and normalised" in r.details["timed"] for r in records)
    assert "96x72 frames -> 3x64x64, whole pipeline timed" in md


def test_a_classifier_under_pipeline_times_its_network(tmp_path):
    records, md = _run(tmp_path, "test_cnn", None)
    assert all("timed" not in r.details for r in records) and "frames ->" not in md
