"""Table 1 as aligned plain text for the terminal, with the run's flags above and the notes below."""
from __future__ import annotations

from edgebench.report.render.text import (
    COMPLIANT_TEXT, HEADERS, NOT_COMPLIANT_TEXT, TEXT_COLUMNS, cells, fmt, footnotes, run_flags, scenario_columns,
    scenario_compliant, scenario_intro,
)
from edgebench.report.table1 import Table1


def render_terminal(table: Table1) -> str:
    """Table 1 (when the run has harness cells) and a table per LoadGen scenario (when it has those)."""
    out = [f"** {flag} **" for flag in run_flags(table)]
    if table.rows or not table.scenario_rows:
        rows = [HEADERS] + [cells(r) for r in table.rows]
        out += aligned(rows, TEXT_COLUMNS)
        out.append(f"mean speedup: {fmt(table.mean_speedup, '.2f', 'x')}  (device: {table.device_name}; "
                   f"baseline {table.baseline_title})")
        out += footnotes(table)
    for scenario, rows in table.scenarios:
        cols = scenario_columns(scenario, rows)
        compliant = scenario_compliant(rows)
        out += ["", scenario_intro(scenario, rows)
                + ("" if compliant is None else f" {COMPLIANT_TEXT}" if compliant else
                   f" Not compliant durations: {NOT_COMPLIANT_TEXT}")]
        numeric = {i for i, c in enumerate(cols) if c.key is not None}
        out += aligned([[c.title for c in cols]] + [[c.text(r) for c in cols] for r in rows],
                        {i for i in range(len(cols)) if i not in numeric})
    return "\n".join(out)


def aligned(rows: list, text_columns=None) -> list[str]:
    """Rows of cells as aligned lines, a dash line under the first (the header); the columns in
    `text_columns` (all when None) left-aligned, the others (numbers) right-aligned."""
    rows = [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = []
    for j, row in enumerate(rows):
        out.append("  ".join(c.ljust(w) if text_columns is None or i in text_columns else c.rjust(w)
                             for i, (c, w) in enumerate(zip(row, widths))).rstrip())
        if j == 0:
            out.append("  ".join("-" * w for w in widths))
    return out
