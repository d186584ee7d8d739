"""Every available backend against PyTorch FP32 on the same inputs."""
import copy

import numpy as np
import pytest

from edgebench.backends import BACKENDS, availability, backend_class
from edgebench.bench.harness import infer
from edgebench.bench.inputs import input_pool


@pytest.mark.parametrize("name", sorted(BACKENDS))
@pytest.mark.parametrize("batch", [1, 4])
def test_backend_matches_pytorch(name, batch, tiny_loaded, tmp_path):
    if not availability(name).available:
        pytest.skip(f"{name}: {availability(name).reason}")
    import torch

    from edgebench.export import export_onnx

    pool = input_pool((3, 32, 32), batch, size=3, seed=1)
    with torch.inference_mode():
        ref = [tiny_loaded.module(torch.from_numpy(x)).numpy() for x in pool]
    cls = backend_class(name)
    device = cls.devices[0]
    source = copy.deepcopy(tiny_loaded.module) if cls.consumes == "module" else export_onnx(tiny_loaded, cache_dir=tmp_path)
    opts = dict(item_shape=(3, 32, 32), source_key={"model": "test_cnn", "weights_sha256": tiny_loaded.weights_sha256})
    with cls(device=device, cache_dir=tmp_path, **opts).prepare(source, batch).load() as bk:
        outs = [infer(bk, x) for x in pool]
    for r, o in zip(ref, outs):
        np.testing.assert_allclose(o, r, rtol=1e-4, atol=1e-5)
