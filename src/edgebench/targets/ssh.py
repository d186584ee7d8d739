"""Reaching a remote target: the `ssh` command lines edgebench runs (built as lists, the remote
command quoted once with shlex), running them, and copying files to the device by content hash.

Why the user's OpenSSH client and not an SSH library (Paramiko, AsyncSSH): the connection is
then exactly the one `ssh me@jetson` makes by hand. ~/.ssh/config (Host aliases, User, Port,
IdentityFile), ssh-agent, ProxyJump/ProxyCommand, certificates and known_hosts all work with no
code here; edgebench handles no password, key or passphrase (BatchMode: ssh never prompts), so it
has no secret to store or leak; and it adds no dependency, since every host that can reach a
device already has `ssh`. What a library would give (an in-process channel) a per-call process
does not need: one connection per agent session, a few per upload.
"""
from __future__ import annotations

import math
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable, Sequence

from edgebench.errors import InvalidConfigError, TargetConnectError, TargetLostError, TargetOutputError
from edgebench.hashing import file_sha256

SSH = "ssh"

#: where uploaded files live on the device, relative to the remote user's home (ssh's cwd)
REMOTE_FILES = ".cache/edgebench/files"

#: options edgebench always sets. BatchMode: never prompt (no password, no passphrase, no host
#: key question); ServerAlive*: a dead link is noticed within 15 s, not at TCP's timeout.
#: ssh keeps the first value it is given for an option, so these win over the user's.
FIXED_OPTIONS = ("BatchMode=yes", "ServerAliveInterval=5", "ServerAliveCountMax=3")
_FIXED_KEYS = frozenset(o.split("=")[0].lower() for o in FIXED_OPTIONS) | {"connecttimeout"}

ADDRESS_FORM = "ssh://[user@]host[:port]"
_ADDRESS = re.compile(r"ssh://(?:(?P<user>[^@/:\s]+)@)?(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)"
                      r"(?::(?P<port>\d+))?/?")
_USER = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.$-]*")
_OPTION = re.compile(r"(?P<key>[A-Za-z][A-Za-z0-9]*)=(?P<value>[^\n\r\0]+)")

# One remote call says which of many paths exist: one "1" or "0" line per path, in order.
_PRESENT_SCRIPT = 'for p in "$@"; do if [ -f "$p" ]; then echo 1; else echo 0; fi; done'
# A file streamed on stdin is written beside its final name, its size checked (a link dropped
# mid-copy ends cat with EOF too), then renamed: a path that exists is always complete. $$ keeps
# two concurrent copies of one file apart.
_UPLOAD_SCRIPT = ('mkdir -p "$1" && cat > "$2.part.$$" && [ "$(wc -c < "$2.part.$$")" -eq "$3" ] '
                  '&& mv -f "$2.part.$$" "$2" || { rm -f "$2.part.$$"; exit 1; }')


@dataclass(frozen=True)
class SSHAddress:
    """Where a target is: `ssh://[user@]host[:port]`. host may be a Host alias of the user's
    ssh config (`ssh://nano`), which then supplies the real name, user, port and key."""

    host: str
    user: str | None = None
    port: int | None = None

    @classmethod
    def parse(cls, url: str) -> SSHAddress:
        """The address in `url`; InvalidConfigError (one line, with the accepted form) when it is
        not one. A password in the address is refused: edgebench stores no secrets."""
        m = _ADDRESS.fullmatch(url.strip()) if isinstance(url, str) else None
        if m is None:
            if isinstance(url, str) and re.match(r"ssh://[^@/]*:[^@/]*@", url):
                why = "a password in the address is refused (edgebench stores no secrets); use a key: ssh-copy-id"
            elif isinstance(url, str) and "://" not in url:
                why = "give it as a URL"
            else:
                why = "not in that form"
            raise InvalidConfigError(f"target address {url!r} is not {ADDRESS_FORM} (e.g. ssh://me@jetson.local, "
                                     f"or ssh://nano for a Host in ~/.ssh/config): {why}")
        user, host, port = m.group("user"), m.group("host"), m.group("port")
        if user is not None and not _USER.fullmatch(user):
            raise InvalidConfigError(f"target address {url!r}: user {user!r} is not a user name")
        if port is not None and not 1 <= int(port) <= 65535:
            raise InvalidConfigError(f"target address {url!r}: port {port} is not in 1-65535")
        if host.startswith("-"):
            raise InvalidConfigError(f"target address {url!r}: a host cannot start with '-'")
        return cls(host=host.strip("[]"), user=user, port=int(port) if port else None)

    @property
    def destination(self) -> str:
        """ssh's DEST argument: `user@host` or `host`."""
        return f"{self.user}@{self.host}" if self.user else self.host

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return (f"ssh://{self.user + '@' if self.user else ''}{host}"
                f"{':' + str(self.port) if self.port else ''}")

    def __str__(self) -> str:
        return self.url


