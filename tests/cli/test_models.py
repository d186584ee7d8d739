"""`edgebench models`."""
from edgebench.cli.main import main


def test_models_listing(capsys):
    assert main(["models", "test_*"]) == 0
    out = capsys.readouterr().out
    assert "test_cnn" in out and "3x32x32" in out and "1,442" in out
    assert "any torchvision classifier name also works" in out.strip().splitlines()[-1]
    assert main(["models", "squeezenet*", "--imagenet-heads"]) == 0
    assert "1,235,496" in capsys.readouterr().out  # the paper's SqueezeNet count, 1000 classes
