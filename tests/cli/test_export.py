"""`edgebench export`, and `bench` on the exported file."""
import json

from edgebench.cli.main import main
from tests.cli import FAST


def test_export_and_bench_on_the_exported_file(tmp_path, capsys):
    target = tmp_path / "m.onnx"
    assert main(["export", "test_cnn", "--output", str(target)]) == 0
    assert target.is_file() and "max |onnx - torch|" in capsys.readouterr().out
    assert main(["bench", str(target), "--backend", "onnxruntime", "--json", *FAST]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["status"] == "ok" and rec["latency"]["count"] >= 3
