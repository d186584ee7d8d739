"""What each backend supports (devices, precisions, `--precision auto` candidates) is declared
once, on its class; the registry and the suite's auto expansion read it from there."""
import pytest

from edgebench.backends import BACKENDS
from edgebench.backends.registry import _import_class, auto_precisions, entry

# ids that are not marker names: a test id "tensorrt" would be skipped as a tensorrt-marked test,
# and these need no library
_ID = "backend={}".format


def _cls(name):
    return _import_class(entry(name))  # the class itself, whether or not its library is installed


@pytest.mark.parametrize("name", sorted(BACKENDS), ids=_ID)
def test_auto_precisions_come_from_the_class_and_are_supported(name):
    cls = _cls(name)
    assert cls.auto_precisions, f"{name} declares no --precision auto candidates"
    for device, precisions in cls.auto_precisions.items():
        assert device in cls.devices and set(precisions) <= set(cls.precisions)
        assert auto_precisions(name, device) == precisions
    assert auto_precisions(name, "tpu") == ("fp32",)


def test_auto_expansion_reads_the_classes(monkeypatch):
    from edgebench.config import expand_auto
    from edgebench.backends.openvino_backend import OpenVINOBackend

    monkeypatch.setattr(OpenVINOBackend, "auto_precisions", {"cpu": ("fp32", "fp16")})
    assert expand_auto(["pytorch", "openvino:threads=1", "onnxruntime@fp32"], "cpu") == [
        "pytorch", "openvino@fp32:threads=1", "openvino@fp16:threads=1", "onnxruntime@fp32"]


def test_a_cuda_only_backend_needs_cuda_by_its_devices(monkeypatch):
    import edgebench.system
    from edgebench.backends import registry
    from edgebench.backends.pytorch_backend import PyTorchBackend

    monkeypatch.setattr(edgebench.system, "cuda_available", lambda: False)
    assert registry.availability("pytorch").available
    monkeypatch.setattr(PyTorchBackend, "devices", ("cuda",))
    a = registry.availability("pytorch")
    assert not a.available and "needs an NVIDIA GPU" in a.reason


def test_default_post_set_asks_each_class_whether_it_runs_on_the_device(monkeypatch):
    from edgebench.backends import registry
    from edgebench.backends.onnxruntime_backend import OnnxRuntimeBackend

    seen = []
    monkeypatch.setattr(OnnxRuntimeBackend, "usable_on", classmethod(lambda cls, device: seen.append(device) or True))
    assert "onnxruntime" in registry.default_post_backends("cpu") and seen == ["cpu"]


def test_onnxruntime_runs_on_cuda_only_with_its_cuda_provider():
    import onnxruntime

    from edgebench.backends.onnxruntime_backend import OnnxRuntimeBackend

    cuda = "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    assert OnnxRuntimeBackend.usable_on("cuda") is cuda and OnnxRuntimeBackend.usable_on("cpu")
    assert not OnnxRuntimeBackend.usable_on("tpu")
