"""Training on the synthetic sets: the three action models learn the four motions."""
import pytest
import torch

from edgebench.train.loop import TrainConfig, train
from edgebench.train.run import train_model


@pytest.mark.parametrize("name", ["c3d", "conv_autoencoder", "densenet3d"])
def test_action_model_reaches_80_percent_on_synthetic_videos(name, synth_videos, tmp_path):
    run = train_model(name, synth_videos, tmp_path / f"{name}.pt", epochs=8, patience=4)
    assert run.val_samples == 24 and run.train_samples == 120
    assert run.result.best_val_accuracy >= 0.80, run.result.history
    confusion = run.result.confusion
    assert sum(map(sum, confusion)) == 24
    saved = torch.load(tmp_path / f"{name}.pt", weights_only=True)
    assert saved["meta"]["classes"] == run.classes and saved["val_accuracy"] == pytest.approx(max(h["val_accuracy"] for h in run.result.history))


def test_checkpoint_loads_with_weights_in_bench(synth_videos, tmp_path):
    from edgebench.api import benchmark
    from edgebench.config import TimingConfig

    train_model("densenet3d", synth_videos, tmp_path / "d.pt", epochs=2)
    rec = benchmark("densenet3d", backend="onnxruntime", weights=str(tmp_path / "d.pt"),
                    timing=TimingConfig(warmup_iters=1, warmup_s=0, min_iters=2, min_time_s=0, ci_pct=None))
    from edgebench.export.artifact import file_sha256

    assert rec.ok and rec.model_facts.weights == f"file:d.pt sha256:{file_sha256(tmp_path / 'd.pt')[:12]}"
    assert rec.accuracy.top1_agreement == 1.0


def test_resume_continues_from_the_saved_epoch(tmp_path):
    from torch.utils.data import TensorDataset

    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 6, generator=g)
    y = (x[:, 0] > 0).long()
    ds = TensorDataset(x, y)

    def model():
        torch.manual_seed(0)
        return torch.nn.Linear(6, 2)

    first = train(model(), ds, ds, 2, TrainConfig(epochs=2, batch_size=8, lr=0.05), tmp_path / "c.pt")
    assert first.epochs_run == 2
    resumed = train(model(), ds, ds, 2, TrainConfig(epochs=5, batch_size=8, lr=0.05), tmp_path / "c2.pt", resume=tmp_path / "c.pt")
    assert [h["epoch"] for h in resumed.history][:2] == [0, 1]
    assert resumed.epochs_run == 5 - (first.best_epoch + 1)


def test_early_stopping(tmp_path):
    from torch.utils.data import TensorDataset

    x = torch.randn(16, 4)
    ds = TensorDataset(x, torch.zeros(16, dtype=torch.long))  # one class: accuracy is 1.0 at once
    r = train(torch.nn.Linear(4, 2), ds, ds, 2, TrainConfig(epochs=20, batch_size=8, lr=0.1, patience=2), tmp_path / "c.pt")
    assert r.stopped_early and r.epochs_run < 20


def test_classifier_fine_tuning_on_an_image_folder(tmp_path):
    from edgebench.data.synth import write_image_set

    write_image_set(tmp_path / "img", per_class=12)
    run = train_model("test_cnn", tmp_path / "img", tmp_path / "t.pt", epochs=2)
    assert run.classes == ["circle", "square"] and run.train_samples == 18 and run.val_samples == 6
    assert len(run.result.history) >= 1 and (tmp_path / "t.pt").is_file()


@pytest.mark.needs_cuda
def test_training_on_the_gpu_learns_and_saves_a_cpu_loadable_checkpoint(synth_videos, tmp_path):
    run = train_model("conv_autoencoder", synth_videos, tmp_path / "ae.pt", epochs=8, patience=4, device="cuda")
    assert run.result.best_val_accuracy >= 0.80, run.result.history
    from edgebench.models import build_model, get_spec

    loaded = build_model(get_spec("conv_autoencoder"), len(run.classes), weights=str(tmp_path / "ae.pt"))
    assert next(loaded.module.parameters()).device.type == "cpu"
