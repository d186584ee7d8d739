"""Table 1 as markdown."""
from dataclasses import replace

from edgebench.report import build_table1, render_markdown
from tests.report import RUN, records


def test_markdown_sections_speedups_and_the_papers_figure():
    from edgebench.report.paper import PAPER

    md = render_markdown(build_table1(records(), RUN))
    assert "**Image classification**" in md and "**Human action recognition**" in md
    assert "2.50x" in md and "0.50x" in md and "Mean speedup across 2 models: 1.50x" in md and "TestCPU" in md
    assert f"(the paper's {PAPER.device} figure: {PAPER.mean_speedup:.3f}x)" in md
    assert "(the paper's Jetson Nano figure: 7.011x)" in md


def test_cuda_runs_say_their_inputs_were_page_locked_and_older_runs_do_not():
    def md(config):
        return render_markdown(build_table1(records(), replace(RUN, config=config)))

    note = "inputs in page-locked host memory"
    assert note in md({"device": "cuda", "timing": {}, "cuda_host_inputs": "page-locked"})
    assert note not in md({"device": "cuda", "timing": {}})  # stored before the inputs were page-locked
    assert note not in md({"device": "cpu", "timing": {}, "cuda_host_inputs": "page-locked"})


def test_the_run_names_the_edgebench_that_measured_it():
    md = render_markdown(build_table1(records(), replace(RUN, edgebench_version="0.1.0", git_commit="abc1234")))
    assert "edgebench 0.1.0 at commit abc1234" in md
    md = render_markdown(build_table1(records(), replace(RUN, edgebench_version="0.1.0", git_commit=None)))
    assert "edgebench 0.1.0;" in md and "at commit" not in md  # not a git checkout
