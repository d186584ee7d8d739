"""A user's model stays exactly as given: no edgebench path changes its weights, every label
says where the weights came from, and bench, run and export produce the same artifact."""
import textwrap

import pytest
import torch

from edgebench.api import ModelOptions, SuiteConfig, benchmark, export, load_model, run_suite
from edgebench.config import TimingConfig
from edgebench.cli.main import main
from edgebench.errors import InvalidConfigError, ModelFileError
from edgebench.models.build import recalibrate_batchnorm, state_dict_sha256
from edgebench.results import RunStatus, Status
from tests.conftest import FAST_TIMING

USER_MODEL = '''
import torch
from torch import nn

INPUT_SHAPE = (3, 16, 16)


def build():
    """Seven classes, BatchNorm statistics far from a fresh layer's (mean 0, variance 1)."""
    torch.manual_seed(7)
    m = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                      nn.Linear(8, 7))
    with torch.no_grad():
        m[1].running_mean.uniform_(-3, 3)
        m[1].running_var.uniform_(0.1, 9)
    return m


def wide(num_classes=1000):
    return nn.Sequential(nn.Flatten(), nn.Linear(768, num_classes))


def raises():
    raise ValueError("no checkpoint configured")


def not_a_module():
    return {"weights": 1}


def text_out():
    class Named(nn.Module):
        def forward(self, x):
            return {"label": "cat"}
    return Named()
'''


@pytest.fixture
def user_file(tmp_path):
    path = tmp_path / "usermodel.py"
    path.write_text(textwrap.dedent(USER_MODEL))
    return path


def _pristine_state(ref: str):
    """The state dict the factory itself builds, hashed: what every edgebench path must keep."""
    from edgebench.models import get_spec

    return state_dict_sha256(get_spec(ref).factory(None))


def test_factory_weights_are_never_modified(user_file, tmp_path, monkeypatch):
    from edgebench.models import build as build_mod

    ref = f"{user_file}:build"
    want = _pristine_state(ref)
    built = []  # every module a factory handed to edgebench in this process
    call = build_mod._call_factory
    monkeypatch.setattr(build_mod, "_call_factory", lambda spec, n: built.append(call(spec, n)) or built[-1])
    loaded = load_model(ref, ModelOptions(), tmp_path)
    assert loaded.origin == "factory" and loaded.weights == f"factory:{ref}"
    assert loaded.num_classes == 7 and loaded.weights_sha256 == want
    with pytest.raises(ValueError, match="only random-init"):
        recalibrate_batchnorm(loaded, [torch.zeros(3, 16, 16).numpy()], "x")
    assert state_dict_sha256(loaded.module) == want

    timing = TimingConfig(**FAST_TIMING)
    rec = benchmark(ref, backend="onnxruntime", timing=timing, pool_size=2, cache_dir=tmp_path / "c")
    assert rec.ok and rec.model_facts.weights == f"factory:{ref}" and rec.model_facts.num_classes == 7
    assert rec.accuracy.max_abs_diff < 1e-4 and rec.accuracy.top1_agreement == 1.0
    for isolate in (False, True):
        res = run_suite(SuiteConfig(models=[ref], backends=["pytorch", "onnxruntime"], device="cpu", timing=timing,
                                    pool_size=2, out_dir=tmp_path / f"out{isolate}", cache_dir=tmp_path / "c",
                                    isolate=isolate, repetitions=1))
        assert [r.status for r in res.records] == ["ok", "ok"]
        assert {r.model_facts.weights for r in res.records} == {f"factory:{ref}"}
        assert res.records[1].accuracy.top1_agreement == 1.0 and res.records[1].accuracy.max_abs_diff < 1e-4
    # the in-process paths' modules afterwards (isolated workers check theirs: bench.model_cell.check_pristine)
    assert len(built) == 3 and all(state_dict_sha256(m) == want for m in built)


