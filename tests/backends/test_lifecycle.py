import numpy as np
import pytest

from edgebench.backends import create_backend
from edgebench.errors import BackendStateError, BackendUnavailableError, InvalidConfigError


def test_run_before_load_raises(tiny_loaded):
    bk = create_backend("pytorch")
    with pytest.raises(BackendStateError, match="needs load"):
        bk.run(np.zeros((1, 3, 32, 32), np.float32))
    bk.prepare(tiny_loaded.module)
    with pytest.raises(BackendStateError):
        bk.run(np.zeros((1, 3, 32, 32), np.float32))
    with pytest.raises(BackendStateError, match="twice"):
        bk.prepare(tiny_loaded.module)
    with bk.load():
        assert bk.run(np.zeros((1, 3, 32, 32), np.float32)).shape == (1, 2)
    with pytest.raises(BackendStateError):
        bk.run(np.zeros((1, 3, 32, 32), np.float32))


def test_unsupported_device_or_precision_is_a_config_error():
    with pytest.raises(InvalidConfigError, match="precision"):
        create_backend("onnxruntime", precision="int4")
    with pytest.raises(InvalidConfigError, match="runs on"):
        create_backend("pytorch", device="tpu")


def test_onnxruntime_fp16_on_cpu_is_refused(tiny_loaded, tmp_path):
    from edgebench.export import export_onnx

    art = export_onnx(tiny_loaded, cache_dir=tmp_path)
    with pytest.raises(InvalidConfigError, match="fp16"):
        create_backend("onnxruntime", precision="fp16").prepare(art)


def test_onnxruntime_never_falls_back_silently(tiny_loaded, tmp_path):
    import onnxruntime as ort

    from edgebench.export import export_onnx

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has the CUDA EP")
    art = export_onnx(tiny_loaded, cache_dir=tmp_path)
    with pytest.raises(BackendUnavailableError, match="requested provider was CUDAExecutionProvider, but available"):
        create_backend("onnxruntime", device="cuda").prepare(art)


def test_onnxruntime_session_options(tiny_loaded, tmp_path):
    from edgebench.export import export_onnx
    from edgebench.system import physical_cores

    art = export_onnx(tiny_loaded, cache_dir=tmp_path)
    with create_backend("onnxruntime").prepare(art).load() as bk:
        assert bk.details["provider"] == "CPUExecutionProvider"
        assert bk.details["threads"] == physical_cores()
    with create_backend("onnxruntime", options={"threads": 1}).prepare(art).load() as bk:
        assert bk.details["threads"] == 1


def test_openvino_pins_fp32_inference_precision(tiny_loaded, tmp_path):
    from edgebench.backends import availability
    from edgebench.export import export_onnx

    if not availability("openvino").available:
        pytest.skip("openvino is not installed")
    art = export_onnx(tiny_loaded, cache_dir=tmp_path)
    with create_backend("openvino").prepare(art, 2).load() as bk:
        assert bk.details["inference_precision"] == "f32" and bk.details["hint"] == "LATENCY"
        assert bk.run(np.zeros((2, 3, 32, 32), np.float32)).shape == (2, 2)
