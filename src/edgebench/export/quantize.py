"""FP32 ONNX -> INT8 ONNX by post-training static quantization (ONNX Runtime's quantizer): QDQ
format, INT8 weights, UINT8 activations whose ranges a CalibrationRecipe sets from inputs of
the model's task. Cached like every artifact: keyed by the FP32 file's hash, the calibration
inputs' hash, the recipe and onnxruntime's version. QDQ models run on ONNX Runtime, OpenVINO
and TensorRT (explicit quantization)."""
from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from edgebench.cache import Cache
from edgebench.errors import ExportError, InvalidConfigError
from edgebench.hashing import arrays_sha256
from edgebench.export.artifact import Artifact

METHODS = ("minmax", "entropy", "percentile")
FILE = "model.int8.onnx"  # the file in its cache entry


@dataclass(frozen=True)
class CalibrationRecipe:
    """How activation ranges and weight scales are chosen. `method`: "minmax" (the observed
    range), "entropy" (the range that minimises the KL divergence of the quantized histogram)
    or "percentile" (the range holding `percentile` % of the values; clips outliers).
    `per_channel`: one weight scale per output channel (depthwise convolutions with folded
    BatchNorm need it: their channels' ranges differ by orders of magnitude).
    `reduce_range`: 7-bit weights (avoids VPMADDUBSW saturation on pre-VNNI x86).
    `symmetric_activations`: activation ranges centred on 0 (zero point 128).
    `weights`: "int8" (signed; what TensorRT and most runtimes take) or "uint8" (ONNX Runtime's
    U8U8 kernels, which do not saturate on x86 without VNNI; see int8_saturates_here).
    `fp32_first_convs`: how many convolutions, from the input on, may stay FP32 (the stem); of
    those, the ones with a fan-in (input channels per group x kernel size) of at most
    `fp32_max_fan_in` do. The first layers' rounding errors pass through every later one: on
    EfficientNet-Lite0 the stem convolution (3x3 on RGB, fan-in 27) and the first depthwise
    one (fan-in 9) alone cost as much cosine as all other layers' INT8 weights together. Such
    short dot products gain little from INT8 kernels (VNNI needs long reductions), so FP32
    costs nothing there (Lite0, MobileNetV2: INT8 latency unchanged), while a ResNet's 7x7
    stem (fan-in 147) in FP32 made its INT8 model 17-45% slower (2-core AMD EPYC with AVX-512
    VNNI, one thread): it stays INT8."""

    method: str = "minmax"
    per_channel: bool = True
    reduce_range: bool = False
    symmetric_activations: bool = False
    weights: str = "int8"
    percentile: float = 99.999  # only for method="percentile"
    fp32_first_convs: int = 2
    fp32_max_fan_in: int = 27

    def __post_init__(self):
        if self.method not in METHODS:
            raise InvalidConfigError(f"calibration method must be one of {', '.join(METHODS)}, not {self.method!r}")
        if self.weights not in ("int8", "uint8"):
            raise InvalidConfigError(f"calibration weights must be int8 or uint8, not {self.weights!r}")
        if not 90.0 <= self.percentile < 100.0:
            raise InvalidConfigError(f"calibration percentile must be in [90, 100), not {self.percentile}")
        for name in ("fp32_first_convs", "fp32_max_fan_in"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InvalidConfigError(f"{name} must be an integer >= 0, not {value!r}")

    @property
    def name(self) -> str:
        """A short stable label, e.g. "percentile(99.99)/per-channel"."""
        head = f"percentile({self.percentile:g})" if self.method == "percentile" else self.method
        parts = [head, "per-channel" if self.per_channel else "per-tensor"]
        if self.reduce_range:
            parts.append("reduce-range")
        if self.symmetric_activations:
            parts.append("symmetric-act")
        if self.weights != "int8":
            parts.append(f"{self.weights}-weights")
        if self.fp32_first_convs:
            parts.append(f"fp32-first-{self.fp32_first_convs}-convs-fan-in<={self.fp32_max_fan_in}")
        return "/".join(parts)

    def to_dict(self) -> dict:
        d = asdict(self)
        if self.weights == "int8":  # left out, so that cached models made before it keep their keys
            d.pop("weights")
        if self.method != "percentile":
            d.pop("percentile")
        if not self.fp32_first_convs:
            d.pop("fp32_max_fan_in")
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "CalibrationRecipe":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise InvalidConfigError(f"unknown calibration recipe field(s) {unknown}; known: {sorted(known)}")
        return cls(**d)


#: chosen from docs/results/int8-calibration-efficientnet-lite0.md (python -m edgebench.bench.calibration_study):
#: min-max with per-channel weights and the first two convolutions in FP32 where their fan-in
#: is at most 27 (a 3x3 stem on RGB, depthwise ones). Entropy and
#: percentile ranges measured no better (ReLU6 bounds most activations) and took 2-8x longer
DEFAULT_RECIPE = CalibrationRecipe()


def int8_saturates_here() -> bool:
    """Whether this CPU's INT8 kernels can saturate: x86 without VNNI (AVX2 / AVX-512BW) multiplies
    u8 x s8 pairs with VPMADDUBSW, whose 16-bit sums of two products overflow; ONNX Runtime's
    documented remedies are 7-bit weights (reduce_range) or U8U8 (uint8 weights). Measured on a
    2-core AMD EPYC with AVX2 and no VNNI, EfficientNet-Lite0 on the gate's photo crops: 8-bit
    signed weights cosine 0.973, top-1 94.2% (failed); 7-bit top-1 95.7% (failed); uint8
    weights passed."""
    import platform

    from edgebench.system import cpu_flags

    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686"):
        return False
    return not cpu_flags() & {"avx512_vnni", "avx_vnni", "amx_int8"}


def host_cpu_recipe() -> CalibrationRecipe:
    """The recipe for a model ONNX Runtime runs on this CPU: DEFAULT_RECIPE, with uint8 weights
    where the CPU's INT8 kernels saturate. (Models for TensorRT or a target keep signed weights:
    TensorRT takes only int8 weights.) The recipe is part of the cached model's key."""
    return replace(DEFAULT_RECIPE, weights="uint8") if int8_saturates_here() else DEFAULT_RECIPE


def _fp32_convs(model_path: Path, count: int, max_fan_in: int) -> list[str]:
    """Names of those of the first `count` Conv nodes (graph order, which is topological) whose
    weight has a fan-in of at most `max_fan_in`; unnamed nodes are named in the file first
    (the quantizer excludes nodes by name)."""
    if count == 0:
        return []
    import math

    import onnx

    model = onnx.load(str(model_path))
    weights = {t.name: list(t.dims) for t in model.graph.initializer}
    convs = [n for n in model.graph.node if n.op_type == "Conv"][:count]
    keep = [n for n in convs if len(n.input) > 1 and n.input[1] in weights
            and math.prod(weights[n.input[1]][1:]) <= max_fan_in]
    if any(not n.name for n in keep):
        taken = {n.name for n in model.graph.node}
        for i, n in enumerate(model.graph.node):
            if not n.name:
                n.name = next(f"{n.op_type}_{i}_{j}" for j in range(len(taken) + 1) if f"{n.op_type}_{i}_{j}" not in taken)
        onnx.save(model, str(model_path))
    return [n.name for n in keep]


def _ort_settings(recipe: CalibrationRecipe):
    from onnxruntime.quantization import CalibrationMethod

    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
              "percentile": CalibrationMethod.Percentile}[recipe.method]
    # stated explicitly: ONNX Runtime's Percentile calibrator defaults to a symmetric range,
    # which wastes half of UINT8 on ReLU/ReLU6 outputs
    extra = {"ActivationSymmetric": recipe.symmetric_activations,
             "CalibTensorRangeSymmetric": recipe.symmetric_activations}
    if recipe.method == "percentile":
        extra["CalibPercentile"] = recipe.percentile
    return method, extra


