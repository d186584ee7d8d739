"""Reports: Table 1 and Figure 4, pure functions of stored records."""
from __future__ import annotations

from pathlib import Path

from edgebench.report.table1 import Table1, build_table1, render_csv, render_json, render_markdown, render_terminal


def write_reports(records, run: dict, out_dir: Path) -> dict:
    """Write table1.md/.csv/.json and figure4_speedup.png; returns name -> path."""
    from edgebench.report.figure4 import plot_speedup

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = build_table1(records, run)
    paths = {
        "table1.md": render_markdown(table),
        "table1.csv": render_csv(table),
        "table1.json": render_json(table),
    }
    written = {}
    for name, text in paths.items():
        (out_dir / name).write_text(text)
        written[name] = out_dir / name
    written["figure4_speedup.png"] = plot_speedup(table, out_dir / "figure4_speedup.png")
    return written


__all__ = ["Table1", "build_table1", "render_csv", "render_json", "render_markdown", "render_terminal", "write_reports"]
