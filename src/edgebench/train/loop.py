"""A small, complete training loop: fixed seeds, validation accuracy per epoch, the best
checkpoint kept, resume, early stopping, a progress bar and a final confusion matrix."""
from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgebench.errors import InvalidConfigError, WeightsError


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 5  # epochs without validation improvement before stopping
    seed: int = 0
    num_workers: int = 0
    device: str = "cpu"  # "cpu" or "cuda"

    def __post_init__(self):
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0 or self.patience < 1:
            raise InvalidConfigError(f"training needs epochs, batch size and patience >= 1 and lr > 0, got {asdict(self)}")


@dataclass
class TrainResult:
    best_val_accuracy: float
    best_epoch: int
    epochs_run: int
    history: list = field(default_factory=list)  # per epoch: train_loss, train_accuracy, val_accuracy, seconds
    confusion: list = field(default_factory=list)  # rows: true class, columns: predicted, best checkpoint
    checkpoint: str = ""
    stopped_early: bool = False


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def evaluate(model, loader, num_classes: int, device: str = "cpu"):
    """(accuracy, confusion matrix as nested lists) on a loader."""
    import torch

    confusion = [[0] * num_classes for _ in range(num_classes)]
    model.eval()
    with torch.inference_mode():
        for x, y in loader:
            pred = model(x.to(device)).argmax(dim=1).cpu()
            for t, p in zip(y.tolist(), pred.tolist()):
                confusion[t][p] += 1
    total = sum(map(sum, confusion))
    correct = sum(confusion[i][i] for i in range(num_classes))
    return (correct / total if total else 0.0), confusion


def train(model, train_set, val_set, num_classes: int, cfg: TrainConfig, checkpoint: Path,
          resume: Path | None = None, meta: dict | None = None, progress: bool = False) -> TrainResult:
    """Train `model` in place; the best (validation accuracy) state is saved to `checkpoint` as
    {'state_dict', 'optimizer', 'epoch', 'val_accuracy', 'meta'}, loadable by `--weights`."""
    import torch
    from torch.utils.data import DataLoader

    if len(train_set) == 0 or len(val_set) == 0:
        raise InvalidConfigError(f"need training and validation samples, got {len(train_set)} and {len(val_set)}")
    seed_everything(cfg.seed)
    model.to(cfg.device)
    gen = torch.Generator().manual_seed(cfg.seed)
    train_loader = DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, generator=gen, num_workers=cfg.num_workers)
    val_loader = DataLoader(val_set, batch_size=cfg.batch_size, shuffle=False)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    criterion = torch.nn.CrossEntropyLoss()
    result = TrainResult(best_val_accuracy=-1.0, best_epoch=-1, epochs_run=0, checkpoint=str(checkpoint))
    start_epoch = 0
    if resume is not None:
        state = _load_checkpoint(resume)
        model.load_state_dict(state["state_dict"])
        if "optimizer" in state:
            opt.load_state_dict(state["optimizer"])  # moves its state to the parameters' device
        start_epoch = int(state.get("epoch", -1)) + 1
        result.best_val_accuracy = float(state.get("val_accuracy", -1.0))
        result.best_epoch = int(state.get("epoch", -1))
        result.history = list(state.get("history", []))
    checkpoint = Path(checkpoint)
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    epochs = range(start_epoch, cfg.epochs)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(epochs) * len(train_loader), unit="batch", dynamic_ncols=True)
    for epoch in epochs:
        t0 = time.perf_counter()
        model.train()
        seen = correct = 0
        loss_sum = 0.0
        for x, y in train_loader:
            x, y = x.to(cfg.device), y.to(cfg.device)
            opt.zero_grad()
            if hasattr(model, "training_loss"):
                loss, logits = model.training_loss(x, y, criterion)
            else:
                logits = model(x)
                loss = criterion(logits, y)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(y)
            seen += len(y)
            correct += int((logits.argmax(1) == y).sum())
            if bar is not None:
                bar.set_description(f"epoch {epoch + 1}/{cfg.epochs} loss {loss_sum / seen:.3f}")
                bar.update(1)
        val_acc, _ = evaluate(model, val_loader, num_classes, cfg.device)
        result.history.append({"epoch": epoch, "train_loss": loss_sum / seen, "train_accuracy": correct / seen,
                               "val_accuracy": val_acc, "seconds": time.perf_counter() - t0})
        result.epochs_run += 1
        if val_acc > result.best_val_accuracy:
            result.best_val_accuracy, result.best_epoch = val_acc, epoch
            torch.save({"state_dict": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch,
                        "val_accuracy": val_acc, "history": result.history, "meta": meta or {}}, checkpoint)
        elif epoch - result.best_epoch >= cfg.patience:
            result.stopped_early = True
            break
    if bar is not None:
        bar.close()
    best = _load_checkpoint(checkpoint)
    model.load_state_dict(best["state_dict"])
    result.best_val_accuracy, result.confusion = evaluate(model, val_loader, num_classes, cfg.device)
    model.cpu()
    checkpoint.with_suffix(".json").write_text(json.dumps(asdict(result), indent=2))
    return result


def _load_checkpoint(path: Path) -> dict:
    import torch

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"checkpoint {path} does not exist; pass a file written by `edgebench train`")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(f"could not read checkpoint {path} ({type(exc).__name__}); pass a file written by `edgebench train`") from exc