def quantize_int8(fp32: Artifact, calibration: list, cache_dir: Path | None = None,
                  recipe: CalibrationRecipe | None = None, calibration_desc: str = "") -> Artifact:
    """`calibration`: single inputs (item shape, float32); each is fed as a batch of one.
    `recipe`: DEFAULT_RECIPE when None. The artifact's `export_s` is the calibration +
    quantization time in seconds, with the writing of its cache entry (0.0 when served from
    the cache)."""
    import onnxruntime as ort

    recipe = recipe or DEFAULT_RECIPE
    if not calibration:
        raise ExportError("INT8 quantization needs calibration inputs; pass --calibration-data or use a task with defaults")
    key_fields = {"fp32_sha256": fp32.sha256, "calibration_sha256": arrays_sha256(calibration),
                  "calibration_size": len(calibration), "format": "QDQ", "activations": "uint8",
                  "weights": recipe.weights, "recipe": recipe.to_dict(), "onnxruntime": ort.__version__}
    t0 = time.perf_counter()
    entry = Cache(cache_dir).get_or_build(
        "int8", key_fields, lambda folder: _build(fp32, calibration, folder / FILE, recipe, key_fields, calibration_desc),
        label=str(fp32.metadata.get("model") or fp32.path.stem))
    return Artifact.from_entry(entry, FILE, 0.0 if entry.cached else time.perf_counter() - t0)


