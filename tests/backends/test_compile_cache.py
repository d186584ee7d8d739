"""Compiled artifacts reused across runs through edgebench's one cache: OpenVINO's exported
compiled model and torch.compile's Inductor cache artifacts, verified like every entry."""

import numpy as np
import pytest

from edgebench.backends import BackendContext, availability, backend_class
from edgebench.bench.harness import infer
from edgebench.bench.inputs import input_pool


def _loaded():
    from edgebench.models import build_model, get_spec

    return build_model(get_spec("test_cnn"))


def _open(name, loaded, cache, source, batch=1, precision="fp32"):
    context = BackendContext(loaded.spec.input_shape, {"model": "test_cnn", "weights_sha256": loaded.weights_sha256})
    return backend_class(name)(device="cpu", precision=precision, cache_dir=cache, context=context).prepare(source, batch).load()


def test_openvino_compiles_once_then_imports_its_blob_and_a_damaged_blob_is_rebuilt(tmp_path):
    if not availability("openvino").available:
        pytest.skip(f"openvino: {availability('openvino').reason}")
    from edgebench.export import export_onnx

    loaded = _loaded()
    art = export_onnx(loaded, cache_dir=tmp_path)
    x = input_pool(loaded.spec.input_shape, 1, size=1, seed=3)[0]
    outs = []
    for _ in range(2):
        with _open("openvino", loaded, tmp_path, art) as bk:
            outs.append((bk.details["compile_cached"], infer(bk, x)))
    assert [cached for cached, _ in outs] == [False, True]
    np.testing.assert_array_equal(outs[0][1], outs[1][1])
    (blob,) = (tmp_path / "openvino").glob("*/model.blob")
    blob.write_bytes(blob.read_bytes()[:-16] + b"x" * 16)  # same size, other bytes: the hash catches it
    with _open("openvino", loaded, tmp_path, art) as bk:
        assert bk.details["compile_cached"] is False
        np.testing.assert_array_equal(infer(bk, x), outs[0][1])
    with _open("openvino", loaded, tmp_path, art, batch=2) as bk:  # another shape: another entry
        assert bk.details["compile_cached"] is False
    assert len(list((tmp_path / "openvino").glob("*/model.blob"))) == 2


_COMPILE = '''
import json, sys
import numpy as np
from edgebench.backends import BackendContext, backend_class
from edgebench.bench.harness import infer
from edgebench.models import build_model, get_spec
loaded = build_model(get_spec("test_mlp"))  # the smallest model: Inductor's C++ compile is the test's time
context = BackendContext(loaded.spec.input_shape, {"model": "test_mlp", "weights_sha256": loaded.weights_sha256})
bk = backend_class("torch-compile")(device="cpu", cache_dir=sys.argv[1], context=context).prepare(loaded.module, 1)
from torch._inductor import config
threads, call = [], bk._call
bk._call = lambda t: threads.append(config.compile_threads) or call(t)  # the compile threads while it compiles
bk.load()
del bk._call
x = np.random.default_rng(3).standard_normal((1, *loaded.spec.input_shape)).astype(np.float32)
print(json.dumps({"cached": bk.details["compile_cached"], "artifacts": bk.details.get("compile_cache_artifacts"),
                  "out": infer(bk, x).tolist(), "threads": sorted(set(threads)), "default_threads": config.compile_threads}))
'''


def test_torch_compile_reuses_its_inductor_artifacts_from_edgebench_s_cache_in_a_new_process(tmp_path):
    """Two processes, each with an empty Inductor cache of its own: the second finds the first's
    artifacts in edgebench's cache, loads them into Inductor and gives the same outputs, compiling
    with one thread."""
    import json
    import os
    import subprocess
    import sys

    if not availability("torch-compile").available:
        pytest.skip(f"torch-compile: {availability('torch-compile').reason}")
    runs = []
    for i in range(2):
        env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / f"inductor-{i}")}
        out = subprocess.run([sys.executable, "-c", _COMPILE, str(tmp_path / "cache")], env=env, capture_output=True,
                             text=True, timeout=600)
        assert out.returncode == 0, out.stderr[-2000:]
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    assert [r["cached"] for r in runs] == [False, True]
    # a cached compile runs with one compile thread (Inductor then starts no worker pool); a new one as Inductor decides
    assert runs[0]["threads"] == [runs[0]["default_threads"]] and runs[1]["threads"] == [1]
    assert runs[1]["artifacts"] and sum(runs[1]["artifacts"].values()) > 0, runs[1]["artifacts"]
    np.testing.assert_allclose(runs[1]["out"], runs[0]["out"], rtol=1e-5, atol=1e-6)
    assert len(list((tmp_path / "cache" / "torch-compile").glob("*/inductor-artifacts.bin"))) == 1
