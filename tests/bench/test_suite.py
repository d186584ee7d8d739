"""The suite on tiny models (in-process; isolation has its own tests): failures kept as rows,
Ctrl-C, interleaved rounds, variants, precision auto, the accuracy gate, precision fallback."""
from dataclasses import replace

import pytest

from edgebench.config import TimingConfig
from edgebench.bench.engine import split_timing
from edgebench.bench.suite import run_suite
from edgebench.config import ModelOptions, SuiteConfig
from edgebench import __version__
from edgebench.results import RunStatus, Status, Store
from tests.conftest import FAST_TIMING

def _suite(tmp_path, **kw):
    kw.setdefault("isolate", False)  # in-process: fast; isolation has its own tests
    return SuiteConfig(models=kw.pop("models", ["test_cnn", "test_mlp"]), backends=["pytorch", "onnxruntime"],
                       device="cpu", timing=TimingConfig(**FAST_TIMING), pool_size=2, out_dir=tmp_path / "out", **kw)


def test_failing_backend_is_recorded_and_others_kept(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import torch\nINPUT_SHAPE = (3, 8, 8)\nclass M(torch.nn.Module):\n"
                   "    def forward(self, x):\n        return torch.linalg.svdvals(x[:, 0])[:, :2]\n"
                   "def make(num_classes=2):\n    return M()\n")
    result = run_suite(_suite(tmp_path, models=[f"{bad}:make", "test_cnn"]))
    by = {(r.model.split("/")[-1], r.backend): r for r in result.records}
    assert by[("bad.py:make", "pytorch")].ok
    assert by[("bad.py:make", "onnxruntime")].status is Status.EXPORT_FAILED
    assert "svdvals" in by[("bad.py:make", "onnxruntime")].error or "ONNX export" in by[("bad.py:make", "onnxruntime")].error
    assert by[("test_cnn", "onnxruntime")].ok


def test_unavailable_backend_is_skipped_not_fatal(tmp_path):
    from importlib.util import find_spec

    if find_spec("tensorrt") is not None:
        pytest.skip("tensorrt is installed here")
    cfg = replace(_suite(tmp_path, models=["test_cnn"]), backends=["pytorch", "onnxruntime", "tensorrt"])
    result = run_suite(cfg)
    trt = [r for r in result.records if r.backend == "tensorrt"][0]
    assert trt.status is Status.SKIPPED and "pip install tensorrt" in trt.error


