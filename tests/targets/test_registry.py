"""The targets file: where it is, a round trip, atomic writes, strict names and options, no secrets,
unknown names with the known ones, a damaged file as one line; adding a target probes it first
(real sshd) and stores nothing when the probe fails."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from edgebench.errors import InvalidConfigError, TargetConnectError, UnknownTargetError
from edgebench.targets import registry
from edgebench.targets.registry import Target, get_target, load_targets, remove_target, save_target, targets_path
from tests.targets.conftest import free_port

PROBE = {"python_version": "3.6.9", "python_executable": "/usr/bin/python3", "l4t": "32.6.1", "jetpack": "4.6",
         "tensorrt_version": "8.2.1-1+cuda10.2", "trtexec": "/usr/src/tensorrt/bin/trtexec",
         "gpu": "integrated GPU of NVIDIA Jetson Nano Developer Kit", "torch_version": None,
         "onnxruntime_version": None, "power_mode": {"name": "MAXN", "id": 0},
         "reasons": {"torch_version": "torch is not importable by /usr/bin/python3"}}


def test_the_file_is_where_the_environment_says(monkeypatch, tmp_path):
    monkeypatch.setenv("EDGEBENCH_CONFIG_DIR", str(tmp_path / "a"))
    assert targets_path() == tmp_path / "a" / "targets.json"
    monkeypatch.delenv("EDGEBENCH_CONFIG_DIR")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert targets_path() == tmp_path / "xdg" / "edgebench" / "targets.json"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert targets_path() == tmp_path / "home" / ".config" / "edgebench" / "targets.json"


def test_round_trip_sorted_atomic_and_nothing_secret():
    assert load_targets() == {}
    nano = Target("nano", "ssh://me@jetson.local", ssh_options=["ProxyJump=gw"], added_at="t0", probe=PROBE,
                  probed_at="t1")
    save_target(Target("agx", "ssh://orin:2222", python="/usr/bin/python3.8", ssh_config="/etc/edgebench_ssh"))
    path = save_target(nano)
    assert list(load_targets()) == ["agx", "nano"] and get_target("nano") == nano
    assert get_target("nano").probe == PROBE and get_target("nano").ssh_options == ("ProxyJump=gw",)
    stored = json.loads(path.read_text())
    assert stored["format"] == 1 and set(stored["targets"][1]) == {
        "name", "url", "python", "ssh_config", "ssh_options", "added_at", "probe", "probed_at"}
    assert [p.name for p in path.parent.iterdir()] == ["targets.json"]  # no temporary file left
    save_target(Target("nano", "ssh://nano"))  # same name: replaced
    assert get_target("nano").url == "ssh://nano"
    assert remove_target("agx").python == "/usr/bin/python3.8" and list(load_targets()) == ["nano"]


@pytest.mark.parametrize("kwargs, text", [
    (dict(name="my nano"), "target name 'my nano' is not allowed"),
    (dict(name="../x"), "is not allowed"),
    (dict(url="me@jetson"), "is not ssh://[user@]host[:port]"),
    (dict(url="ssh://me:pw@jetson"), "password in the address is refused"),
    (dict(ssh_options=["IdentityFile ~/.ssh/id"]), "is not Key=Value"),
    (dict(ssh_options=["BatchMode=no"]), "sets BatchMode"),
    (dict(ssh_config="relative/config"), "must be an absolute path"),
    (dict(python=""), "is not a command"),
])
def test_bad_targets_are_refused_in_one_line(kwargs, text):
    with pytest.raises(InvalidConfigError) as e:
        Target(**{"name": "nano", "url": "ssh://nano", **kwargs})
    assert text in str(e.value) and "\n" not in str(e.value) and e.value.exit_code == 2


def test_an_unknown_name_lists_the_known_ones_and_how_to_add():
    with pytest.raises(UnknownTargetError, match=r"unknown target 'nano'; none yet in .*targets add NAME ssh://"):
        get_target("nano")
    save_target(Target("nano", "ssh://nano"))
    save_target(Target("orin", "ssh://orin"))
    with pytest.raises(UnknownTargetError) as e:
        remove_target("nan0")
    assert "did you mean 'nano'? known: nano, orin; add one with" in str(e.value) and e.value.exit_code == 2


@pytest.mark.parametrize("content, text", [
    ("{not json", "is not valid JSON"),
    ('{"format": 99, "targets": []}', "not an edgebench targets file of format 1"),
    ('{"format": 1, "targets": [{"name": "x", "url": "ssh://x", "password": "p"}]}', "unknown field(s) ['password']"),
])
def test_a_damaged_file_is_one_line_naming_it(content, text):
    path = targets_path()
    path.parent.mkdir(parents=True)
    path.write_text(content)
    with pytest.raises(InvalidConfigError) as e:
        load_targets()
    assert text in str(e.value) and str(path) in str(e.value)


def test_a_target_connects_with_its_own_config_and_options():
    t = Target("nano", "ssh://me@jetson.local:2222", ssh_config="/etc/eb_ssh", ssh_options=("ProxyJump=gw",))
    argv = t.connection(connect_timeout=4).argv(["true"])
    assert argv[argv.index("-F") + 1] == "/etc/eb_ssh" and "ProxyJump=gw" in argv and "ConnectTimeout=4" in argv
    assert argv[-2:] == ["me@jetson.local", "true"] and t.connection().label == "target nano"


def test_probe_facts_by_label_with_reasons_for_what_is_missing():
    facts = {label: (value, reason) for label, value, reason in registry.probe_facts(PROBE)}
    assert facts["L4T/JetPack"] == ("32.6.1 / JetPack 4.6", None)
    assert facts["power mode"] == ("MAXN (mode 0)", None)
    assert facts["torch"] == (None, "torch is not importable by /usr/bin/python3")
    assert facts["Python"] == ("3.6.9 (/usr/bin/python3)", None)
    assert all(value is None for _, value, _ in registry.probe_facts(None))


def test_add_probes_first_and_stores_only_what_worked(sshd):
    with pytest.raises(TargetConnectError):
        registry.add_target("dead", f"ssh://127.0.0.1:{free_port()}", ssh_config=sshd.ssh_config)
    with pytest.raises(InvalidConfigError, match="does not exist"):
        registry.add_target("nano", sshd.url, ssh_config=Path(sshd.ssh_config).with_name("nope"))
    assert load_targets() == {}
    added = registry.add_target("box", sshd.url, python=sys.executable, ssh_config=sshd.ssh_config)
    assert added.probe["python_executable"] == sys.executable and added.probed_at
    assert get_target("box") == added
    with pytest.raises(InvalidConfigError, match="target box already exists"):
        registry.add_target("box", sshd.url, ssh_config=sshd.ssh_config)
    reach = registry.reachability([added, Target("gone", f"ssh://127.0.0.1:{free_port()}",
                                                 ssh_config=str(sshd.ssh_config))])
    assert reach["box"] == "yes (Python %d.%d.%d)" % sys.version_info[:3]
    assert reach["gone"].startswith("no: connect to host 127.0.0.1 port ") and reach["gone"].endswith("refused")
