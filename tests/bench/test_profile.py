"""Per-layer profiles from each runtime's own profiler on the tiny CNN: what they name, that their
files never reach the working directory, and that the profile runs apart from the timed window."""
from __future__ import annotations

import copy
import tempfile

import pytest

from edgebench.backends import BackendContext, create_backend
from edgebench.bench import environment
from edgebench.bench import profile as profile_mod
from edgebench.bench.cell import BackendCell
from edgebench.bench.model_cell import ModelCell
from edgebench.config import ModelOptions, SuiteConfig
from edgebench.results import Status


@pytest.fixture
def quiet_cwd(tmp_path, monkeypatch):
    """An empty working directory: a profiler file written there is found."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    yield cwd
    assert list(cwd.iterdir()) == [], "a profiler wrote into the working directory"


@pytest.fixture
def quiet_dirs(quiet_cwd, tmp_path, monkeypatch):
    """The working directory, and the folder bench.profile makes its temporary folders in, both
    empty: a profiler file left in either is found. (Only bench.profile's: torch keeps caches in
    the process's temporary folder, chosen once.)"""
    import types

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    made = []

    def temporary_directory(**kw):
        folder = tempfile.TemporaryDirectory(dir=tmp, **kw)
        made.append(folder.name)
        return folder

    monkeypatch.setattr(profile_mod, "tempfile", types.SimpleNamespace(TemporaryDirectory=temporary_directory))
    yield quiet_cwd, made
    assert made and list(tmp.iterdir()) == [], "the profiler's temporary folder was left behind"


@pytest.fixture(scope="module")
def cnn():
    cell = ModelCell("test_cnn", ModelOptions(), 1, 2, None)
    cell.artifact()  # exported before the tests watch the folders
    return cell


def _profiled(cnn, backend, fast_timing):
    bc = BackendCell(cnn, backend, "run-1", "cpu", "fp32", fast_timing, environment.capture(), profile=True)
    assert bc.open(), bc.rec.error
    bc.measure(fast_timing)
    rec = bc.finish()
    assert rec.status is Status.OK, rec.error
    assert "no_layer_profile" not in rec.details, rec.details["no_layer_profile"]
    profile = rec.details["layer_profile"]
    assert set(profile) == {"source", "queries", "layers"}
    assert profile["queries"] == profile_mod.profile_queries(rec.latency.host.p50_ms / 1e3)
    for row in profile["layers"]:
        assert set(row) == {"layer", "op_type", "total_ms", "average_ms", "median_ms", "percentage"}
        assert row["total_ms"] >= 0 and row["average_ms"] == pytest.approx(row["total_ms"] / profile["queries"], abs=1e-5)
    assert sum(row["percentage"] for row in profile["layers"]) == pytest.approx(100, abs=0.01)
    return profile


def test_onnxruntime_profiles_the_nodes_of_its_optimised_graph(cnn, fast_timing, quiet_dirs):
    profile = _profiled(cnn, "onnxruntime", fast_timing)
    assert profile["source"] == "onnxruntime session profiling"
    ops = [row["op_type"] for row in profile["layers"]]
    assert ops.count("Conv") == 2 and "MaxPool" in ops and "Gemm" in ops  # test_cnn's two convolutions, pool, head
    assert all(row["median_ms"] is not None for row in profile["layers"])  # the trace has every run apart


def test_onnxruntime_writes_its_trace_only_into_the_folder_it_is_given(cnn, tmp_path, quiet_cwd):
    bk = create_backend("onnxruntime", context=BackendContext(cnn.item_shape, cnn.source_key()))
    folder = tmp_path / "profile"
    folder.mkdir()
    with bk.prepare(cnn.artifact(), 1).load():
        raw = bk.profile(cnn.pool[0], queries=4, warmup=2, folder=folder)
    assert raw.queries == 4 and all(len(lt.per_query_ms) == 4 for lt in raw.layers)  # the warm-up runs left out
    assert [p.name.startswith("onnxruntime_") and p.suffix == ".json" for p in folder.iterdir()] == [True]


def test_openvino_profiles_its_per_layer_counters(cnn, fast_timing, quiet_dirs):
    pytest.importorskip("openvino")
    profile = _profiled(cnn, "openvino", fast_timing)
    assert profile["source"] == "openvino per-layer counters"
    ops = [row["op_type"] for row in profile["layers"]]
    assert ops.count("Convolution") == 2 and "MaxPool" in ops
    assert all(row["median_ms"] is not None for row in profile["layers"])


def test_pytorch_profiles_torch_ops_by_input_shape(cnn, fast_timing, quiet_dirs):
    profile = _profiled(cnn, "pytorch", fast_timing)
    assert profile["source"] == "torch.profiler (CPU)"
    rows = {row["layer"]: row for row in profile["layers"]}
    # test_cnn's two convolutions (3->8 on 32x32, 8->16 on 16x16) stay two rows, told apart by their input shapes
    convs = [name for name, row in rows.items() if row["op_type"] == "aten::conv2d"]
    assert len(convs) == 2 and any("[1, 3, 32, 32]" in c for c in convs) and any("[1, 8, 16, 16]" in c for c in convs)
    assert rows["(Python between ops)"]["op_type"] is None
    assert all(row["median_ms"] is None for row in profile["layers"])  # torch aggregates: no per-query times


def test_torch_compile_profiles_the_compiled_graph_and_the_ops_it_calls(cnn, fast_timing, quiet_dirs):
    profile = _profiled(cnn, "torch-compile", fast_timing)
    assert profile["source"] == "torch.profiler (CPU)"
    names = [row["layer"] for row in profile["layers"]]
    assert any(n.startswith("## Call CompiledFxGraph") for n in names)  # Inductor's generated kernels, one row
    assert any(n.startswith("aten::") for n in names)


def test_aot_inductor_profiles_its_runner_under_the_torch_profiler(cnn, tiny_loaded):
    """The package's runner stood in by the eager module: building a real package takes about
    30 s here (g++), which the profile's wiring does not need."""
    import torch

    from edgebench.backends.torch_io import TorchIO

    bk = create_backend("aot-inductor", context=BackendContext(cnn.item_shape, cnn.source_key()))
    bk._torch, bk.io = torch, TorchIO("cpu", "fp32")
    bk.runner = copy.deepcopy(tiny_loaded.module).eval()
    bk._state = "loaded"  # as load() leaves it, with the stand-in runner
    with torch.inference_mode():
        raw = bk.profile(cnn.pool[0], queries=3, warmup=1, folder=None)
    names = [lt.layer for lt in raw.layers]
    assert raw.source == "torch.profiler (CPU)" and "(AOTInductor generated code)" in names
    assert any(n.startswith("aten::") for n in names)


def test_profile_needs_a_loaded_backend_and_a_runtime_with_a_profiler(cnn, fast_timing):
    from edgebench.backends.base import Backend
    from edgebench.errors import BackendStateError

    bk = create_backend("onnxruntime")
    with pytest.raises(BackendStateError, match="profile\\(\\) needs load\\(\\) first"):
        bk.profile(cnn.pool[0], 3, 1, None)
    assert Backend.profiler is None  # a backend that declares no profiler: the cell says so, it never fails
    bc = BackendCell(cnn, "pytorch", "run-1", "cpu", "fp32", fast_timing, environment.capture(), profile=True)
    assert bc.open()
    bc.bk.profiler = None
    bc.measure(fast_timing)
    rec = bc.finish()
    assert rec.ok and "layer_profile" not in rec.details
    assert rec.details["no_layer_profile"] == "backend pytorch's runtime has no per-layer profiler"


def test_a_failing_profiler_costs_the_cell_only_its_profile(cnn, fast_timing, monkeypatch):
    bc = BackendCell(cnn, "onnxruntime", "run-1", "cpu", "fp32", fast_timing, environment.capture(), profile=True)
    assert bc.open()
    bc.measure(fast_timing)

    def broken(*_):
        raise RuntimeError("trace truncated")

    monkeypatch.setattr(bc.bk, "_profile", broken)
    rec = bc.finish()
    assert rec.ok and rec.latency.host is not None and "layer_profile" not in rec.details
    assert rec.details["no_layer_profile"] == "profiling failed: RuntimeError: trace truncated"
    assert "no per-layer profile: RuntimeError: trace truncated" in rec.warnings


def test_profile_queries_cover_about_two_seconds_within_bounds():
    assert profile_mod.profile_queries(1e-4) == profile_mod.MAX_QUERIES
    assert profile_mod.profile_queries(0.1) == 20
    assert profile_mod.profile_queries(5.0) == profile_mod.MIN_QUERIES
    assert profile_mod.profile_queries(None) == profile_mod.MIN_QUERIES


def test_layer_profile_refuses_a_profile_without_time():
    from edgebench.backends.profiling import LayerTimes, RuntimeProfile

    with pytest.raises(ValueError, match="reported no layer time over 3 queries"):
        profile_mod.layer_profile(RuntimeProfile("x", 3, (LayerTimes("a", None, 0.0),)))


def test_timings_are_taken_before_the_profiler_ever_runs_and_are_stored_unchanged(cnn, tmp_path, monkeypatch):
    """Every timed inference of the suite (two backends interleaved in two rounds) runs with no
    profiler active: no torch profiler, and an ONNX Runtime session that does not profile; each
    cell's profile starts only after every timed round of the model's cells, the stored samples
    are exactly the timed ones, and no profiler is left running for the cells that follow."""
    import torch

    from edgebench.bench import cell as cell_mod
    from edgebench.bench.suite import run_suite
    from edgebench.config import TimingConfig
    from tests.conftest import FAST_TIMING

    events, timed = [], {}
    real_time, real_profile = cell_mod.time_backend, profile_mod.take_profile

    def profiling(bk) -> bool:
        if torch.autograd.profiler._is_profiler_enabled:
            return True
        return bk.name == "onnxruntime" and bk.session.get_profiling_start_time_ns() != 0

    def spy_time(bk, pool, timing):
        model = bk.context.source_key["model"]
        run = bk.run

        def checked(x):
            events.append(("timed", model, bk.name, profiling(bk)))
            return run(x)

        bk.run = checked
        try:
            values = real_time(bk, pool, timing)
        finally:
            del bk.run
        timed.setdefault((model, bk.name), []).extend(values)
        return values

    def spy_profile(bk, x, p50_s):
        events.append(("profile", bk.context.source_key["model"], bk.name, None))
        return real_profile(bk, x, p50_s)

    monkeypatch.setattr(cell_mod, "time_backend", spy_time)
    monkeypatch.setattr(profile_mod, "take_profile", spy_profile)
    cfg = SuiteConfig(models=["test_cnn"], backends=["pytorch", "onnxruntime"], device="cpu",
                      timing=TimingConfig(**FAST_TIMING), pool_size=2, out_dir=tmp_path / "out", isolate=False,
                      repetitions=2, profile=True)
    result = run_suite(cfg)
    assert not torch.autograd.profiler._is_profiler_enabled  # nothing left profiling after the run

    assert [e for e in events if e[0] == "timed" and e[3]] == []  # no timed inference ran under a profiler
    kinds = [e[0] for e in events]
    first_profile = kinds.index("profile")
    assert kinds.count("profile") == 2 and "timed" not in kinds[first_profile:]
    assert {e[2] for e in events[:first_profile]} == {"pytorch", "onnxruntime"}
    for rec in result.records:
        assert rec.ok and rec.details["layer_profile"]["layers"]
        values = timed[(rec.model, rec.backend)]
        assert rec.latency.samples_ms == [round(v * 1e3, 5) for v in values]
        assert rec.latency.host.count == len(values)


def test_profile_joins_the_fingerprint_only_when_it_is_on():
    from dataclasses import replace

    from edgebench.bench.suite import cell_fingerprint

    cfg = SuiteConfig(models=["test_cnn"], backends=["pytorch"], device="cpu").resolved()
    env = {"host": "h"}
    off = cell_fingerprint(cfg, "test_cnn", "pytorch", "fp32", {}, env)
    on = cell_fingerprint(replace(cfg, profile=True), "test_cnn", "pytorch", "fp32", {}, env)
    assert off != on
    # profile off leaves the fingerprint as rows stored before profiles existed have it
    from dataclasses import asdict

    from edgebench.bench.model_cell import CUDA_HOST_INPUTS
    from edgebench.cache import cache_key

    keep = ("host", "cpu", "gpu", "torch", "onnxruntime", "openvino", "tensorrt", "cuda")
    assert off == cache_key({
        "model": "test_cnn", "model_options": asdict(cfg.model_options), "weights": None, "backend": "pytorch",
        "precision": "fp32", "options": {}, "batch": cfg.batch_size, "device": cfg.device, "timing": asdict(cfg.timing),
        "repetitions": cfg.repetitions, "pool": cfg.pool_size, "env": {k: env.get(k) for k in keep},
        "cuda_host_inputs": CUDA_HOST_INPUTS})


@pytest.mark.tensorrt
def test_tensorrt_profiles_its_engine_layers_with_its_iprofiler(cnn, fast_timing):
    bc = BackendCell(cnn, "tensorrt", "run-1", "cuda", "fp32", fast_timing, environment.capture(), profile=True)
    assert bc.open(), bc.rec.error
    bc.measure(fast_timing)
    rec = bc.finish()
    profile = rec.details["layer_profile"]
    assert profile["source"] == "tensorrt IProfiler" and profile["layers"]
    assert sum(row["percentage"] for row in profile["layers"]) == pytest.approx(100, abs=0.01)



def test_a_layer_that_ran_in_some_queries_only_has_a_time_for_every_query():
    """OpenVINO's CPU plugin now and then skips a reorder node in a query (about 1 profile in 10
    on a CPU with AMX): that layer took 0 ms there, and still has a median per query."""
    from edgebench.backends.profiling import per_query_layers

    layers = per_query_layers([{"conv": ("Convolution", 2.0), "reorder": ("Reorder", 0.5)},
                               {"conv": ("Convolution", 3.0)},
                               {"conv": ("Convolution", 2.5), "reorder": ("Reorder", 0.7)}])
    assert [(lt.layer, lt.op_type, lt.per_query_ms) for lt in layers] == [
        ("conv", "Convolution", (2.0, 3.0, 2.5)), ("reorder", "Reorder", (0.5, 0.0, 0.7))]
    assert layers[1].total_ms == 1.2
