"""`edgebench bench`: bad model files and checkpoints, and what it prints of contention."""
import sys

import pytest

from edgebench.cli.main import main
from tests.cli import FAST


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


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux /proc")
def test_bench_prints_other_cpu_and_the_flag(capsys, monkeypatch):
    from edgebench.bench.contention import CONTENDED_PCT, ContentionProbe

    assert main(["bench", "test_cnn", "--backend", "pytorch:threads=1", *FAST]) == 0
    out = capsys.readouterr().out
    assert "other CPU" in out and "% of one core while timed" in out
    monkeypatch.setattr(ContentionProbe, "other_pct", lambda self: 250.0)
    assert main(["bench", "test_cnn", "--backend", "pytorch", *FAST]) == 0
    out = capsys.readouterr().out
    assert "other CPU 250% of one core while timed" in out and "CONTENDED" in out
    assert "warning: contended: other processes used 250% of one core" in out and f"threshold {CONTENDED_PCT:g}%" in out


def test_int8_on_an_onnx_file_is_bad_input_exit_2(tmp_path, capsys):
    from edgebench.cli.main import main

    onnx = tmp_path / "m.onnx"
    assert main(["export", "test_cnn", "--output", str(onnx)]) == 0
    capsys.readouterr()
    assert main(["bench", str(onnx), "--backend", "onnxruntime", "--precision", "int8", "--quick"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "INT8" in err and "model name" in err, err
