from importlib.util import find_spec

import pytest

from edgebench.backends import availability, create_backend, list_availability
from edgebench.backends.registry import BACKENDS, default_post_backends
from edgebench.errors import BackendUnavailableError, UnknownBackendError


def test_every_backend_reports_availability_with_install_command():
    rows = {a.name: a for a in list_availability()}
    assert set(rows) == set(BACKENDS)
    assert rows["pytorch"].available and rows["onnxruntime"].available
    for a in rows.values():
        assert a.install.startswith("pip install")
        assert a.reason


@pytest.mark.skipif(find_spec("tensorrt") is not None, reason="tensorrt is installed here")
def test_missing_tensorrt_says_why_and_how():
    a = availability("tensorrt")
    assert not a.available and "tensorrt not found" in a.reason
    with pytest.raises(BackendUnavailableError, match="pip install tensorrt"):
        create_backend("tensorrt")
    assert "tensorrt" not in default_post_backends("cpu")


def test_default_post_set_is_every_optimiser_installed(monkeypatch):
    from edgebench.api import SuiteConfig
    from edgebench.backends import registry

    want = ["onnxruntime"] + (["openvino"] if find_spec("openvino") else [])
    assert default_post_backends("cpu") == want
    assert SuiteConfig(device="cpu").resolved().backends == ["pytorch", *want]
    auto = SuiteConfig(device="cpu", precision="auto").resolved().backends
    assert {"onnxruntime@fp32", "onnxruntime@int8"} <= set(auto)
    if find_spec("openvino"):
        assert {"openvino@fp32", "openvino@int8", "openvino@bf16"} <= set(auto)
    real = registry.availability
    monkeypatch.setattr(registry, "availability", lambda n: registry.Availability(n, False, "absent", "pip install x")
                        if n in ("onnxruntime", "openvino") else real(n))
    with pytest.raises(BackendUnavailableError, match="no optimising backend"):
        default_post_backends("cpu")


def test_unknown_backend_suggests():
    with pytest.raises(UnknownBackendError, match="Did you mean onnxruntime"):
        availability("onnxruntim")


def test_unknown_backend_option_is_an_error_listing_the_valid_ones():
    from edgebench.config import parse_backend_spec
    from edgebench.errors import InvalidConfigError

    with pytest.raises(InvalidConfigError, match=r"onnxruntime has no option 'thread'; its options: provider, threads"):
        parse_backend_spec("onnxruntime:thread=1")
    with pytest.raises(InvalidConfigError, match="tensorrt has no option 'fp16'"):
        parse_backend_spec("tensorrt:fp16=1")  # checked without the tensorrt library
    with pytest.raises(InvalidConfigError, match="has no option 'bogus'"):
        create_backend("pytorch", options={"bogus": 1})
    assert parse_backend_spec("onnxruntime:threads=1+fallback=fp32")[2] == {"threads": 1, "fallback": "fp32"}
    from edgebench.backends.registry import check_options

    for name in BACKENDS:  # the harness's own context travels apart (BackendContext), never as an option
        with pytest.raises(InvalidConfigError, match="has no option 'item_shape'"):
            check_options(name, {"item_shape": (3, 8, 8)})
