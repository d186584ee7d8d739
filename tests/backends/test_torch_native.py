"""torch-compile, aot-inductor and pytorch's CUDA graphs: CPU behaviour here, GPU parts marked."""
import subprocess
import sys

import numpy as np
import pytest
import torch

from edgebench.backends import BackendContext, create_backend
from edgebench.backends.aot_inductor_backend import package_cache_fields
from edgebench.bench.harness import infer
from edgebench.errors import InvalidConfigError


def _opts(loaded):
    """The harness's context for test_cnn, as run_suite gives it."""
    return dict(context=BackendContext((3, 32, 32), {"model": "test_cnn", "weights_sha256": loaded.weights_sha256}))


def _x(batch=2):
    return np.random.default_rng(3).standard_normal((batch, 3, 32, 32), dtype=np.float32)


def _ref(loaded, x):
    with torch.inference_mode():
        return loaded.module(torch.from_numpy(x)).numpy()


def test_torch_compile_records_compile_time_and_matches(tiny_loaded):
    import copy

    bk = create_backend("torch-compile", device="cpu", **_opts(tiny_loaded))
    with bk.prepare(copy.deepcopy(tiny_loaded.module), 2).load():
        assert bk.timings["build_s"] > 0 and bk.details["mode"] == "default"
        np.testing.assert_allclose(infer(bk, _x()), _ref(tiny_loaded, _x()), rtol=1e-4, atol=1e-5)


def test_torch_compile_leaves_no_compile_workers_alive_once_loaded(tiny_loaded):
    """Inductor's compile-worker pool (one worker per core, started where Triton kernels are
    compiled: a GPU machine) is shut down once the cell has compiled, so that no worker takes a
    core from the cells timed next. Here the pool is started by hand: this CPU compile starts none."""
    import copy

    from torch._inductor import async_compile

    with async_compile.config.patch(compile_threads=2):  # Inductor's config, restored as it was (not monkeypatch)
        pool = async_compile.AsyncCompile.process_pool()
    assert async_compile._pool_set and pool.submit(int, "7").result(timeout=120) == 7
    bk = create_backend("torch-compile", device="cpu", **_opts(tiny_loaded))
    with bk.prepare(copy.deepcopy(tiny_loaded.module), 2).load():
        assert not async_compile._pool_set
        with pytest.raises(RuntimeError):
            pool.submit(int, "7")  # shut down


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.needs_cuda)])
def test_torch_compile_freezes_on_the_cpu_only_by_default(device, tiny_loaded):
    """Freezing lets oneDNN pre-pack a CPU's weights; on CUDA it is off by default, since
    AOTAutograd's cache refuses frozen graphs (every start would trace the model again)."""
    import copy

    default = create_backend("torch-compile", device=device, **_opts(tiny_loaded)).prepare(copy.deepcopy(tiny_loaded.module), 2)
    asked = create_backend("torch-compile", device=device, options={"freezing": device == "cuda"},
                           **_opts(tiny_loaded)).prepare(copy.deepcopy(tiny_loaded.module), 2)
    assert default.details["freezing"] is (device == "cpu") and asked.details["freezing"] is (device == "cuda")


def test_torch_compile_refuses_bad_modes(tiny_loaded):
    with pytest.raises(InvalidConfigError, match="max-autotune"):
        create_backend("torch-compile", options={"mode": "max-autotune"}).prepare(tiny_loaded.module)
    with pytest.raises(InvalidConfigError, match="needs --device cuda"):
        create_backend("torch-compile", options={"mode": "reduce-overhead"}).prepare(tiny_loaded.module)
    with pytest.raises(InvalidConfigError, match="needs --device cuda"):
        create_backend("pytorch", options={"cuda_graphs": True}).prepare(tiny_loaded.module)


