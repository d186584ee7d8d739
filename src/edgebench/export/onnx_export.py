"""nn.Module -> ONNX (the paper's step 1): named input/output, dynamic batch axis, checker,
output parity against PyTorch, and a cache keyed by everything that changes the file."""
from __future__ import annotations

import contextlib
import io
import json
import re
import time
import warnings
from pathlib import Path

from edgebench.cache import Cache
from edgebench.errors import ArtifactError, ExportError
from edgebench.export.artifact import Artifact
from edgebench.hashing import file_sha256
from edgebench.models import inputs
from edgebench.models.outputs import SINGLE

OUTPUT_NAME = SINGLE  # a one-tensor model's output (models.outputs names the outputs of any other)
DEFAULT_OPSET = 18
# The dynamo exporter emits opset 18+; older opsets (e.g. 13 for JetPack 4.6's TensorRT 8.2)
# need the TorchScript exporter, which torch still ships.
DYNAMO_MIN_OPSET = 18
# FP32 ONNX vs FP32 PyTorch: different kernels and fusions, same arithmetic; differences are
# rounding (~1e-6 relative). 1e-3 relative leaves room for deep nets and still catches a wrong graph.
PARITY_RTOL = 1e-3
FILE = "model.onnx"  # the file in its cache entry


def export_onnx(loaded, opset: int = DEFAULT_OPSET, cache_dir: Path | None = None, exporter: str = "auto") -> Artifact:
    """Export `loaded` (a models.LoadedModel) to ONNX, or return the cached file.

    Cache key: model name, weights hash and label, opset, input shape, class count, torch version,
    exporter (the label is in the file's metadata, so it is part of what makes the bytes).
    """
    import torch

    if exporter == "auto":
        exporter = "dynamo" if opset >= DYNAMO_MIN_OPSET else "torchscript"
    spec = loaded.spec
    key_fields = {
        "model": spec.name,
        "weights_sha256": loaded.weights_sha256,
        "weights": loaded.weights,
        "opset": opset,
        "input_shape": inputs.to_json(spec.input_shape),
        "num_classes": loaded.num_classes,
        "torch": torch.__version__,
        "exporter": exporter,
    }
    t0 = time.perf_counter()
    entry = Cache(cache_dir).get_or_build(
        "onnx", key_fields, lambda folder: _build(loaded, folder / FILE, key_fields, opset, exporter), label=spec.name)
    return Artifact.from_entry(entry, FILE, 0.0 if entry.cached else time.perf_counter() - t0)


def _build(loaded, path: Path, key_fields: dict, opset: int, exporter: str) -> dict:
    """Export to `path` (inside a cache entry being written), check it, and return its metadata;
    any failure raises ExportError and leaves no entry."""
    import torch

    spec = loaded.spec
    # batch 2 for tracing: a batch of 1 lets the exporter specialise the axis to a constant
    example = inputs.torch_batch(spec.input_shape, 2, "randn")
    input_names = inputs.names(spec.input_shape)
    with torch.inference_mode():
        names, batched = _outputs(loaded.module, example, spec.name)
    dynamic_axes = {**{name: {0: "batch"} for name in input_names}, **{name: {0: "batch"} for name in batched}}
    try:
        flat = _flat_module(loaded.module, len(input_names)) if names != [OUTPUT_NAME] else loaded.module
        _torch_export(flat, example, path, opset, exporter,
                      input_names, names, dynamic_axes)
        import onnx

        onnx.checker.check_model(str(path))
    except Exception as exc:
        unbatched = [n for n in names if n not in batched]
        listed = ", ".join(unbatched[:4]) + (" ..." if len(unbatched) > 4 else "")
        hint = ((f"; output {listed} has no batch axis (its size depends" if len(unbatched) == 1 else
                 f"; outputs {listed} have no batch axis (their size depends")
                + " on the data, as detections after NMS do): run this model on pytorch or torch-compile, or export "
                "the network without its post-processing") if unbatched else ""
        raise ExportError(f"ONNX export of {spec.name} failed ({exporter}, opset {opset}): {type(exc).__name__}: "
                          f"{_first_line(exc)}{hint}") from exc
    meta = {
        **key_fields,
        "format": "onnx",
        "input_name": input_names[0],
        "input_names": input_names,
        "output_name": names[0],
        "output_names": names,
        "dynamic_axes": {k: {str(a): v for a, v in axes.items()} for k, axes in dynamic_axes.items()},
        "task": spec.task,
        "onnx": _version("onnx"),
    }
    _write_metadata_props(path, meta)
    # Fresh inputs at another batch size: an exporter that traced a value into a constant or
    # fixed the batch axis shows up here instead of in a benchmark's numbers.
    probe = inputs.torch_batch(spec.input_shape, 3, "randn")
    diff, scale, which = _parity(loaded.module, path, probe, input_names)
    if not diff <= PARITY_RTOL * max(1.0, scale):
        raise ExportError(
            f"ONNX export of {spec.name} ({exporter}) disagrees with PyTorch: max abs diff {diff:.3g} on outputs of "
            f"magnitude {scale:.3g} at batch 3{which}; the model may have data-dependent or non-exportable code"
        )
    meta["max_abs_diff_vs_torch"] = diff
    return meta


def _outputs(module, example, name: str) -> tuple[list[str], list[str]]:
    """(the output names (models.outputs), those whose first axis is the batch) on `example`."""
    from edgebench.models import outputs

    pairs = outputs.flatten(inputs.call(module, example), where=name)
    batch = inputs.length(example)
    return [n for n, _ in pairs], [n for n, t in pairs if t.dim() > 0 and t.shape[0] == batch]


