"""The HTML report and the compare view: what the page holds, that it needs nothing outside
itself, and, in headless Chromium (Debian's `chromium`; skipped, saying why, where there is
none), that it renders its tables and figures, sorts, and logs no console error."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser

import pytest

from edgebench.report import build_table1
from edgebench.report.render.html import TABLE1_KEYS, render_compare_html, render_html
from edgebench.report.render.text import HEADERS
from edgebench.results import Run, RunStatus
from tests.report import RUN, SCENARIO_RUN, qualified_records, records, scenario_records
from tests.report.render.suite import suite_run

#: what a mailed report may weigh (the 11-model suite's is about 390 KB)
MAX_BYTES = 512 * 1024


# -- what the page holds ----------------------------------------------------------------------

class Tables(HTMLParser):
    """Every <table id=...> of a page as its rows' cell texts, per <tbody>; the attributes of
    each header cell; the number of <svg> elements and of <path>s in them."""

    def __init__(self, text: str):
        super().__init__()
        self.tables, self.heads, self.svgs, self.paths, self.root = {}, {}, 0, 0, {}
        self._table = self._row = self._cell = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "html":
            self.root = a
        elif tag == "table" and a.get("id"):
            self._table = a["id"]
            self.tables[self._table], self.heads[self._table] = [], []
        elif self._table and tag == "tbody":
            self.tables[self._table].append([])
        elif self._table and tag == "tr":
            self._row = []
        elif self._table and tag in ("td", "th") and self._row is not None:
            self._cell = []
            if not self.tables[self._table]:
                self.heads[self._table].append(a)
        elif tag == "svg":
            self.svgs += 1
        elif tag == "path":
            self.paths += 1

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self.tables[self._table] and len(self._row) > 1:  # data rows, not the head or a section title
                self.tables[self._table][-1].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def rows(self, table: str) -> list[list[str]]:
        return [row for body in self.tables[table] for row in body]


@pytest.fixture(scope="module")
def suite():
    """The realistic 11-model suite's records (samples capped for speed; the page's size does not
    depend on their number), its Table 1 and its page."""
    recs, run = suite_run(max_samples=600)
    table = build_table1(recs, run)
    return recs, table, render_html(table)


def test_the_report_holds_table1_figure4_the_distributions_profiles_and_environment(suite):
    recs, table, page = suite
    t = Tables(page)
    models = [r.model for r in table.rows]
    assert [row[0] for row in t.rows("table1")] == models and len(models) == 11
    assert [h["data-key"] for h in t.heads["table1"]][HEADERS.index("Speedup")] == "speedup"
    assert len(t.rows("cells")) == len(recs) == 24  # every cell, the two the accuracy gate turned down too
    assert t.svgs == 1 + 11 and t.paths > 12 * 10  # Figure 4 and one distribution figure per model
    assert page.count('data-figure="dist-') == 11 and 'data-figure="figure4"' in page
    alexnet = recs[0]
    s = alexnet.latency.host
    assert s.p99_ms is None  # 600 samples: too few for a p99 (LatencyStats)
    assert f"pytorch fp32: n=600; p50 {s.p50_ms:.3f} ms, p90 {s.p90_ms:.3f} ms, p99 n/a (too few samples)" in page
    profile = t.rows("layers-0-0")
    assert len(profile) == 15 and profile[0][0].startswith("sm90_xmma_fprop")  # the slowest first
    assert "the other 25 take" in page and "torch.profiler (CUDA kernels)" in page
    assert "accuracy_failed" in page and "top-1 agreement 93.8% &lt; 99%" in page
    assert "conv_autoencoder / pytorch fp32</strong>: host timing CV" in page
    env = dict((row[0], row[1]) for row in t.rows("env"))
    assert env["gpu"] == "NVIDIA H200" and env["torch"] == "2.11.0"
    assert "energy per item above the idle baseline, measured with NVML" in page
    assert "Mean speedup across 11 models: 5.6" in page


def test_the_page_loads_nothing_from_elsewhere(suite):
    page = suite[2]
    assert "<link" not in page and "@import" not in page and not re.search(r"\bsrc\s*=", page)
    assert not re.search(r"url\(\s*['\"]?(?!#)", page)
    links = re.findall(r'href="([^"]*)"', page)
    assert links and all(link.startswith("#") for link in links)  # in-page anchors and SVG references only
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids))  # unique across the page, the figures' clip paths included
    refs = set(re.findall(r'href="#([^"]+)"', page)) | set(re.findall(r"url\(#([^)]+)\)", page))
    assert refs and refs <= set(ids)  # every in-page reference resolves
    assert len(page.encode()) < MAX_BYTES


def test_the_page_is_a_pure_function_of_the_records():
    assert render_html(build_table1(qualified_records(), RUN)) == render_html(build_table1(qualified_records(), RUN))


def test_stored_strings_are_text_never_markup():
    recs = records()
    recs[0].model = recs[1].model = "<script>alert(1)</script>"
    recs[6].error = "<img src=x onerror=alert(2)>"
    page = render_html(build_table1(recs, RUN))
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_run_with_failures_quick_timing_and_contention_says_so():
    page = render_html(build_table1(qualified_records(), RUN))
    t = Tables(page)
    assert "QUICK smoke run: not a result" in page
    assert [row[0] for row in t.rows("table1")] == ["a\u2021", "b", "c"]
    assert "No speedup (failed): b (baseline run_failed)" in page
    assert "no samples stored for" in page.lower()  # b's baseline failed before it was timed
    statuses = {(row[0], row[1]): row[3] for row in t.rows("cells")}
    assert statuses[("b", "pytorch fp32")] == "run_failed"
    assert 'title="RuntimeError: factory raised"' in page  # why, on the failed status
    assert "37\u2020" in page  # the contended cell's other-CPU figure carries the mark


def test_a_target_run_shows_its_target_and_the_trtexec_split_and_profile_as_stored():
    env = {"host": "nano", "target": "nano", "target_address": "ssh://me@jetson.local", "l4t": "32.6.1",
           "jetpack": "4.6", "power_mode": "MAXN", "trtexec": "/usr/src/tensorrt/bin/trtexec"}
    recs = records()
    recs[2].details.update({"engine": "built", "trtexec_p50_ms": {"enqueue": 0.5, "h2d": 0.25, "compute": 4.0,
                                                                  "d2h": 0.01, "end_to_end": 4.5},
                            # the shape tensorrt target cells store: no "source", no "op_type"
                            "layer_profile": {"queries": 10, "layers": [
                                {"layer": "conv1", "total_ms": 1.0, "average_ms": 0.1, "median_ms": None, "percentage": 10.0},
                                {"layer": "fc", "total_ms": 5.0, "average_ms": 0.5, "median_ms": None, "percentage": 50.0}]}})
    page = render_html(build_table1(recs, replace(RUN, env=env)))
    t = Tables(page)
    assert ("measured on target nano (ssh://me@jetson.local) over SSH, L4T 32.6.1 (JetPack 4.6), power mode MAXN, "
            "trtexec /usr/src/tensorrt/bin/trtexec") in page
    layers = t.rows("layers-0-2")
    assert [row[0] for row in layers] == ["fc", "conv1"]
    assert [h["data-key"] for h in t.heads["layers-0-2"]] == ["layer", "total", "average", "share"]
    assert "from trtexec --exportProfile, 10 inferences profiled" in page
    assert "<td class=\"num\">4.000</td>" in page  # GPU compute of trtexec's split
    local = render_html(build_table1(records(), RUN))
    assert "over SSH" not in local and "trtexec" not in local


def test_a_scenario_run_shows_its_loadgen_scenarios_and_no_empty_harness_sections():
    page = render_html(build_table1(scenario_records(), SCENARIO_RUN))
    t = Tables(page)
    assert "<title>edgebench: MLPerf LoadGen scenarios: TestCPU, run r1</title>" in page
    assert set(t.tables) == {"loadgen-single-stream", "loadgen-server", "env"}  # no Table 1, cells or distributions
    assert t.svgs == 0 and 'id="table-1"' not in page and 'id="figure-4"' not in page and 'id="models"' not in page
    assert "No harness cells: this run measured MLPerf LoadGen scenarios only" in page
    nav = re.search(r"<nav>(.*?)</nav>", page).group(1)
    assert re.findall(r'href="#([^"]+)"', nav) == ["scenarios", "warnings", "environment"]
    facts = page.split("</header>")[0]
    assert "<dt>LoadGen</dt><dd>short runs of at least 0.3 s each" in facts and "<dt>Timing</dt>" not in facts
    assert [h["data-key"] for h in t.heads["loadgen-single-stream"]] == [
        "model", "backend", "precision", "loadgen", "p90-ms", "early-stopping-estimate-ms", "meets-33-3-ms-frame-budget",
        "task-accuracy-gate", "top-1-agree", "max-abs-diff", "why-invalid-not-measured"]
    assert t.rows("loadgen-single-stream") == [
        ["test_cnn", "pytorch", "fp32", "VALID", "0.358", "0.370", "yes", "87.5%", "n/a", "n/a", ""],
        ["test_cnn", "onnxruntime", "fp32", "VALID", "41.250", "42.500", "no", "80.0% / failed", "93.8%", "2.50e-01",
         "accuracy gate: top-1 agreement 93.8% < 99%"]]
    assert t.rows("loadgen-server") == [
        ["test_cnn", "pytorch", "fp32", "INVALID", "100.0", "n/a", "200: INVALID, 100: INVALID", "n/a", "n/a", "n/a",
         "Performance constraints satisfied: NO; Reduce target QPS to improve latency."],
        ["test_cnn", "onnxruntime", "fp32", "VALID", "400.0", "n/a", "400: VALID", "87.5% / passed", "100.0%", "2.00e-06",
         ""],
        ["test_cnn", "tensorrt", "fp32", "skipped", "n/a", "n/a", "", "n/a", "n/a", "n/a",
         "<b>TensorRT</b> is not installed: pip install tensorrt"]]
    assert "&lt;b&gt;TensorRT&lt;/b&gt;" in page and "<b>TensorRT" not in page  # a stored error is text, never markup
    # sort values: the figure by its number, a cell with none last; failures marked
    assert '<td data-v="41.25" class="num">41.250</td>' in page and '<td class="bad">INVALID</td>' in page
    assert '<td data-v="0.8" class="num bad" title="top-1 agreement 93.8% &lt; 99%">80.0% / failed</td>' in page
    assert page.count('<p class="flag">Not compliant durations: short runs (--compliant') == 2
    assert ("MLPerf LoadGen Server: Poisson arrivals; figure: the highest scheduled rate LoadGen called VALID under the "
            "latency bound on the 99th percentile, found by doubling then bisecting (15 ms).") in page
    ids = re.findall(r'\sid="([^"]+)"', page)
    assert len(ids) == len(set(ids)) and set(re.findall(r'href="#([^"]+)"', page)) <= set(ids)


def test_scenario_cells_stay_out_of_the_harness_views_of_a_run_with_both():
    recs = records() + scenario_records()
    page = render_html(build_table1(recs, RUN))
    t = Tables(page)
    assert [row[0] for row in t.rows("table1")] == ["a", "b", "c"]
    cells = t.rows("cells")
    assert len(cells) == len(records()) and "test_cnn" not in {row[0] for row in cells}
    assert "loadgen-server" in t.tables and '<a href="#scenarios">' in page and '<a href="#table-1">' in page
    assert "test_cnn" not in page.split('id="models"')[1].split('id="scenarios"')[0]  # no distribution of its own
    assert "No harness cells" not in page and "<dt>Timing</dt>" in page
    assert "LoadGen server: short run" in page  # the scenario cells' warnings are still the run's
    local = render_html(build_table1(records(), RUN))
    assert 'id="scenarios"' not in local and "#scenarios" not in local and "<dt>LoadGen</dt>" not in local


def test_table1s_sort_keys_follow_its_columns():
    assert len(TABLE1_KEYS) == len(HEADERS)


# -- the compare view -------------------------------------------------------------------------

@dataclass
class Cell:
    """Stands for report.compare.CellComparison: the fields the view reads."""

    model: str
    backend: str
    precision: str
    batch_size: int
    p50_ms: list
    ratio: list
    ci: list
    verdict: list
    status: list = field(default_factory=list)
    contended: list = field(default_factory=list)


@dataclass
class Comparison:
    """Stands for report.compare.Comparison."""

    labels: list
    runs: list
    cells: list
    env_differences: list
    unmatched: list


def comparison() -> Comparison:
    runs = [Run(f"r{i}", f"2026-11-2{i}T10:00:00+00:00", "pytorch@fp32", {"device": "cpu"},
                {"host": "h", "cpu": "Xeon", "torch": v}, RunStatus.FINISHED) for i, v in ((1, "2.4.0"), (2, "2.5.1"))]
    cells = [
        Cell("resnet50", "onnxruntime", "fp32", 1, [20.0, 15.0], [None, 0.75], [None, (0.72, 0.78)],
             ["baseline", "faster"], ["ok", "ok"], [False, False]),
        Cell("resnet50", "pytorch", "fp32", 1, [40.0, 48.0], [None, 1.2], [None, (1.15, 1.25)], ["baseline", "slower"],
             ["ok", "ok"], [False, True]),
        Cell("mobilenet_v2", "pytorch", "fp32", 1, [9.0, 9.1], [None, 1.01], [None, (0.97, 1.05)],
             ["baseline", "no significant change"], ["ok", "ok"], [False, False]),
        Cell("c3d", "onnxruntime", "fp32", 1, [5.0, None], [None, None], [None, None], ["baseline", "missing"],
             ["ok", "build_failed"], [False, None]),
    ]
    return Comparison(["r1", "r2"], runs, cells, [("torch", ["2.4.0", "2.5.1"])],
                      [("r2", "vgg19", "onnxruntime", "fp32")])


def test_the_compare_view_sets_the_runs_side_by_side():
    page = render_compare_html(comparison())
    t = Tables(page)
    rows = t.rows("compare")
    assert [h.get("data-key") for h in t.heads["compare"]] == ["model", "backend", "precision", "batch", "p50-0",
                                                               "p50-1", "ratio-1", "verdict-1"]
    assert rows[0] == ["resnet50", "onnxruntime", "fp32", "1", "20.000", "15.000", "0.750 [0.720, 0.780]", "faster"]
    assert rows[1][5] == "48.000\u2020" and rows[1][7] == "slower"
    assert rows[3][5] == "build_failed" and rows[3][7] == "missing"
    assert "r2 against r1: 1 faster, 1 slower, 1 no significant change, 1 missing" in page
    assert t.rows("env-differences") == [["torch", "2.4.0", "2.5.1"]]
    assert t.rows("unmatched-cells") == [["r2", "vgg19", "onnxruntime", "fp32"]]
    assert t.svgs == 1 and 'data-figure="compare"' in page  # the ratios with their intervals
    assert not re.search(r"\bsrc\s*=", page) and "<link" not in page


# -- in a real browser ------------------------------------------------------------------------

def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


needs_chromium = pytest.mark.skipif(
    chromium() is None, reason="headless Chromium is not installed here (apt-get install chromium; .ci/run does)")


def browse(url: str, tmp_path, *action: str) -> tuple[str, list[str]]:
    """Open `url` in headless Chromium and do `action` (--dump-dom, --screenshot=...): its
    stdout, and the page's console lines from Chromium's log (every console message and
    uncaught error is logged as "...:CONSOLE...] "text", source: ..."). Name resolution maps
    every host to nothing, so a page that fetched anything would log the failed load too."""
    proc = subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
         f"--user-data-dir={tmp_path / 'chromium-profile'}", "--enable-logging=stderr", "--v=0",
         "--host-resolver-rules=MAP * ~NOTFOUND", *action, url],
        capture_output=True, text=True, timeout=90, env={**os.environ, "HOME": str(tmp_path)})
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, console


#: appended to a copy of the page: a click on the cells table's p50 header, as a user's would
CLICK = ('<script>document.querySelector(\'#cells th[data-key="p50"]\').click();'
         "document.documentElement.setAttribute('data-clicked', 'yes');</script></body>")


@needs_chromium
def test_chromium_runs_the_page_sorts_it_and_logs_no_error(suite, tmp_path):
    _, table, page = suite
    harness = tmp_path / "harness.html"
    harness.write_text(page.replace("</body>", CLICK, 1))
    dom, console = browse(harness.as_uri() + "#sort=-speedup", tmp_path, "--dump-dom")
    assert console == []
    t = Tables(dom)
    assert t.root.get("data-sortable") == "ready" and t.root.get("data-clicked") == "yes"  # every script ran to its end
    # #sort=-speedup: Table 1 by speedup, fastest first, within each task
    speedup = {r.model: r.speedup for r in table.rows}
    for body, task in zip(t.tables["table1"], ("image-classification", "action-recognition")):
        got = [row[0] for row in body]
        assert got == sorted((r.model for r in table.rows if r.task == task), key=lambda m: -speedup[m])
    assert [h.get("aria-sort") for h in t.heads["table1"]].count("descending") == 1
    assert t.heads["table1"][HEADERS.index("Speedup")]["aria-sort"] == "descending"
    # the click: cells by p50, ascending
    p50 = [float(row[5]) for row in t.rows("cells")]
    assert p50 == sorted(p50) and len(p50) == 24
    assert t.svgs == 12


@needs_chromium
def test_chromium_draws_the_report_and_the_compare_view(suite, tmp_path):
    import numpy as np
    from PIL import Image

    report = tmp_path / "table1.html"
    report.write_text(suite[2])
    from edgebench.report.compare import compare as compare_stored
    from tests.report.stored_runs import two_runs

    two_runs(tmp_path / "s.sqlite")  # the real comparison of two stored runs, not a stand-in
    compare = tmp_path / "compare.html"
    compare.write_text(render_compare_html(compare_stored(["a", "b"], tmp_path / "s.sqlite")))
    for path, size, minimum_blue in ((report, "1400,2600", 20_000), (compare, "1200,900", 150)):
        shot = tmp_path / f"{path.stem}.png"
        _, console = browse(path.as_uri(), tmp_path, f"--screenshot={shot}", f"--window-size={size}")
        assert console == []
        pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=float)
        assert pixels.shape[:2] == tuple(int(x) for x in reversed(size.split(",")))
        assert pixels.std() > 20  # not a blank page
        inked = (pixels.min(axis=2) < 200).mean()
        assert inked > 0.03, f"{path.name}: only {inked:.1%} of the screenshot is drawn"
        # the figures' blue (Figure 4's bars, the compare view's faster cells): drawn, not only the text
        blue = int((np.abs(pixels - np.array([43, 123, 186])).max(axis=2) < 30).sum())
        assert blue > minimum_blue, f"{path.name}: {blue} pixels of the figures' blue"
