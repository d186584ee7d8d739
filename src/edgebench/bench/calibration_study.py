"""INT8 calibration recipes measured on one model: each recipe quantizes the model's FP32 ONNX
export, and its outputs on held-out photo inputs are compared with the pristine PyTorch FP32
module's (top-1 agreement, cosine, the gate's lower bound). How DEFAULT_RECIPE was chosen:

    python -m edgebench.bench.calibration_study tests/fixtures/efficientnet_lite0.py:build

The held-out inputs are crops and flips of the scikit-image photos drawn with another seed
than any calibration set, so no calibration input is among them."""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgebench.export.quantize import CalibrationRecipe

#: (recipe, calibration augment, calibration size): the grid the committed study ran
_OLD = dict(fp32_first_convs=0)  # the recipe before this study: everything INT8
STUDY_GRID = (
    (CalibrationRecipe("minmax", **_OLD), "crops", 32),
    (CalibrationRecipe("minmax", per_channel=False, **_OLD), "crops", 32),
    (CalibrationRecipe("minmax", reduce_range=True, **_OLD), "crops", 32),
    (CalibrationRecipe("minmax", symmetric_activations=True, **_OLD), "crops", 32),
    (CalibrationRecipe("entropy", **_OLD), "crops", 32),
    (CalibrationRecipe("percentile", percentile=99.999, **_OLD), "crops", 32),
    (CalibrationRecipe("percentile", percentile=99.99, **_OLD), "crops", 32),
    (CalibrationRecipe("minmax", **_OLD), "varied", 32),
    (CalibrationRecipe("minmax", **_OLD), "varied", 128),
    (CalibrationRecipe("entropy", **_OLD), "varied", 128),
    (CalibrationRecipe("minmax", fp32_first_convs=1), "crops", 32),
    (CalibrationRecipe("minmax", fp32_first_convs=2), "crops", 32),
    (CalibrationRecipe("minmax", fp32_first_convs=4, fp32_max_fan_in=1 << 30), "crops", 32),
    (CalibrationRecipe("entropy", fp32_first_convs=2), "crops", 32),
    (CalibrationRecipe("percentile", percentile=99.99, fp32_first_convs=2), "crops", 32),
    (CalibrationRecipe("minmax", fp32_first_convs=2), "varied", 128),
)
#: what FP32 convolutions cost in INT8 latency on other architectures (timing only: their
#: random-init weights say nothing about accuracy)
SPEED_RECIPES = (
    CalibrationRecipe(fp32_first_convs=0),
    CalibrationRecipe(fp32_first_convs=2, fp32_max_fan_in=1 << 30),
    CalibrationRecipe(),
)

HELDOUT_SEED = 1000  # far from the calibration seeds (0) and the gate's check seed (1)


@dataclass(frozen=True)
class RecipeResult:
    recipe: str
    calibration: str  # "<augment> x <count>"
    top1_agreement: float
    agreeing: int
    items: int
    decisive_items: int  # held-out inputs whose reference top-1 wins by ln 2 (bench.accuracy)
    decisive_agreeing: int
    decisive_lower_95: float  # one-sided Clopper-Pearson lower bound on agreement over those
    cosine_mean: float
    cosine_min: float
    quantize_s: float  # calibration + quantization, seconds
    gate_passed: bool
    latency_ms: float  # INT8 model, batch 1, one ONNX Runtime thread, median


def _run_onnx(path: Path, inputs: np.ndarray, batch: int = 16) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.concatenate([sess.run(None, {name: inputs[i : i + batch]})[0] for i in range(0, len(inputs), batch)])


def latency_ms(paths: dict, item: np.ndarray, rounds: int = 10, per_round: int = 3) -> dict:
    """Median batch-1 latency (ms) of each ONNX file in `paths` (label -> path) on ONNX
    Runtime's CPU provider with one thread; the files take turns round by round, so drift of
    a shared machine hits all alike."""
    import time

    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sessions = {k: ort.InferenceSession(str(p), so, providers=["CPUExecutionProvider"]) for k, p in paths.items()}
    feed = {k: {s.get_inputs()[0].name: item[None]} for k, s in sessions.items()}
    times: dict = {k: [] for k in sessions}
    for _ in range(rounds):
        for k, s in sessions.items():
            s.run(None, feed[k])
            t0 = time.perf_counter()
            for _ in range(per_round):
                s.run(None, feed[k])
            times[k].append(1e3 * (time.perf_counter() - t0) / per_round)
    return {k: float(np.median(v)) for k, v in times.items()}


def _run_torch(module, inputs: np.ndarray, batch: int = 16) -> np.ndarray:
    import torch

    with torch.inference_mode():
        return np.concatenate([module(torch.from_numpy(inputs[i : i + batch])).numpy() for i in range(0, len(inputs), batch)])


