"""The host side of the device agent: copying it to a target (by content, so a changed agent is a
new file), its one-shot `probe`, and `AgentSession`, one `serve` process spoken to in JSON lines
(one request line in, one reply line out; see agent.py). Replies are parsed with json.loads only.
"""
from __future__ import annotations

import collections
import json
import os
import select
import shlex
import subprocess
import threading
import time
from pathlib import Path

from edgebench.errors import TargetConnectError, TargetLostError, TargetOutputError
from edgebench.targets.ssh import SSHConnection

AGENT_FILE = Path(__file__).with_name("agent.py")

#: seconds a probe may take: it starts a child Python per framework, and `import torch` alone
#: takes several seconds on a Jetson Nano
PROBE_TIMEOUT_S = 120.0
#: seconds `close()` waits for the agent's answer to close, then for it to exit, before killing
CLOSE_WAIT_S = 5.0
_STDERR_LINES = 200  # of the remote stderr kept for messages
_READ_CHUNK = 1 << 20


def deploy_agent(conn: SSHConnection) -> str:
    """Copy agent.py to the target unless it is there; its remote path (relative to the home)."""
    return conn.upload(AGENT_FILE)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.replace("\r", "\n").splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _json_object(text: bytes | str, what: str) -> dict:
    """The one JSON object `text` holds; TargetOutputError naming `what` otherwise."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise TargetOutputError(f"{what} is not JSON ({exc}): {text.strip()[:200]!r}") from None
    if not isinstance(value, dict):
        raise TargetOutputError(f"{what} is JSON but not an object: {text.strip()[:200]!r}")
    return value


def probe(conn: SSHConnection, python: str = "python3", agent_path: str | None = None,
          timeout_s: float = PROBE_TIMEOUT_S) -> dict:
    """The target's description: `PYTHON AGENT probe` run there (the agent is deployed first
    unless `agent_path` names it). TargetConnectError when the target cannot be reached, or its
    `python` cannot run the agent, or no answer comes within `timeout_s`; TargetOutputError when
    the answer is not one JSON object."""
    agent_path = agent_path or deploy_agent(conn)
    argv = [python, agent_path, "probe"]
    try:
        proc = conn.run(argv, timeout=timeout_s)
    except TargetLostError:
        raise TargetConnectError(f"{conn.label} gave no answer to the probe (`{shlex.join(argv)}`) within "
                                 f"{timeout_s:g} s; try it there by hand with `{conn.by_hand()}`",
                                 reason=f"no answer in {timeout_s:g} s") from None
    if proc.returncode != 0:
        line = _last_line(proc.stderr.decode("utf-8", "replace")) or "no message"
        raise TargetConnectError(f"{conn.label} cannot run the agent with `{python}` (exit {proc.returncode}: "
                                 f"{line}); name the device's Python 3.6 or newer with --python "
                                 f"(JetPack's is python3)", reason=f"{python}: {line}")
    return _json_object(proc.stdout, f"the probe of {conn.label}")


class _Tail(threading.Thread):
    """Drains a pipe (so the far side never blocks on a full stderr), keeping its last lines."""

    def __init__(self, pipe):
        super().__init__(daemon=True)
        self.pipe = pipe
        self.lines: collections.deque[str] = collections.deque(maxlen=_STDERR_LINES)
        self.start()

    def run(self):
        partial = b""
        while True:
            try:
                chunk = os.read(self.pipe.fileno(), _READ_CHUNK)
            except (OSError, ValueError):  # closed under us by close()
                chunk = b""
            if not chunk:
                break
            *lines, partial = (partial + chunk).split(b"\n")
            self.lines.extend(line.decode("utf-8", "replace").rstrip("\r") for line in lines[-_STDERR_LINES:])
        if partial:
            self.lines.append(partial.decode("utf-8", "replace").rstrip("\r"))

    def text(self) -> str:
        return "\n".join(self.lines)


class AgentSession:
    """One `PYTHON AGENT_PATH serve` on the target, over `conn`: `call(request, timeout_s)` sends
    one request and returns the agent's reply (a dict, "ok" true or false). A dead connection,
    an agent that exits, or no reply in time ends the session with TargetLostError; a reply that
    is not one JSON object is TargetOutputError. `close()` (or leaving the `with` block) asks
    the agent to close, then kills what is left."""

    def __init__(self, conn: SSHConnection, python: str, agent_path: str, name: str = ""):
        self.conn = conn
        self.name = name or conn.name or str(conn.address)
        self.remote_argv = [python, agent_path, "serve"]
        self._proc = conn.popen(self.remote_argv)
        self._stderr = _Tail(self._proc.stderr)
        self._buffer = bytearray()
        self._lost: TargetLostError | None = None
        self._closed = False

    def __enter__(self) -> AgentSession:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def alive(self) -> bool:
        return not self._closed and self._lost is None and self._proc.poll() is None

    def call(self, request: dict, timeout_s: float) -> dict:
        """Send `request` (one JSON object) and return the reply. `timeout_s`: seconds the reply
        may take; past it the session is ended and TargetLostError (timed_out) raised."""
        op = str(request.get("op", "?"))
        if self._lost is not None:
            raise TargetLostError(f"{self._lost} (the session was already lost; {op} not sent)",
                                  op=op, returncode=self._lost.returncode)
        if self._closed:
            raise TargetLostError(f"the session with target {self.name} is closed; {op} not sent", op=op)
        data = memoryview(json.dumps(request).encode() + b"\n")
        try:
            while data:  # the pipe is unbuffered: a write may take only part
                data = data[self._proc.stdin.write(data):]
        except OSError:  # BrokenPipeError: the far side is gone
            raise self._lose(op) from None
        line = self._read_line(op, timeout_s)
        return _json_object(bytes(line), f"target {self.name}'s reply to {op}")

    def _read_line(self, op: str, timeout_s: float) -> bytes:
        fd = self._proc.stdout.fileno()
        deadline = time.monotonic() + timeout_s
        scanned = 0
        while True:
            end = self._buffer.find(b"\n", scanned)
            if end >= 0:
                line = self._buffer[:end]
                del self._buffer[:end + 1]
                return line
            scanned = len(self._buffer)
            left = deadline - time.monotonic()
            if left <= 0:
                self._kill()
                self._lost = TargetLostError(f"target {self.name} gave no answer to {op} within {timeout_s:g} s; "
                                             "the session was ended", op=op, timed_out=True)
                raise self._lost
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, _READ_CHUNK)
                if not chunk:
                    raise self._lose(op)
                self._buffer += chunk

    def _lose(self, op: str) -> TargetLostError:
        """The error for a session whose process ended (or whose pipe broke) during `op`."""
        try:
            rc = self._proc.wait(timeout=CLOSE_WAIT_S)
        except subprocess.TimeoutExpired:
            self._kill()
            rc = self._proc.returncode
        self._stderr.join(timeout=2)  # the rest of what ssh said
        last = _last_line(self._stderr.text())
        if rc == 255:
            message = f"connection to target {self.name} lost during {op}: {last or 'ssh exited 255'}"
        else:
            message = (f"the agent on target {self.name} exited with code {rc} during {op}: "
                       f"{last or 'it said nothing on stderr'}")
        self._lost = TargetLostError(message, op=op, returncode=rc)
        return self._lost

    def _kill(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    def close(self) -> None:
        """Ask the agent to close (CLOSE_WAIT_S for its answer and its exit), then kill what is
        left. Idempotent; never raises for a session that is already lost."""
        if self._closed:
            return
        if self.alive:
            try:
                self.call({"op": "close"}, CLOSE_WAIT_S)
            except (TargetLostError, TargetOutputError):
                pass
        self._closed = True
        try:
            self._proc.stdin.close()  # EOF: an agent that ignored close exits on it
        except OSError:
            pass
        try:
            self._proc.wait(timeout=CLOSE_WAIT_S)
        except subprocess.TimeoutExpired:
            self._kill()
        self._stderr.join(timeout=2)
        for pipe in (self._proc.stdout, self._proc.stderr):
            pipe.close()