def check_ssh_option(option: str) -> str:
    """`option` when it is one `Key=Value` ssh option (ssh -o) that edgebench does not set itself;
    InvalidConfigError otherwise."""
    m = _OPTION.fullmatch(option) if isinstance(option, str) else None
    if m is None:
        raise InvalidConfigError(f"ssh option {option!r} is not Key=Value (one ssh -o option, e.g. "
                                 f"IdentityFile=~/.ssh/jetson or ProxyJump=gateway)")
    if m.group("key").lower() in _FIXED_KEYS:
        raise InvalidConfigError(f"ssh option {option!r}: edgebench sets BatchMode, ConnectTimeout, "
                                 f"ServerAliveInterval and ServerAliveCountMax itself, and ssh keeps the first value")
    return option


def remote_file_path(local_path: str | Path, sha256: str | None = None) -> str:
    """Where `local_path` lives on a device: `.cache/edgebench/files/<sha256>/<basename>`,
    relative to the remote home (so a changed file is a new path)."""
    local_path = Path(local_path)
    name = local_path.name
    if not name or "\n" in name or name in (".", ".."):
        raise InvalidConfigError(f"cannot upload {str(local_path)!r}: no usable file name")
    return f"{REMOTE_FILES}/{sha256 or file_sha256(local_path)}/{name}"


# ---- ssh's own failures (exit 255) ------------------------------------------------------------

#: (what ssh's stderr says, what it means, how to fix it); {dest} and {by_hand} are filled in
_FAILURES = (
    (("host key verification failed", "remote host identification has changed"),
     "its host key was not accepted",
     "the device's key is not in known_hosts, or differs from the one there: check it with `{by_hand}` "
     "by hand, which asks before it adds a new key and names the known_hosts line of a changed one"),
    (("permission denied", "too many authentication failures", "no more authentication methods"),
     "the login was refused",
     "edgebench runs ssh in batch mode (no password prompts): install a key on the device "
     "(`ssh-copy-id {dest}`) and load it into ssh-agent, or name it with --ssh-option IdentityFile=PATH; "
     "`{by_hand}` must log in without asking"),
    (("connection refused", "timed out", "could not resolve", "name or service not known", "no route to host",
      "network is unreachable", "connection closed", "connection reset", "kex_exchange_identification"),
     "it cannot be reached",
     "check the address and that sshd runs on the device, or try `{by_hand}` by hand"),
)


