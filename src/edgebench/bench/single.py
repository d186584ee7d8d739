"""One model on one backend, outside a suite: `benchmark` (one timed cell, its parity and
accuracy gate), `stream` (a live video source) and `export` (the artifact `bench` and `run` use)."""
from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

from edgebench.backends.base import BackendContext
from edgebench.backends.registry import backend_class, entry
from edgebench.bench import environment
from edgebench.bench.cell import BackendCell
from edgebench.bench.model_cell import ModelCell, check_pristine, load_model, source_key
from edgebench.bench.engine import say_how_known, until_known
from edgebench.bench.lifecycle import new_run_id
from edgebench.bench.recorder import attach_accuracy
from edgebench.config import TimingConfig
from edgebench.config import PRECISIONS, ModelOptions, check_batch_size, resolve_device
from edgebench.errors import InvalidConfigError
from edgebench.results.record import Record


def benchmark(
    model: str,
    backend: str = "onnxruntime",
    batch_size: int = 1,
    precision: str = "fp32",
    device: str = "cpu",
    timing: TimingConfig | None = None,
    num_classes: int | None = None,
    weights: str | None = None,
    pretrained: bool = False,
    input_shape: tuple[int, ...] | None = None,
    opset: int = 18,
    pool_size: int = 8,
    cache_dir: str | Path | None = None,
    check_overhead: bool = False,
    backend_options: dict | None = None,
    data: str | None = None,
    calibration_size: int = 32,
    check_size: int = 256,
    env: dict | None = None,
    profile: bool = False,
) -> Record:
    """Benchmark one model on one backend; returns the Record (statistics in `.latency.host`;
    parity against PyTorch FP32 on task inputs in `.accuracy.max_abs_diff` / `.cosine_similarity`
    / `.top1_agreement`; the precision's accuracy gate in `.accuracy.gate`). `env`: the
    environment it runs in (bench.environment.capture(), taken here when not given). `profile`:
    the runtime's per-layer profile in `.details["layer_profile"]`, taken after the timing."""
    check_batch_size(batch_size)
    entry(backend)  # unknown names fail before any work
    if precision not in PRECISIONS:
        raise InvalidConfigError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    device = resolve_device(device)
    cell = ModelCell(
        model,
        ModelOptions(num_classes, weights, pretrained, input_shape, opset, data=data, calibration_size=calibration_size,
                     check_size=check_size),
        batch_size,
        pool_size,
        Path(cache_dir) if cache_dir else None,
    )
    # one cell in this process: one timing process (bench.spread is the suite's)
    timing = replace(timing or TimingConfig(), processes=1)
    env = environment.capture() if env is None else env
    bc = BackendCell(cell, backend, new_run_id(), device, precision, timing, env, backend_options, strict=True,
                     profile=profile)
    if bc.open():
        bc.measure(timing)
        if timing.ci_pct is not None:
            until_known([bc], [timing], lambda arm, what: None)
    values = list(bc.values)
    rec = bc.finish(check_overhead)
    if timing.ci_pct is not None:
        say_how_known(rec, values, timing)
    attach_accuracy(rec, cell.check_info(), bc.outputs, cell.reference_outputs(),
                    no_reference="the model has no PyTorch module (an ONNX file)")
    return rec


def stream(
    model: str,
    source: str,
    backend: str = "onnxruntime",
    target_fps: float = 30.0,
    stride: int = 1,
    max_frames: int | None = None,
    show: bool = False,
    device: str = "cpu",
    precision: str = "fp32",
    num_classes: int | None = None,
    weights: str | None = None,
    class_names: list[str] | None = None,
    opset: int = 18,
    cache_dir: str | Path | None = None,
):
    """Run a model over a video file or camera in real time; returns a bench.stream.StreamResult.
    Class names default to the ones stored in an `edgebench train` checkpoint."""
    from edgebench.bench.stream import StreamConfig, check_frame_input, run_stream

    cfg = StreamConfig(source, target_fps, stride, max_frames, show)
    entry(backend)
    device = resolve_device(device)
    cell = ModelCell(model, ModelOptions(num_classes, weights, False, None, opset), 1, 1,
                     Path(cache_dir) if cache_dir else None)
    check_frame_input(cell.item_shape)  # before anything is exported
    if class_names is None and weights:
        class_names = _checkpoint_classes(weights)
    bk = backend_class(backend)(device=device, precision=precision, cache_dir=cell.cache_dir,
                                context=BackendContext(tuple(cell.item_shape), cell.source_key()))
    with bk:
        bk.prepare(cell.source_for(bk.consumes, precision), 1)
        bk.load()
        return run_stream(bk, cell.item_shape, cfg, class_names, decode=cell.parity_info().decode)


def _checkpoint_classes(weights: str) -> list[str] | None:
    import torch

    try:
        obj = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception:
        return None
    meta = obj.get("meta", {}) if isinstance(obj, dict) else {}
    return meta.get("classes")


def export(model: str, opts: ModelOptions | None = None, cache_dir: str | Path | None = None,
           format: str = "onnx", device: str = "cpu", precision: str = "fp32"):
    """Export a model as `bench` and `run` do (the same weights, the same cached file): an ONNX
    export.Artifact, or for format "aot-inductor" the compiled package's backend (`.package`)."""
    opts = opts or ModelOptions()
    cache = Path(cache_dir) if cache_dir else None
    loaded = load_model(model, opts, cache)
    if format == "aot-inductor":
        context = BackendContext(tuple(loaded.spec.input_shape), source_key(model, loaded))
        bk = backend_class("aot-inductor")(device=device, precision=precision, cache_dir=cache, context=context)
        bk.prepare(copy.deepcopy(loaded.module), 1)  # it may cast or move its module
        return bk
    if format != "onnx":
        raise InvalidConfigError(f"export format must be onnx or aot-inductor, not {format!r}")
    from edgebench.export import export_onnx

    art = export_onnx(loaded, opset=opts.opset, cache_dir=cache)
    check_pristine(loaded)
    return art

