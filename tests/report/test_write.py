"""The report files of a run."""
import csv

from edgebench.report import build_table1, write_html, write_reports, write_table
from tests.report import RUN, SCENARIO_RUN, records, scenario_records

FILES = {"table1.md", "table1.csv", "table1.json", "figure4_speedup.png", "table1.html"}


def test_write_reports_including_figure_and_html(tmp_path):
    paths = write_reports(records(), RUN, tmp_path)
    assert set(paths) == FILES
    assert paths["figure4_speedup.png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths["table1.html"].read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_write_table_writes_the_table_it_is_given(tmp_path):
    first, again = tmp_path / "records", tmp_path / "table"
    write_reports(records(), RUN, first)
    assert set(write_table(build_table1(records(), RUN), again)) == FILES
    for name in ("table1.md", "table1.csv", "table1.json", "table1.html"):
        assert (again / name).read_text() == (first / name).read_text()


def test_write_html_writes_only_the_page_where_it_is_asked(tmp_path):
    path = write_html(build_table1(records(), RUN), tmp_path / "mail" / "run.html")
    assert path == tmp_path / "mail" / "run.html" and [p.name for p in path.parent.iterdir()] == ["run.html"]


def test_a_scenario_run_also_writes_its_cells_as_table1_scenarios_csv(tmp_path):
    (tmp_path / "figure4_speedup.png").write_bytes(b"from another run")
    paths = write_reports(scenario_records(), SCENARIO_RUN, tmp_path)
    # LoadGen cells only: no speedup to draw, and another run's figure is not left as this one's
    assert set(paths) == FILES - {"figure4_speedup.png"} | {"table1_scenarios.csv"}
    assert not (tmp_path / "figure4_speedup.png").exists()
    rows = list(csv.DictReader(paths["table1_scenarios.csv"].read_text().splitlines()))
    assert [(r["scenario"], r["backend"], r["result"], r["figure_value"]) for r in rows][:3] == [
        ("single-stream", "pytorch", "VALID", "0.358"), ("single-stream", "onnxruntime", "VALID", "41.25"),
        ("server", "pytorch", "INVALID", "100.0")]
    # another run's report in the same folder leaves no scenario file of this one behind
    assert set(write_reports(records(), RUN, tmp_path)) == FILES
    assert not (tmp_path / "table1_scenarios.csv").exists()