def test_bench_run_and_export_make_the_same_onnx(user_file, tmp_path):
    import onnx

    timing = TimingConfig(**FAST_TIMING)
    for ref in (f"{user_file}:build", "test_cnn"):  # a user's model, and random-init weights edgebench made
        art = export(ref, ModelOptions(), tmp_path / "c")
        rec = benchmark(ref, backend="onnxruntime", timing=timing, pool_size=2, cache_dir=tmp_path / "c")
        res = run_suite(SuiteConfig(models=[ref], backends=["pytorch", "onnxruntime"], device="cpu", timing=timing,
                                    pool_size=2, out_dir=tmp_path / "out", cache_dir=tmp_path / "c2", isolate=False,
                                    repetitions=1))
        assert rec.artifact.sha256 == art.sha256 == res.records[1].artifact.sha256, ref
        meta = {p.key: p.value for p in onnx.load(str(art.path)).metadata_props}
        assert meta["edgebench.weights"] == rec.model_facts.weights
    assert meta["edgebench.weights"].startswith("random-init(seed=0), BatchNorm statistics from")
    assert art.metadata["num_classes"] == 2


def test_metadata_reads_the_class_count_from_the_model(user_file, tmp_path):
    art = export(f"{user_file}:wide", ModelOptions(input_shape=(3, 16, 16)), tmp_path)
    assert art.metadata["num_classes"] == 1000  # the factory's own default, not edgebench's 2
    assert export(f"{user_file}:wide", ModelOptions(num_classes=3, input_shape=(3, 16, 16)), tmp_path).metadata[
        "num_classes"] == 3
    with pytest.raises(InvalidConfigError, match="outputs 7 classes but --num-classes 2"):
        load_model(f"{user_file}:build", ModelOptions(num_classes=2))


def test_cache_follows_the_weights_file(tmp_path):
    from edgebench.models import build_model, get_spec

    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    torch.save(build_model(get_spec("test_cnn"), seed=1).module.state_dict(), a)
    torch.save(build_model(get_spec("test_cnn"), seed=2).module.state_dict(), b)
    art_a = export("test_cnn", ModelOptions(weights=str(a)), tmp_path / "c")
    art_b = export("test_cnn", ModelOptions(weights=str(b)), tmp_path / "c")
    assert art_a.path != art_b.path and art_a.sha256 != art_b.sha256
    assert art_a.metadata["weights"].startswith("file:a.pt sha256:")
    assert art_b.metadata["weights"].startswith("file:b.pt sha256:")
    assert export("test_cnn", ModelOptions(weights=str(a)), tmp_path / "c").cached


@pytest.mark.parametrize("factory, text", [
    ("raises", "raised ValueError: no checkpoint configured"),
    ("not_a_module", "returned a dict, not a torch.nn.Module"),
    ("text_out", "returns a str at label; outputs must be tensors"),
])
def test_factory_errors_are_one_line_and_rows_in_run(user_file, tmp_path, capsys, factory, text):
    ref = f"{user_file}:{factory}"
    with pytest.raises(ModelFileError, match=text):
        benchmark(ref, backend="onnxruntime")
    for argv in (["bench", ref, "--backend", "onnxruntime"], ["export", ref]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("edgebench: error:") and text in err and "\n" not in err
    for isolate in (False, True) if factory == "raises" else (False,):
        seen = []
        res = run_suite(SuiteConfig(models=[ref, "test_mlp"], backends=["pytorch", "onnxruntime"], device="cpu",
                                    timing=TimingConfig(**FAST_TIMING), pool_size=2, out_dir=tmp_path / "out",
                                    isolate=isolate, repetitions=1), on_record=seen.append)
        assert len(seen) == 4  # the progress callback hears of the failed rows too
        rows = {(r.model, r.backend): r for r in res.records}
        assert res.status is RunStatus.FINISHED and len(rows) == 4
        assert rows[(ref, "pytorch")].status is Status.RUN_FAILED and text in rows[(ref, "pytorch")].error
        assert rows[("test_mlp", "onnxruntime")].ok  # the other model's rows are kept
