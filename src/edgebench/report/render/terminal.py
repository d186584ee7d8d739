"""Table 1 as aligned plain text for the terminal, with the run's flags above and the notes below."""
from __future__ import annotations

from edgebench.report.render.text import HEADERS, TEXT_COLUMNS, cells, fmt, footnotes, run_flags
from edgebench.report.table1 import Table1


def render_terminal(table: Table1) -> str:
    rows = [HEADERS] + [cells(r) for r in table.rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADERS))]
    out = [f"** {flag} **" for flag in run_flags(table)]
    for j, row in enumerate(rows):
        out.append("  ".join(c.ljust(w) if i in TEXT_COLUMNS else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if j == 0:
            out.append("  ".join("-" * w for w in widths))
    out.append(f"mean speedup: {fmt(table.mean_speedup, '.2f', 'x')}  (device: {table.device_name}; "
               f"baseline {table.baseline_title})")
    out += footnotes(table)
    return "\n".join(out)
