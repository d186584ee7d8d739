"""`edgebench targets`: add, list, probe and remove through a real sshd (tests/targets/conftest.py),
an unreachable device as one line with exit 3, bad input as one line with exit 2."""
import json
import sys

import pytest

from tests.cli import run_cli
from tests.targets.conftest import _config_dir, free_port, sshd, sshd_server  # noqa: F401 (fixtures)


def _one_line(out, code: int) -> str:
    assert out.returncode == code, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("edgebench: error: ") and "Traceback" not in out.stderr
    return lines[0]


def test_add_list_probe_remove_through_sshd(sshd):
    out = run_cli("targets", "add", "box", sshd.url, "--python", sys.executable, "--ssh-config", str(sshd.ssh_config),
                  "--ssh-option", "Compression=no")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == f"added target box ({sshd.url}); it has:"
    assert any(line.split()[:2] == ["Python", "%d.%d.%d" % sys.version_info[:3]] for line in lines)
    assert any(line.split()[:3] == ["L4T/JetPack", "-", "(cannot"] for line in lines)  # no Jetson: why not

    out = run_cli("targets")
    assert out.returncode == 0, out.stderr
    header, _, row = out.stdout.splitlines()
    assert header.split()[:3] == ["name", "address", "reachable"] and "power mode" in header
    assert row.startswith(f"box   {sshd.url}  yes (Python ")

    out = run_cli("targets", "probe", "box", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["python_executable"] == sys.executable

    out = run_cli("targets", "remove", "box")
    assert out.returncode == 0 and out.stdout.startswith(f"removed target box ({sshd.url})")
    assert run_cli("targets").stdout.startswith("no targets yet")


def test_add_an_unreachable_device_is_one_line_exit_3_and_stores_nothing(sshd):
    port = free_port()
    line = _one_line(run_cli("targets", "add", "nano", f"ssh://me@127.0.0.1:{port}",
                             "--ssh-config", str(sshd.ssh_config)), 3)
    assert f"cannot connect to target nano: it cannot be reached (ssh: connect to host 127.0.0.1 port {port}" in line
    assert f"`ssh -F {sshd.ssh_config} -p {port} me@127.0.0.1` by hand" in line
    assert run_cli("targets").stdout.startswith("no targets yet")


@pytest.mark.parametrize("args, text", [
    (["targets", "add", "nano", "jetson.local"], "is not ssh://[user@]host[:port]"),
    (["targets", "add", "my nano", "ssh://nano"], "target name 'my nano' is not allowed"),
    (["targets", "add", "nano", "ssh://nano", "--ssh-option", "IdentityFile"], "is not Key=Value"),
    (["targets", "add", "nano", "ssh://nano", "--ssh-config", "/nonexistent/cfg"], "does not exist"),
    (["targets", "remove", "nano"], "unknown target 'nano'; none yet in"),
    (["targets", "probe", "nano"], "add one with `edgebench targets add NAME ssh://"),
])
def test_bad_input_is_one_line_exit_2(args, text):
    assert text in _one_line(run_cli(*args), 2)
