import pytest

from edgebench.api import stream
from edgebench.bench.stream import StreamConfig
from edgebench.errors import InvalidConfigError


def test_stream_over_a_synthetic_video(synth_videos):
    video = str(synth_videos / "MoveUp" / "v_MoveUp_g01_c01.avi")
    r = stream("densenet3d", video, backend="onnxruntime", target_fps=1.0, stride=2)
    assert r.frames == 24
    # the clip buffer fills at frame 7; then every 2nd frame: 8, 10, ..., 22
    assert r.inferences == 8 and [p[0] for p in r.predictions] == list(range(8, 24, 2))
    assert r.deadline_misses == 0 and r.achieved_fps > 1.0
    assert r.inference.count == 8 and r.frame_time.count == 24
    fast = stream("densenet3d", video, backend="pytorch", target_fps=1e6, max_frames=10)
    assert fast.frames == 10 and fast.deadline_misses == 10 and fast.deadline_miss_rate == 1.0


def test_stream_frame_model(synth_videos):
    r = stream("test_cnn", str(synth_videos / "MoveUp" / "v_MoveUp_g01_c01.avi"), backend="pytorch", max_frames=5)
    assert r.frames == 5 and r.inferences == 5


def test_stream_bad_input(tmp_path):
    with pytest.raises(InvalidConfigError, match="cannot open video file"):
        stream("test_cnn", str(tmp_path / "none.avi"))
    with pytest.raises(InvalidConfigError):
        StreamConfig("x.avi", target_fps=0)
