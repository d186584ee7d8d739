"""The setup fingerprint (results.setup): recorded Jetson outputs from public sources
(fixtures/setup/SOURCES.md) read into power mode, clocks, cores and governor; the warnings and the
commands they name; this machine's real /sys; the device agent's copy of the readings function;
a target's probe; Table 1's setup line and compare's explanations."""
from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from edgebench import system
from edgebench.results import setup

FIX = Path(__file__).parent / "fixtures" / "setup"
TARGET_FIX = Path(__file__).parent.parent / "targets" / "fixtures"


def _text(name: str, where: Path = FIX) -> str:
    return (where / name).read_text()


def _readings(show: str | None = None, mode: str | None = "nvpmodel_q_nano_maxn.txt", files: dict | None = None):
    commands = {}
    if show:
        commands["jetson_clocks --show"] = _text(show)
    if mode:
        commands["nvpmodel -q"] = _text(mode, TARGET_FIX)
    return {"files": {"/etc/nvpmodel.conf": _text("nvpmodel_conf_nano_excerpt.txt"),
                      "/proc/device-tree/model": "NVIDIA Jetson Nano Developer Kit\x00", **(files or {})},
            "commands": commands}


def test_jetson_clocks_show_is_read_per_cpu_gpu_and_emc():
    show = setup.parse_jetson_clocks_show(_text("jetson_clocks_show_nano_dynamic.txt"))
    assert sorted(show["cpus"]) == [0, 1, 2, 3]
    assert show["cpus"][1] == {"online": True, "governor": "schedutil", "min_khz": 102000, "max_khz": 1428000,
                               "cur_khz": 921600}
    assert show["gpu"] == {"min_hz": 76800000, "max_hz": 921600000, "cur_hz": 230400000}
    assert show["emc"]["override"] is False and show["emc"]["max_hz"] == 1600000000


def test_nvpmodel_conf_names_the_modes_and_the_default():
    modes, default = setup.parse_nvpmodel_conf(_text("nvpmodel_conf_nano_excerpt.txt"))
    assert modes == {0: "MAXN", 1: "5W"} and default == 0
    assert setup.parse_nvpmodel_query(_text("nvpmodel_q_nano_5w.txt", TARGET_FIX)) == ("5W", 1)


def test_a_nano_in_maxn_with_dynamic_clocks_warns_to_lock_them():
    fp = setup.fingerprint(_readings("jetson_clocks_show_nano_dynamic.txt"))
    assert fp["board"] == "NVIDIA Jetson Nano Developer Kit" and fp["jetson"]
    assert (fp["power_mode"], fp["power_mode_id"], fp["power_mode_max"], fp["power_mode_max_id"]) == ("MAXN", 0, "MAXN", 0)
    assert fp["jetson_clocks"] is False and fp["cpu_cores_online"] == 4 and fp["cpu_governor"] == "schedutil"
    assert (fp["cpu_mhz_min"], fp["cpu_mhz_max"], fp["gpu_mhz_min"], fp["gpu_mhz_max"]) == (102, 1428, 77, 922)
    lines = setup.warnings(fp)
    assert not any("nvpmodel" in w for w in lines)  # MAXN is the maximum
    clocks = [w for w in lines if "jetson_clocks off" in w]
    assert len(clocks) == 1 and "`sudo jetson_clocks`" in clocks[0] and "CPU 102-1428 MHz" in clocks[0]
    assert any("governor is schedutil" in w and "performance" in w for w in lines)
    assert "power mode MAXN (the maximum)" in setup.summary(fp) and "jetson_clocks off" in setup.summary(fp)


def test_locked_clocks_give_no_clock_or_governor_warning():
    fp = setup.fingerprint(_readings("jetson_clocks_show_nano_locked.txt"))
    assert fp["jetson_clocks"] is True and fp["cpu_min_is_max"] is True and fp["emc_mhz_cur"] == 1600
    assert setup.warnings(fp) == []  # schedutil, but with its minimum at the maximum: what jetson_clocks does


