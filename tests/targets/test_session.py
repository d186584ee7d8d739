"""The host side of the agent over a real sshd: deploying the agent by content, a real probe through
ssh, and AgentSession's JSON-lines exchange, driven against a small stand-in `serve` program
(STAND_IN) that can also misbehave: garbage, a non-object, silence, a crash, a flood of stderr,
and a connection cut by stopping sshd mid-call."""
from __future__ import annotations

import os
import sys
import threading

import pytest

from edgebench.errors import TargetConnectError, TargetLostError, TargetOutputError
from edgebench.targets.session import AGENT_FILE, AgentSession, deploy_agent, probe

# A stand-in for `agent.py serve`: the same JSON-lines framing, plus ops that misbehave on purpose.
STAND_IN = r'''
import json, os, sys, time
assert sys.argv[1:] == ["serve"], sys.argv
for line in sys.stdin:
    req = json.loads(line)
    op = req.get("op")
    if op == "echo":
        out = {"ok": True, "echo": req}
    elif op == "big":
        out = {"ok": True, "data": "x" * req["n"]}
    elif op == "garbage":
        print("Traceback? not json", flush=True)
        continue
    elif op == "list":
        print("[1, 2]", flush=True)
        continue
    elif op == "sleep":
        time.sleep(req["s"])
        out = {"ok": True}
    elif op == "noise":
        for _ in range(req["lines"]):
            sys.stderr.write("e" * 1000 + "\n")
        sys.stderr.flush()
        out = {"ok": True}
    elif op == "die":
        sys.stderr.write("stand-in: dying on request\n")
        sys.exit(3)
    elif op == "close":
        open("stand-in-closed", "w").close()
        print(json.dumps({"ok": True}), flush=True)
        break
    else:
        out = {"ok": False, "status": "run_failed", "error": "unknown op %r" % op}
    print(json.dumps(out), flush=True)
'''


_HAS_SERVE = 'add_parser("serve"' in AGENT_FILE.read_text()


@pytest.mark.skipif(not _HAS_SERVE, reason="this agent.py has no `serve` command")
def test_a_session_with_the_real_agent_says_hello_and_closes(sshd):
    conn = sshd.connection()
    with AgentSession(conn, sys.executable, deploy_agent(conn), "box") as s:
        hello = s.call({"op": "hello"}, 30)
        assert hello["ok"] and hello["agent_schema"] == 2
        assert hello["python_version"] == ".".join(map(str, sys.version_info[:3]))
        assert s.call({"op": "nosuch"}, 30)["ok"] is False
    assert s._proc.returncode == 0 and not os.path.exists(f"/proc/{hello['pid']}")


@pytest.fixture
def stand_in(sshd, tmp_path):
    """(connection, remote path of the stand-in program)."""
    path = tmp_path / "stand_in.py"
    path.write_text(STAND_IN)
    conn = sshd.connection()
    return conn, conn.upload(path)


def test_deploy_agent_uploads_it_by_content(sshd):
    conn = sshd.connection()
    remote = deploy_agent(conn)
    assert remote.endswith("/agent.py") and (sshd.home / remote).read_bytes() == AGENT_FILE.read_bytes()
    assert deploy_agent(sshd.connection()) == remote


def test_probe_runs_the_real_agent_through_ssh(sshd):
    found = probe(sshd.connection(), sys.executable)
    assert found["python_executable"] == sys.executable
    assert found["python_version"] == ".".join(map(str, sys.version_info[:3]))
    assert found["l4t"] is None and "l4t" in found["reasons"]  # no Jetson here


def test_probe_with_a_python_the_target_lacks_names_the_option(sshd):
    with pytest.raises(TargetConnectError) as e:
        probe(sshd.connection(), "python9.9")
    msg = str(e.value)
    assert "\n" not in msg and "cannot run the agent with `python9.9` (exit 127" in msg and "--python" in msg


def test_probe_output_that_is_not_json_is_a_target_output_error(sshd, tmp_path):
    fake = tmp_path / "fake_agent.py"
    fake.write_text("print('probe? what probe')\n")
    conn = sshd.connection()
    with pytest.raises(TargetOutputError, match="the probe of target test is not JSON"):
        probe(conn, sys.executable, agent_path=conn.upload(fake))


def test_a_session_answers_request_after_request_and_closes(stand_in, sshd):
    conn, path = stand_in
    with AgentSession(conn, sys.executable, path, "nano") as s:
        request = {"op": "echo", "text": "line\nbreak \"quoted\" ünï", "n": [1, 2.5, None]}
        assert s.call(request, 10) == {"ok": True, "echo": request}
        assert s.call({"op": "nosuch"}, 10)["error"] == "unknown op 'nosuch'"
        assert len(s.call({"op": "big", "n": 8_000_000}, 30)["data"]) == 8_000_000  # one 8 MB line
        assert s.call({"op": "noise", "lines": 2000}, 30) == {"ok": True}  # 2 MB of stderr drained
        assert s._stderr.text()[-1001:] == "\n" + "e" * 1000  # drained, the last lines kept
    assert not s.alive and (sshd.home / "stand-in-closed").exists()
    s.close()  # twice is fine
    with pytest.raises(TargetLostError, match="is closed; echo not sent"):
        s.call({"op": "echo"}, 10)


def test_garbage_and_non_objects_are_target_output_errors_naming_the_op(stand_in):
    conn, path = stand_in
    with AgentSession(conn, sys.executable, path, "nano") as s:
        with pytest.raises(TargetOutputError, match="target nano's reply to garbage is not JSON"):
            s.call({"op": "garbage"}, 10)
        with pytest.raises(TargetOutputError, match="reply to list is JSON but not an object"):
            s.call({"op": "list"}, 10)
        assert s.call({"op": "echo"}, 10)["ok"]  # the session goes on


def test_no_answer_in_time_ends_the_session(stand_in):
    conn, path = stand_in
    s = AgentSession(conn, sys.executable, path, "nano")
    with pytest.raises(TargetLostError) as e:
        s.call({"op": "sleep", "s": 30}, 0.5)
    assert e.value.timed_out and e.value.op == "sleep" and "no answer to sleep within 0.5 s" in str(e.value)
    assert not s.alive
    with pytest.raises(TargetLostError, match="already lost; echo not sent"):
        s.call({"op": "echo"}, 10)
    s.close()


def test_an_agent_that_exits_is_lost_with_its_last_stderr_line(stand_in):
    conn, path = stand_in
    with AgentSession(conn, sys.executable, path, "nano") as s:
        with pytest.raises(TargetLostError) as e:
            s.call({"op": "die"}, 10)
    assert e.value.returncode == 3
    assert str(e.value) == "the agent on target nano exited with code 3 during die: stand-in: dying on request"


def test_stopping_sshd_mid_call_is_a_lost_target(stand_in, sshd):
    conn, path = stand_in
    with AgentSession(conn, sys.executable, path, "nano") as s:
        assert s.call({"op": "echo"}, 10)["ok"]
        timer = threading.Timer(0.5, sshd.stop)
        timer.start()
        with pytest.raises(TargetLostError) as e:
            s.call({"op": "sleep", "s": 30}, 20)
        timer.join()
    assert e.value.returncode == 255 and e.value.op == "sleep" and not e.value.timed_out
    assert str(e.value).startswith("connection to target nano lost during sleep: ")
    assert "closed by remote host" in str(e.value)
    with pytest.raises(TargetConnectError, match="cannot be reached"):
        conn.run(["true"])
    sshd.start()  # same port, same keys: the same connection works again
    assert conn.run(["true"]).returncode == 0
