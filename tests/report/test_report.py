import json

import pytest

from edgebench.bench.stats import LatencyStats
from edgebench.report import build_table1, render_csv, render_json, render_markdown, render_terminal, write_reports
from edgebench.results import Record

RUN = {"run_id": "r1", "baseline_backend": "pytorch", "started_at": "t", "status": "finished",
       "config": {"device": "cpu", "timing": {}}, "env": {"host": "h"}}


def _rec(model, backend, ms, task="image-classification", status="ok", **kw):
    lat = LatencyStats.from_values([ms / 1e3] * 3) if status == "ok" else None
    kw.setdefault("samples_ms", [ms] * 3 if status == "ok" else [])
    return Record("r1", model, backend, "fp32", 1, "cpu", status=status, task=task, latency=lat,
                  params=100, flops=2000, device_name="TestCPU", **kw)


def _records():
    return [
        _rec("a", "pytorch", 10.0), _rec("a", "onnxruntime", 4.0, max_abs_diff=1e-6, top1_agreement=1.0),
        _rec("a", "tensorrt", 5.0),  # slower of the two optimisers: not the post-opt pick
        _rec("b", "pytorch", 2.0), _rec("b", "onnxruntime", 4.0),  # got slower: shown as 0.5x
        _rec("c", "pytorch", 3.0, task="action-recognition"),
        _rec("c", "onnxruntime", 0, task="action-recognition", status="export_failed", error="boom"),
    ]


def test_table1_picks_fastest_post_and_keeps_slowdowns_and_failures():
    t = build_table1(_records(), RUN)
    rows = {r.model: r for r in t.rows}
    assert rows["a"].post_backend == "onnxruntime" and rows["a"].speedup == 2.5
    assert rows["b"].speedup == 0.5
    assert rows["c"].speedup is None and "export_failed" in rows["c"].note
    assert t.mean_speedup == (2.5 + 0.5) / 2


def test_renderings():
    t = build_table1(_records(), RUN)
    md = render_markdown(t)
    assert "**Image classification**" in md and "**Human action recognition**" in md
    assert "2.50x" in md and "0.50x" in md and "Mean speedup across 2 models: 1.50x" in md and "TestCPU" in md
    assert render_csv(t).splitlines()[0].startswith("model,task,params")
    assert json.loads(render_json(t))["mean_speedup"] == 1.5
    assert "mean speedup: 1.50x" in render_terminal(t)


