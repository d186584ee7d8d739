"""Reports: Table 1 and Figure 4, pure functions of stored records.

table1 (rows picked from the records), statistics, paper (the paper's figures), render/
(markdown, CSV, JSON, terminal), figure4, write (the report files), console (every command's
plain-text output)."""
from __future__ import annotations

from edgebench.report.render.csv import render_csv
from edgebench.report.render.json import render_json
from edgebench.report.render.markdown import render_markdown
from edgebench.report.render.terminal import render_terminal
from edgebench.report.table1 import Table1, build_table1
from edgebench.report.write import write_reports, write_table

__all__ = ["Table1", "build_table1", "render_csv", "render_json", "render_markdown", "render_terminal", "write_reports",
           "write_table"]
