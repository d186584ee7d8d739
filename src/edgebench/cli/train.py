"""`edgebench train`: train an action model on UCF50 or fine-tune a classifier on an image folder."""
from __future__ import annotations

import sys
from pathlib import Path

from edgebench.cli.options import csv_list


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train an action model (UCF50 layout) or fine-tune a classifier (image folder)")
    p.add_argument("model", help="model name, or path/to/file.py:factory")
    p.add_argument("--data", type=Path, required=True, help="UCF50 root, or an image folder with train/ and val/")
    p.add_argument("--classes", type=csv_list, default=None, help="class folder names (default: first four / all)")
    p.add_argument("--epochs", type=int, default=10, help="at most this many epochs (default 10)")
    p.add_argument("--batch-size", type=int, default=8, help="training batch size (default 8)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: the task's)")
    p.add_argument("--patience", type=int, default=5, help="early stopping: epochs without improvement")
    p.add_argument("--seed", type=int, default=0, help="seed for initialisation, shuffling and the split (default 0)")
    p.add_argument("--val-groups", type=lambda t: [int(v) for v in csv_list(t)], default=None,
                   help="UCF50 groups held out for validation (default: the last 20%%)")
    p.add_argument("--out", type=Path, default=None, help="checkpoint path (default checkpoints/MODEL.pt)")
    p.add_argument("--resume", type=Path, default=None, help="continue from a checkpoint")
    p.add_argument("--weights", default=None, help="start from a state dict")
    p.add_argument("--pretrained", action="store_true", help="start from torchvision's weights (needs internet)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (cuda when available)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def main(args) -> int:
    from edgebench.config import resolve_device
    from edgebench.report import console
    from edgebench.train.run import train_model

    out = args.out or Path("checkpoints") / f"{Path(args.model).stem}.pt"
    run = train_model(
        args.model, args.data, out, classes=args.classes, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        patience=args.patience, seed=args.seed, resume=args.resume, weights=args.weights, pretrained=args.pretrained,
        val_groups=args.val_groups, progress=not args.no_progress and sys.stderr.isatty(),
        device=resolve_device(args.device),
    )
    print(console.training(args.model, run))
    return 0
