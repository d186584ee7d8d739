import numpy as np
import pytest

from edgebench.backends import create_backend
from edgebench.errors import InvalidConfigError


def test_pytorch_threads_set_while_loaded_and_restored(tiny_loaded):
    import torch

    before = torch.get_num_threads()
    want = 1 if before != 1 else 2
    bk = create_backend("pytorch", options={"threads": want}).prepare(tiny_loaded.module)
    assert torch.get_num_threads() == before  # prepare leaves the process alone
    with bk.load():
        assert torch.get_num_threads() == want and bk.details["threads"] == want
        assert bk.run(np.zeros((1, 3, 32, 32), np.float32)).shape == (1, 2)
    assert torch.get_num_threads() == before


def test_pytorch_default_threads_are_torchs_own(tiny_loaded):
    import torch

    with create_backend("pytorch").prepare(tiny_loaded.module).load() as bk:
        assert bk.details["threads"] == torch.get_num_threads()


@pytest.mark.parametrize("bad", [0, -1, "two", 1.5, True])
def test_pytorch_threads_must_be_a_positive_integer(tiny_loaded, bad):
    with pytest.raises(InvalidConfigError, match="threads must be an integer"):
        create_backend("pytorch", options={"threads": bad}).prepare(tiny_loaded.module)


def test_pytorch_threads_from_a_backend_spec(fast_timing):
    import torch

    from edgebench.api import benchmark
    from edgebench.config import parse_backend_spec

    before = torch.get_num_threads()
    name, precision, options = parse_backend_spec("pytorch:threads=1")
    rec = benchmark("test_cnn", backend=name, precision=precision, timing=fast_timing, backend_options=options)
    assert rec.ok and rec.details["threads"] == 1
    assert torch.get_num_threads() == before
