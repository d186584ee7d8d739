"""Every available backend against PyTorch FP32 on the same inputs."""
import copy

import numpy as np
import pytest

from edgebench.backends import BACKENDS, BackendContext, availability, backend_class
from edgebench.bench.harness import infer
from edgebench.bench.inputs import input_pool


@pytest.mark.parametrize("name", sorted(BACKENDS))
@pytest.mark.parametrize("model, batch", [("test_cnn", 1), ("test_cnn", 4), ("test_cnn3d", 2)])
def test_backend_matches_pytorch(name, model, batch, tmp_path):
    """Conv2d and Conv3d models alike: every backend's outputs are PyTorch's on the same inputs."""
    if not availability(name).available:
        pytest.skip(f"{name}: {availability(name).reason}")
    if name == "aot-inductor" and (model, batch) == ("test_cnn", 4):
        pytest.skip("aot-inductor: one package serves every batch size; tests/backends/test_torch_native.py runs "
                    "test_cnn's at batches 1 and 3 (a 25 s build each)")
    import torch

    from edgebench.export import export_onnx
    from edgebench.models import build_model, get_spec

    loaded = build_model(get_spec(model))
    shape = loaded.spec.input_shape
    pool = input_pool(shape, batch, size=3, seed=1)
    with torch.inference_mode():
        ref = [loaded.module(torch.from_numpy(x)).numpy() for x in pool]
    cls = backend_class(name)
    device = cls.devices[0]
    source = copy.deepcopy(loaded.module) if cls.consumes == "module" else export_onnx(loaded, cache_dir=tmp_path)
    context = BackendContext(shape, {"model": model, "weights_sha256": loaded.weights_sha256})
    with cls(device=device, cache_dir=tmp_path, context=context).prepare(source, batch).load() as bk:
        outs = [infer(bk, x) for x in pool]
    for r, o in zip(ref, outs):
        np.testing.assert_allclose(o, r, rtol=1e-4, atol=1e-5)
