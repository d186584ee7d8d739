"""`edgebench profile`, and `run --profile` / `bench --profile` that store what it shows; bad
input is one line, exit 2, and nothing written."""
from __future__ import annotations

import pytest

from edgebench.cli.main import main
from edgebench.results import Run, RunStatus, Store
from tests.cli import FAST
from tests.report import rec

LAYERS = [
    {"layer": "/conv1/Conv", "op_type": "Conv", "total_ms": 2.0, "average_ms": 0.2, "median_ms": 0.19, "percentage": 20.0},
    {"layer": "/fc/Gemm", "op_type": "Gemm", "total_ms": 7.0, "average_ms": 0.7, "median_ms": 0.7, "percentage": 70.0},
    {"layer": "/pool/MaxPool", "op_type": "MaxPool", "total_ms": 1.0, "average_ms": 0.1, "median_ms": 0.1, "percentage": 10.0},
]
PROFILE = {"source": "onnxruntime session profiling", "queries": 10, "layers": LAYERS}


def _store(path, run_id="r1", config=None, env=None, cells=()):
    """A store holding one run of model `a` with the given (backend, details) cells."""
    run = Run(run_id, "2026-01-01T00:00:00", "pytorch", config or {"device": "cpu", "profile": True},
              env or {"host": "h"}, RunStatus.FINISHED)
    with Store(path) as store:
        store.begin_run(run)
        for backend, details in cells:
            r = rec("a", backend, 4.0)
            r.run_id, r.details = run_id, details
            store.add(r)
    return path


def _files(folder) -> list:
    """Every file under `folder` with its bytes; SQLite's -shm/-wal companions of a WAL store
    aside (reading one read-only may make its -shm index: tests/results/test_store.py)."""
    return sorted((p, p.read_bytes()) for p in folder.rglob("*") if not p.name.endswith(("-shm", "-wal")))


def _bad(args, capsys, tmp_path) -> str:
    """Run a command that must fail on bad input: exit 2, one line, nothing written."""
    before = _files(tmp_path)
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and err.startswith("edgebench: error: ")
    assert _files(tmp_path) == before
    return err