def _build(fp32: Artifact, calibration: list, path: Path, recipe: CalibrationRecipe, key_fields: dict,
           calibration_desc: str) -> dict:
    """Calibrate and quantize `fp32` into `path` (inside a cache entry being written) and return
    the INT8 model's metadata; any failure raises ExportError and leaves no entry."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from edgebench.export.artifact import input_names
    from edgebench.models.inputs import feed, stack

    names = input_names(fp32)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(calibration)

        def get_next(self):
            x = next(self.it, None)
            return None if x is None else feed(names, stack([x]))

    t0 = time.perf_counter()
    source = path.parent / "preprocessed.onnx"
    method, extra = _ort_settings(recipe)
    try:
        import contextlib
        import io
        import logging

        from onnxruntime.quantization.shape_inference import quant_pre_process

        quiet = logging.getLogger().level
        logging.getLogger().setLevel(logging.ERROR)  # the quantizer logs advice on the root logger
        try:
            try:  # shape inference + graph cleanup, as ONNX Runtime recommends before quantizing
                quant_pre_process(str(fp32.path), str(source))
            except Exception:
                shutil.copyfile(fp32.path, source)
            with contextlib.redirect_stdout(io.StringIO()):  # entropy/percentile calibrators print progress
                quantize_static(
                    str(source), str(path), Reader(), quant_format=QuantFormat.QDQ, per_channel=recipe.per_channel,
                    reduce_range=recipe.reduce_range, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QUInt8 if recipe.weights == "uint8" else QuantType.QInt8,
                    calibrate_method=method, extra_options=extra,
                    nodes_to_exclude=_fp32_convs(source, recipe.fp32_first_convs, recipe.fp32_max_fan_in),
                )
        finally:
            logging.getLogger().setLevel(quiet)
            source.unlink(missing_ok=True)
    except Exception as exc:
        raise ExportError(f"INT8 quantization of {fp32.path.name} failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}") from exc
    seconds = time.perf_counter() - t0
    meta = {**fp32.metadata, **key_fields, "precision": "int8", "calibration": calibration_desc,
            "recipe_name": recipe.name, "quantize_s": round(seconds, 3)}
    meta.pop("max_abs_diff_vs_torch", None)
    meta.pop("sha256", None)  # the FP32 file's; the entry's manifest holds this file's
    return meta
