"""FP32 ONNX -> INT8 ONNX by post-training static quantization (ONNX Runtime's quantizer):
QDQ format, per-channel symmetric INT8 weights, UINT8 activations calibrated (min-max) on inputs
from the model's task. Cached like every artifact: keyed by the FP32 file's hash, the
calibration inputs' hash, the settings and onnxruntime's version. QDQ models run on ONNX
Runtime, OpenVINO and TensorRT (explicit quantization)."""
from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

from edgebench.errors import ExportError
from edgebench.export.artifact import Artifact, cache_key, default_cache_dir, file_sha256


def quantize_int8(fp32: Artifact, calibration: list, cache_dir: Path | None = None, per_channel: bool = True,
                  calibration_desc: str = "") -> Artifact:
    """`calibration`: single inputs (item shape, float32); each is fed as a batch of one."""
    import numpy as np
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static

    if not calibration:
        raise ExportError("INT8 quantization needs calibration inputs; pass --calibration-data or use a task with defaults")
    h = hashlib.sha256()
    for x in calibration:
        h.update(np.ascontiguousarray(x, dtype=np.float32).tobytes())
    fields = {"fp32_sha256": fp32.sha256, "calibration_sha256": h.hexdigest(), "calibration_size": len(calibration),
              "format": "QDQ", "per_channel": per_channel, "activations": "uint8", "weights": "int8",
              "method": "minmax", "onnxruntime": ort.__version__}
    key = cache_key(fields)
    folder = Path(cache_dir or default_cache_dir()) / "int8" / f"{fp32.path.parent.name}-{key[:16]}"
    path, meta_path = folder / "model.int8.onnx", folder / "meta.json"
    if path.is_file() and meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("sha256") == file_sha256(path):
            return Artifact("onnx", path, meta["sha256"], path.stat().st_size, meta, 0.0, True)
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    name = fp32.input_name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(calibration)

        def get_next(self):
            x = next(self.it, None)
            return None if x is None else {name: np.ascontiguousarray(x, dtype=np.float32)[None]}

    t0 = time.perf_counter()
    source = folder / "preprocessed.onnx"
    try:
        import logging

        from onnxruntime.quantization.shape_inference import quant_pre_process

        quiet = logging.getLogger().level
        logging.getLogger().setLevel(logging.ERROR)  # the quantizer logs advice on the root logger
        try:
            try:  # shape inference + graph cleanup, as ONNX Runtime recommends before quantizing
                quant_pre_process(str(fp32.path), str(source))
            except Exception:
                shutil.copyfile(fp32.path, source)
            quantize_static(
                str(source), str(path), Reader(), quant_format=QuantFormat.QDQ, per_channel=per_channel,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax,
            )
        finally:
            logging.getLogger().setLevel(quiet)
            source.unlink(missing_ok=True)
    except Exception as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise ExportError(f"INT8 quantization of {fp32.path.name} failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}") from exc
    meta = {**fp32.metadata, **fields, "precision": "int8", "calibration": calibration_desc}
    meta.pop("max_abs_diff_vs_torch", None)
    meta["sha256"] = file_sha256(path)
    meta_path.write_text(json.dumps(meta, indent=2))
    return Artifact("onnx", path, meta["sha256"], path.stat().st_size, meta, time.perf_counter() - t0, False)
