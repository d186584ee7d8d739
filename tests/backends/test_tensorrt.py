"""TensorRT: the plain parts (profile, cache key, error text) everywhere; the engine build and
inference only where the tensorrt module and a GPU exist."""
from pathlib import Path

import numpy as np
import pytest

from edgebench.backends.tensorrt_backend import engine_cache_fields, format_parser_errors, profile_shapes
from edgebench.errors import InvalidConfigError


def test_profile_is_min_1_opt_batch_max_at_least_batch():
    assert profile_shapes((3, 224, 224), 8) == ((1, 3, 224, 224), (8, 3, 224, 224), (8, 3, 224, 224))
    assert profile_shapes((3, 8, 8), 2, max_batch=32)[2] == (32, 3, 8, 8)
    assert profile_shapes((3, 8, 8), 4, max_batch=2)[2] == (4, 3, 8, 8)
    with pytest.raises(InvalidConfigError):
        profile_shapes((3, 8, 8), 0)


def test_engine_key_changes_with_everything_that_invalidates_an_engine():
    from edgebench.cache import cache_key

    base = dict(onnx_sha256="a" * 64, trt_version="10.3.0", gpu="Orin sm_87", precision="fp16",
                profile=profile_shapes((3, 8, 8), 1), workspace=1 << 30)
    key = cache_key(engine_cache_fields(**base))
    for field, other in [("onnx_sha256", "b" * 64), ("trt_version", "10.4.0"), ("gpu", "H100 sm_90"),
                         ("precision", "fp32"), ("profile", profile_shapes((3, 8, 8), 4)), ("workspace", 1 << 28)]:
        assert cache_key(engine_cache_fields(**{**base, field: other})) != key, field
    assert cache_key(engine_cache_fields(**base)) == key


def test_engine_cache_builds_once_verifies_and_rebuilds_without_tensorrt(tmp_path):
    from edgebench.backends.tensorrt_backend import cached_engine, rebuild_engine
    from edgebench.cache import Cache

    cache, builds = Cache(tmp_path), []
    fields = engine_cache_fields("a" * 64, "10.3.0", "Orin sm_87", "fp16", profile_shapes((3, 8, 8), 1), 1 << 30)

    def build():
        builds.append(1)
        return b"serialized engine %d" % len(builds)

    data, entry = cached_engine(cache, fields, build, "test_cnn")
    assert data == b"serialized engine 1" and entry.status == "built" and entry.fields == fields
    assert cached_engine(cache, fields, build, "test_cnn")[1].cached and len(builds) == 1
    entry.path("model.engine").write_bytes(b"serialized engine X")  # altered on disk: never loaded
    data, again = cached_engine(cache, fields, build, "test_cnn")
    assert data == b"serialized engine 2" and again.status == "rebuilt: model.engine's sha256 differs from its manifest"
    data, fresh = rebuild_engine(cache, fields, build, "test_cnn")  # e.g. it would not deserialize
    assert data == b"serialized engine 3" and fresh.status == "built"

    def failing():
        raise RuntimeError("builder ran out of memory")

    other = {**fields, "precision": "int8"}
    with pytest.raises(RuntimeError):
        cached_engine(cache, other, failing, "test_cnn")
    assert cache.get("tensorrt", other, "test_cnn") is None and len(list((tmp_path / "tensorrt").iterdir())) == 1


def test_parser_errors_are_one_line():
    text = format_parser_errors(["In node 3 (Foo):\nUNSUPPORTED", "b", "c", "d"], Path("m.onnx"))
    assert "\n" not in text and "m.onnx" in text and "+1 more" in text


@pytest.mark.tensorrt
def test_tensorrt_engine_matches_pytorch_and_is_cached(tiny_loaded, tmp_path):
    import torch

    from edgebench.backends import create_backend
    from edgebench.bench.harness import infer
    from edgebench.export import export_onnx

    art = export_onnx(tiny_loaded, cache_dir=tmp_path)
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32), dtype=np.float32)
    with torch.inference_mode():
        ref = tiny_loaded.module(torch.from_numpy(x)).numpy()
    with create_backend("tensorrt", cache_dir=tmp_path).prepare(art, 2).load() as bk:
        np.testing.assert_allclose(infer(bk, x), ref, rtol=1e-3, atol=1e-4)
        assert bk.details["engine_cached"] is False
    with create_backend("tensorrt", cache_dir=tmp_path).prepare(art, 2).load() as bk:
        assert bk.details["engine_cached"] is True
