import numpy as np
import onnxruntime as ort
import pytest
import torch

from edgebench.models import ACTION_RECOGNITION, build_model, get_spec, list_models
from edgebench.models.stats import count_flops, trainable_params

PAPER_PARAMS = {"c3d": 20_333_956, "conv_autoencoder": 332_807, "densenet3d": 109_386}


@pytest.mark.parametrize("name", sorted(PAPER_PARAMS))
def test_params_within_10_percent_of_the_paper_and_documented(name):
    spec = get_spec(name)
    assert spec.task == ACTION_RECOGNITION and spec.default_num_classes == 4
    module = build_model(spec).module
    params = trainable_params(module)
    assert abs(params / PAPER_PARAMS[name] - 1) <= 0.10, params
    doc = type(module).__module__ and __import__(type(module).__module__, fromlist=["x"]).__doc__
    assert f"{params:,}" in doc and "3 x 8 x 64 x 64" in doc and "FLOPs" in doc
    assert count_flops(module, torch.zeros(1, *spec.input_shape)) > 0


@pytest.mark.parametrize("name", sorted(PAPER_PARAMS))
def test_exports_with_dynamic_batch_and_matches_torch(name, tmp_path):
    from edgebench.export import export_onnx

    loaded = build_model(get_spec(name))
    art = export_onnx(loaded, cache_dir=tmp_path)
    sess = ort.InferenceSession(str(art.path), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((3, 3, 8, 64, 64), dtype=np.float32)
    with torch.inference_mode():
        ref = loaded.module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(sess.run(None, {"input": x})[0], ref, rtol=1e-3, atol=1e-4)


def test_action_models_listed():
    assert {"c3d", "conv_autoencoder", "densenet3d"} <= set(list_models())
