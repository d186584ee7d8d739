"""The targets file: the remote targets a user added, each with its address, how to reach it
(Python, ssh config file, ssh options) and what its last probe found; adding one (probed first,
stored only when the probe worked), probing again, reachability, and the probe's facts by label.

The file is `$EDGEBENCH_CONFIG_DIR/targets.json`, else `$XDG_CONFIG_HOME/edgebench/targets.json`,
else `~/.config/edgebench/targets.json`, written atomically (a temporary sibling, then a rename).
It holds no secret, ever: no password can be given (addresses with one are refused), keys stay
where ssh finds them, and ssh options must be plain `Key=Value` (ssh -o).
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import os
import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Sequence

from edgebench.errors import InvalidConfigError, TargetConnectError, TargetLostError, UnknownTargetError
from edgebench.targets import session
from edgebench.targets.ssh import ADDRESS_FORM, SSHAddress, SSHConnection, check_ssh_option

FORMAT = 1  # the file's layout; another is refused, never guessed at
FILE_NAME = "targets.json"
REACH_TIMEOUT_S = 10.0  # per target, for `edgebench targets`
_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_ADD_ONE = f"add one with `edgebench targets add NAME {ADDRESS_FORM}`"


def targets_path() -> Path:
    """Where the targets file is (it need not exist)."""
    if os.environ.get("EDGEBENCH_CONFIG_DIR"):
        return Path(os.environ["EDGEBENCH_CONFIG_DIR"]) / FILE_NAME
    config = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config) / "edgebench" / FILE_NAME


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Target:
    """One remote target as stored. `probe` is the agent's probe dict (None before the first)."""

    name: str
    url: str
    python: str = "python3"
    ssh_config: str | None = None
    ssh_options: tuple[str, ...] = ()
    added_at: str = ""
    probe: dict | None = field(default=None, compare=False)
    probed_at: str | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise InvalidConfigError(f"target name {self.name!r} is not allowed: use letters, digits, '_', '.' "
                                     "and '-' (e.g. nano, orin-agx)")
        SSHAddress.parse(self.url)
        if not isinstance(self.python, str) or not self.python.strip() or "\n" in self.python:
            raise InvalidConfigError(f"target {self.name}: python {self.python!r} is not a command "
                                     "(e.g. python3 or /usr/bin/python3)")
        if self.ssh_config is not None and not Path(self.ssh_config).is_absolute():
            raise InvalidConfigError(f"target {self.name}: ssh config {self.ssh_config!r} must be an absolute path")
        if isinstance(self.ssh_options, str):
            raise InvalidConfigError(f"target {self.name}: ssh options must be a list of Key=Value")
        object.__setattr__(self, "ssh_options", tuple(check_ssh_option(o) for o in self.ssh_options))
        if self.probe is not None and not isinstance(self.probe, dict):
            raise InvalidConfigError(f"target {self.name}: probe must be an object")

    @property
    def address(self) -> SSHAddress:
        return SSHAddress.parse(self.url)

    def connection(self, connect_timeout: float = 10) -> SSHConnection:
        """An SSHConnection to this target (its ssh config file and options, named after it)."""
        return SSHConnection(self.address, ssh_config=self.ssh_config, options=self.ssh_options,
                             connect_timeout=connect_timeout, name=self.name)

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["ssh_options"] = list(self.ssh_options)
        return out

    @classmethod
    def from_dict(cls, data: dict, where: str = "") -> Target:
        """The Target stored as `data`; InvalidConfigError (naming `where`) for unknown fields."""
        known = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(data, dict) or not {"name", "url"} <= data.keys():
            raise InvalidConfigError(f"{where}: each target needs at least a name and a url, got {data!r:.200}")
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidConfigError(f"{where}: target {data.get('name')!r} has unknown field(s) {unknown}; "
                                     f"known: {sorted(known)}")
        return cls(**{**data, "ssh_options": tuple(data.get("ssh_options") or ())})


# ---- the file ---------------------------------------------------------------------------------

def load_targets() -> dict[str, Target]:
    """Every stored target by name (sorted); {} when there is no targets file."""
    path = targets_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise InvalidConfigError(f"cannot read the targets file {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidConfigError(f"the targets file {path} is not valid JSON ({exc}); fix it, or move it away "
                                 "and add the targets again") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("targets"), list):
        raise InvalidConfigError(f"the targets file {path} is not an edgebench targets file of format {FORMAT} "
                                 f"(a newer edgebench's, or damaged); move it away and add the targets again")
    targets = [Target.from_dict(t, str(path)) for t in data["targets"]]
    return {t.name: t for t in sorted(targets, key=lambda t: t.name)}


