"""`edgebench stream`: errors on bad sources come alone, as edgebench's one line."""
from tests.cli import run_cli


def _video(path, frames=24, size=32):
    import cv2
    import numpy as np

    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 24, (size, size))
    rng = np.random.default_rng(0)
    for _ in range(frames):
        w.write(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
    w.release()
    return path


def test_stream_errors_come_without_opencv_or_ffmpeg_chatter(tmp_path):
    good = _video(tmp_path / "good.avi").read_bytes()
    (tmp_path / "truncated.avi").write_bytes(good[:300])  # the AVI header cut short
    damaged = bytearray(good)
    for i in range(2000, len(damaged), 97):  # the frames' JPEG data scrambled, the container intact
        damaged[i] ^= 0x5A
    (tmp_path / "damaged.avi").write_bytes(bytes(damaged))
    for name, text in [("missing.avi", "does not exist"), ("truncated.avi", "cannot open video file"),
                       ("damaged.avi", "no frames could be read")]:
        out = run_cli("stream", "test_cnn", "--backend", "pytorch", "--source", str(tmp_path / name))
        assert out.returncode == 2, out.stderr
        assert out.stderr.splitlines() == [out.stderr.strip()] and out.stderr.startswith("edgebench: error:"), out.stderr
        assert text in out.stderr
