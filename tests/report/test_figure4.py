"""Figure 4: the bars, their intervals, the marks and the notes under the plot."""
import pytest

from edgebench.report import build_table1
from tests.report import INTERRUPTED, RUN, qualified_records, rec


def test_figure_title_error_bars_and_marks():
    from matplotlib.container import BarContainer, ErrorbarContainer

    from edgebench.report.figure4 import draw_speedup

    fig = draw_speedup(build_table1(qualified_records(), INTERRUPTED))
    ax = fig.axes[0]
    title = ax.get_title()
    assert "over ONNX Runtime FP16" in title and "PyTorch eager" not in title  # the run's real baseline
    assert "QUICK smoke run" in title and "INTERRUPTED run" in title
    # the baseline here is onnxruntime@fp16, which no record has: no model has a speedup
    assert "No speedup (failed): a (no baseline cell)" in fig.texts[0].get_text()

    fig = draw_speedup(build_table1(qualified_records(), RUN))
    ax = fig.axes[0]
    assert "over PyTorch eager FP32" in ax.get_title() and "QUICK" in ax.get_title()
    bars = next(c for c in ax.containers if isinstance(c, BarContainer))
    assert [b.get_hatch() for b in bars] == ["//"]  # one bar (a), contended
    err = next(c for c in ax.containers if isinstance(c, ErrorbarContainer))
    (lo, hi), = err.lines[2][0].get_segments()[0][:, 1:].T  # the vertical segment of the one error bar
    row = build_table1(qualified_records(), RUN).rows[0]
    assert (lo, hi) == pytest.approx(row.speedup_ci) and lo < row.speedup < hi
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a\u2020\u2021"]
    notes = fig.texts[0].get_text()
    assert "contended: other processes used 37% CPU during timing" in notes
    assert "b (baseline run_failed)" in notes and "c (no ok post-opt cell)" in notes


def test_figure_without_any_speedup_still_renders(tmp_path):
    from edgebench.report.figure4 import plot_speedup

    recs = [rec("x", "pytorch", 0, status="run_failed", error="boom")]
    path = plot_speedup(build_table1(recs, RUN), tmp_path / "f.png")
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_a_model_file_is_labelled_by_its_name_not_its_path():
    import warnings

    from edgebench.report.figure4 import draw_speedup

    model = "/home/someone/projects/deployment/models/" + "x" * 60 + "/classifier.py:make"
    recs = [rec(model, "pytorch", 10.0), rec(model, "onnxruntime", 4.0)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib's "Tight layout not applied" came from such a label
        fig = draw_speedup(build_table1(recs, RUN))
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["classifier.py:make"]