def study(model: str, grid=STUDY_GRID, heldout: int = 400, cache_dir: Path | None = None, log=None) -> list[RecipeResult]:
    """Quantize `model` (a registered name or file.py:factory) once per (recipe, augment, count)
    in `grid` and measure each against the pristine PyTorch module on `heldout` inputs. A fresh
    cache folder per call, so every quantization time is a real one."""
    import functools
    import tempfile

    from edgebench.bench.accuracy import agreement_lower_bound, compare
    from edgebench.data.photos import photo_inputs
    from edgebench.export import export_onnx
    from edgebench.export.quantize import quantize_int8
    from edgebench.models import build_model, get_spec

    log = log or functools.partial(print, flush=True)
    spec = get_spec(model)
    loaded = build_model(spec)
    size = tuple(spec.input_shape[1:])
    held = np.stack(photo_inputs(size, heldout, seed=HELDOUT_SEED)).astype(np.float32)
    reference = _run_torch(loaded.module, held)
    log(f"{model}: {heldout} held-out inputs, reference computed")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(cache_dir or tmp)
        fp32 = export_onnx(loaded, cache_dir=cache)
        log(f"  FP32 ONNX: {latency_ms({'fp32': fp32.path}, held[0])['fp32']:.2f} ms (batch 1, one thread)")
        calib_sets: dict = {}
        for recipe, augment, count in grid:
            if (augment, count) not in calib_sets:
                calib_sets[augment, count] = photo_inputs(size, count, seed=0, augment=augment)
            t0 = time.perf_counter()
            art = quantize_int8(fp32, calib_sets[augment, count], cache, recipe=recipe, calibration_desc=f"{augment} x {count}")
            seconds = art.export_s if not art.cached else time.perf_counter() - t0
            out = _run_onnx(art.path, held)
            ms = latency_ms({"int8": art.path}, held[0])["int8"]
            res = compare([reference], [out], "int8")
            agree = int(round(res.top1_agreement * res.items))
            dec_agree = int(round((res.decisive_agreement or 0.0) * res.decisive_items))
            norms = np.linalg.norm(reference, axis=1) * np.linalg.norm(out, axis=1)
            cos = (reference * out).sum(axis=1) / np.maximum(norms, 1e-30)
            r = RecipeResult(recipe.name, f"{augment} x {count}", res.top1_agreement, agree, res.items,
                             res.decisive_items, dec_agree, agreement_lower_bound(dec_agree, res.decisive_items),
                             float(cos.mean()), float(cos.min()), round(seconds, 1), res.passed, round(ms, 2))
            log(f"  {r.recipe:<44} {r.calibration:<13} top-1 {100 * r.top1_agreement:6.2f}% ({agree}/{res.items}), "
                f"decisive {dec_agree}/{res.decisive_items} (lower {100 * r.decisive_lower_95:.1f}%)  "
                f"cosine {r.cosine_mean:.4f} (min {r.cosine_min:.3f})  {r.quantize_s:.1f} s  {r.latency_ms:.2f} ms  "
                f"gate {'passed' if r.gate_passed else 'failed'}")
            results.append(r)
    return results


def to_markdown(results: list[RecipeResult]) -> str:
    lines = ["| recipe | calibration inputs | top-1 agreement, all | top-1 agreement, decisive | its 95% lower bound | "
             "cosine mean | cosine min | calibration + quantization (s) | INT8 latency (ms) | gate |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        dec = 100 * r.decisive_agreeing / r.decisive_items if r.decisive_items else float("nan")
        lines.append(f"| {r.recipe} | {r.calibration} | {100 * r.top1_agreement:.2f}% ({r.agreeing}/{r.items}) | "
                     f"{dec:.2f}% ({r.decisive_agreeing}/{r.decisive_items}) | {100 * r.decisive_lower_95:.1f}% | "
                     f"{r.cosine_mean:.4f} | {r.cosine_min:.3f} | {r.quantize_s:.1f} | {r.latency_ms:.2f} | "
                     f"{'passed' if r.gate_passed else 'failed'} |")
    return "\n".join(lines)


def speed(models: list[str], recipes=SPEED_RECIPES, cache_dir: Path | None = None) -> str:
    """A Markdown table: each model's FP32 and per-recipe INT8 latency (ms, batch 1, one thread),
    calibrated on 32 photo crops."""
    import tempfile

    from edgebench.data.photos import photo_inputs
    from edgebench.export import export_onnx
    from edgebench.export.quantize import quantize_int8
    from edgebench.models import build_model, get_spec

    lines = ["| model | FP32 | " + " | ".join(f"INT8 {r.name}" for r in recipes) + " |",
             "|---" * (len(recipes) + 2) + "|"]
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(cache_dir or tmp)
        for model in models:
            spec = get_spec(model)
            fp32 = export_onnx(build_model(spec), cache_dir=cache)
            calib = photo_inputs(tuple(spec.input_shape[1:]), 32, seed=0)
            paths = {"fp32": fp32.path}
            for r in recipes:
                paths[r.name] = quantize_int8(fp32, calib, cache, recipe=r).path
            ms = latency_ms(paths, calib[0])
            lines.append(f"| {model} | " + " | ".join(f"{ms[k]:.2f}" for k in paths) + " |")
            print(lines[-1], flush=True)
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m edgebench.bench.calibration_study", description=__doc__.split("\n")[0])
    ap.add_argument("model", help="a registered model name or path/to/file.py:factory")
    ap.add_argument("--heldout", type=int, default=400, help="held-out photo inputs to compare on (default 400)")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown at the end")
    ap.add_argument("--speed", default="", help="comma-separated models whose INT8 latency to time per recipe "
                    "(e.g. resnet18,resnet50,mobilenet_v2); timing only")
    args = ap.parse_args(argv)
    results = study(args.model, heldout=args.heldout)
    if args.markdown:
        print(to_markdown(results))
    if args.speed:
        print(speed([m for m in args.speed.split(",") if m]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
