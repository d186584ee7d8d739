import pytest

from edgebench.results.latency import LatencyStats


def test_from_values_known_numbers():
    s = LatencyStats.from_values([0.001, 0.002, 0.003, 0.004], batch_size=2)
    assert s.count == 4
    assert s.mean_ms == pytest.approx(2.5)
    assert s.p50_ms == pytest.approx(2.5)
    assert s.min_ms == pytest.approx(1.0) and s.max_ms == pytest.approx(4.0)
    assert s.std_ms == pytest.approx(1.2909944, rel=1e-6)
    assert s.cv_pct == pytest.approx(100 * 1.2909944 / 2.5, rel=1e-6)
    assert s.throughput_items_per_s == pytest.approx(2 * 4 / 0.010)
    assert s.p90_ms is None and s.p99_ms is None  # 4 samples: too few for tail percentiles


def test_tail_percentiles_need_loadgen_minimum_samples():
    import numpy as np

    v = np.linspace(0.001, 0.002, 700)
    s = LatencyStats.from_values(v[:64])
    assert s.p90_ms is not None and s.p99_ms is None
    s = LatencyStats.from_values(v)
    assert s.p99_ms == pytest.approx(np.percentile(v, 99) * 1e3)
    assert "n/a (too few samples)" in LatencyStats.from_values(v[:10]).summary()


def test_empty_values_rejected():
    with pytest.raises(ValueError):
        LatencyStats.from_values([])
