"""The command line: real commands on tiny models, one-line errors and exit codes."""
import json
import subprocess
import sys

import pytest

from edgebench.cli.main import main

FAST = ["--warmup-iters", "1", "--warmup-s", "0", "--min-iters", "3", "--min-time-s", "0", "--pool-size", "2"]


def _cli(*args, timeout=300):
    """Run the real console entry point in a subprocess (exit code + stderr as a user sees them)."""
    return subprocess.run([sys.executable, "-m", "edgebench", *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize(
    "args, code, text",
    [
        (["bench", "nosuchmodel", "--backend", "pytorch"], 2, "unknown model 'nosuchmodel'"),
        (["bench", "test_cnn", "--backend", "nosuch"], 2, "unknown backend 'nosuch'"),
        (["bench", "test_cnn", "--backend", "pytorch", "--batch-size", "0"], 2, "batch size must be"),
        (["bench", "x.py:make", "--backend", "pytorch"], 2, "does not exist"),
        (["report", "--db", "/nonexistent/e.sqlite"], 2, "no results store"),
        (["bench", "test_cnn", "--backend", "pytorch", "--check-size", "0"], 2, "--check-size must be an integer >= 1"),
        (["run", "--models", "test_cnn", "--calibration-size", "-3"], 2, "--calibration-size must be"),
        (["run", "--models", "test_cnn", "--backends", "pytorch,onnxruntime:thread=1"], 2,
         "onnxruntime has no option 'thread'; its options: provider, threads"),
    ],
)
def test_bad_input_one_line_exit_2(args, code, text):
    out = _cli(*args)
    assert out.returncode == code
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and text in lines[0] and lines[0].startswith("edgebench: error:")
    assert "Traceback" not in out.stderr


def test_missing_dependency_exit_3():
    from importlib.util import find_spec

    if find_spec("tensorrt") is not None:
        pytest.skip("tensorrt is installed here")
    out = _cli("bench", "test_cnn", "--backend", "tensorrt")
    assert out.returncode == 3 and "pip install tensorrt" in out.stderr and "Traceback" not in out.stderr


def test_file_without_factory_and_bad_checkpoint_and_bad_onnx(tmp_path, capsys):
    f = tmp_path / "m.py"
    f.write_text("import torch\ndef other(num_classes=2):\n    return torch.nn.Linear(4, num_classes)\n")
    assert main(["bench", f"{f}:make", "--backend", "pytorch"]) == 2
    assert "no callable 'make'" in capsys.readouterr().err
    ck = tmp_path / "w.pt"
    import torch

    torch.save({"fc.weight": torch.zeros(2, 2)}, ck)
    assert main(["bench", "test_cnn", "--backend", "pytorch", "--weights", str(ck)]) == 2
    assert "does not fit the model" in capsys.readouterr().err
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"garbage")
    assert main(["bench", str(bad), "--backend", "onnxruntime"]) == 2
    assert "fails the ONNX checker" in capsys.readouterr().err


def test_unwritable_output_folder(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["run", "--models", "test_cnn", "--out", str(blocker / "sub"), *FAST]) == 2
    err = capsys.readouterr().err
    assert "not writable" in err and "--out" in err


def test_models_and_backends_listing(capsys):
    assert main(["models", "test_*"]) == 0
    out = capsys.readouterr().out
    assert "test_cnn" in out and "3x32x32" in out and "1,442" in out
    assert "any torchvision classifier name also works" in out.strip().splitlines()[-1]
    assert main(["models", "squeezenet*", "--imagenet-heads"]) == 0
    assert "1,235,496" in capsys.readouterr().out  # the paper's SqueezeNet count, 1000 classes
    assert main(["backends"]) == 0
    assert "onnxruntime" in capsys.readouterr().out


def test_export_and_bench_on_the_exported_file(tmp_path, capsys):
    target = tmp_path / "m.onnx"
    assert main(["export", "test_cnn", "--output", str(target)]) == 0
    assert target.is_file() and "max |onnx - torch|" in capsys.readouterr().out
    assert main(["bench", str(target), "--backend", "onnxruntime", "--json", *FAST]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["status"] == "ok" and rec["latency"]["count"] >= 3


def test_run_then_report_rerenders_without_rerun(tmp_path, capsys):
    out = tmp_path / "res"
    assert main(["run", "--models", "test_cnn,test_mlp", "--backends", "pytorch,onnxruntime", "--device", "cpu",
                 "--out", str(out), *FAST]) == 0
    printed, err = capsys.readouterr()
    assert "mean speedup" in printed and "test_mlp" in printed
    # stderr is no terminal here: one line per finished cell, with the time left
    cells = [line for line in err.splitlines() if line.startswith("[")]
    assert [c.split("]")[0] for c in cells] == ["[1/4", "[2/4", "[3/4", "[4/4"]
    assert all("elapsed, about" in c and c.endswith("left)") for c in cells) and "about 0 s left" in cells[-1]
    first = (out / "table1.md").read_text()
    for name in ("table1.md", "table1.csv", "table1.json", "figure4_speedup.png"):
        (out / name).unlink()
    assert main(["report", "--db", str(out / "edgebench.sqlite")]) == 0
    assert (out / "table1.md").read_text() == first  # a pure function of the stored records
    assert (out / "figure4_speedup.png").is_file()
    assert main(["report", "--db", str(out / "edgebench.sqlite"), "--list"]) == 0
    assert "finished" in capsys.readouterr().out


def test_data_synth_train_and_stream_commands(tmp_path, capsys):
    assert main(["data", "synth", str(tmp_path / "v"), "--task", "video", "--groups", "3", "--clips-per-group", "2"]) == 0
    assert "wrote 24 videos" in capsys.readouterr().out
    assert main(["data", "synth", str(tmp_path / "i"), "--task", "image", "--per-class", "4"]) == 0
    assert "wrote 8 images" in capsys.readouterr().out
    ck = tmp_path / "ae.pt"
    assert main(["train", "conv_autoencoder", "--data", str(tmp_path / "v"), "--epochs", "1", "--out", str(ck),
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "confusion matrix" in out and "best validation accuracy" in out and ck.is_file()
    video = tmp_path / "v" / "UCF50" / "MoveUp" / "v_MoveUp_g01_c01.avi"
    assert main(["stream", "conv_autoencoder", "--source", str(video), "--weights", str(ck), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["frames"] == 24 and r["inferences"] == 17 and 0 <= r["deadline_miss_rate"] <= 1


def test_train_bad_data_folder(tmp_path, capsys):
    assert main(["train", "c3d", "--data", str(tmp_path / "none")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "imgs").mkdir()
    assert main(["train", "test_cnn", "--data", str(tmp_path / "imgs")]) == 2
    assert "train/<class>/" in capsys.readouterr().err
    if not __import__("torch").cuda.is_available():
        assert main(["train", "test_cnn", "--data", str(tmp_path / "imgs"), "--device", "cuda"]) == 3
        assert "needs a CUDA GPU" in capsys.readouterr().err


def _walk(parser, path=("edgebench",)):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        yield path, action
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, (*path, name))


def test_every_option_has_help_text():
    from edgebench.cli.main import build_parser

    missing = [f"{' '.join(path)} {'/'.join(a.option_strings) or a.dest}" for path, a in _walk(build_parser())
               if not (a.help or "").strip()]
    assert not missing, f"options without help text: {missing}"


def test_timing_defaults_in_help_and_readme_are_timing_configs():
    import re
    from pathlib import Path

    from edgebench.bench.harness import TimingConfig
    from edgebench.cli.main import build_parser

    real, quick = TimingConfig(), TimingConfig.quick_config()
    names = ("warmup_iters", "warmup_s", "min_iters", "min_time_s")
    for path, a in _walk(build_parser()):
        if a.dest in names:
            m = re.search(r"\(default ([0-9.]+)\)", a.help)
            assert m and float(m[1]) == getattr(real, a.dest), (path, a.dest, a.help)
        if a.dest == "quick":
            assert (f"warm-up {quick.warmup_iters} iterations and {quick.warmup_s:g} s, then {quick.min_iters} "
                    f"iterations and {quick.min_time_s:g} s") in a.help
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    m = re.search(r"Timing(?: defaults)?: `--warmup-iters (\S+) --warmup-s (\S+) --min-iters (\S+) --min-time-s (\S+)`", readme)
    assert m, "README's timing defaults line not found"
    assert [float(v) for v in m.groups()] == [getattr(real, n) for n in names]


def test_run_cell_lines_carry_the_gate_reason_and_the_time_left(capsys):
    from edgebench.bench.stats import LatencyStats
    from edgebench.cli.main import CellLines, _print_record
    from edgebench.results import Record

    lat = LatencyStats.from_values([0.002] * 3)
    bad = Record("r", "m", "onnxruntime", "int8", 1, "cpu", status="accuracy_failed", latency=lat,
                 accuracy_gate="failed", accuracy_gate_reason="top-1 agreement 93.8% < 99%")
    _print_record(bad)
    err = capsys.readouterr().err
    assert "accuracy_failed: top-1 agreement 93.8% < 99%" in err and "p50 2.000 ms, not used" in err
    now = [100.0]
    lines = CellLines(3, clock=lambda: now[0])
    now[0] += 10
    lines(Record("r", "m", "pytorch", "fp32", 1, "cpu", latency=lat))
    now[0] += 20
    lines(Record("r", "m", "onnxruntime", "fp32", 1, "cpu", status="run_failed", error="RuntimeError: x\ny"))
    first, second = capsys.readouterr().err.strip().splitlines()
    assert first.startswith("[1/3] m") and first.endswith("(10 s elapsed, about 20 s left)")
    assert "run_failed: RuntimeError: x" in second and second.endswith("(30 s elapsed, about 15 s left)")
    for _ in range(2):  # a precision fallback adds a cell beyond the configured total
        lines(Record("r", "m", "pytorch", "fp32", 1, "cpu", latency=lat))
    assert capsys.readouterr().err.strip().splitlines()[-1].split("]")[0] == "[4/4"


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
        out = _cli("stream", "test_cnn", "--backend", "pytorch", "--source", str(tmp_path / name))
        assert out.returncode == 2, out.stderr
        assert out.stderr.splitlines() == [out.stderr.strip()] and out.stderr.startswith("edgebench: error:"), out.stderr
        assert text in out.stderr
