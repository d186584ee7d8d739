"""The report files of a run."""
from edgebench.report import build_table1, write_reports, write_table
from tests.report import RUN, records


def test_write_reports_including_figure(tmp_path):
    paths = write_reports(records(), RUN, tmp_path)
    assert set(paths) == {"table1.md", "table1.csv", "table1.json", "figure4_speedup.png"}
    assert paths["figure4_speedup.png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_write_table_writes_the_table_it_is_given(tmp_path):
    first, again = tmp_path / "records", tmp_path / "table"
    write_reports(records(), RUN, first)
    assert set(write_table(build_table1(records(), RUN), again)) == {"table1.md", "table1.csv", "table1.json",
                                                                      "figure4_speedup.png"}
    for name in ("table1.md", "table1.csv", "table1.json"):
        assert (again / name).read_text() == (first / name).read_text()
