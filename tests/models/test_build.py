import pytest
import torch

from edgebench.errors import InvalidConfigError, WeightsError
from edgebench.models import build_model, get_spec
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
    assert loaded.weights == str(path)


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
