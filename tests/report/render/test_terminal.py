"""Table 1 for the terminal."""
from edgebench.report import build_table1, render_terminal
from tests.report import RUN, records


def test_terminal_ends_with_the_mean_speedup():
    assert "mean speedup: 1.50x" in render_terminal(build_table1(records(), RUN))


def test_a_scenario_run_shows_a_table_per_scenario_and_no_empty_table1():
    from tests.report import SCENARIO_RUN, scenario_records

    text = render_terminal(build_table1(scenario_records(), SCENARIO_RUN))
    assert "mean speedup" not in text and "Pre p50" not in text
    assert "MLPerf LoadGen SingleStream" in text and "MLPerf LoadGen Server" in text
    assert "Not compliant durations" in text
    lines = text.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("Model") and "LoadGen" in line)
    assert set(lines[head + 1]) == {"-", " "}  # the dash line under the header
    first = lines[head + 2].split()
    assert first[:4] == ["test_cnn", "pytorch", "fp32", "VALID"] and first[4] == "0.358"


def test_a_mixed_run_shows_table1_then_its_scenarios():
    from tests.report import SCENARIO_RUN, scenario_records

    text = render_terminal(build_table1(records() + scenario_records(), SCENARIO_RUN))
    assert text.index("mean speedup") < text.index("MLPerf LoadGen SingleStream")
