"""The report files of a run: table1.md/.csv/.json, figure4_speedup.png and the self-contained
table1.html in one folder, and table1_scenarios.csv for a run with MLPerf LoadGen scenario cells."""
from __future__ import annotations

from pathlib import Path

from edgebench.report.render.csv import render_csv, render_scenarios_csv
from edgebench.report.render.json import render_json
from edgebench.report.render.markdown import render_markdown
from edgebench.report.table1 import Table1, build_table1
from edgebench.results.run import Run


def write_table(table: Table1, out_dir: Path) -> dict:
    """Write a built Table 1 as table1.md/.csv/.json, figure4_speedup.png (unless the run has only
    LoadGen scenario cells) and table1.html, and its LoadGen scenario cells as table1_scenarios.csv
    when it has any; returns name -> path."""
    from edgebench.report.figure4 import plot_speedup

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "table1.md": render_markdown(table),
        "table1.csv": render_csv(table),
        "table1.json": render_json(table),
    }
    if table.scenario_rows:
        paths["table1_scenarios.csv"] = render_scenarios_csv(table)
    else:  # not one left from another run's report in the same folder, read as this run's
        (out_dir / "table1_scenarios.csv").unlink(missing_ok=True)
    written = {}
    for name, text in paths.items():
        (out_dir / name).write_text(text)
        written[name] = out_dir / name
    if table.rows or not table.scenario_rows:
        written["figure4_speedup.png"] = plot_speedup(table, out_dir / "figure4_speedup.png")
    else:  # LoadGen scenario cells only: no speedup to draw, and no figure from another run left
        (out_dir / "figure4_speedup.png").unlink(missing_ok=True)
    written["table1.html"] = write_html(table, out_dir / "table1.html")
    return written


def write_html(table: Table1, path: Path) -> Path:
    """Write the run of a built Table 1 as one self-contained HTML page at `path`; returns it."""
    from edgebench.report.render.html import render_html

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(table), encoding="utf-8")
    return path


def write_compare_html(comparison, path: Path) -> Path:
    """Write a report.compare.Comparison as one self-contained HTML page at `path`; returns it."""
    from edgebench.report.render.html import render_compare_html

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_compare_html(comparison), encoding="utf-8")
    return path


def write_reports(records, run: Run, out_dir: Path) -> dict:
    """Write table1.md/.csv/.json, figure4_speedup.png and table1.html; returns name -> path."""
    return write_table(build_table1(records, run), out_dir)
