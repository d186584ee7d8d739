import time

import numpy as np
import pytest

from edgebench.bench.harness import overhead_check, time_backend
from edgebench.config import TimingConfig
from edgebench.bench.inputs import input_pool
from edgebench.errors import InvalidConfigError


class FakeBackend:
    """Records the call sequence; 'runs' take `delay` seconds."""

    def __init__(self, delay=0.0):
        self.delay = delay
        self.calls = []
        self.seen = set()

    def run(self, x):
        self.calls.append("run")
        self.seen.add(id(x))
        if self.delay:
            time.sleep(self.delay)
        return x

    def synchronize(self):
        self.calls.append("sync")

    def native_call(self, x):
        return lambda: time.sleep(self.delay)


def test_minimum_count_when_time_is_short():
    bk = FakeBackend()
    vals = time_backend(bk, input_pool((2,), 1, 4), TimingConfig(warmup_iters=2, warmup_s=0, min_iters=7, min_time_s=0))
    assert len(vals) == 7
    assert bk.calls == ["run", "sync"] * 9  # each run is followed by its sync
    assert len(bk.seen) == 4  # the whole pool is used, not one tensor


def test_minimum_duration_when_count_is_small():
    bk = FakeBackend(delay=0.002)
    t0 = time.perf_counter()
    vals = time_backend(bk, input_pool((2,), 1, 2), TimingConfig(warmup_iters=0, warmup_s=0, min_iters=2, min_time_s=0.1))
    assert time.perf_counter() - t0 >= 0.1
    assert len(vals) > 2 and min(vals) >= 0.002


def test_bad_timing_config():
    with pytest.raises(InvalidConfigError):
        TimingConfig(min_iters=0)
    with pytest.raises(InvalidConfigError):
        TimingConfig(min_iters=10, max_iters=5)


def test_overhead_check_interleaves_and_sees_a_slower_harness_path():
    bk = FakeBackend(delay=0.001)
    harness, bare = overhead_check(bk, np.zeros(1), iters=20, block=10)
    assert len(harness) == len(bare) == 20
    assert min(harness) >= 0.001 and min(bare) >= 0.001


def test_input_pool_is_seeded():
    a, b = input_pool((3, 4), 2, 3, seed=5), input_pool((3, 4), 2, 3, seed=5)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], a[1]) and a[0].dtype == np.float32 and a[0].shape == (2, 3, 4)


def test_interleaved_alternates_blocks_and_passes_the_sample_index():
    from edgebench.bench.harness import interleaved

    order = []
    a, b = interleaved(lambda i: order.append(("a", i)), lambda i: order.append(("b", i)), iters=4, block=2)
    assert len(a) == len(b) == 4
    assert order == [("a", 0), ("a", 1), ("b", 0), ("b", 1), ("a", 2), ("a", 3), ("b", 2), ("b", 3)]


def test_same_input_check_uses_one_input_against_the_pool():
    from edgebench.bench.validity import caching_warning, same_input_check

    bk = FakeBackend()
    pool = input_pool((2,), 1, 4)
    same, varied = same_input_check(bk, pool, iters=20)
    assert same >= 0 and varied >= 0 and len(bk.seen) == 4
    assert "TEST04" in caching_warning(0.5, 1.0) and caching_warning(1.0, 1.0) == ""


def test_the_same_input_check_takes_fewer_iterations_on_a_slow_cell():
    from edgebench.bench.validity import check_iters

    assert check_iters([0.001] * 50) == 20  # 1 ms: 20 a side
    assert check_iters([0.3] * 30) == 5  # 300 ms (VGG19 on 2 cores): 5, not 20 (12 s of the cell's time)
    assert check_iters([0.05] * 30) == 10 and check_iters([]) == 20
