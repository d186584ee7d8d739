"""Table 1 as JSON."""
import json

from edgebench.report import build_table1, render_json
from tests.report import RUN, records


def test_json_carries_the_mean_speedup():
    assert json.loads(render_json(build_table1(records(), RUN)))["mean_speedup"] == 1.5
