"""Thermal steady state (bench.soak): recorded tegrastats lines (tests/results/fixtures/setup/
SOURCES.md), windows and the throttling rules on made series, the wait for a cool device, and a
real `run --soak` of a tiny model with its refusals."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edgebench.bench import soak

FIX = Path(__file__).parent.parent / "results" / "fixtures" / "setup"


def test_tegrastats_lines_give_temperature_clocks_and_offline_cores():
    lines = (FIX / "tegrastats_tx2_before_jetson_clocks.txt").read_text().splitlines()
    got = soak.parse_tegrastats_line(lines[0])
    assert got == {"temp_c": 50.5, "cpu_mhz": 345.0, "cpu_offline": 2, "gpu_mhz": None, "power_w": None}
    # the next two lines are hand-written in the layouts of a Nano's and an Orin's tegrastats (no
    # recorded line of each was found); the recorded lines are the TX2's above
    nano = "CPU [5%@1479,2%@1479,0%@1479,1%@1479] GR3D_FREQ 0%@921 PLL@31C CPU@33.5C PMIC@100C GPU@31.5C"
    assert soak.parse_tegrastats_line(nano)["temp_c"] == 33.5  # the Nano's PMIC reads a fixed 100C
    orin = "CPU [1%@729,2%@729] GR3D_FREQ 0%@[305] cpu@47.5C tj@48.9C VDD_IN 5000mW/5000mW"  # JetPack 5 layout
    assert soak.parse_tegrastats_line(orin) == {"temp_c": 48.9, "cpu_mhz": 729.0, "cpu_offline": 0, "gpu_mhz": 305.0,
                                                "power_w": 5.0}


def _series(p50s_ms: list[float], clocks: list[float], per_window: int = 50, window_s: float = 60.0):
    starts, values, readings = [], [], []
    for k, (p50, clock) in enumerate(zip(p50s_ms, clocks)):
        for i in range(per_window):
            starts.append(k * window_s + i * window_s / per_window)
            values.append(p50 * (1 + 0.04 * ((i % 5) - 2) / 2) / 1e3)  # +-4% around the window's p50
        readings.append({"t_s": k * window_s + 1, "temp_c": 40.0 + 5 * k, "cpu_mhz": clock, "gpu_mhz": None,
                         "power_w": None})
    return soak.windows(starts, values, readings, window_s)


def test_a_steady_device_shows_no_throttling():
    rows = _series([10.0, 10.1, 9.9, 10.0], [1479, 1479, 1479, 1479])
    assert [r["n"] for r in rows] == [50, 50, 50, 50] and rows[2]["temp_c"] == 50.0
    assert rows[0]["p50_ms"] == pytest.approx(10.0) and rows[0]["p90_ms"] == pytest.approx(10.4)
    assert soak.throttling(rows) == []


def test_a_clock_drop_and_a_slowdown_past_the_first_windows_p90_are_flagged():
    rows = _series([10.0, 10.2, 12.0, 13.0], [1479, 1479, 1190, 918])
    flags = soak.throttling(rows)
    assert flags[0] == "CPU clock fell to 918 MHz in window 4 (highest window mean 1479 MHz)"
    assert flags[1].startswith("slowdown: window 4's p50 13.000 ms is above the first window's p90 10.400 ms")
    assert "(2 of 3 later windows)" in flags[1]


def test_wait_until_cool_polls_until_below_or_the_time_limit():
    temps, now = iter([80.0, 70.0, 55.0]), [0.0]

    def sleep(s):
        now[0] += s

    assert soak.wait_until_cool(60.0, 100, lambda: next(temps), sleep, lambda: now[0], poll_s=5) == (True, 10.0, 55.0)
    now[0] = 0.0
    assert soak.wait_until_cool(60.0, 6, lambda: 75.0, sleep, lambda: now[0], poll_s=5) == (False, 10.0, 75.0)
    assert soak.wait_until_cool(60.0, 6, lambda: None, sleep, lambda: now[0])[0]  # no sensor: nothing to wait for


@pytest.mark.parametrize("text, seconds", [("90", 90), ("90s", 90), ("1.5m", 90), ("1h", 3600)])
def test_durations(text, seconds):
    assert soak.parse_duration(text) == seconds


def _run(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "edgebench", "run", "--device", "cpu", "--out", str(tmp_path / "out"),
                           "--cache-dir", str(tmp_path / "cache"), *args], capture_output=True, text=True, timeout=300)


def test_run_soak_keeps_one_cell_running_and_writes_its_windows(tmp_path):
    out = _run(tmp_path, "--soak", "3s", "--soak-window", "1", "--models", "test_cnn", "--backends", "onnxruntime")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "# Soak: test_cnn / onnxruntime fp32, batch 1" in out.stdout and "| 3 | 2 |" in out.stdout
    data = json.loads((tmp_path / "out" / "soak.json").read_text())
    assert data["window_s"] == 1 and len(data["windows"]) == 3 and all(w["n"] > 10 for w in data["windows"])
    assert data["samples"] and (tmp_path / "out" / "soak.png").stat().st_size > 1000
    from edgebench.results.store import Store

    with Store(tmp_path / "out" / "edgebench.sqlite") as store:
        rec, = store.records(store.latest_run_id())
    assert rec.ok and rec.details["soak"]["windows"][0]["p50_ms"] > 0
    assert len(rec.latency.samples_ms) <= soak.MAX_STORED_SAMPLES


@pytest.mark.parametrize("args, words", [
    (["--soak", "3s", "--models", "test_cnn", "--backends", "pytorch,onnxruntime"], "one backend"),
    (["--soak", "3s", "--models", "test_cnn"], "one backend"),
    (["--soak", "soon", "--models", "test_cnn", "--backends", "onnxruntime"], "a duration such as 90s"),
    (["--soak", "3s", "--soak-window", "10", "--models", "test_cnn", "--backends", "onnxruntime"], "at most the soak"),
])
def test_run_soak_refuses_what_it_cannot_do_in_one_line(tmp_path, args, words):
    out = _run(tmp_path, *args)
    assert out.returncode == 2 and words in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_cool_to_records_the_wait_on_each_cell(tmp_path):
    out = _run(tmp_path, "--cool-to", "200", "--cool-timeout", "5", "--models", "test_cnn", "--backends",
               "pytorch,onnxruntime", "--quick", "--no-isolate", "--no-progress")
    assert out.returncode == 0, out.stderr[-2000:]
    from edgebench.results.store import Store

    with Store(tmp_path / "out" / "edgebench.sqlite") as store:
        recs = store.records(store.latest_run_id())
    assert [r.details["cooling"]["cooled"] for r in recs] == [True, True]
    assert all(r.details["cooling"]["below_c"] == 200 for r in recs)


def test_the_sensors_read_only_what_changes_and_agree_with_the_full_readings(tmp_path):
    from edgebench import system
    from edgebench.results.setup import fingerprint
    from tests.results.test_setup import _sysfs

    assert set(soak.Sensors.FILES) <= set(system.SETUP_FILES)
    _sysfs(tmp_path, online="0-1", present="0-3")
    full = fingerprint(system.setup_readings(str(tmp_path), which=lambda name: None))
    got = soak.Sensors(str(tmp_path)).read()
    assert got == {"temp_c": full["temperature_max_c"], "cpu_mhz": full["cpu_mhz_cur"], "gpu_mhz": full["gpu_mhz_cur"],
                   "power_w": None} == {"temp_c": 50.0, "cpu_mhz": 918, "gpu_mhz": 77, "power_w": None}
