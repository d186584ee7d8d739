"""The top-level command line: one-line errors and exit codes (2 bad input, 3 missing dependency)."""
import pytest

from tests.cli import run_cli


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
        (["run", "--models", "test_cnn", "--scenario", "offline", "--data", "/nonexistent/imgs"], 2,
         "--data /nonexistent/imgs does not exist; pass an image folder"),
        (["run", "--models", "test_cnn", "--backends", "pytorch,onnxruntime:thread=1"], 2,
         "onnxruntime has no option 'thread'; its options: provider, threads"),
    ],
)
def test_bad_input_one_line_exit_2(args, code, text):
    out = run_cli(*args)
    assert out.returncode == code
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and text in lines[0] and lines[0].startswith("edgebench: error:")
    assert "Traceback" not in out.stderr


def test_missing_dependency_exit_3():
    from importlib.util import find_spec

    if find_spec("tensorrt") is not None:
        pytest.skip("tensorrt is installed here")
    out = run_cli("bench", "test_cnn", "--backend", "tensorrt")
    assert out.returncode == 3 and "pip install tensorrt" in out.stderr and "Traceback" not in out.stderr