def _sysfs(root: Path, online: str, present: str, gov: str = "schedutil", lo: int = 102000, hi: int = 918000) -> None:
    cpu = root / "sys/devices/system/cpu"
    cpu.mkdir(parents=True)
    (cpu / "online").write_text(online + "\n")
    (cpu / "present").write_text(present + "\n")
    for n in setup.parse_cpu_list(online):
        freq = cpu / f"cpu{n}/cpufreq"
        freq.mkdir(parents=True)
        for name, value in (("scaling_governor", gov), ("scaling_min_freq", lo), ("scaling_max_freq", hi),
                            ("scaling_cur_freq", hi), ("cpuinfo_max_freq", 1428000)):
            (freq / name).write_text(f"{value}\n")
    gpu = root / "sys/class/devfreq/57000000.gpu"
    gpu.mkdir(parents=True)
    (gpu / "available_frequencies").write_text(_text("devfreq_nano_available_frequencies.txt"))
    for name, value in (("min_freq", 76800000), ("max_freq", 640000000), ("cur_freq", 76800000)):
        (gpu / name).write_text(f"{value}\n")
    zone = root / "sys/class/thermal/thermal_zone0"
    zone.mkdir(parents=True)
    (zone / "type").write_text("GPU-therm\n")
    (zone / "temp").write_text("50000\n")
    (root / "etc").mkdir()
    (root / "etc/nvpmodel.conf").write_text(_text("nvpmodel_conf_nano_excerpt.txt"))


def test_a_nano_in_5w_read_from_sysfs_warns_of_the_mode_and_the_offline_cores(tmp_path):
    # what the 5W mode of the recorded nvpmodel.conf sets: cores 2-3 off, CPU <= 918 MHz, GPU <= 640 MHz
    _sysfs(tmp_path, online="0-1", present="0-3")
    readings = system.setup_readings(str(tmp_path), run=lambda argv: (0, _text("nvpmodel_q_nano_5w.txt", TARGET_FIX)),
                                     which=lambda name: "/usr/sbin/nvpmodel" if name == "nvpmodel" else None)
    fp = setup.fingerprint(readings)
    assert (fp["power_mode"], fp["power_mode_id"]) == ("5W", 1)
    assert (fp["cpu_cores_online"], fp["cpu_cores_present"], fp["cpu_cores_offline"]) == (2, 4, "2-3")
    assert (fp["cpu_mhz_max"], fp["cpu_mhz_hw_max"], fp["gpu_mhz_max"], fp["gpu_mhz_hw_max"]) == (918, 1428, 640, 998)
    assert fp["temperatures_c"] == {"GPU-therm": 50.0} and fp["jetson_clocks"] is False
    lines = setup.warnings(fp)
    assert any(w.startswith("power mode 5W (id 1) is not this board's maximum, MAXN (id 0)")
               and "`sudo nvpmodel -m 0`" in w for w in lines)
    assert any(w.startswith("2 of 4 CPU cores are offline (2-3)") for w in lines)
    # the CPU cap is the power mode's, so the mode's warning covers it: no second line for it
    assert not any("capped" in w for w in lines)


def test_a_performance_governor_at_full_clock_gives_no_warning(tmp_path):
    _sysfs(tmp_path, online="0-3", present="0-3", gov="performance", lo=1428000, hi=1428000)
    fp = setup.fingerprint(system.setup_readings(str(tmp_path), which=lambda name: None))
    assert fp["cpu_governor"] == "performance" and fp["cpu_cores_offline"] == ""
    lines = setup.warnings(fp)
    assert not any(word in w for w in lines for word in ("governor", "offline", "capped"))
    assert [w for w in lines if "jetson_clocks off" in w] == [  # the GPU's clock still scales (77-640 MHz)
        "clocks are not locked at their maximum (jetson_clocks off: CPU 1428-1428 MHz, GPU 77-640 MHz): "
        "`sudo jetson_clocks` locks them until the next boot"]


def test_this_machines_real_sys_is_read():
    fp = setup.fingerprint(system.setup_readings())
    online = setup.parse_cpu_list(Path("/sys/devices/system/cpu/online").read_text())
    assert fp["cpu_cores_online"] == len(online) and len(online) <= os.cpu_count()
    assert isinstance(setup.warnings(fp), list) and setup.summary(fp)


def test_the_device_agent_reads_the_same_things_the_same_way(tmp_path):
    from edgebench.targets import agent

    assert agent.SETUP_FILES == system.SETUP_FILES and agent.SETUP_COMMANDS == system.SETUP_COMMANDS
    _sysfs(tmp_path, online="0-1", present="0-3")
    out = _text("jetson_clocks_show_nano_dynamic.txt")
    which = lambda name: "/usr/bin/" + name  # noqa: E731
    mine = system.setup_readings(str(tmp_path), run=lambda argv: (0, out), which=which)
    theirs = agent.setup_readings(str(tmp_path), run=lambda argv: (0, out, ""), which=which)
    assert mine == theirs and "/etc/nvpmodel.conf" in mine["files"] and mine["commands"]["jetson_clocks --show"] == out


