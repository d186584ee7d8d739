from importlib.util import find_spec

import pytest

from edgebench.backends import availability, create_backend, list_availability
from edgebench.backends.registry import BACKENDS, best_post_backend
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
    assert best_post_backend() == "onnxruntime"


def test_unknown_backend_suggests():
    with pytest.raises(UnknownBackendError, match="Did you mean onnxruntime"):
        availability("onnxruntim")
