import json

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
