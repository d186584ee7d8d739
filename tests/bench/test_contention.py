import subprocess
import sys
import time

import pytest

from edgebench.bench import contention
from edgebench.bench.contention import (CONTENDED_PCT, ContentionProbe, CpuSample, parse_pressure, parse_proc_stat,
                                        parse_self_stat, share)

PROC_STAT = """cpu  18112 7 9263 3115969 498 3 49 605 11 0
cpu0 5220 0 2431 1564291 231 0 10 283 0 0
cpu1 12891 7 6832 1551677 267 3 38 321 11 0
intr 2049710 0 9 0 0
ctxt 3456789
"""
# a command name with a space and a closing parenthesis; utime 1234, stime 56
SELF_STAT = ("4242 (my (odd) name) R 1 4242 4242 0 -1 4194304 2310 0 0 0 1234 56 0 0 20 0 3 0 "
             "4567 123456789 5000 18446744073709551615 1 1 0 0 0 0 0 16781312 2 0 0 0 17 1 0 0 0 0 0")
PRESSURE = """some avg10=12.88 avg60=4.17 avg300=1.12 total=17900737
full avg10=0.00 avg60=0.00 avg300=0.00 total=0
"""


def test_proc_stat_busy_and_steal():
    busy, steal = parse_proc_stat(PROC_STAT)
    assert busy == 18112 + 7 + 9263 + 3 + 49 + 605  # user nice system irq softirq steal; not idle, iowait, guest
    assert steal == 605
    assert parse_proc_stat("cpu  10 0 5 100\n") == (15, 0)  # old kernels: fewer columns
    with pytest.raises(ValueError):
        parse_proc_stat("cpu0 1 2 3 4\n")
    # pinned to CPU 1 (taskset): only its line counts
    assert parse_proc_stat(PROC_STAT, {1}) == (12891 + 7 + 6832 + 3 + 38 + 321, 321)
    assert parse_proc_stat(PROC_STAT, {0, 1}) == (5220 + 2431 + 10 + 283 + 12891 + 7 + 6832 + 3 + 38 + 321, 604)
    with pytest.raises(ValueError):
        parse_proc_stat(PROC_STAT, {7})


def test_self_stat_survives_odd_command_names():
    assert parse_self_stat(SELF_STAT) == 1234 + 56


def test_pressure_some_total():
    assert parse_pressure(PRESSURE) == 17900737
    assert parse_pressure("full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n") is None


def test_share_in_percent_of_one_core():
    a = CpuSample(t=10.0, busy=1000, steal=5, own=300, pressure_us=0)
    b = CpuSample(t=12.0, busy=1250, steal=15, own=400, pressure_us=500_000)  # 2 s at 100 Hz
    s = share(a, b, hz=100)
    assert s.other_pct == pytest.approx(75.0)  # 150 jiffies of others in 200
    assert s.own_pct == pytest.approx(50.0)
    assert s.steal_pct == pytest.approx(5.0)
    assert s.pressure_pct == pytest.approx(25.0)
    # tick accounting can put a jiffy more on this process than the CPUs saw: never negative
    assert share(a, CpuSample(12.0, 1001, 5, 302, None), 100).other_pct == 0.0


def test_flag_and_warning_name_the_figures():
    assert not contention.contended(None) and not contention.contended(CONTENDED_PCT)
    assert contention.contended(CONTENDED_PCT + 0.1)
    w = contention.warning(42.0)
    assert "42%" in w and f"{CONTENDED_PCT:g}%" in w


def test_elsewhere_nothing_is_measured_or_flagged(monkeypatch):
    monkeypatch.setattr(contention.sys, "platform", "darwin")
    probe = ContentionProbe()
    assert not probe.available
    assert probe.before(0.0, during=lambda: 3) == 3 and probe.before_share is None
    assert probe.window(lambda: 7) == 7
    assert probe.other_pct() is None and probe.summary() == {}


def _sleep_window(probe, seconds=1.0):
    probe.window(lambda: time.sleep(seconds))
    return probe.windows[-1].other_pct


@pytest.fixture
def busy_process():
    """Another process spinning on a core for at most 30 s, killed in teardown."""
    proc = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 30\nwhile time.time() < end: pass"])
    time.sleep(0.3)  # interpreter start-up
    yield proc
    proc.kill()
    proc.wait()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux /proc")
def test_a_busy_process_is_seen_and_flagged(busy_process):
    probe = ContentionProbe()
    busy = _sleep_window(probe)
    assert busy > CONTENDED_PCT and contention.contended(probe.other_pct())


@pytest.mark.alone
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux /proc")
def test_own_work_is_not_counted_as_other():
    import os

    probe = ContentionProbe()
    quiet = _sleep_window(probe)

    def spin():
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            pass

    probe.window(spin)
    own = probe.windows[-1]
    assert own.own_pct > 10  # it did spin (a share of a core, on a busy machine)
    # a quiet machine (CI) shows a few percent either way; where other work already fills every
    # core (a shared workstation), this process's spinning can only displace it, never add to it
    saturated = quiet > 100 * ((os.cpu_count() or 1) - 1)
    assert own.other_pct < quiet + CONTENDED_PCT or saturated


@pytest.mark.alone
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux /proc")
def test_without_the_busy_process_the_measure_drops():
    import os

    probe = ContentionProbe()
    with_it = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 30\nwhile time.time() < end: pass"])
    try:
        time.sleep(0.3)
        busy = _sleep_window(probe)
    finally:
        with_it.kill()
        with_it.wait()
    quiet = _sleep_window(probe)
    # on a quiet machine (CI) the spinner is a whole core of difference; where other work already
    # filled every core before (a shared workstation), the spinner could only displace it
    saturated = quiet > 100 * ((os.cpu_count() or 1) - 1)
    assert quiet < busy - 50 or saturated


def test_cell_records_contention(fast_timing):
    from edgebench.api import benchmark

    rec = benchmark("test_cnn", backend="pytorch", timing=fast_timing)
    if not sys.platform.startswith("linux"):
        assert rec.contention.other_cpu_pct is None and not rec.contention.contended
        return
    assert rec.contention.other_cpu_pct is not None and rec.contention.other_cpu_pct >= 0
    assert rec.contention.load_before_pct is not None and "steal_pct" in rec.details
    assert rec.contention.contended == (rec.contention.other_cpu_pct > CONTENDED_PCT)
    assert any(w.startswith("contended") for w in rec.warnings) == rec.contention.contended


def test_contended_cell_is_flagged_warned_and_stored(fast_timing, monkeypatch, tmp_path):
    from edgebench.api import benchmark
    from edgebench.results import Run, Store

    monkeypatch.setattr(ContentionProbe, "other_pct", lambda self: 73.0)
    rec = benchmark("test_cnn", backend="pytorch", timing=fast_timing)
    assert rec.contention.contended and rec.contention.other_cpu_pct == 73.0
    assert any("73%" in w and f"threshold {CONTENDED_PCT:g}%" in w for w in rec.warnings)
    with Store(tmp_path / "s.sqlite") as store:
        store.begin_run(Run(rec.run_id, rec.created_at, "pytorch"))
        store.add(rec)
        back = store.records(rec.run_id)[0]
    assert back.contention == rec.contention and back.contention.contended is True
    assert back.contention.other_cpu_pct == 73.0
