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


def test_a_target_run_names_the_target_and_shows_trtexecs_split_and_slowest_layers():
    env = {"host": "nano", "target": "nano", "target_address": "ssh://me@jetson.local", "l4t": "32.6.1",
           "jetpack": "4.6", "power_mode": "MAXN", "memory_total_mib": 3956, "trtexec": "/usr/src/tensorrt/bin/trtexec"}
    recs = records()
    trt = recs[2]
    trt.details.update({"engine": "built", "trtexec_p50_ms": {"enqueue": 0.5, "h2d": 0.25, "compute": 4.0, "d2h": 0.01,
                                                              "end_to_end": 4.5},
                        "layer_profile": {"queries": 10, "layers": [
                            {"layer": "conv1", "total_ms": 1.0, "average_ms": 0.1, "median_ms": None, "percentage": 10.0},
                            {"layer": "fc", "total_ms": 5.0, "average_ms": 0.5, "median_ms": None, "percentage": 50.0}]}})
    md = render_markdown(build_table1(recs, replace(RUN, env=env)))
    assert ("- Target: measured on target **nano** (ssh://me@jetson.local) over SSH, L4T 32.6.1 (JetPack 4.6), "
            "power mode MAXN, 3,956 MiB memory, trtexec /usr/src/tensorrt/bin/trtexec") in md
    assert "| a | fp32 | built | 0.500 | 0.250 | 4.000 | 0.010 | 4.500 |" in md
    # stored before the source was recorded: a target's tensorrt cell is trtexec's
    assert "| a | tensorrt | fp32 | trtexec --exportProfile | fc (50.0%), conv1 (10.0%) |" in md
    local = render_markdown(build_table1(records(), RUN))
    assert "- Target:" not in local and "TensorRT through trtexec" not in local
