"""Table 1 as CSV (table1.csv): one line per row, every Table1Row field a column."""
from __future__ import annotations

import csv
import io
from dataclasses import asdict

from edgebench.report.table1 import Table1, Table1Row


def render_csv(table: Table1) -> str:
    buf = io.StringIO()
    fields = list(Table1Row.__dataclass_fields__)
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for r in table.rows:
        w.writerow(asdict(r))
    return buf.getvalue()
