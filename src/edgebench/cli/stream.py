"""`edgebench stream`: real-time inference over a video file or camera: FPS, latency, deadline misses."""
from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("stream", help="real-time inference over a video file or camera: FPS, latency, deadline misses")
    p.add_argument("model", help="model name, or path/to/file.py:factory")
    p.add_argument("--source", required=True, help="video file or camera index (0, 1, ...)")
    p.add_argument("--backend", default="onnxruntime", help="backend to run the model on (default onnxruntime)")
    p.add_argument("--target-fps", type=float, default=30.0, help="frame rate whose period is the deadline (default 30)")
    p.add_argument("--stride", type=int, default=1, help="run the model every N frames")
    p.add_argument("--max-frames", type=int, default=None, help="stop after this many frames (default: the whole source)")
    p.add_argument("--show", action="store_true", help="draw predictions on the frames (needs a display)")
    p.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"], help="default cpu")
    p.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "bf16"], help="default fp32")
    p.add_argument("--num-classes", type=int, default=None, help="classifier head size (default: the model's)")
    p.add_argument("--weights", default=None, help="a checkpoint; its class names label the predictions")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def main(args) -> int:
    from edgebench.api import stream
    from edgebench.report import console

    r = stream(args.model, args.source, backend=args.backend, target_fps=args.target_fps, stride=args.stride,
               max_frames=args.max_frames, show=args.show, device=args.device, precision=args.precision,
               num_classes=args.num_classes, weights=args.weights)
    if args.json:
        print(console.to_json(r))
        return 0
    print(console.streamed(args.model, args.backend, args.target_fps, r))
    return 0
