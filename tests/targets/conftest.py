"""A real OpenSSH server for the remote-target tests: Debian's `sshd` on 127.0.0.1, a free port,
its own host key and user key (ssh-keygen, in a temporary folder), and a client ssh_config whose
Host alias `edgebench-test` pins that host key (StrictHostKeyChecking yes), so every test connects
with real host-key checking and nothing here touches ~/.ssh or ~/.config.

The key's authorized_keys line runs each command in a temporary "remote home" (its cwd and HOME),
so files a test uploads land there, not in the real home; otherwise the far side is what a device
gives: the command line through a shell, under this machine's Python. Tests that need no sshd
import none of this; the fixtures skip, with the reason, where sshd or ssh-keygen is missing.
"""
from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

ALIAS = "edgebench-test"


def _sshd_binary() -> str | None:
    return shutil.which("sshd") or next((p for p in ("/usr/sbin/sshd", "/usr/local/sbin/sshd") if os.access(p, os.X_OK)), None)


def missing_tools() -> str:
    """Why the sshd fixture cannot run here ("" when it can)."""
    if _sshd_binary() is None:
        return "no sshd (Debian: apt-get install openssh-server; .ci/run installs it where apt works)"
    for tool in ("ssh", "ssh-keygen"):
        if shutil.which(tool) is None:
            return f"no {tool} (Debian: apt-get install openssh-client)"
    return ""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path: Path) -> Path:
    """A new passphrase-less ed25519 key pair at `path` (and `path`.pub); returns `path`."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "edgebench-test", "-f", str(path)],
                   check=True, capture_output=True, timeout=30)
    return path


def _children() -> dict[int, list[int]]:
    """ppid -> pids, from /proc (psutil is not a dependency)."""
    out: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])  # fields after "(comm)": state, ppid, ...
        out.setdefault(ppid, []).append(int(entry.name))
    return out


def _tree(root: int) -> set[int]:
    found, todo, children = {root}, [root], _children()
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _signal(pids, sig) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


class SSHServer:
    """One sshd: `start()`, `stop()` (kills sshd and every per-connection process under it, so
    live sessions die as on a lost link), `start()` again on the same port with the same keys.
    `url` (ssh://edgebench-test) with `ssh_config` reaches it; `home` is the remote home;
    `connection(name)` is an SSHConnection to it."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.home = root / "home"
        self.home.mkdir(exist_ok=True)
        self.user = getpass.getuser()
        self.host = "127.0.0.1"
        self.port = free_port()
        self.host_key = keygen(root / "host_key")
        self.user_key = keygen(root / "user_key")
        self.known_hosts = root / "known_hosts"
        self.known_hosts.write_text(f"[{self.host}]:{self.port} {self._public(self.host_key)}\n")
        forced = f'cd "{self.home}" && HOME="{self.home}" exec /bin/sh -c "$SSH_ORIGINAL_COMMAND"'
        (root / "authorized_keys").write_text(
            "command=\"%s\" %s\n" % (forced.replace('"', '\\"'), self._public(self.user_key)))
        self.sshd_config = root / "sshd_config"
        self.sshd_config.write_text("\n".join([
            f"ListenAddress {self.host}", f"Port {self.port}", f"HostKey {self.host_key}",
            f"PidFile {root / 'sshd.pid'}", f"AuthorizedKeysFile {root / 'authorized_keys'}",
            "PermitRootLogin prohibit-password", "StrictModes no", "UsePAM no",
            "PasswordAuthentication no", "KbdInteractiveAuthentication no", "X11Forwarding no",
            "AllowTcpForwarding no", "PrintMotd no", "LogLevel INFO",
            # bash, the login shell that runs each command, sources ~/.bashrc when sshd starts it
            # at shell level 1; this machine's runs `pyenv init`, whose rehash waits on a lock a
            # killed session (the lost-connection tests) can leave behind. A device's shell is its own.
            "SetEnv SHLVL=1", ""]))
        self.ssh_config = self.client_config(self.user_key, self.known_hosts, root / "ssh_config")
        self.url = f"ssh://{ALIAS}"
        self.log = root / "sshd.log"
        self._proc: subprocess.Popen | None = None

    @staticmethod
    def _public(key: Path) -> str:
        return " ".join(Path(f"{key}.pub").read_text().split()[:2])

    def client_config(self, identity: Path, known_hosts: Path, path: Path) -> Path:
        """An ssh_config with Host alias edgebench-test for this server, logging in with
        `identity` and checking the host key against `known_hosts` (other keys make the failures)."""
        path.write_text("\n".join([
            f"Host {ALIAS}", f"  HostName {self.host}", f"  Port {self.port}", f"  User {self.user}",
            f"  IdentityFile {identity}", "  IdentitiesOnly yes", f"  UserKnownHostsFile {known_hosts}",
            "  GlobalKnownHostsFile /dev/null", "  StrictHostKeyChecking yes", ""]))
        return path

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        if self.running:
            return
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege-separation dir
        log = open(self.log, "ab")
        start = self.log.stat().st_size
        self._proc = subprocess.Popen([_sshd_binary(), "-D", "-e", "-f", str(self.sshd_config)],
                                      stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if f"listening on {self.host} port {self.port}".encode() in self.log.read_bytes()[start:]:
                return
            if self._proc.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"sshd did not start: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        """Kill sshd and its per-connection children: a live session's ssh sees the link drop."""
        if self._proc is None:
            return
        frozen: set[int] = set()
        while True:  # stop the whole tree first, so nothing forks while it is collected
            tree = _tree(self._proc.pid) - frozen
            if not tree:
                break
            _signal(tree, signal.SIGSTOP)
            frozen |= tree
        _signal(frozen, signal.SIGKILL)
        self._proc.wait(timeout=10)
        self._proc = None

    def connection(self, name: str = "test", **kwargs):
        from edgebench.targets.ssh import SSHConnection

        return SSHConnection(self.url, ssh_config=self.ssh_config, name=name, **kwargs)


@pytest.fixture(scope="session")
def sshd_server(tmp_path_factory):
    """The session's sshd (started once); use `sshd`, which restarts it if a test stopped it."""
    why = missing_tools()
    if why:
        pytest.skip(f"the remote-target tests need a local OpenSSH server: {why}")
    server = SSHServer(tmp_path_factory.mktemp("sshd"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def sshd(sshd_server):
    """A running SSHServer (see SSHServer); a test may stop() and start() it."""
    sshd_server.start()
    return sshd_server


@pytest.fixture(autouse=True)
def _config_dir(tmp_path, monkeypatch):
    """The targets file in a temporary folder: no test reads or writes ~/.config."""
    monkeypatch.setenv("EDGEBENCH_CONFIG_DIR", str(tmp_path / "config"))
