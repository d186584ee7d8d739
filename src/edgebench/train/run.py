"""`edgebench train`: pick the data for the model's task, build, train, report."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgebench.errors import BackendUnavailableError, InvalidConfigError
from edgebench.models.spec import ACTION_RECOGNITION
from edgebench.train.loop import TrainConfig, TrainResult, train

# per-model learning rates that train on the synthetic set; --lr overrides
DEFAULT_LR = {"c3d": 3e-4}


@dataclass
class TrainRun:
    result: TrainResult
    classes: list[str]
    train_samples: int
    val_samples: int
    skipped: dict  # path -> reason, videos that could not be used


def train_model(
    model: str,
    data: str | Path,
    checkpoint: str | Path,
    classes: list[str] | None = None,
    epochs: int = 10,
    batch_size: int = 8,
    lr: float | None = None,
    patience: int = 5,
    seed: int = 0,
    resume: str | Path | None = None,
    weights: str | None = None,
    pretrained: bool = False,
    val_groups: list[int] | None = None,
    progress: bool = False,
    device: str = "cpu",
) -> TrainRun:
    """Train an action model on a UCF50-layout folder, or fine-tune a classifier on an image
    folder with train/ and val/ splits. The best checkpoint loads with `--weights`."""
    from edgebench.models import build_model, get_spec

    if device == "cuda":
        from edgebench.system import cuda_available

        if not cuda_available():
            raise BackendUnavailableError("train --device cuda needs a CUDA GPU and a CUDA build of torch; pass --device cpu")
    spec = get_spec(model)
    data = Path(data)
    if spec.task == ACTION_RECOGNITION:
        from edgebench.data.ucf50 import ClipDataset, SkipReport, index_ucf50

        index = index_ucf50(data, classes)
        train_items, val_items = index.split(val_groups)
        skips = SkipReport()
        _, t, h, w = spec.input_shape
        train_set = ClipDataset(train_items, t, (h, w), skips)
        val_set = ClipDataset(val_items, t, (h, w), skips)
        class_names = index.classes
    else:
        from edgebench.data.images import ImageFolderDataset
        from edgebench.models.inputs import describe
        from edgebench.models.spec import IMAGE_CLASSIFICATION, is_image

        if spec.task != IMAGE_CLASSIFICATION or not is_image(spec.input_shape):
            raise InvalidConfigError(f"train fine-tunes image classifiers and action models; {model} is a {spec.task} model "
                                     f"of input {describe(spec.input_shape)}: train it with its own code, then pass --weights")
        if not (data / "train").is_dir() or not (data / "val").is_dir():
            raise InvalidConfigError(f"{data} needs train/<class>/ and val/<class>/ image folders (see `edgebench data synth --task image`)")
        size = tuple(spec.input_shape[1:])
        train_set = ImageFolderDataset(data / "train", size, classes)
        val_set = ImageFolderDataset(data / "val", size, train_set.classes)
        class_names, skips = train_set.classes, None
    loaded = build_model(spec, len(class_names), weights, pretrained, seed)
    cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr or DEFAULT_LR.get(model, 1e-3), patience=patience, seed=seed,
                      device=device)
    meta = {"model": model, "classes": class_names, "input_shape": list(spec.input_shape), "data": str(data)}
    result = train(loaded.module, train_set, val_set, len(class_names), cfg, Path(checkpoint),
                   Path(resume) if resume else None, meta, progress)
    return TrainRun(result, class_names, len(train_set), len(val_set), dict(skips.skipped) if skips else {})
