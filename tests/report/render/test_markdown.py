"""Table 1 as markdown."""
from dataclasses import replace

from edgebench.report import build_table1, render_markdown
from tests.report import RUN, SCENARIO_RUN, records, scenario_records


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


def test_a_scenario_run_has_a_section_per_scenario_with_loadgens_verdict_figure_and_accuracy():
    md = render_markdown(build_table1(scenario_records(), SCENARIO_RUN))
    assert md.startswith("# Table 1: MLPerf LoadGen scenarios\n") and "| Model | Params |" not in md
    assert ("- LoadGen: short runs of at least 0.3 s each (not MLPerf's compliant durations); Server: latency bound "
            "15 ms on the 99th percentile, at most 2 runs to find the highest VALID rate; frame budget 1000 / 30 fps "
            "= 33.3 ms") in md
    assert ("MLPerf LoadGen SingleStream: one query of one sample at a time; figure: the 90th percentile latency. "
            "**Not compliant durations**: short runs") in md
    assert ("| Model | Backend | Precision | LoadGen | p90 (ms) | Early-stopping estimate (ms) | Meets 33.3 ms frame "
            "budget | Task accuracy / gate | Top-1 agree | Max abs diff | Why INVALID / not measured |") in md
    assert "| test_cnn | pytorch | fp32 | VALID | 0.358 | 0.370 | yes | 87.5% | n/a | n/a |  |" in md
    assert ("| test_cnn | onnxruntime | fp32 | VALID | 41.250 | 42.500 | no | 80.0% / failed | 93.8% | 2.50e-01 | "
            "accuracy gate: top-1 agreement 93.8% < 99% |") in md
    assert ("| Model | Backend | Precision | LoadGen | Scheduled QPS | Early-stopping estimate (ms) | Rates tried (QPS: "
            "verdict) | Task accuracy / gate | Top-1 agree | Max abs diff | Why INVALID / not measured |") in md
    assert ("| test_cnn | pytorch | fp32 | INVALID | 100.0 | n/a | 200: INVALID, 100: INVALID | n/a | n/a | n/a | "
            "Performance constraints satisfied: NO; Reduce target QPS to improve latency. |") in md
    assert "| test_cnn | onnxruntime | fp32 | VALID | 400.0 | n/a | 400: VALID | 87.5% / passed | 100.0% | 2.00e-06 |  |" in md
    assert ("| test_cnn | tensorrt | fp32 | skipped | n/a | n/a |  | n/a | n/a | n/a | <b>TensorRT</b> is not installed: "
            "pip install tensorrt |") in md
    assert "- test_cnn / pytorch fp32: LoadGen server: short run" in md  # the cells' warnings


def test_a_scenario_says_when_its_durations_were_mlperfs_and_nothing_when_loadgen_ran_no_cell():
    recs = scenario_records()
    for r in recs:
        r.loadgen.compliant = True
    md = render_markdown(build_table1(recs, SCENARIO_RUN))
    assert "Not compliant durations" not in md and md.count("MLPerf's compliant durations.") == 2
    md = render_markdown(build_table1(recs[-1:], SCENARIO_RUN))  # only the skipped cell: LoadGen ran nothing
    assert "compliant durations" not in md.split("- LoadGen:")[1].split("\n", 1)[1]
    assert "| test_cnn | tensorrt | fp32 | skipped |" in md


def test_table1_shows_the_setup_and_its_warnings():
    from edgebench.report.render.html import render_html
    from edgebench.results import setup
    from tests.results.test_setup import _readings

    fp = setup.fingerprint(_readings("jetson_clocks_show_nano_dynamic.txt", mode="nvpmodel_q_nano_5w.txt"))
    run = replace(RUN, env={**RUN.env, "setup": fp, "setup_warnings": setup.warnings(fp)})
    md = render_markdown(build_table1(records(), run))
    assert "- Setup: NVIDIA Jetson Nano Developer Kit, power mode 5W (maximum MAXN), jetson_clocks off" in md
    assert "timing scope: host wall-clock per batch (CPU, no copies)" in md
    assert "- setup: power mode 5W (id 1) is not this board's maximum, MAXN (id 0): `sudo nvpmodel -m 0` sets it" in md
    html = render_html(build_table1(records(), run))
    assert "power mode 5W (maximum MAXN)" in html and "sudo nvpmodel -m 0" in html
    assert "- Setup: not recorded" in render_markdown(build_table1(records(), RUN))  # a run stored before


def test_a_jetson_nano_run_is_set_beside_the_published_figures():
    from edgebench.report.references import NANO, REFERENCES, device_text, gaps
    from edgebench.report.render.html import render_html
    from edgebench.results import setup
    from tests.results.test_setup import _readings

    fp = setup.fingerprint(_readings("jetson_clocks_show_nano_locked.txt"))
    recs = records()
    for r in recs:
        r.model = {"a": "resnet50"}.get(r.model, r.model)
    run = replace(RUN, env={**RUN.env, "setup": fp})
    assert NANO.matches(device_text(run.env)) and not NANO.matches("NVIDIA Jetson Orin Nano Developer Kit")
    table = build_table1(recs, run)
    found = gaps(table)
    assert {(g.reference.runtime, g.reference.value) for g in found} == {("pytorch", 81.7), ("optimised", 29.8)}
    g = next(g for g in found if g.reference.runtime == "optimised")
    post = next(r for r in recs if r.model == "resnet50" and r.backend == table.rows[0].post_backend
                and r.precision == table.rows[0].post_precision)
    assert g.speed == 29.8 / post.latency.host.p50_ms and g.ours == post.latency.host.p50_ms
    assert "power mode MAXN here, not stated published" in g.differences
    md = render_markdown(table)
    assert "Published figures for this device class" in md and "torch2trt benchmarks (NVIDIA-AI-IOT)" in md
    assert "Published figure: resnet50" in render_html(table)
    assert "Published figures" not in render_markdown(build_table1(records(), RUN))  # a CPU: no class matches
    assert all(r.value > 0 and r.url.startswith("https://github.com/") for r in REFERENCES)
