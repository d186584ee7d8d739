"""`edgebench backends`."""
from edgebench.cli.main import main


def test_backends_listing(capsys):
    assert main(["backends"]) == 0
    assert "onnxruntime" in capsys.readouterr().out