def test_profile_prints_each_cells_slowest_layers_with_share_op_type_and_mean(tmp_path, capsys):
    db = _store(tmp_path / "s.sqlite", cells=[("pytorch", {}), ("onnxruntime", {"layer_profile": PROFILE})])
    assert main(["profile", "latest", "a", "--db", str(db), "--top", "2"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == ("a / onnxruntime fp32 (cpu), run r1: onnxruntime session profiling, 10 queries, "
                        "1.000 ms per query under the profiler")
    gemm, conv = (next(i for i, line in enumerate(lines) if name in line) for name in ("/fc/Gemm", "/conv1/Conv"))
    assert gemm < conv  # the largest share first
    assert lines[gemm].split() == ["70.0%", "0.7000", "Gemm", "/fc/Gemm"]
    assert "MaxPool" not in out and "... 1 more layers, 10.0% of the time" in out
    assert "no profile for a / pytorch fp32 (cpu): no per-layer profile was stored" in out
    assert main(["profile", "r1", "a", "--db", str(db), "--backend", "onnxruntime@fp32"]) == 0
    assert "/pool/MaxPool" in capsys.readouterr().out


def test_a_target_tensorrt_profile_without_source_or_op_type_is_trtexecs(tmp_path, capsys):
    rows = [{k: v for k, v in row.items() if k != "op_type"} for row in LAYERS]
    db = _store(tmp_path / "s.sqlite", env={"host": "nano", "target": "nano"},
                cells=[("tensorrt", {"layer_profile": {"queries": 10, "layers": rows}}), ("pytorch", {})])
    assert main(["profile", "latest", "a", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "a / tensorrt fp32 (cpu), run r1: trtexec --exportProfile, 10 queries" in out
    assert "no profile for a / pytorch fp32 (cpu): pytorch runs without a profiler on a target" in out


@pytest.mark.parametrize("args, cells, config, env, expected", [
    (["nope", "a"], [("onnxruntime", {"layer_profile": PROFILE})], None, None, "run 'nope' is not in"),
    (["r1", "zz"], [("onnxruntime", {"layer_profile": PROFILE})], None, None,
     "model 'zz' is not in run r1; its models: a"),
    (["r1", "a", "--backend", "openvino"], [("onnxruntime", {"layer_profile": PROFILE})], None, None,
     "run r1 has no openvino cell for a; its cells: onnxruntime@fp32"),
    (["latest", "a"], [("onnxruntime", {})], {"device": "cpu"}, None,
     "no per-layer profile stored for a in run r1: run r1 was not run with --profile; run again with --profile"),
    (["latest", "a", "--backend", "tensorrt"],
     [("tensorrt", {"no_layer_profile": "backend tensorrt's runtime has no per-layer profiler"})], None, None,
     "no per-layer profile stored for a on tensorrt in run r1: backend tensorrt's runtime has no per-layer profiler"),
    (["latest", "a", "--backend", "onnxruntime"], [("onnxruntime", {})], None, {"host": "nano", "target": "nano"},
     "onnxruntime runs without a profiler on a target"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, args, cells, config, env, expected):
    db = _store(tmp_path / "s.sqlite", config=config, env=env, cells=cells)
    assert expected in _bad(["profile", *args, "--db", str(db)], capsys, tmp_path)


def test_a_missing_store_or_a_bad_top_is_refused_and_makes_no_file(tmp_path, capsys):
    assert "s.sqlite" in _bad(["profile", "latest", "a", "--db", str(tmp_path / "s.sqlite")], capsys, tmp_path)
    assert not (tmp_path / "s.sqlite").exists()
    db = _store(tmp_path / "t.sqlite", cells=[("onnxruntime", {"layer_profile": PROFILE})])
    with pytest.raises(SystemExit) as exit_:
        main(["profile", "latest", "a", "--db", str(db), "--top", "0"])
    assert exit_.value.code == 2 and "--top must be an integer >= 1, not '0'" in capsys.readouterr().err


def test_run_profile_stores_the_isolated_cells_profiles_and_profile_shows_them(tmp_path, monkeypatch, capsys):
    """End to end: `run --profile` in an isolated worker (the default), the profile in the store and
    in table1.md, `edgebench profile` on the latest run; no profiler file in the working directory."""
    cwd, out = tmp_path / "cwd", tmp_path / "out"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    assert main(["run", "--models", "test_cnn", "--backends", "onnxruntime", "--device", "cpu", "--out", str(out),
                 "--profile", "--repetitions", "1", *FAST]) == 0
    capsys.readouterr()
    with Store(out / "edgebench.sqlite", readonly=True) as store:
        run = store.run(store.latest_run_id())
        recs = {r.backend: r for r in store.records(run.run_id)}
    assert run.config["profile"] is True
    assert recs["onnxruntime"].details["layer_profile"]["source"] == "onnxruntime session profiling"
    md = (out / "table1.md").read_text()
    assert "| test_cnn | onnxruntime | fp32 | onnxruntime session profiling |" in md
    assert main(["profile", "latest", "test_cnn", "--db", str(out / "edgebench.sqlite"), "--backend", "onnxruntime"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"test_cnn / onnxruntime fp32 (cpu), run {run.run_id}: onnxruntime session profiling")
    assert " Conv " in printed
    assert list(cwd.iterdir()) == []


def test_bench_profile_lists_the_slowest_layers(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "test_cnn", "--backend", "onnxruntime", "--device", "cpu", "--profile", *FAST]) == 0
    out = capsys.readouterr().out
    assert "slowest layers (onnxruntime session profiling, " in out and " Conv " in out
    assert list(tmp_path.iterdir()) == []



def test_a_cuda_kernel_is_its_own_op_type_and_a_long_name_is_cut_in_the_terminal(tmp_path, capsys):
    kernel = "void cutlass__5x_cudnn::Kernel<" + "x" * 300 + ">(Params)"
    profile = {"source": "torch.profiler (CUDA kernels)", "queries": 5, "layers": [
        {"layer": kernel, "op_type": kernel, "total_ms": 1.0, "average_ms": 0.2, "median_ms": None, "percentage": 100.0}]}
    db = _store(tmp_path / "s.sqlite", cells=[("pytorch", {"layer_profile": profile})])
    assert main(["profile", "latest", "a", "--db", str(db)]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("100.0%"))
    assert row.split()[:3] == ["100.0%", "0.2000", "-"] and row.endswith("\u2026") and len(row) < 160
