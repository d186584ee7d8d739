"""Configuration: backend specs parsed in one place, `--precision auto` expanded."""
import pytest

from edgebench.config import expand_auto, parse_backend_spec
from edgebench.errors import InvalidConfigError, UnknownBackendError


def test_backend_spec_parsing():
    assert parse_backend_spec("onnxruntime") == ("onnxruntime", "fp32", {})
    assert parse_backend_spec("torch-compile@fp16:mode=default") == ("torch-compile", "fp16", {"mode": "default"})
    assert parse_backend_spec("pytorch:cuda_graphs=1+host_io=on", "bf16") == (
        "pytorch", "bf16", {"cuda_graphs": 1, "host_io": True})
    with pytest.raises(InvalidConfigError, match="pytorch has no option 'x'"):
        parse_backend_spec("pytorch:x=on")
    with pytest.raises(InvalidConfigError, match="int7"):
        parse_backend_spec("pytorch@int7")
    with pytest.raises(InvalidConfigError, match="key=value"):
        parse_backend_spec("pytorch:oops")
    with pytest.raises(UnknownBackendError):
        parse_backend_spec("nope@fp16")


def test_expand_auto_precisions():
    got = expand_auto(["pytorch", "onnxruntime", "openvino:threads=1", "onnxruntime@fp16"], "cpu")
    assert got == ["pytorch", "onnxruntime@fp32", "onnxruntime@int8", "openvino@fp32:threads=1",
                   "openvino@int8:threads=1", "openvino@bf16:threads=1", "onnxruntime@fp16"]
