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


def test_a_static_batch_onnx_file_runs_at_its_batch_and_refuses_another_in_one_line(tmp_path, capsys):
    """A file whose batch axis is fixed (here 1) runs at that batch; another --batch-size is
    refused in one line naming the fix, in bench (exit 2) and as the row of run (not a traceback)."""
    import torch

    from edgebench.bench.suite import run_suite
    from edgebench.config import SuiteConfig, TimingConfig
    from edgebench.results import Status
    from tests.conftest import FAST_TIMING

    path = tmp_path / "static.onnx"
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.Linear(4 * 14 * 14, 2)).eval()
    torch.onnx.export(module, (torch.randn(1, 3, 16, 16),), str(path), input_names=["x"], output_names=["y"], dynamo=False)
    assert main(["bench", str(path), "--backend", "onnxruntime", "--quick"]) == 0
    capsys.readouterr()
    assert main(["bench", str(path), "--backend", "onnxruntime", "--batch-size", "4", "--quick"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "fixed batch of 1" in err and "--batch-size 1" in err, err
    cfg = SuiteConfig(models=[str(path)], backends=["onnxruntime"], device="cpu", batch_size=4, isolate=False,
                      timing=TimingConfig(**FAST_TIMING), pool_size=2, out_dir=tmp_path / "out")
    rec = run_suite(cfg).records[0]
    assert rec.status is Status.SKIPPED and "fixed batch of 1" in rec.error
