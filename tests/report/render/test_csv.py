"""Table 1 as CSV."""
from edgebench.report import build_table1, render_csv
from tests.report import RUN, records


def test_csv_header_is_the_row_fields():
    assert render_csv(build_table1(records(), RUN)).splitlines()[0].startswith("model,task,params")