def test_aot_inductor_package_is_cached_and_runs_in_a_fresh_process(tiny_loaded, tmp_path, monkeypatch):
    import copy

    shared = tmp_path / "shared-inductor-cache"
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(shared))
    bk = create_backend("aot-inductor", cache_dir=tmp_path, **_opts(tiny_loaded))
    bk.prepare(copy.deepcopy(tiny_loaded.module), 1)
    # compiled in a child process with a private Inductor cache, not the shared one (loading a
    # CPU package may compile kernels into the shared cache: that is torch's, after the build)
    assert not shared.exists() or not any(shared.rglob("*.so"))
    with bk.load():
        assert bk.details["package_cached"] is False and bk.timings["build_s"] > 0
        assert bk.details["build_process"] is True
        for batch in (1, 3):  # the batch dimension is dynamic
            np.testing.assert_allclose(infer(bk, _x(batch)), _ref(tiny_loaded, _x(batch)), rtol=1e-4, atol=1e-5)
    again = create_backend("aot-inductor", cache_dir=tmp_path, **_opts(tiny_loaded)).prepare(tiny_loaded.module, 1)
    assert again.details["package_cached"] is True and again.package == bk.package
    # a fresh interpreter that never imports edgebench or the model's code
    probe = (f"import torch; r = torch._inductor.aoti_load_package({str(bk.package)!r}); "
             "print(tuple(r(torch.zeros(4, 3, 32, 32)).shape))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "(4, 2)" in out.stdout


def test_aot_inductor_build_process_errors_are_build_errors(tiny_loaded, tmp_path):
    from edgebench.backends.aoti_build import main
    from edgebench.errors import BuildError

    bk = create_backend("aot-inductor", cache_dir=tmp_path, options={"build_timeout_s": 0}, **_opts(tiny_loaded))
    with pytest.raises(BuildError, match="raise the aot-inductor option build_timeout_s"):
        bk.prepare(tiny_loaded.module, 1)
    assert not any(tmp_path.rglob("*.pt2"))  # neither a package nor the saved program is left behind
    assert main(["only-one-argument"]) == 2


def test_aot_inductor_refuses_a_package_carrying_its_own_libstdcxx(tiny_loaded, tmp_path):
    """A C++ compiler that links (part of) its own libstdc++ into the wrapper library, as the
    lent GPU machines' $CXX did, gives a BuildError naming the fix instead of a crash at load:
    simulated by a compiler wrapper that links an object defining std::locale::classic()."""
    import shutil

    from edgebench.errors import BuildError

    if not (shutil.which("g++") and shutil.which("nm")):
        pytest.skip("needs g++ and nm")
    fake = tmp_path / "fake_locale.o"
    src = tmp_path / "fake_locale.c"
    src.write_text('void fake(void) __asm__("_ZNSt6locale7classicEv");\nvoid fake(void) {}\n')
    subprocess.run(["gcc", "-fPIC", "-c", str(src), "-o", str(fake)], check=True)
    cxx = tmp_path / "gxx-with-own-libstdcxx"
    cxx.write_text(f'#!/bin/sh\ncase " $* " in *" -shared "*) exec g++ "$@" {fake};; esac\nexec g++ "$@"\n')
    cxx.chmod(0o755)
    bk = create_backend("aot-inductor", cache_dir=tmp_path / "cache", options={"cxx": str(cxx)}, **_opts(tiny_loaded))
    with pytest.raises(BuildError, match=r"carries its own libstdc\+\+ \(_ZNSt6locale7classicEv\).*cxx=g\+\+"):
        bk.prepare(tiny_loaded.module, 1)
    assert not bk.package.exists() and not bk.package.with_suffix(".tmp.pt2").exists()


def test_aot_inductor_cache_key_fields():
    from edgebench.cache import cache_key

    base = ({"model": "m", "weights_sha256": "a"}, "2.11", "cuda H100 sm_90", "fp16", 256)
    key = cache_key(package_cache_fields(*base))
    for i, other in enumerate(({"model": "m", "weights_sha256": "b"}, "2.12", "cpu x", "fp32", 128)):
        changed = list(base)
        changed[i] = other
        assert cache_key(package_cache_fields(*changed)) != key


@pytest.mark.needs_cuda
@pytest.mark.parametrize("name, options", [("pytorch", {"cuda_graphs": True}), ("torch-compile", {}),
                                           ("torch-compile", {"mode": "reduce-overhead"}), ("aot-inductor", {}),
                                           ("torch-compile", {"im2col": "auto"}), ("torch-compile", {"im2col": 1})])
def test_gpu_backends_match_pytorch(name, options, tiny_loaded, tmp_path):
    import copy

    bk = create_backend(name, device="cuda", cache_dir=tmp_path, options=options, **_opts(tiny_loaded))
    with bk.prepare(copy.deepcopy(tiny_loaded.module), 2).load():
        for _ in range(2):  # replays reuse static buffers
            np.testing.assert_allclose(infer(bk, _x()), _ref(tiny_loaded, _x()), rtol=1e-3, atol=1e-4)


@pytest.mark.needs_cuda
@pytest.mark.parametrize("name", ["pytorch", "torch-compile"])
@pytest.mark.parametrize("host_io", [True, False])
def test_gpu_graph_host_io_paths_agree(name, host_io, tiny_loaded, tmp_path):
    """The graph with the copies and casts recorded in it and the device-input graph (GPU
    timing) both give eager's FP32 outputs to FP16 rounding."""
    import copy

    opts = {"cuda_graphs": True} if name == "pytorch" else {}
    bk = create_backend(name, device="cuda", precision="fp16", options={"host_io": host_io, **opts}, **_opts(tiny_loaded))
    with bk.prepare(copy.deepcopy(tiny_loaded.module), 2).load():
        assert bk.details["graph_host_io"] is host_io
        outs = [infer(bk, _x()) for _ in range(2)]
        device_out = bk.native_call(_x())().float().cpu().numpy()
    ref = _ref(tiny_loaded, _x())
    for out in (*outs, device_out):
        np.testing.assert_allclose(out, ref, rtol=2e-2, atol=2e-2)
    assert not np.shares_memory(outs[0], outs[1])  # infer copies out of the pinned buffer


@pytest.mark.needs_cuda
@pytest.mark.parametrize("name", ["pytorch", "torch-compile"])
def test_gpu_graph_recaptured_for_a_new_batch_size(name, tiny_loaded):
    import copy

    opts = {"cuda_graphs": True} if name == "pytorch" else {}
    bk = create_backend(name, device="cuda", options=opts, **_opts(tiny_loaded))
    with bk.prepare(copy.deepcopy(tiny_loaded.module), 2).load():
        for batch in (2, 3, 2):
            np.testing.assert_allclose(infer(bk, _x(batch)), _ref(tiny_loaded, _x(batch)), rtol=1e-4, atol=1e-5)


@pytest.mark.needs_cuda
def test_gpu_cell_records_device_time_and_memory():
    from edgebench.api import benchmark
    from edgebench.config import TimingConfig

    rec = benchmark("test_cnn", backend="pytorch", device="cuda",
                    timing=TimingConfig(warmup_iters=1, warmup_s=0, min_iters=5, min_time_s=0, ci_pct=None))
    assert rec.latency.device.count >= 5 and rec.latency.device.p50_ms > 0
    # the cell's own peak above what the process held before; the caching allocator may already
    # hold enough reserved memory from earlier tests, so only allocation must grow
    assert rec.memory.gpu_peak_allocated_mb > 0 and rec.memory.gpu_peak_reserved_mb >= 0 and rec.cold_start.total_s > 0



def test_fp32_cells_turn_tf32_off_and_lower_precisions_leave_it_on():
    from edgebench.backends.torch_io import set_tf32

    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    try:
        set_tf32("fp32")
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
        set_tf32("fp32", allowed=True)
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
        set_tf32("fp32")
        set_tf32("fp16")
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@pytest.mark.parametrize("host_io", [True, False])
def test_cuda_graph_infer_dispatch_and_batch_change(host_io):
    """CudaGraph.infer's own logic, with the CUDA work stubbed: the host-I/O path or the
    backend's conversions around a replay, and a new batch size drops the graphs first."""
    from edgebench.backends.torch_io import CudaGraph

    calls = []
    g = object.__new__(CudaGraph)
    g.shapes, g.host_io = [(2, 3, 32, 32)], host_io
    g.release = lambda: calls.append("release")
    g.run_host = lambda x: calls.append(("run_host", x.shape[0])) or "host"
    g.run = lambda t: calls.append(("run", t)) or "out"
    to_device, to_host = (lambda x: x.shape[0]), (lambda out: f"{out}->host")
    assert g.infer(_x(2), to_device, to_host) == ("host" if host_io else "out->host")
    g.infer(_x(3), to_device, to_host)
    step = "run_host" if host_io else "run"
    assert calls == [(step, 2), "release", (step, 3)] and g.shapes == [(3, 3, 32, 32)]


@pytest.mark.needs_cuda
@pytest.mark.parametrize("name, options", [("pytorch", {}), ("pytorch", {"cuda_graphs": True}), ("torch-compile", {}),
                                           ("torch-compile", {"host_io": False})])
def test_gpu_page_locked_inputs_give_the_same_outputs_and_run_leaves_nothing_in_flight(name, options, tiny_loaded):
    """Inputs in page-locked memory are copied to the device straight from where they lie, with
    the same outputs as pageable ones; after run() the stream is idle, which is why the torch
    backends' synchronize() has nothing to wait for."""
    import copy

    from edgebench.bench.inputs import page_locked

    x = _x()
    (pinned,) = page_locked([x])
    assert torch.from_numpy(pinned).is_pinned() and not torch.from_numpy(x).is_pinned()
    np.testing.assert_array_equal(pinned, x)
    bk = create_backend(name, device="cuda", options=options, **_opts(tiny_loaded))
    with bk.prepare(copy.deepcopy(tiny_loaded.module), 2).load():
        for inp in (pinned, x, pinned):
            out = np.array(bk.run(inp), copy=True)
            assert torch.cuda.current_stream().query()
            np.testing.assert_allclose(out, _ref(tiny_loaded, x), rtol=1e-3, atol=1e-4)


def test_timing_inputs_are_the_pool_itself_off_cuda():
    from edgebench.bench.model_cell import ModelCell
    from edgebench.config import ModelOptions

    cell = ModelCell("test_cnn", ModelOptions(), 1, 2, None)
    assert cell.pool_for("cpu") is cell.pool
