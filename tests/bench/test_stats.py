import pytest

from edgebench.bench.stats import LatencyStats


def test_from_values_known_numbers():
    s = LatencyStats.from_values([0.001, 0.002, 0.003, 0.004], batch_size=2)
    assert s.count == 4
    assert s.mean_ms == pytest.approx(2.5)
    assert s.p50_ms == pytest.approx(2.5)
    assert s.min_ms == pytest.approx(1.0) and s.max_ms == pytest.approx(4.0)
    assert s.std_ms == pytest.approx(1.2909944, rel=1e-6)
    assert s.cv_pct == pytest.approx(100 * 1.2909944 / 2.5, rel=1e-6)
    assert s.throughput_items_per_s == pytest.approx(2 * 4 / 0.010)
    assert s.p90_ms == pytest.approx(3.7) and s.p99_ms == pytest.approx(3.97)


def test_empty_values_rejected():
    with pytest.raises(ValueError):
        LatencyStats.from_values([])
