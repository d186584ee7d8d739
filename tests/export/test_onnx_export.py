import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from edgebench.errors import ArtifactError, ExportError
from edgebench.export import export_onnx, load_onnx_file
from edgebench.models import build_model, get_spec


def test_export_dynamic_batch_checked_with_metadata(tiny_loaded, tmp_path):
    art = export_onnx(tiny_loaded, cache_dir=tmp_path)
    assert not art.cached and art.export_s > 0
    model = onnx.load(str(art.path))
    onnx.checker.check_model(model)
    assert model.graph.input[0].name == "input" and model.graph.output[0].name == "logits"
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # symbolic batch axis
    props = {p.key: p.value for p in model.metadata_props}
    assert props["edgebench.model"] == "test_cnn"
    assert props["edgebench.weights_sha256"] == tiny_loaded.weights_sha256
    assert art.metadata["max_abs_diff_vs_torch"] < 1e-4
    sess = ort.InferenceSession(str(art.path), providers=["CPUExecutionProvider"])
    for batch in (1, 5):
        out = sess.run(None, {"input": np.zeros((batch, 3, 32, 32), np.float32)})[0]
        assert out.shape == (batch, 2)


def test_cache_hit_and_keying(tiny_loaded, tmp_path):
    first = export_onnx(tiny_loaded, cache_dir=tmp_path)
    again = export_onnx(tiny_loaded, cache_dir=tmp_path)
    assert again.cached and again.path == first.path and again.sha256 == first.sha256
    other = build_model(get_spec("test_cnn"), seed=7)
    assert export_onnx(other, cache_dir=tmp_path).path != first.path  # weights change the key
    manifest = json.loads((first.path.parent / "manifest.json").read_text())
    assert manifest["files"]["model.onnx"]["sha256"] == first.sha256
    assert manifest["meta"]["weights_sha256"] == tiny_loaded.weights_sha256


def test_altered_cached_file_is_not_reused(tiny_loaded, tmp_path):
    first = export_onnx(tiny_loaded, cache_dir=tmp_path)
    first.path.write_bytes(first.path.read_bytes() + b"\0")
    again = export_onnx(tiny_loaded, cache_dir=tmp_path)
    assert not again.cached and again.cache_status.startswith("rebuilt: model.onnx is")
    onnx.checker.check_model(str(again.path))


def test_torchscript_exporter_for_old_opsets(tiny_loaded, tmp_path):
    art = export_onnx(tiny_loaded, opset=13, cache_dir=tmp_path)
    assert art.metadata["exporter"] == "torchscript"
    assert onnx.load(str(art.path)).opset_import[0].version == 13


def test_export_failure_is_an_export_error(tmp_path):
    f = tmp_path / "bad.py"
    f.write_text(
        "import torch\n"
        "class M(torch.nn.Module):\n"
        "    def forward(self, x):\n"
        "        return torch.linalg.svdvals(x[:, 0])[:, :2]\n"  # no ONNX conversion exists
        "def make(num_classes=2):\n"
        "    return M()\n"
        "INPUT_SHAPE = (3, 8, 8)\n"
    )
    loaded = build_model(get_spec(f"{f}:make"))
    with pytest.raises(ExportError, match="ONNX export of .*bad.py:make failed"):
        export_onnx(loaded, cache_dir=tmp_path / "c")


def test_export_that_disagrees_with_torch_is_rejected(tiny_loaded, tmp_path, monkeypatch):
    from edgebench.export import onnx_export

    monkeypatch.setattr(onnx_export, "_parity", lambda module, path, probe, names: (0.5, 1.0, ""))
    with pytest.raises(ExportError, match="disagrees with PyTorch"):
        export_onnx(tiny_loaded, cache_dir=tmp_path)
    assert not list(tmp_path.rglob("*.onnx"))  # nothing half-made is left to be reused


def test_user_onnx_file(tiny_loaded, tmp_path):
    art = load_onnx_file(export_onnx(tiny_loaded, cache_dir=tmp_path).path)
    assert art.metadata["input_shape"] == [3, 32, 32] and art.metadata["params"] > 0
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx model")
    with pytest.raises(ArtifactError, match="fails the ONNX checker"):
        load_onnx_file(bad)
    with pytest.raises(ArtifactError, match="does not exist"):
        load_onnx_file(tmp_path / "none.onnx")
