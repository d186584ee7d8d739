"""The OpenSSH connection against a real sshd (tests/targets/conftest.py): addresses, the argv it
builds, words reaching the far side unchanged, uploads by content (each file copied once), and
ssh's own failures (refused port, unknown host key, refused login) as one exit-3 line with a fix."""
from __future__ import annotations

import json
import shlex
import sys

import pytest

from edgebench.errors import InvalidConfigError, TargetConnectError, TargetLostError
from edgebench.targets.ssh import REMOTE_FILES, SSHAddress, SSHConnection, check_ssh_option, remote_file_path
from tests.targets.conftest import free_port, keygen

NASTY = ["a b", "it's", 'say "hi"', "$HOME", "`id`", "$(id)", "x;y", "a|b&c", "new\nline", "tab\there",
         "*", "~", "-n", "", "back\\slash", "ünï", "{a,b}", "#not a comment", "!"]


# ---- addresses and options ---------------------------------------------------------------------

@pytest.mark.parametrize("url, host, user, port", [
    ("ssh://me@jetson.local", "jetson.local", "me", None),
    ("ssh://me@jetson.local:2222", "jetson.local", "me", 2222),
    ("ssh://nano", "nano", None, None),
    ("ssh://192.168.55.1:22/", "192.168.55.1", None, 22),
    ("ssh://ubuntu@[fe80::1]:22", "fe80::1", "ubuntu", 22),
])
def test_address_forms(url, host, user, port):
    a = SSHAddress.parse(url)
    assert (a.host, a.user, a.port) == (host, user, port)
    assert SSHAddress.parse(a.url) == a
    assert a.destination == (f"{user}@{host}" if user else host)


@pytest.mark.parametrize("url, why", [
    ("me@jetson.local", "give it as a URL"),
    ("http://jetson.local", "not in that form"),
    ("ssh://me:secret@jetson.local", "password"),
    ("ssh://jetson.local:0", "not in 1-65535"),
    ("ssh://jetson.local/home/me", "not in that form"),
    ("ssh://-oProxyJump", "cannot start with '-'"),
    ("ssh://me@", "not in that form"),
])
def test_bad_addresses_are_one_line_with_the_accepted_form(url, why):
    with pytest.raises(InvalidConfigError) as e:
        SSHAddress.parse(url)
    msg = str(e.value)
    assert "\n" not in msg and why in msg and msg.startswith(f"target address {url!r}")


def test_ssh_options_are_key_value_and_not_the_fixed_ones():
    assert check_ssh_option("ProxyJump=gateway") == "ProxyJump=gateway"
    for bad in ("ProxyJump gateway", "-oX=y", "Key=", "K=a\nb"):
        with pytest.raises(InvalidConfigError, match="not Key=Value"):
            check_ssh_option(bad)
    with pytest.raises(InvalidConfigError, match="sets BatchMode"):
        check_ssh_option("BatchMode=no")


def test_argv_is_a_list_with_batch_mode_checked_host_keys_and_the_user_options_last(tmp_path):
    conn = SSHConnection("ssh://me@jetson.local:2222", ssh_config=tmp_path / "cfg",
                         options=["ProxyJump=gw"], connect_timeout=2.5)
    argv = conn.argv(["python3", "a b.py", "probe"])
    assert argv[:2] == ["ssh", "-T"]
    assert argv[-3:] == ["--", "me@jetson.local", "python3 'a b.py' probe"]
    opts = [argv[i + 1] for i, a in enumerate(argv) if a == "-o"]
    assert opts == ["BatchMode=yes", "ServerAliveInterval=5", "ServerAliveCountMax=3", "ConnectTimeout=3", "ProxyJump=gw"]
    assert argv[argv.index("-F") + 1] == str(tmp_path / "cfg") and argv[argv.index("-p") + 1] == "2222"
    assert not any("StrictHostKeyChecking" in a for a in argv)
    assert conn.by_hand() == f"ssh -F {tmp_path / 'cfg'} -p 2222 -o ProxyJump=gw me@jetson.local"
    with pytest.raises(ValueError):
        conn.argv([])


# ---- the far side ----------------------------------------------------------------------------

def test_every_word_reaches_the_far_side_unchanged(sshd):
    conn = sshd.connection()
    proc = conn.run(["printf", r"%s\0", *NASTY])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().split("\0")[:-1] == NASTY
    code = "import json, sys; print(json.dumps(sys.argv[1:]))"
    proc = conn.run([sys.executable, "-c", code, *NASTY])
    assert json.loads(proc.stdout) == NASTY


