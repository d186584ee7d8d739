"""The Python API as users call it (edgebench.api, and the lazy names on `edgebench`): one cell
and the suite end to end on tiny models; the facade only gathers the library's functions."""
import ast
from pathlib import Path

from edgebench.api import SuiteConfig, benchmark, run_suite
from edgebench.config import TimingConfig
from edgebench.results import RunStatus, Store
from tests.conftest import FAST_TIMING


def test_benchmark_returns_statistics_and_parity():
    rec = benchmark("test_cnn", backend="onnxruntime", timing=TimingConfig(**FAST_TIMING), check_overhead=True)
    assert rec.ok and rec.latency.host.count >= 3 and rec.latency.host.p50_ms > 0
    facts = rec.model_facts
    assert facts.params == 1442 and facts.flops > 0 and facts.macs == facts.flops // 2
    assert rec.accuracy.max_abs_diff < 1e-4 and rec.accuracy.top1_agreement == 1.0
    assert rec.artifact.size_bytes > 0 and rec.overhead.bare_p50_ms > 0 and rec.overhead.harness_check_p50_ms > 0
    assert rec.details["provider"] == "CPUExecutionProvider"


def _suite(tmp_path, **kw):
    kw.setdefault("isolate", False)  # in-process: fast; isolation has its own tests
    return SuiteConfig(models=kw.pop("models", ["test_cnn", "test_mlp"]), backends=["pytorch", "onnxruntime"],
                       device="cpu", timing=TimingConfig(**FAST_TIMING), pool_size=2, out_dir=tmp_path / "out", **kw)


def test_suite_writes_store_and_reports(tmp_path):
    result = run_suite(_suite(tmp_path))
    assert result.status is RunStatus.FINISHED and len(result.records) == 4
    assert all(r.ok for r in result.records)
    out = tmp_path / "out"
    for name in ("table1.md", "table1.csv", "table1.json", "figure4_speedup.png", "edgebench.sqlite"):
        assert (out / name).is_file(), name
    with Store(out / "edgebench.sqlite") as s:
        assert len(s.records(result.run_id)) == 4
    post = [r for r in result.records if r.backend == "onnxruntime"]
    assert all(r.accuracy.max_abs_diff < 1e-4 and r.accuracy.top1_agreement == 1.0 for r in post)


def test_the_facade_gathers_the_library_and_the_lazy_names_agree():
    import edgebench
    from edgebench import api, config
    from edgebench.bench import model_cell, single, suite

    assert set(api.__all__) == {"EdgebenchError", "ModelOptions", "SuiteConfig", "SuiteResult", "TimingConfig",
                                "benchmark", "export", "load_model", "run_suite", "stream"}
    # api.run_suite is the suite with the executor the config names (a target's); bench/ cannot import targets/
    assert api.run_suite is not suite.run_suite and api.SuiteResult is suite.SuiteResult
    assert api.benchmark is single.benchmark and api.stream is single.stream and api.export is single.export
    assert api.load_model is model_cell.load_model
    assert api.SuiteConfig is config.SuiteConfig and api.ModelOptions is config.ModelOptions
    for name in ("benchmark", "run_suite", "SuiteConfig", "ModelOptions", "TimingConfig"):
        assert getattr(edgebench, name) is getattr(api, name), name


def test_nothing_inside_the_package_imports_the_facade():
    """Only the CLI (and users) import edgebench.api; the library's modules import each other."""
    import edgebench

    root = Path(edgebench.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root)
        if rel.parts[0] == "cli" or rel == Path("api.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "edgebench" and any(
                    a.name == "api" for a in node.names):
                offenders.append(str(rel))
            elif isinstance(node, ast.ImportFrom) and node.module == "edgebench.api":
                offenders.append(str(rel))
            elif isinstance(node, ast.Import) and any(a.name == "edgebench.api" for a in node.names):
                offenders.append(str(rel))
    assert not offenders, offenders
