"""Table 1 for the terminal."""
from edgebench.report import build_table1, render_terminal
from tests.report import RUN, records


def test_terminal_ends_with_the_mean_speedup():
    assert "mean speedup: 1.50x" in render_terminal(build_table1(records(), RUN))