def test_run_gives_the_remote_exit_code_stdin_and_a_timeout(sshd):
    conn = sshd.connection()
    proc = conn.run(["sh", "-c", "cat; echo oops >&2; exit 3"], input=b"\x00bytes\xff")
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, b"\x00bytes\xff", b"oops\n")
    with pytest.raises(TargetLostError) as e:
        conn.run(["sleep", "5"], timeout=0.5)
    assert e.value.timed_out and "gave no answer within 0.5 s to `sleep 5`" in str(e.value)


def test_upload_copies_a_file_once_by_content(sshd, tmp_path):
    local = tmp_path / "model weights.bin"
    local.write_bytes(b"\x00\x01" * 40000 + tmp_path.name.encode())  # unique to this test run
    remote = sshd.connection().upload(local)
    assert remote == remote_file_path(local) and remote.startswith(f"{REMOTE_FILES}/")
    on_device = sshd.home / remote
    assert on_device.read_bytes() == local.read_bytes()
    assert list(on_device.parent.iterdir()) == [on_device]  # no .part left behind
    stamp = on_device.stat().st_mtime_ns, on_device.stat().st_ino

    fresh = sshd.connection()  # a new connection asks the device, finds it there, sends nothing
    assert fresh.upload(local) == remote and fresh.upload(local) == remote
    assert (on_device.stat().st_mtime_ns, on_device.stat().st_ino) == stamp

    local.write_bytes(b"changed" + tmp_path.name.encode())  # new content: a new path
    assert fresh.upload(local) != remote and (sshd.home / fresh.upload(local)).read_bytes() == local.read_bytes()
    text = fresh.upload_command(local)  # what a dry run prints
    assert text.endswith(f"< {shlex.quote(str(local))}") and remote_file_path(local) in text


def test_present_answers_for_many_paths_in_one_call(sshd):
    (sshd.home / "has space.txt").write_text("x")
    (sshd.home / "dir").mkdir(exist_ok=True)
    conn = sshd.connection()
    asked = ["has space.txt", "missing.txt", "dir", str(sshd.home / "has space.txt"), "-n"]
    assert conn.present(asked) == {"has space.txt", str(sshd.home / "has space.txt")}
    assert conn.present([]) == set()


# ---- ssh's own failures: one line, exit 3, a fix --------------------------------------------

def _one_line_exit_3(e) -> str:
    msg = str(e.value)
    assert e.value.exit_code == 3 and "\n" not in msg and msg.startswith("cannot connect to target test")
    return msg


def test_refused_port(sshd):
    conn = SSHConnection(f"ssh://127.0.0.1:{free_port()}", ssh_config=sshd.ssh_config, name="test")
    with pytest.raises(TargetConnectError) as e:
        conn.run(["true"])
    msg = _one_line_exit_3(e)
    assert "cannot be reached" in msg and "Connection refused" in msg and "that sshd runs" in msg
    assert e.value.reason.endswith("Connection refused")


def test_unknown_host_key_is_refused_with_a_known_hosts_hint(sshd, tmp_path):
    other = keygen(tmp_path / "other_host_key")
    known = tmp_path / "known_hosts"
    known.write_text(f"[{sshd.host}]:{sshd.port} {sshd._public(other)}\n")
    cfg = sshd.client_config(sshd.user_key, known, tmp_path / "ssh_config")
    with pytest.raises(TargetConnectError) as e:
        SSHConnection(sshd.url, ssh_config=cfg, name="test").run(["true"])
    msg = _one_line_exit_3(e)
    assert "host key was not accepted" in msg and "Host key verification failed" in msg and "known_hosts" in msg
    assert f"`ssh -F {cfg} edgebench-test` by hand" in msg


def test_refused_login_says_batch_mode_and_keys(sshd, tmp_path):
    stranger = keygen(tmp_path / "stranger")
    cfg = sshd.client_config(stranger, sshd.known_hosts, tmp_path / "ssh_config")
    with pytest.raises(TargetConnectError) as e:
        SSHConnection(sshd.url, ssh_config=cfg, name="test").run(["true"])
    msg = _one_line_exit_3(e)
    assert "login was refused" in msg and "Permission denied" in msg and "ssh-copy-id edgebench-test" in msg


def test_missing_ssh_config_file_is_a_connect_error(tmp_path):
    conn = SSHConnection("ssh://nano", ssh_config=tmp_path / "nope", name="test")
    with pytest.raises(TargetConnectError) as e:
        conn.run(["true"])
    assert "nope" in _one_line_exit_3(e)

