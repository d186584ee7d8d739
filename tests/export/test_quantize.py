import numpy as np
import onnx
import pytest

from edgebench.errors import ExportError, InvalidConfigError
from edgebench.export import export_onnx
from edgebench.export.quantize import DEFAULT_RECIPE, CalibrationRecipe, quantize_int8

ALL_INT8 = CalibrationRecipe(fp32_first_convs=0)


def _calib(n=8, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((3, 32, 32), dtype=np.float32) for _ in range(n)]


def _conv_weights_quantized(path) -> list[bool]:
    """Per Conv node in graph order: whether its weight comes out of a DequantizeLinear."""
    graph = onnx.load(str(path)).graph
    dq_outputs = {n.output[0] for n in graph.node if n.op_type == "DequantizeLinear"}
    return [n.input[1] in dq_outputs for n in graph.node if n.op_type == "Conv"]


def test_int8_qdq_per_channel_and_cached(tiny_loaded, tmp_path):
    fp32 = export_onnx(tiny_loaded, cache_dir=tmp_path)
    q = quantize_int8(fp32, _calib(), tmp_path, recipe=ALL_INT8, calibration_desc="random")
    assert not q.cached and q.metadata["precision"] == "int8" and q.metadata["format"] == "QDQ"
    model = onnx.load(str(q.path))
    ops = [n.op_type for n in model.graph.node]
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    inits = {t.name: t for t in model.graph.initializer}
    conv_w_scales = [inits[n.input[1]] for n in model.graph.node
                     if n.op_type == "DequantizeLinear" and n.input[1] in inits and len(inits[n.input[1]].dims) == 1
                     and inits[n.input[1]].dims[0] > 1]
    assert conv_w_scales, "per-channel weight scales expected"
    assert _conv_weights_quantized(q.path) == [True, True]
    again = quantize_int8(fp32, _calib(), tmp_path, recipe=ALL_INT8)
    assert again.cached and again.path == q.path
    other = quantize_int8(fp32, _calib(seed=1), tmp_path, recipe=ALL_INT8)
    assert other.path != q.path  # calibration data is part of the key


def test_recipe_is_in_the_cache_key_and_the_metadata(tiny_loaded, tmp_path):
    fp32 = export_onnx(tiny_loaded, cache_dir=tmp_path)
    paths = set()
    for recipe in (DEFAULT_RECIPE, ALL_INT8, CalibrationRecipe("entropy"), CalibrationRecipe("percentile", percentile=99.99),
                   CalibrationRecipe(per_channel=False), CalibrationRecipe(reduce_range=True)):
        q = quantize_int8(fp32, _calib(), tmp_path, recipe=recipe)
        assert not q.cached and q.metadata["recipe"] == recipe.to_dict() and q.metadata["recipe_name"] == recipe.name
        assert q.metadata["quantize_s"] > 0
        paths.add(q.path)
    assert len(paths) == 6
    assert quantize_int8(fp32, _calib(), tmp_path).cached  # None means the default recipe


def test_default_keeps_short_stem_convolutions_in_fp32(tiny_loaded, tmp_path):
    """test_cnn: a 3x3 convolution on RGB (fan-in 27), then a 3x3 one on 8 channels (fan-in 72)."""
    fp32 = export_onnx(tiny_loaded, cache_dir=tmp_path)
    assert DEFAULT_RECIPE.fp32_first_convs == 2 and DEFAULT_RECIPE.fp32_max_fan_in == 27
    assert DEFAULT_RECIPE.method == "minmax" and DEFAULT_RECIPE.per_channel
    q = quantize_int8(fp32, _calib(), tmp_path)
    assert _conv_weights_quantized(q.path) == [False, True]
    both = quantize_int8(fp32, _calib(), tmp_path, recipe=CalibrationRecipe(fp32_max_fan_in=72))
    assert _conv_weights_quantized(both.path) == [False, False]
    one = quantize_int8(fp32, _calib(), tmp_path, recipe=CalibrationRecipe(fp32_first_convs=1, fp32_max_fan_in=1000))
    assert _conv_weights_quantized(one.path) == [False, True]
    ops = [n.op_type for n in onnx.load(str(both.path)).graph.node]
    assert "QuantizeLinear" in ops  # the classifier layer is still INT8


def test_recipe_validation():
    with pytest.raises(InvalidConfigError, match="minmax, entropy, percentile"):
        CalibrationRecipe("kl")
    with pytest.raises(InvalidConfigError, match="percentile"):
        CalibrationRecipe("percentile", percentile=100.0)
    with pytest.raises(InvalidConfigError, match="fp32_first_convs"):
        CalibrationRecipe(fp32_first_convs=-1)
    with pytest.raises(InvalidConfigError, match="fp32_max_fan_in"):
        CalibrationRecipe(fp32_max_fan_in=2.5)
    with pytest.raises(InvalidConfigError, match="unknown calibration recipe field"):
        CalibrationRecipe.from_dict({"method": "minmax", "bits": 4})
    r = CalibrationRecipe("percentile", percentile=99.99, fp32_first_convs=0)
    assert CalibrationRecipe.from_dict(r.to_dict()) == r and r.name == "percentile(99.99)/per-channel"
    assert DEFAULT_RECIPE.name == "minmax/per-channel/fp32-first-2-convs-fan-in<=27"
    assert "fp32_max_fan_in" not in r.to_dict() and DEFAULT_RECIPE.to_dict()["fp32_max_fan_in"] == 27


def test_quantization_needs_calibration(tiny_loaded, tmp_path):
    with pytest.raises(ExportError, match="calibration"):
        quantize_int8(export_onnx(tiny_loaded, cache_dir=tmp_path), [], tmp_path)


def test_uint8_weights_where_the_cpu_int8_kernels_saturate(monkeypatch):
    """x86 without VNNI (AVX2 / AVX-512BW) saturates u8 x s8 products; there ONNX Runtime on the CPU
    gets uint8 weights (U8U8), keyed apart in the cache. With VNNI, or off x86, the default stays."""
    import platform

    from edgebench.export import quantize

    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    monkeypatch.setattr("edgebench.system.cpu_flags", lambda: {"avx2", "fma"})
    recipe = quantize.host_cpu_recipe()
    assert recipe.weights == "uint8" and "/uint8-weights/" in recipe.name
    assert recipe.to_dict()["weights"] == "uint8" and "weights" not in DEFAULT_RECIPE.to_dict()
    monkeypatch.setattr("edgebench.system.cpu_flags", lambda: {"avx2", "avx512bw", "avx512_vnni"})
    assert quantize.host_cpu_recipe() is DEFAULT_RECIPE
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    monkeypatch.setattr("edgebench.system.cpu_flags", lambda: {"asimd"})
    assert quantize.host_cpu_recipe() is DEFAULT_RECIPE
    with pytest.raises(Exception, match="int8 or uint8"):
        CalibrationRecipe(weights="int4")
