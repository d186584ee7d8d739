"""Table 1 as CSV (table1.csv): one line per row, every Table1Row field a column; and a run's
MLPerf LoadGen scenario cells (table1_scenarios.csv), every ScenarioRow field a column."""
from __future__ import annotations

import csv
import io
from dataclasses import asdict

from edgebench.report.table1 import ScenarioRow, Table1, Table1Row


def render_csv(table: Table1) -> str:
    return _csv(Table1Row, table.rows)


def render_scenarios_csv(table: Table1) -> str:
    """The LoadGen scenario cells, one line each (only the header when the run has none)."""
    return _csv(ScenarioRow, table.scenario_rows)


def _csv(row_type, rows) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(row_type.__dataclass_fields__), lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow(asdict(r))
    return buf.getvalue()
