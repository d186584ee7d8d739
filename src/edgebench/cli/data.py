"""`edgebench data synth`: write a small synthetic video (UCF50 layout), image, or labelled
detection and segmentation data set (COCO annotations and masks)."""
from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("data", help="data utilities")
    dsub = p.add_subparsers(dest="data_command", metavar="DATA_COMMAND", help="what to do")
    q = dsub.add_parser("synth", help="write a small synthetic data set")
    q.add_argument("out", type=Path, help="folder to write it in")
    q.add_argument("--task", choices=["video", "image", "shapes"], default="video",
                   help="video: UCF50-layout clips; image: a two-class image folder; shapes: shapes of three classes "
                        "on photos, with a COCO annotations.json and masks/ (--data of a detector or segmenter) "
                        "(default video)")
    q.add_argument("--groups", type=int, default=6, help="video: UCF50 groups per class")
    q.add_argument("--clips-per-group", type=int, default=6, help="video: clips per group (default 6)")
    q.add_argument("--frames", type=int, default=24, help="video: frames per clip")
    q.add_argument("--per-class", type=int, default=40, help="image: images per class")
    q.add_argument("--images", type=int, default=48, help="shapes: images (default 48)")
    q.add_argument("--size", type=int, default=None, help="frame / image side in pixels (default 64; shapes 160)")
    q.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def main(args) -> int:
    from edgebench.data import synth
    from edgebench.errors import InvalidConfigError
    from edgebench.report import console

    if args.data_command != "synth":
        raise InvalidConfigError("usage: edgebench data synth OUT --task video|image|shapes")
    if args.task == "shapes":
        from edgebench.data.labelled import SHAPE_CLASSES, write_shapes_set

        out = write_shapes_set(args.out, args.images, args.size or 160, seed=args.seed)
        print(console.synth_shapes(args.images, out, tuple(SHAPE_CLASSES.values())))
        return 0
    size = args.size or 64
    if args.task == "video":
        root = synth.write_video_set(args.out, args.groups, args.clips_per_group, args.frames, size, seed=args.seed)
        print(console.synth_videos(sum(1 for _ in root.rglob("*.avi")), root, synth.VIDEO_CLASSES))
    else:
        out = synth.write_image_set(args.out, args.per_class, size=size, seed=args.seed)
        print(console.synth_images(sum(1 for _ in out.rglob("*.png")), out, synth.IMAGE_CLASSES))
    return 0
