"""`edgebench data synth`: write a small synthetic video (UCF50 layout) or image data set."""
from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("data", help="data utilities")
    dsub = p.add_subparsers(dest="data_command", metavar="DATA_COMMAND", help="what to do")
    q = dsub.add_parser("synth", help="write a small synthetic data set")
    q.add_argument("out", type=Path, help="folder to write it in")
    q.add_argument("--task", choices=["video", "image"], default="video",
                   help="video: UCF50-layout clips; image: a two-class image folder (default video)")
    q.add_argument("--groups", type=int, default=6, help="video: UCF50 groups per class")
    q.add_argument("--clips-per-group", type=int, default=6, help="video: clips per group (default 6)")
    q.add_argument("--frames", type=int, default=24, help="video: frames per clip")
    q.add_argument("--per-class", type=int, default=40, help="image: images per class")
    q.add_argument("--size", type=int, default=64, help="frame / image side in pixels")
    q.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def main(args) -> int:
    from edgebench.data import synth
    from edgebench.errors import InvalidConfigError
    from edgebench.report import console

    if args.data_command != "synth":
        raise InvalidConfigError("usage: edgebench data synth OUT --task video|image")
    if args.task == "video":
        root = synth.write_video_set(args.out, args.groups, args.clips_per_group, args.frames, args.size, seed=args.seed)
        print(console.synth_videos(sum(1 for _ in root.rglob("*.avi")), root, synth.VIDEO_CLASSES))
    else:
        out = synth.write_image_set(args.out, args.per_class, size=args.size, seed=args.seed)
        print(console.synth_images(sum(1 for _ in out.rglob("*.png")), out, synth.IMAGE_CLASSES))
    return 0