def test_write_reports_including_figure(tmp_path):
    paths = write_reports(_records(), RUN, tmp_path)
    assert set(paths) == {"table1.md", "table1.csv", "table1.json", "figure4_speedup.png"}
    assert paths["figure4_speedup.png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_speedup_interval_and_significance():
    import numpy as np

    from edgebench.report.table1 import speedup_interval

    rng = np.random.default_rng(0)
    pre, post = list(10 + rng.normal(0, 0.5, 200)), list(5 + rng.normal(0, 0.5, 200))
    lo, hi = speedup_interval(pre, post)
    assert 1.9 < lo < 2.0 < hi < 2.1
    same = list(10 + rng.normal(0, 1.0, 50))
    lo, hi = speedup_interval(same, list(10 + rng.normal(0, 1.0, 50)))
    assert lo < 1.0 < hi
    noisy = [_rec("n", "pytorch", 10.0, samples_ms=same), _rec("n", "onnxruntime", 10.0, samples_ms=list(10 + rng.normal(0, 1.0, 50)))]
    md = render_markdown(build_table1(noisy, RUN))
    assert "(not significant)" in md
    assert speedup_interval([1.0], [1.0, 2.0]) is None


def test_cuda_runs_say_their_inputs_were_page_locked_and_older_runs_do_not():
    def md(config):
        return render_markdown(build_table1(_records(), {**RUN, "config": config}))

    note = "inputs in page-locked host memory"
    assert note in md({"device": "cuda", "timing": {}, "cuda_host_inputs": "page-locked"})
    assert note not in md({"device": "cuda", "timing": {}})  # stored before the inputs were page-locked
    assert note not in md({"device": "cpu", "timing": {}, "cuda_host_inputs": "page-locked"})


def _qualified_records():
    """a: post cell contended and quick; b: baseline failed; c: the only post cell failed the gate."""
    rng = __import__("numpy").random.default_rng(1)
    pre = list(10 + rng.normal(0, 0.3, 40))
    post = list(4 + rng.normal(0, 0.3, 40))
    return [
        _rec("a", "pytorch", 10.0, samples_ms=pre, timing={"quick": True}),
        _rec("a", "onnxruntime", 4.0, samples_ms=post, timing={"quick": True}, contended=True, other_cpu_pct=37.0,
             load_before_pct=12.0),
        _rec("b", "pytorch", 0, status="run_failed", error="RuntimeError: factory raised\nmore"),
        _rec("b", "onnxruntime", 3.0),
        _rec("c", "pytorch", 5.0),
        _rec("c", "onnxruntime", 2.0, status="accuracy_failed", accuracy_gate="failed",
             accuracy_gate_reason="top-1 agreement 93.8% < 99%"),
    ]


INTERRUPTED = {**RUN, "baseline_backend": "onnxruntime@fp16", "status": "interrupted",
               "config": {"device": "cpu", "timing": {"quick": True}, "models": ["a", "b", "c", "d"]}}


def test_table_marks_quick_interrupted_contended_and_failed_models():
    t = build_table1(_qualified_records(), {**INTERRUPTED, "baseline_backend": "pytorch"})
    rows = {r.model: r for r in t.rows}
    assert rows["a"].post_contended and not rows["a"].pre_contended and rows["a"].quick
    assert rows["a"].post_other_cpu_pct == 37.0
    assert t.failed == [("b", "baseline run_failed"), ("c", "no ok post-opt cell")]
    assert t.interrupted and t.quick and t.not_reached == ["d"]
    md = render_markdown(t)
    assert "QUICK smoke run" in md and "INTERRUPTED run" in md
    assert "| a\u2021 |" in md and "4.000\u2020" in md  # quick row, contended post cell
    assert "contended: other processes used 37% CPU during timing (12% just before)" in md
    assert "No speedup (failed): b (baseline run_failed); c (no ok post-opt cell)" in md
    assert "models not reached: d" in md
    assert "accuracy_failed (top-1 agreement 93.8% < 99%)" in md  # the gate's metric, value and threshold
    assert "run_failed (RuntimeError: factory raised)" in md
    term = render_terminal(t)
    assert term.startswith("** QUICK smoke run") and "4.000\u2020" in term
    assert "contended: other processes used 37% CPU" in term and "top-1 agreement 93.8% < 99%" in term
    row_a = next(r for r in __import__("csv").DictReader(render_csv(t).splitlines()) if r["model"] == "a")
    assert row_a["post_contended"] == "True" and row_a["pre_contended"] == "False" and row_a["quick"] == "True"
    j = json.loads(render_json(t))
    assert j["interrupted"] and j["quick"] and j["baseline"] == "pytorch@fp32"
    assert [f["model"] for f in j["failed_models"]] == ["b", "c"]
    assert j["rows"][0]["post_other_cpu_pct"] == 37.0


def test_rows_stored_before_contention_fields_read_as_quiet():
    recs = _records()
    for r in recs:  # as from a store written before the fields existed
        for name in ("contended", "other_cpu_pct", "load_before_pct"):
            r.__dict__.pop(name, None)
    t = build_table1(recs, RUN)
    assert not any(r.pre_contended or r.post_contended for r in t.rows) and t.contended_cells == []
    assert "\u2020" not in render_terminal(t)


def test_figure_title_error_bars_and_marks():
    from matplotlib.container import BarContainer, ErrorbarContainer

    from edgebench.report.figure4 import draw_speedup

    fig = draw_speedup(build_table1(_qualified_records(), INTERRUPTED))
    ax = fig.axes[0]
    title = ax.get_title()
    assert "over ONNX Runtime FP16" in title and "PyTorch eager" not in title  # the run's real baseline
    assert "QUICK smoke run" in title and "INTERRUPTED run" in title
    # the baseline here is onnxruntime@fp16, which no record has: no model has a speedup
    assert "No speedup (failed): a (no baseline cell)" in fig.texts[0].get_text()

    fig = draw_speedup(build_table1(_qualified_records(), RUN))
    ax = fig.axes[0]
    assert "over PyTorch eager FP32" in ax.get_title() and "QUICK" in ax.get_title()
    bars = next(c for c in ax.containers if isinstance(c, BarContainer))
    assert [b.get_hatch() for b in bars] == ["//"]  # one bar (a), contended
    err = next(c for c in ax.containers if isinstance(c, ErrorbarContainer))
    (lo, hi), = err.lines[2][0].get_segments()[0][:, 1:].T  # the vertical segment of the one error bar
    row = build_table1(_qualified_records(), RUN).rows[0]
    assert (lo, hi) == pytest.approx(row.speedup_ci) and lo < row.speedup < hi
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a\u2020\u2021"]
    notes = fig.texts[0].get_text()
    assert "contended: other processes used 37% CPU during timing" in notes
    assert "b (baseline run_failed)" in notes and "c (no ok post-opt cell)" in notes


def test_figure_without_any_speedup_still_renders(tmp_path):
    from edgebench.report.figure4 import plot_speedup

    recs = [_rec("x", "pytorch", 0, status="run_failed", error="boom")]
    path = plot_speedup(build_table1(recs, RUN), tmp_path / "f.png")
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_top1_shows_the_decisive_inputs_the_gate_judged():
    recs = [_rec("a", "pytorch", 10.0),
            _rec("a", "onnxruntime", 4.0, top1_agreement=0.941, accuracy_gate="passed",
                 details={"top1_decisive_agreement": 1.0, "top1_decisive_items": 150})]
    t = build_table1(recs, RUN)
    assert t.rows[0].top1_decisive_items == 150
    assert "94.1% (100.0% of 150 decisive)" in render_markdown(t)
    assert json.loads(render_json(t))["rows"][0]["top1_decisive_agreement"] == 1.0