def test_a_targets_probe_carries_its_setup_and_warnings(tmp_path):
    from edgebench.targets.probe import TargetProbe

    _sysfs(tmp_path, online="0-1", present="0-3")
    probe = TargetProbe.from_dict({"l4t": "32.6.1", "setup_readings": system.setup_readings(
        str(tmp_path), run=lambda argv: (0, _text("nvpmodel_q_nano_5w.txt", TARGET_FIX)), which=lambda n: n)})
    env = probe.run_env("nano", "ssh://nano")
    assert env["setup"]["power_mode"] == "5W" and any("sudo nvpmodel -m 0" in w for w in env["setup_warnings"])
    assert "setup" not in TargetProbe.from_dict({"l4t": "32.6.1"}).run_env("nano", "ssh://nano")


def test_nvml_clock_reasons_are_named():
    assert setup.clock_reasons(0x4 | 0x40) == ["software power cap", "hardware thermal slowdown"]
    assert setup.clock_reasons(0x1) == []  # idle is not a limit
    fp = {"gpu_power_limit_w": 350, "gpu_power_limit_max_w": 700, "gpu_clock_reasons": ["hardware power brake"]}
    lines = setup.warnings(fp)
    assert any("`sudo nvidia-smi -pl 700`" in w for w in lines) and any("hardware power brake" in w for w in lines)


def test_the_warnings_are_printed_before_a_run():
    from edgebench.bench.environment import announce

    out = io.StringIO()
    announce({"setup_warnings": ["power mode 5W (id 1) is not this board's maximum"]}, out)
    assert out.getvalue() == ("edgebench: warning: setup: power mode 5W (id 1) is not this board's maximum "
                              "(edgebench does not run it)\n")


def test_compare_names_the_setup_differences_that_explain_a_slower_run(tmp_path):
    from edgebench.report.compare import compare
    from edgebench.report.render.comparison import comparison_dict, render_comparison
    from tests.report.stored_runs import cell, write_run

    maxn = setup.fingerprint(_readings("jetson_clocks_show_nano_locked.txt"))
    five = setup.fingerprint(_readings("jetson_clocks_show_nano_dynamic.txt", mode="nvpmodel_q_nano_5w.txt"))
    db = tmp_path / "s.sqlite"
    write_run(db, "a", [cell("a", "test_cnn", "pytorch", 10.0)], env={"setup": maxn})
    write_run(db, "b", [cell("b", "test_cnn", "pytorch", 20.0)], env={"setup": five}, started_at="2026-01-02T00:00:00")
    cmp = compare(["a", "b"], db)
    (label, counts, differ), = cmp.explanations
    assert label == "b" and counts == "1 slower"
    assert ("power mode", "MAXN", "5W") in differ and ("jetson_clocks", True, False) in differ
    text = render_comparison(cmp)
    assert "[2] vs [1] (1 slower): setup differences that can explain it:" in text
    assert "power mode: MAXN in [1], 5W in [2]" in text
    assert comparison_dict(cmp)["setup_explanations"][0]["differences"][0]["what"] == "power mode"
    assert ("power mode", ["MAXN", "5W"]) in cmp.env_differences


def test_a_slower_run_with_the_same_setup_says_nothing_explains_it(tmp_path):
    from edgebench.report.compare import compare
    from edgebench.report.render.comparison import render_comparison
    from tests.report.stored_runs import cell, write_run

    db = tmp_path / "s.sqlite"
    write_run(db, "a", [cell("a", "test_cnn", "pytorch", 10.0)])
    write_run(db, "b", [cell("b", "test_cnn", "pytorch", 20.0)], started_at="2026-01-02T00:00:00")
    assert "no recorded setup difference explains it" in render_comparison(compare(["a", "b"], db))


@pytest.mark.parametrize("config, env, words", [
    ({"device": "cpu"}, {}, "CPU, no copies"),
    ({"device": "cuda"}, {}, "with host<->device copies"),
    ({"device": "cuda"}, {"target": "nano"}, "on the target"),
])
def test_the_timing_scope_follows_device_and_target(config, env, words):
    assert words in setup.timing_scope(config, env)