def _last_line(stderr: bytes | str) -> str:
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
    lines = [line.strip() for line in text.replace("\r", "\n").splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


class SSHConnection:
    """One target reached through OpenSSH. Every call is its own `ssh` process (local argv is a
    list, never a shell line); the remote command is the shlex-quoted remote argv, so it reaches
    the device's shell as exactly those words. `name` labels messages ("target nano")."""

    def __init__(self, address: SSHAddress | str, ssh_config: str | Path | None = None,
                 options: Sequence[str] = (), connect_timeout: float = 10, name: str = ""):
        self.address = address if isinstance(address, SSHAddress) else SSHAddress.parse(address)
        self.ssh_config = str(ssh_config) if ssh_config else None
        self.options = tuple(check_ssh_option(o) for o in options)
        if not connect_timeout > 0:
            raise InvalidConfigError(f"connect timeout must be > 0 s, got {connect_timeout}")
        self.connect_timeout = connect_timeout
        self.name = name
        self._present: set[str] = set()  # remote paths known to exist: asked once per connection

    @property
    def label(self) -> str:
        return f"target {self.name}" if self.name else f"target {self.address}"

    def __repr__(self) -> str:
        return f"SSHConnection({str(self.address)!r}, name={self.name!r})"

    # -- command lines ----------------------------------------------------------------------

    def _user_args(self) -> list[str]:
        """The config file, port and options that are the user's (the part `by_hand` repeats)."""
        args = ["-F", self.ssh_config] if self.ssh_config else []
        if self.address.port:
            args += ["-p", str(self.address.port)]
        for option in self.options:
            args += ["-o", option]
        return args

    def _ssh_args(self) -> list[str]:
        args = [SSH, "-T"]  # -T: no tty, even if the user's config asks for one; stdin stays binary-clean
        for option in (*FIXED_OPTIONS, f"ConnectTimeout={math.ceil(self.connect_timeout)}"):
            args += ["-o", option]
        return args + self._user_args()

    @staticmethod
    def remote_command(remote_argv: Sequence[str]) -> str:
        """The command line the device's shell receives for `remote_argv` (each word quoted)."""
        if not remote_argv:
            raise ValueError("an empty remote command would open a login shell")
        return " ".join(shlex.quote(str(a)) for a in remote_argv)

    def argv(self, remote_argv: Sequence[str]) -> list[str]:
        """The local argv that runs `remote_argv` on the device."""
        return [*self._ssh_args(), "--", self.address.destination, self.remote_command(remote_argv)]

    def by_hand(self) -> str:
        """The ssh command a user types to check the connection: the same config, port, options."""
        return shlex.join([SSH, *self._user_args(), self.address.destination])

    # -- running ----------------------------------------------------------------------------

    def connect_error(self, stderr: bytes | str) -> TargetConnectError:
        """The TargetConnectError for ssh's own failure (exit 255) with this stderr."""
        line = _last_line(stderr) or "ssh exited 255 and said nothing"
        low = line.lower()
        fill = dict(dest=self.address.destination, by_hand=self.by_hand())
        for needles, what, fix in _FAILURES:
            if any(n in low for n in needles):
                return TargetConnectError(f"cannot connect to {self.label}: {what} ({line}); {fix.format(**fill)}",
                                          reason=line)
        return TargetConnectError(f"cannot connect to {self.label} ({line}); try `{self.by_hand()}` by hand",
                                  reason=line)

    def _missing_ssh(self) -> TargetConnectError:
        return TargetConnectError(f"cannot connect to {self.label}: the OpenSSH client `{SSH}` is not on PATH; "
                                  "install it (Debian/Ubuntu: apt-get install openssh-client)",
                                  reason=f"no `{SSH}` here")

    def run(self, remote_argv: Sequence[str], input: bytes | BinaryIO | None = None,
            timeout: float | None = None) -> subprocess.CompletedProcess:
        """Run `remote_argv` on the device; stdout and stderr are bytes, returncode the remote
        command's. `input`: bytes, or an open binary file streamed as stdin (none: /dev/null, so
        ssh never reads the terminal). `timeout` in s. TargetConnectError when ssh itself failed
        (exit 255); TargetLostError when no answer came within `timeout`."""
        argv = self.argv(remote_argv)
        kwargs = ({"stdin": subprocess.DEVNULL} if input is None else
                  {"input": input} if isinstance(input, (bytes, bytearray, memoryview)) else {"stdin": input})
        try:
            proc = subprocess.run(argv, capture_output=True, timeout=timeout, **kwargs)
        except FileNotFoundError:
            raise self._missing_ssh() from None
        except subprocess.TimeoutExpired:
            raise TargetLostError(f"{self.label} gave no answer within {timeout:g} s to "
                                  f"`{shlex.join(map(str, remote_argv))}`", op=str(remote_argv[0]),
                                  timed_out=True) from None
        if proc.returncode == 255:
            raise self.connect_error(proc.stderr)
        return proc

    def popen(self, remote_argv: Sequence[str], **kwargs) -> subprocess.Popen:
        """Start `remote_argv` on the device; stdin, stdout and stderr are pipes unless `kwargs`
        say otherwise (bytes, unbuffered). The caller owns the process; ssh's own failure shows
        as exit code 255 with its reason on stderr."""
        options = dict(stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
        options.update(kwargs)
        try:
            return subprocess.Popen(self.argv(remote_argv), **options)
        except FileNotFoundError:
            raise self._missing_ssh() from None

    # -- files ------------------------------------------------------------------------------

    def present(self, paths: Iterable[str]) -> set[str]:
        """Which of the remote `paths` (relative to the remote home, or absolute) exist as files,
        asked in one remote call."""
        paths = list(dict.fromkeys(paths))
        if not paths:
            return set()
        proc = self.run(["sh", "-c", _PRESENT_SCRIPT, "sh", *paths], timeout=60)
        answers = proc.stdout.decode("ascii", "replace").split()
        if proc.returncode != 0 or len(answers) != len(paths) or set(answers) - {"0", "1"}:
            raise TargetOutputError(f"{self.label}: the check for {len(paths)} file(s) answered "
                                    f"{proc.stdout[:200]!r} (exit {proc.returncode}: {_last_line(proc.stderr)})")
        found = {p for p, a in zip(paths, answers) if a == "1"}
        self._present |= found
        return found

    def upload_argv(self, local_path: str | Path, sha256: str | None = None) -> list[str]:
        """The remote argv that stores `local_path` (sent on its stdin) at its remote_file_path."""
        local_path = Path(local_path)
        remote = remote_file_path(local_path, sha256)
        return ["sh", "-c", _UPLOAD_SCRIPT, "sh", remote.rpartition("/")[0], remote, str(local_path.stat().st_size)]

    def upload_command(self, local_path: str | Path) -> str:
        """What an upload of `local_path` runs on the device, as text (for a dry run): the remote
        command line, then `< LOCAL_PATH` for its stdin. It runs only where the file is missing."""
        return f"{self.remote_command(self.upload_argv(local_path))} < {shlex.quote(str(local_path))}"

    def upload(self, local_path: str | Path) -> str:
        """Copy `local_path` to the device unless a file of the same content and name is there;
        returns its remote path (relative to the remote home)."""
        return self.upload_many([local_path])[Path(local_path)]

    def upload_many(self, local_paths: Iterable[str | Path]) -> dict[Path, str]:
        """upload() for several files with one remote check of what is there; local -> remote path."""
        hashes = {Path(p): file_sha256(Path(p)) for p in local_paths}
        remote = {p: remote_file_path(p, h) for p, h in hashes.items()}
        unknown = [r for r in remote.values() if r not in self._present]
        missing = set(unknown) - self.present(unknown) if unknown else set()
        for local, path in remote.items():
            if path in missing:
                self._send(local, hashes[local])
                missing.discard(path)  # the same content under one name twice: sent once
        return remote

    def _send(self, local: Path, sha256: str) -> None:
        with open(local, "rb") as f:
            proc = self.run(self.upload_argv(local, sha256), input=f)
        if proc.returncode != 0:
            raise TargetConnectError(f"cannot copy {local} to {self.label} (exit {proc.returncode}: "
                                     f"{_last_line(proc.stderr) or 'no message'}); check the free space under "
                                     f"~/{REMOTE_FILES} on the device", reason="upload failed")
        self._present.add(remote_file_path(local, sha256))