def test_interrupt_keeps_completed_rows(tmp_path):
    seen = []

    def stop_after_two(rec):
        seen.append(rec)
        if len(seen) == 2:
            raise KeyboardInterrupt

    cfg = _suite(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        run_suite(cfg, on_record=stop_after_two)
    with Store(cfg.out_dir / "edgebench.sqlite") as s:
        run = s.runs()[-1]
        assert run.status is RunStatus.INTERRUPTED
        assert len(s.records(run.run_id)) == 2
    assert (cfg.out_dir / "table1.md").is_file()  # the finished rows are reported too


def test_model_options_reach_the_model(tmp_path):
    result = run_suite(_suite(tmp_path, models=["test_cnn"], model_options=ModelOptions(num_classes=5)))
    assert all(r.model_facts.num_classes == 5 for r in result.records)


def test_split_timing_shares_the_minima_across_rounds():
    from edgebench.errors import InvalidConfigError

    rounds = split_timing(TimingConfig(warmup_iters=5, warmup_s=0.5, min_iters=20, min_time_s=3.0), 3)
    assert len(rounds) == 3
    assert sum(r.min_iters for r in rounds) >= 20 and sum(r.min_time_s for r in rounds) == pytest.approx(3.0)
    assert rounds[0].warmup_iters == 5 and rounds[1].warmup_s == 0.0
    with pytest.raises(InvalidConfigError):
        split_timing(TimingConfig(), 0)


def test_suite_interleaves_backends_round_by_round(tmp_path, monkeypatch):
    from edgebench.bench import cell

    order = []
    real = cell.time_backend

    def spy(bk, pool, timing):
        order.append(bk.name)
        return real(bk, pool, timing)

    monkeypatch.setattr(cell, "time_backend", spy)
    run_suite(_suite(tmp_path, models=["test_cnn"], repetitions=2))
    assert order == ["pytorch", "onnxruntime", "pytorch", "onnxruntime"]



def test_suite_with_variants_cold_start_and_break_even(tmp_path):
    from edgebench.report import build_table1
    from edgebench.results import Store

    cfg = replace(_suite(tmp_path, models=["test_cnn"]), backends=["pytorch", "onnxruntime:threads=1", "pytorch@bf16"])
    result = run_suite(cfg)
    from edgebench.system import fast_precisions

    # BF16 is measured only where the CPU has BF16 instructions (the CPU model of this VM varies)
    bf16 = "ok" if not fast_precisions("cpu")["bf16"] else "skipped"
    assert [r.status for r in result.records] == ["ok", "ok", bf16]
    assert result.records[1].options == {"threads": 1} and result.records[1].details["threads"] == 1
    assert all(r.cold_start.total_s is not None and r.cold_start.first_infer_s > 0 for r in result.records if r.ok)
    with Store(cfg.out_dir / "edgebench.sqlite") as s:
        run = s.run(result.run_id)
        assert run.baseline == "pytorch@fp32" and run.edgebench_version == __version__
        table = build_table1(s.records(result.run_id), run)
    row = table.rows[0]
    assert row.post_cold_start_s is not None
    if row.speedup and row.speedup > 1:
        assert row.break_even_inferences is not None
    assert "Break-even" in (cfg.out_dir / "table1.md").read_text()


def test_precision_auto_gates_every_variant_and_picks_a_passing_one(tmp_path):
    from edgebench.report import build_table1
    from edgebench.results import Store

    cfg = replace(_suite(tmp_path, models=["test_cnn"]), backends=["pytorch", "onnxruntime", "openvino"],
                  precision="auto")
    result = run_suite(cfg)
    by = {(r.backend, r.precision): r for r in result.records}
    assert {("onnxruntime", "int8"), ("onnxruntime", "fp32"), ("openvino", "int8")} <= set(by)
    for (b, p), r in by.items():
        if b != "pytorch" and r.status in ("ok", "accuracy_failed"):
            assert r.accuracy.gate in ("passed", "failed") and r.accuracy.cosine_similarity is not None
            assert "scikit-image" in r.details["accuracy_inputs"]
    with Store(cfg.out_dir / "edgebench.sqlite") as s:
        table = build_table1(s.records(result.run_id), s.run(result.run_id))
    row = table.rows[0]
    chosen = by[(row.post_backend, row.post_precision)]
    assert chosen.ok and chosen.accuracy.gate == "passed"


def test_failing_the_gate_marks_the_cell_and_keeps_its_timing(tmp_path, monkeypatch):
    from edgebench.bench import accuracy

    monkeypatch.setitem(accuracy.TOLERANCES, "int8", {"max_rel_diff": None, "min_cosine": 1.5, "min_top1": 0.99})
    cfg = replace(_suite(tmp_path, models=["test_cnn"]), backends=["pytorch", "onnxruntime@int8", "onnxruntime@fp32"])
    result = run_suite(cfg)
    int8 = [r for r in result.records if r.precision == "int8"][0]
    assert int8.status is Status.ACCURACY_FAILED and "cosine" in int8.accuracy.gate_reason
    assert int8.latency.host.count >= 3
    table = (cfg.out_dir / "table1.md").read_text()
    assert "onnxruntime fp32" in table and "accuracy_failed" in table


def test_task_accuracy_with_labelled_data(tmp_path):
    from edgebench.data.synth import write_image_set

    write_image_set(tmp_path / "img", per_class=8)
    cfg = replace(_suite(tmp_path, models=["test_cnn"], model_options=ModelOptions(data=str(tmp_path / "img"))),
                  backends=["pytorch", "onnxruntime@int8"])
    result = run_suite(cfg)
    pre, post = result.records
    assert pre.accuracy.task_accuracy is not None and post.accuracy.task_accuracy is not None
    assert "image folder" in post.details["accuracy_inputs"]


def test_precision_without_fast_hardware_is_skipped_with_the_reason(tmp_path, monkeypatch):
    import edgebench.system as system

    monkeypatch.setattr(system, "fast_precisions", lambda device: {"fp32": "", "int8": "no fast INT8 here (test)"})
    cfg = replace(_suite(tmp_path, models=["test_cnn"]), backends=["pytorch", "onnxruntime@int8"])
    rec = run_suite(cfg).records[1]
    assert rec.status is Status.SKIPPED and "no fast INT8 here (test)" in rec.error


def test_precision_fallback_adds_an_arm_when_the_gate_fails(tmp_path, monkeypatch):
    """`pytorch@bf16:fallback=fp32`: a model whose output BF16 rounding scrambles (sin of a
    large multiple of a linear layer) fails BF16's gate; the suite then also times the backend
    at FP32, which passes and becomes the post-opt row. A model that passes gets no extra arm."""
    chaotic = tmp_path / "chaotic.py"
    chaotic.write_text("import torch\nINPUT_SHAPE = (3, 8, 8)\nclass M(torch.nn.Module):\n"
                       "    def __init__(self):\n        super().__init__()\n        self.lin = torch.nn.Linear(192, 1)\n"
                       "    def forward(self, x):\n        h = 1000.0 * self.lin(x.flatten(1))\n"
                       "        return torch.cat([torch.sin(h), torch.cos(h)], dim=1)\n"
                       "def make(num_classes=2):\n    return M()\n")
    # BF16 runs on every CPU, only slowly where it lacks BF16 instructions (then edgebench skips it)
    monkeypatch.setattr("edgebench.system.fast_precisions", lambda device: dict.fromkeys(("fp32", "fp16", "bf16", "int8"), ""))
    cfg = _suite(tmp_path, models=[f"{chaotic}:make", "test_mlp"])
    cfg = replace(cfg, backends=["pytorch", "pytorch@bf16:fallback=fp32"])
    result = run_suite(cfg)
    chaotic_rows = [r for r in result.records if r.model.endswith("chaotic.py:make")]
    assert [r.precision for r in chaotic_rows] == ["fp32", "bf16", "fp32"]
    assert chaotic_rows[1].status is Status.ACCURACY_FAILED
    post = chaotic_rows[2]
    assert post.details["fallback_from"] == "bf16" and post.ok and post.accuracy.gate == "passed"
    assert post.latency.host.count >= 3
    assert "pytorch fp32 (fallback from bf16)" in (tmp_path / "out" / "table1.md").read_text()
    assert sum(r.model == "test_mlp" for r in result.records) == 2  # bf16 passed: no fallback arm
    with pytest.raises(Exception, match="fallback='int8'"):
        run_suite(replace(cfg, backends=["pytorch", "pytorch@bf16:fallback=int8"]))
