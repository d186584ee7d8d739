"""Reports: Table 1, Figure 4 and the HTML report, pure functions of stored records.

table1 (rows picked from the records), statistics, paper (the paper's figures), render/
(markdown, CSV, JSON, terminal, HTML and its inline SVG), figure4, distribution (each cell's
latency histogram), compare_figure (the compare view's ratios), write (the report files),
console (every command's plain-text output)."""
from __future__ import annotations

from edgebench.report.render.csv import render_csv
from edgebench.report.render.json import render_json
from edgebench.report.render.markdown import render_markdown
from edgebench.report.render.terminal import render_terminal
from edgebench.report.table1 import Table1, build_table1
from edgebench.report.write import write_html, write_reports, write_table

__all__ = ["Table1", "build_table1", "render_csv", "render_json", "render_markdown", "render_terminal", "write_html",
           "write_reports", "write_table"]
