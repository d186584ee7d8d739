"""`edgebench run`."""
from edgebench.cli.main import main
from tests.cli import FAST


def test_unwritable_output_folder(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["run", "--models", "test_cnn", "--out", str(blocker / "sub"), *FAST]) == 2
    err = capsys.readouterr().err
    assert "not writable" in err and "--out" in err