def _write(targets: Iterable[Target]) -> Path:
    path = targets_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"format": FORMAT, "targets": [t.to_dict() for t in sorted(targets, key=lambda t: t.name)]}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{FILE_NAME}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(body, f, indent=2, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def get_target(name: str) -> Target:
    """The stored target `name`; UnknownTargetError listing the known ones and how to add one."""
    targets = load_targets()
    if name in targets:
        return targets[name]
    close = difflib.get_close_matches(name, list(targets), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    known = f"known: {', '.join(targets)}" if targets else f"none yet in {targets_path()}"
    raise UnknownTargetError(f"unknown target {name!r}; {hint}{known}; {_ADD_ONE}")


def save_target(target: Target) -> Path:
    """Store `target`, replacing a stored one of the same name; returns the file's path."""
    targets = load_targets()
    targets[target.name] = target
    return _write(targets.values())


def remove_target(name: str) -> Target:
    """Forget the target `name` (nothing on the device is touched); returns what was stored."""
    target = get_target(name)
    _write(t for t in load_targets().values() if t.name != name)
    return target


# ---- with the device --------------------------------------------------------------------------

def add_target(name: str, url: str, python: str = "python3", ssh_config: str | Path | None = None,
               ssh_options: Sequence[str] = (), timeout_s: float = session.PROBE_TIMEOUT_S) -> Target:
    """Probe a new target and store it with what the probe found; nothing is stored when the
    name is taken, the input is bad (InvalidConfigError) or the probe fails (TargetConnectError)."""
    if ssh_config is not None:
        ssh_config = Path(ssh_config).expanduser().absolute()
        if not ssh_config.is_file():
            raise InvalidConfigError(f"ssh config file {ssh_config} does not exist")
    target = Target(name=name, url=url, python=python, ssh_config=str(ssh_config) if ssh_config else None,
                    ssh_options=tuple(ssh_options), added_at=_now())
    existing = load_targets().get(name)
    if existing is not None:
        raise InvalidConfigError(f"target {name} already exists ({existing.url}); probe it again with "
                                 f"`edgebench targets probe {name}`, or `edgebench targets remove {name}` first")
    found = session.probe(target.connection(), target.python, timeout_s=timeout_s)
    target = dataclasses.replace(target, probe=found, probed_at=_now())
    save_target(target)
    return target


def probe_target(name: str, timeout_s: float = session.PROBE_TIMEOUT_S) -> Target:
    """Probe the stored target `name` again and store what it found."""
    target = get_target(name)
    found = session.probe(target.connection(), target.python, timeout_s=timeout_s)
    target = dataclasses.replace(target, probe=found, probed_at=_now())
    save_target(target)
    return target


def reachable(target: Target, timeout_s: float = REACH_TIMEOUT_S) -> str:
    """"yes (Python 3.6.9)" when the target logs in and its python runs within `timeout_s`,
    else "no: <why, in a few words>"."""
    code = "import sys; print('%d.%d.%d' % sys.version_info[:3])"
    try:
        proc = target.connection(connect_timeout=timeout_s).run([target.python, "-c", code], timeout=timeout_s)
    except TargetConnectError as exc:
        return f"no: {exc.reason.removeprefix('ssh: ')}"
    except TargetLostError:
        return f"no: no answer in {timeout_s:g} s"
    if proc.returncode != 0:
        last = (proc.stderr.decode("utf-8", "replace").strip().splitlines() or ["no message"])[-1]
        return f"no: {target.python} exited {proc.returncode}: {last[:120]}"
    return f"yes (Python {proc.stdout.decode('ascii', 'replace').strip()})"


def reachability(targets: Iterable[Target], timeout_s: float = REACH_TIMEOUT_S) -> dict[str, str]:
    """reachable() of each target, checked in parallel threads; name -> answer."""
    targets = list(targets)
    if not targets:
        return {}
    with ThreadPoolExecutor(max_workers=min(16, len(targets))) as pool:
        answers = pool.map(lambda t: reachable(t, timeout_s), targets)
        return {t.name: a for t, a in zip(targets, answers)}


# ---- what a probe found, by label ---------------------------------------------------------------

def _l4t(p: dict) -> str | None:
    if not p.get("l4t"):
        return None
    return f"{p['l4t']} / JetPack {p.get('jetpack') or '?'}"


def _power(p: dict) -> str | None:
    mode = p.get("power_mode")
    if not isinstance(mode, dict):
        return None
    return f"{mode.get('name')} (mode {mode['id']})" if mode.get("id") is not None else str(mode.get("name"))


def _python(p: dict) -> str | None:
    if not p.get("python_version"):
        return None
    return f"{p['python_version']} ({p['python_executable']})" if p.get("python_executable") else p["python_version"]


#: label -> (the value from a probe dict, the probe's reason keys for a missing one)
FACTS = {
    "Python": (_python, ()),
    "L4T/JetPack": (_l4t, ("l4t", "jetpack")),
    "TensorRT": (lambda p: p.get("tensorrt_version"), ("tensorrt_version",)),
    "trtexec": (lambda p: p.get("trtexec"), ("trtexec",)),
    "GPU": (lambda p: p.get("gpu"), ("gpu",)),
    "torch": (lambda p: p.get("torch_version"), ("torch_version",)),
    "onnxruntime": (lambda p: p.get("onnxruntime_version"), ("onnxruntime_version",)),
    "power mode": (_power, ("power_mode",)),
}


def probe_facts(probe: dict | None) -> list[tuple[str, str | None, str | None]]:
    """(label, value or None, the probe's reason when None) for each of FACTS, in order."""
    probe = probe or {}
    reasons = probe.get("reasons") or {}
    out = []
    for label, (value_of, keys) in FACTS.items():
        value = value_of(probe)
        reason = None if value else next((reasons[k] for k in keys if reasons.get(k)), None)
        out.append((label, str(value) if value else None, reason))
    return out
