import numpy as np
import onnx
import pytest

from edgebench.errors import ExportError
from edgebench.export import export_onnx
from edgebench.export.quantize import quantize_int8


def _calib(n=8, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((3, 32, 32), dtype=np.float32) for _ in range(n)]


def test_int8_qdq_per_channel_and_cached(tiny_loaded, tmp_path):
    fp32 = export_onnx(tiny_loaded, cache_dir=tmp_path)
    q = quantize_int8(fp32, _calib(), tmp_path, calibration_desc="random")
    assert not q.cached and q.metadata["precision"] == "int8" and q.metadata["format"] == "QDQ"
    model = onnx.load(str(q.path))
    ops = [n.op_type for n in model.graph.node]
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    inits = {t.name: t for t in model.graph.initializer}
    conv_w_scales = [inits[n.input[1]] for n in model.graph.node
                     if n.op_type == "DequantizeLinear" and n.input[1] in inits and len(inits[n.input[1]].dims) == 1
                     and inits[n.input[1]].dims[0] > 1]
    assert conv_w_scales, "per-channel weight scales expected"
    again = quantize_int8(fp32, _calib(), tmp_path)
    assert again.cached and again.path == q.path
    other = quantize_int8(fp32, _calib(seed=1), tmp_path)
    assert other.path != q.path  # calibration data is part of the key


def test_quantization_needs_calibration(tiny_loaded, tmp_path):
    with pytest.raises(ExportError, match="calibration"):
        quantize_int8(export_onnx(tiny_loaded, cache_dir=tmp_path), [], tmp_path)
