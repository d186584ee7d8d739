"""Time ONNX Runtime and OpenVINO called directly, with their own defaults and no edgebench, on
the paper's classifiers: the yardstick `edgebench run --precision auto` is compared with in
docs/results (a tool that picks "the best optimiser here" must beat what a user gets by hand).

    python scripts/direct_runtimes.py --out direct.json [--models resnet50,...] [--min-iters 100 --min-time-s 5]
    python scripts/direct_runtimes.py --compare RESULTS/table1.json --out direct.json   # side-by-side markdown

Each model: torchvision's architecture with a 2-class head (random weights, seed 0), exported by
torch.onnx at opset 18 with a dynamic batch axis; then, at batch 1 on the same random input
pool, eager PyTorch (default threads), `onnxruntime.InferenceSession(path)` (default options) and
`openvino.Core().compile_model(path, "CPU")` (default configuration), each timed after 10 warm-up
runs for at least --min-iters runs and --min-time-s seconds. Prints and writes p50s in ms.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

PAPER_CLASSIFIERS = ("alexnet", "vgg19", "resnet50", "squeezenet1_1", "densenet121", "shufflenet_v2_x1_0",
                     "mobilenet_v2", "resnext50_32x4d")


def timed(fn, inputs, min_iters: int, min_time_s: float) -> float:
    """p50 in ms of fn(x) over the input pool, after 10 warm-up calls."""
    for i in range(10):
        fn(inputs[i % len(inputs)])
    samples = []
    start = time.perf_counter()
    while len(samples) < min_iters or time.perf_counter() - start < min_time_s:
        x = inputs[len(samples) % len(inputs)]
        t0 = time.perf_counter()
        fn(x)
        samples.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(PAPER_CLASSIFIERS), help="comma-separated torchvision names")
    ap.add_argument("--min-iters", type=int, default=100, help="timed runs per cell, at least")
    ap.add_argument("--min-time-s", type=float, default=5.0, help="seconds per cell, at least")
    ap.add_argument("--out", type=Path, required=True, help="JSON file to write (or, with --compare, to read)")
    ap.add_argument("--compare", type=Path, default=None,
                    help="an edgebench table1.json: print the side-by-side of it and --out (measures nothing)")
    args = ap.parse_args()
    if args.compare is not None:
        print(side_by_side(json.loads(args.compare.read_text()), json.loads(args.out.read_text())))
        return

    import numpy as np
    import onnxruntime as ort
    import openvino as ov
    import torch
    import torchvision

    core = ov.Core()
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal((1, 3, 224, 224), dtype=np.float32) for _ in range(8)]
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            torch.manual_seed(0)
            model = torchvision.models.get_model(name, weights=None, num_classes=2).eval()
            path = Path(tmp) / f"{name}.onnx"
            torch.onnx.export(model, (torch.randn(2, 3, 224, 224),), str(path), input_names=["input"],
                              output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                              opset_version=18, dynamo=True, external_data=False)
            tensors = [torch.from_numpy(x) for x in inputs]
            with torch.inference_mode():
                eager = timed(model, tensors, args.min_iters, args.min_time_s)
            sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            onnxruntime_ms = timed(lambda x: sess.run(None, {"input": x}), inputs, args.min_iters, args.min_time_s)
            compiled = core.compile_model(str(path), "CPU")
            request = compiled.create_infer_request()
            openvino_ms = timed(lambda x: request.infer({0: x}), inputs, args.min_iters, args.min_time_s)
            rows[name] = {"pytorch_eager_p50_ms": eager, "onnxruntime_default_p50_ms": onnxruntime_ms,
                          "openvino_default_p50_ms": openvino_ms,
                          "openvino_inference_precision": compiled.get_property("INFERENCE_PRECISION_HINT").to_string(),
                          "openvino_performance_hint": str(compiled.get_property("PERFORMANCE_HINT"))}
            print(f"{name:20s} eager {eager:9.3f}  onnxruntime {onnxruntime_ms:9.3f}  openvino {openvino_ms:9.3f} ms"
                  f"  ({rows[name]['openvino_inference_precision']}, {rows[name]['openvino_performance_hint']})",
                  flush=True)
            del sess, compiled, request
    from edgebench.system import cpu_model  # only to name the machine the same way edgebench does

    out = {"machine": cpu_model(), "platform": platform.platform(), "torch": torch.__version__,
           "onnxruntime": ort.__version__, "openvino": ov.__version__, "min_iters": args.min_iters,
           "min_time_s": args.min_time_s, "batch_size": 1, "models": rows,
           "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    args.out.write_text(json.dumps(out, indent=2))
    print(f"wrote {args.out}")


def side_by_side(table: dict, direct: dict) -> str:
    """Markdown: per model, edgebench's pick and each runtime's default, as p50 and as speedup over
    an eager baseline: edgebench's own (one baseline for all three) and this script's."""
    lines = ["| Model | eager p50 (edgebench / direct) | edgebench pick | p50 | speedup | ONNX Runtime default p50 "
             "| speedup | OpenVINO default p50 | speedup |", "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    sums = {"tool": [], "ort": [], "ov": [], "ort_own": [], "ov_own": []}
    for row in table["rows"]:
        d = direct["models"].get(row["model"])
        if d is None or row.get("speedup") is None:
            continue
        eager = row["pre_p50_ms"]
        ort_s, ov_s = eager / d["onnxruntime_default_p50_ms"], eager / d["openvino_default_p50_ms"]
        sums["tool"].append(row["speedup"])
        sums["ort"].append(ort_s)
        sums["ov"].append(ov_s)
        sums["ort_own"].append(d["pytorch_eager_p50_ms"] / d["onnxruntime_default_p50_ms"])
        sums["ov_own"].append(d["pytorch_eager_p50_ms"] / d["openvino_default_p50_ms"])
        lines.append(f"| {row['model']} | {eager:.3f} / {d['pytorch_eager_p50_ms']:.3f} | {row['post_backend']} "
                     f"{row['post_precision']} | {row['post_p50_ms']:.3f} | {row['speedup']:.2f}x | "
                     f"{d['onnxruntime_default_p50_ms']:.3f} | {ort_s:.2f}x | {d['openvino_default_p50_ms']:.3f} "
                     f"({d['openvino_inference_precision']}) | {ov_s:.2f}x |")
    mean = {k: sum(v) / len(v) for k, v in sums.items() if v}
    if mean:
        lines.append(f"| **mean over {len(sums['tool'])}** | | | | **{mean['tool']:.2f}x** | | {mean['ort']:.2f}x "
                     f"({mean['ort_own']:.2f}x over its own eager) | | {mean['ov']:.2f}x ({mean['ov_own']:.2f}x over "
                     "its own eager) |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
