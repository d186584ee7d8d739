"""The stage clock behind a run's breakdown (bench.stages)."""
import time

import pytest

from edgebench.bench.stages import STAGES, StageClock, breakdown


def test_nested_stages_are_exclusive_and_add_up_to_the_wall_time():
    clock = StageClock()
    t0 = time.perf_counter()
    with clock.stage("model build"):
        time.sleep(0.05)
        with clock.stage("export"):
            time.sleep(0.1)
        time.sleep(0.05)
    wall = time.perf_counter() - t0
    s = clock.snapshot()
    assert 0.09 <= s["export"] < 0.2
    assert 0.09 <= s["model build"] < 0.2  # the export's time is not counted twice
    assert sum(s.values()) <= wall + 1e-6


def test_a_worker_s_totals_are_absorbed_and_unknown_names_refused():
    clock = StageClock()
    clock.absorb({"timed rounds": 2.0, "not a stage": 5.0, "export": "x"})
    clock.absorb({"timed rounds": 1.5})
    assert clock.snapshot() == {"timed rounds": 3.5}
    with pytest.raises(ValueError, match="unknown stage"):
        with clock.stage("lunch"):
            pass


def test_breakdown_lists_stages_in_order_with_shares_and_the_uncovered_rest():
    b = breakdown({"timed rounds": 6.0, "import": 2.0}, wall_s=10.0)
    assert [p["stage"] for p in b["stages"]] == ["import", "timed rounds"]
    assert b["stages"][1]["share"] == 0.6
    assert b["other_s"] == 2.0
    assert STAGES.index("import") < STAGES.index("report")