def _flat_module(module, inputs_count: int = 1):
    """`module` returning its outputs as a flat tuple in models.outputs' order (what ONNX holds).
    Its forward declares one parameter per input: torch.export maps the exporter's per-input
    dynamic axes onto the parameters (a *args parameter would be one tuple input)."""
    import inspect

    from torch import nn

    from edgebench.models import outputs

    class Flat(nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *xs):
            return outputs.tensors(self.inner(*xs))

    P = inspect.Parameter
    Flat.forward.__signature__ = inspect.Signature(
        [P("self", P.POSITIONAL_OR_KEYWORD)] + [P(f"x{k}", P.POSITIONAL_OR_KEYWORD) for k in range(inputs_count)])
    return Flat(module).eval()


def _torch_export(module, example, path: Path, opset: int, exporter: str, input_names: list[str], names: list[str],
                  dynamic_axes: dict) -> None:
    import torch

    kwargs = dict(
        input_names=input_names,
        output_names=names,
        dynamic_axes=dynamic_axes,
        opset_version=opset,
        dynamo=exporter == "dynamo",
    )
    if exporter == "dynamo":
        kwargs["external_data"] = False
    sink = io.StringIO()  # the exporters print progress lines; keep the terminal for our own
    with warnings.catch_warnings(), contextlib.redirect_stdout(sink), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, inputs.parts(example), str(path), **kwargs)


def _write_metadata_props(path: Path, meta: dict) -> None:
    import onnx

    model = onnx.load(str(path))
    del model.metadata_props[:]
    for k, v in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = f"edgebench.{k}", json.dumps(v) if not isinstance(v, str) else v
    onnx.save(model, str(path))


def _parity(module, path: Path, example, input_names: list[str]) -> tuple[float, float, str]:
    """(max abs difference, max abs reference value, which output differs most) of ONNX Runtime's
    vs PyTorch's outputs, output by output."""
    import numpy as np
    import onnxruntime as ort
    import torch

    from edgebench.models import outputs

    with torch.inference_mode():
        ref = outputs.flatten(inputs.call(module, example))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, inputs.feed(input_names, inputs.apply(lambda t: t.numpy(), example)))
    worst, scale, which = 0.0, 0.0, ""
    for (name, r), o in zip(ref, got):
        r = r.float().numpy().astype(np.float64)
        scale = max(scale, float(np.max(np.abs(r))) if r.size else 0.0)
        if o.shape != r.shape:
            return float("inf"), scale, f" (output {name}: shape {tuple(o.shape)}, not {tuple(r.shape)})"
        diff = float(np.max(np.abs(o.astype(np.float64) - r))) if r.size else 0.0
        if diff > worst:
            worst, which = diff, f" (output {name})" if len(ref) > 1 else ""
    if len(got) != len(ref):
        return float("inf"), scale, f" ({len(got)} outputs, not {len(ref)})"
    return worst, scale, which


def load_onnx_file(path: str | Path) -> Artifact:
    """Take a user's existing .onnx file: it must pass the checker, and every input's axes but the
    first (the batch, dynamic or one fixed size for all) must be fixed."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"ONNX file {path} does not exist; pass the path of a .onnx file")
    try:
        onnx.checker.check_model(str(path))
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise ArtifactError(f"{path} fails the ONNX checker ({_first_line(exc)}); re-export it or pass a valid .onnx file") from exc
    feeds = [i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    if not feeds:
        raise ArtifactError(f"{path} has no graph input; pass a model that takes an input")
    pairs, batches = [], set()
    for feed in feeds:
        elem = feed.type.tensor_type.elem_type
        if elem != onnx.TensorProto.FLOAT:
            raise ArtifactError(f"{path} input {feed.name} is {onnx.TensorProto.DataType.Name(elem).lower()}; edgebench feeds "
                                "float32 inputs, so re-export the model with float inputs (cast inside the model)")
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in feed.type.tensor_type.shape.dim]
        if len(dims) < 2 or any(d <= 0 for d in dims[1:]):
            raise ArtifactError(f"{path} input {feed.name} has shape {dims}; every axis but the batch axis must be fixed")
        pairs.append((feed.name, dims[1:]))
        batches.add(dims[0] if dims[0] > 0 else None)
    if len(batches) > 1:
        raise ArtifactError(f"{path}'s inputs {', '.join(f.name for f in feeds)} do not share one batch axis (some fixed, or "
                            "fixed at different sizes); export them all with a dynamic batch axis")
    params = sum(int(_numel(t.dims)) for t in model.graph.initializer)
    meta = {
        "model": path.stem,
        "input_name": feeds[0].name,
        "input_names": [f.name for f in feeds],
        "output_name": model.graph.output[0].name,
        "output_names": [o.name for o in model.graph.output],
        "input_shape": inputs.to_json(inputs.normalize(pairs) if len(pairs) > 1 else pairs[0][1]),
        "static_batch": batches.pop(),  # a fixed batch axis: the file runs at that batch only
        "opset": max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0),
        "params": params,
        "source": "onnx-file",
    }
    return Artifact("onnx", path, file_sha256(path), path.stat().st_size, meta, 0.0, True)


def _numel(dims) -> int:
    n = 1
    for d in dims:
        n *= d
    return n


def _first_line(exc: BaseException) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc)).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def _version(module: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(module)
    except PackageNotFoundError:
        return "absent"
