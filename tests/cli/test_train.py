"""`edgebench data synth`, `train` on what it wrote, and `stream` with the checkpoint."""
import json

from edgebench.cli.main import main


def test_data_synth_train_and_stream_commands(tmp_path, capsys):
    assert main(["data", "synth", str(tmp_path / "v"), "--task", "video", "--groups", "3", "--clips-per-group", "2"]) == 0
    assert "wrote 24 videos" in capsys.readouterr().out
    assert main(["data", "synth", str(tmp_path / "i"), "--task", "image", "--per-class", "4"]) == 0
    assert "wrote 8 images" in capsys.readouterr().out
    ck = tmp_path / "ae.pt"
    assert main(["train", "conv_autoencoder", "--data", str(tmp_path / "v"), "--epochs", "1", "--out", str(ck),
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "confusion matrix" in out and "best validation accuracy" in out and ck.is_file()
    video = tmp_path / "v" / "UCF50" / "MoveUp" / "v_MoveUp_g01_c01.avi"
    assert main(["stream", "conv_autoencoder", "--source", str(video), "--weights", str(ck), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["frames"] == 24 and r["inferences"] == 17 and 0 <= r["deadline_miss_rate"] <= 1


def test_train_bad_data_folder(tmp_path, capsys):
    assert main(["train", "c3d", "--data", str(tmp_path / "none")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "imgs").mkdir()
    assert main(["train", "test_cnn", "--data", str(tmp_path / "imgs")]) == 2
    assert "train/<class>/" in capsys.readouterr().err
    if not __import__("torch").cuda.is_available():
        assert main(["train", "test_cnn", "--data", str(tmp_path / "imgs"), "--device", "cuda"]) == 3
        assert "needs a CUDA GPU" in capsys.readouterr().err
