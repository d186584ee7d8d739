import pytest
import torch

from edgebench.errors import InvalidConfigError, WeightsError
from edgebench.models import build_model, get_spec
from edgebench.export.artifact import file_sha256
from edgebench.models.build import adapt_head, load_weights


def test_random_init_is_seeded_and_hashed():
    a = build_model(get_spec("test_cnn"), seed=0)
    b = build_model(get_spec("test_cnn"), seed=0)
    c = build_model(get_spec("test_cnn"), seed=1)
    assert a.weights_sha256 == b.weights_sha256 != c.weights_sha256
    assert a.weights == "random-init(seed=0)"
    assert not a.module.training


def test_weights_roundtrip_and_checkpoint_dict(tmp_path):
    src = build_model(get_spec("test_cnn"), seed=3)
    path = tmp_path / "w.pt"
    torch.save({"state_dict": src.module.state_dict(), "epoch": 4}, path)
    loaded = build_model(get_spec("test_cnn"), weights=str(path), seed=0)
    assert loaded.weights_sha256 == src.weights_sha256
    assert loaded.weights == f"file:w.pt sha256:{file_sha256(path)[:12]}" and loaded.origin == "file"
    assert not loaded.edgebench_made


def test_weights_that_do_not_fit(tmp_path):
    path = tmp_path / "w.pt"
    torch.save(build_model(get_spec("test_cnn"), num_classes=5).module.state_dict(), path)
    with pytest.raises(WeightsError, match=r"wrong shape .*--num-classes"):
        build_model(get_spec("test_cnn"), num_classes=2, weights=str(path))
    torch.save(build_model(get_spec("test_mlp")).module.state_dict(), path)
    with pytest.raises(WeightsError, match="missing"):
        build_model(get_spec("test_cnn"), weights=str(path))
    with pytest.raises(WeightsError, match="does not exist"):
        load_weights(build_model(get_spec("test_cnn")).module, tmp_path / "none.pt")
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    with pytest.raises(WeightsError, match="could not read"):
        load_weights(build_model(get_spec("test_cnn")).module, tmp_path / "junk.pt")


def test_bad_num_classes_and_conflicting_weight_options():
    with pytest.raises(InvalidConfigError):
        build_model(get_spec("test_cnn"), num_classes=0)
    with pytest.raises(InvalidConfigError, match="not both"):
        build_model(get_spec("test_cnn"), weights="x.pt", pretrained=True)


@pytest.mark.parametrize("name", ["squeezenet1_1", "mobilenet_v2", "resnet18"])
def test_adapt_head_replaces_the_1000_class_layer(name):
    import torchvision

    model = torchvision.models.get_model(name, weights=None).eval()
    adapt_head(model, 2)
    with torch.inference_mode():
        out = model(torch.randn(1, 3, 64, 64))
    assert out.shape == (1, 2)


def test_batchnorm_statistics_recalibrated_from_inputs():
    """Random-init BatchNorm statistics are replaced by the inputs' per-channel mean and
    variance (cumulative over batches), the label says so, and the weights hash changes."""
    import numpy as np
    import torch
    from torch import nn

    from edgebench.models.build import LoadedModel, recalibrate_batchnorm, state_dict_sha256

    torch.manual_seed(0)
    module = nn.Sequential(nn.Conv2d(3, 4, 1, bias=False), nn.BatchNorm2d(4)).eval()
    loaded = LoadedModel(module, None, 2, "random-init(seed=0)", state_dict_sha256(module))
    rng = np.random.default_rng(0)
    items = [(5.0 + 2.0 * rng.standard_normal((3, 8, 8))).astype(np.float32) for _ in range(20)]
    before = loaded.weights_sha256
    assert recalibrate_batchnorm(loaded, items, "test inputs", batch=8)
    with torch.no_grad():
        conv = module[0](torch.from_numpy(np.stack(items)))
    bn = module[1]
    # momentum None: the plain average of the per-batch means (batches of 8, 8 and 4)
    batch_means = torch.stack([conv[i : i + 8].mean(dim=(0, 2, 3)) for i in (0, 8, 16)])
    np.testing.assert_allclose(bn.running_mean.numpy(), batch_means.mean(0).numpy(), rtol=1e-4, atol=1e-5)
    # the cumulative average of per-batch unbiased variances: close to the pooled variance
    np.testing.assert_allclose(bn.running_var.numpy(), conv.var(dim=(0, 2, 3)).numpy(), rtol=0.05)
    assert not module.training and bn.momentum == 0.1
    assert loaded.weights == "random-init(seed=0), BatchNorm statistics from 20 test inputs"
    assert loaded.weights_sha256 != before
    assert not recalibrate_batchnorm(LoadedModel(nn.Linear(2, 2), None, 2, "x", ""), items, "none")
