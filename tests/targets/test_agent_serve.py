"""The agent's `serve` protocol, spoken to the real agent run as a script (`python agent.py serve`):
hello, exec of real commands, onnxruntime and pytorch engines on tiny models compared with the same
models run here, tegrastats sampling through a stand-in `tegrastats` on PATH, and failure replies."""
from __future__ import annotations

import base64
import json
import os
import select
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from edgebench.models import testing as testing_models
from tests.targets.test_agent import AGENT, python36

REPLY_TIMEOUT_S = 120
FAST = {"warmup_iters": 2, "warmup_s": 0.0, "min_iters": 5, "min_time_s": 0.05}
FAILURE_KEYS = {"ok", "status", "error", "detail"}


class Agent:
    """`python agent.py serve` in a folder, spoken to one JSON line at a time; its stderr goes to a
    file (a pipe nobody reads could fill and stall it)."""

    def __init__(self, cwd, python=sys.executable, env=None):
        self.stderr_path = cwd / ("agent-stderr-%d.txt" % len(list(cwd.glob("agent-stderr-*"))))
        with open(self.stderr_path, "wb") as stderr:
            self.proc = subprocess.Popen([python, str(AGENT), "serve"], cwd=str(cwd), env=env, stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=stderr)

    def send_line(self, line: bytes) -> dict:
        self.proc.stdin.write(line)
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], REPLY_TIMEOUT_S)
        assert ready, "no reply in %s s; stderr: %s" % (REPLY_TIMEOUT_S, self.stderr_path.read_text()[-2000:])
        reply = self.proc.stdout.readline()
        assert reply.endswith(b"\n"), (reply, self.stderr_path.read_text()[-2000:])
        return json.loads(reply)

    def call(self, op: str, **fields) -> dict:
        return self.send_line((json.dumps({"op": op, **fields}) + "\n").encode())

    def finish(self) -> tuple[int, bytes]:
        """Close stdin (EOF); the exit status and whatever else it wrote to stdout."""
        self.proc.stdin.close()
        rest = self.proc.stdout.read()
        return self.proc.wait(timeout=60), rest

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if not stream.closed:
                stream.close()


@pytest.fixture
def agent(tmp_path):
    started = []

    def start(python=sys.executable, env=None):
        started.append(Agent(tmp_path, python, env))
        return started[-1]

    yield start
    for a in started:
        a.kill()


def decode(outputs: dict) -> np.ndarray:
    assert outputs["dtype"] == "float32"
    return np.frombuffer(base64.b64decode(outputs["b64"]), dtype=np.float32).reshape(outputs["shape"])


def raw_inputs(folder, item_shape, batch=2, pool=3, check=2, seed=0):
    """pool.bin and check.bin as the host writes them (raw float32, no header); the check array."""
    rng = np.random.default_rng(seed)
    rng.standard_normal((pool, batch, *item_shape), dtype=np.float32).tofile(folder / "pool.bin")
    checks = rng.standard_normal((check, batch, *item_shape), dtype=np.float32)
    checks.tofile(folder / "check.bin")
    return checks


def open_fields(engine, item_shape, batch=2, pool=3, check=2, **extra):
    return {"engine": engine, "device": "cpu", "precision": "fp32", "batch": batch, "item_shape": list(item_shape),
            "pool": {"path": "pool.bin", "count": pool}, "check": {"path": "check.bin", "count": check}, **extra}


def assert_failure(reply, status, *words):
    assert set(reply) == FAILURE_KEYS and reply["ok"] is False and reply["status"] == status, reply
    assert "\n" not in reply["error"] and len(reply["detail"]) <= 2000
    for word in words:
        assert word in reply["error"], reply["error"]


def fake_tegrastats(folder):
    """A stand-in for Jetson's tegrastats: prints one line every --interval ms until terminated."""
    exe = folder / "bin" / "tegrastats"
    exe.parent.mkdir()
    exe.write_text(f"#!{sys.executable}\n" + textwrap.dedent("""\
        import sys, time
        interval = int(sys.argv[sys.argv.index("--interval") + 1])
        tick = 0
        while True:
            print("RAM 1000/3964MB tick %d interval %d POM_5V_IN 2000/2000" % (tick, interval), flush=True)
            tick += 1
            time.sleep(interval / 1000.0)
        """))
    exe.chmod(0o755)
    return {**os.environ, "PATH": f"{exe.parent}{os.pathsep}{os.environ['PATH']}"}


# ---- hello, EOF, close ---------------------------------------------------------------------------

def test_hello_then_eof_exits_0(agent):
    a = agent()
    reply = a.call("hello")
    assert reply == {"ok": True, "agent_schema": 2, "python_version": "%d.%d.%d" % sys.version_info[:3],
                     "pid": a.proc.pid}
    assert a.finish() == (0, b"")


def test_close_replies_then_exits_0(agent):
    a = agent()
    assert a.call("close") == {"ok": True}
    assert a.proc.wait(timeout=30) == 0 and a.proc.stdout.read() == b""


# ---- exec ------------------------------------------------------------------------------------------

def test_exec_runs_a_command_and_reads_its_files(agent, tmp_path):
    code = ("import sys, json; json.dump({'x': 1}, open('times.json', 'w')); "
            "print('to stdout'); print('to stderr', file=sys.stderr); sys.exit(3)")
    reply = agent().call("exec", argv=[sys.executable, "-c", code], timeout_s=60,
                         read={"times": "times.json", "absent": "no-such-file.json"}, tegrastats_ms=None)
    assert reply["ok"] is True and reply["rc"] == 3 and reply["timed_out"] is False
    assert "to stdout" in reply["output_tail"] and "to stderr" in reply["output_tail"]  # merged
    assert json.loads(reply["files"]["times"]) == {"x": 1} and reply["files"]["absent"] is None
    assert reply["tegrastats"] is None and 0 < reply["elapsed_s"] < 60
    assert (tmp_path / "times.json").exists()  # relative paths resolve against the agent's cwd


def test_exec_output_tail_is_the_last_6000_characters(agent):
    code = "import sys; sys.stdout.write('a' * 10000 + 'END')"
    reply = agent().call("exec", argv=[sys.executable, "-c", code])
    assert reply["rc"] == 0 and len(reply["output_tail"]) == 6000 and reply["output_tail"].endswith("aEND")


def test_exec_of_a_missing_command_has_rc_null_and_says_why(agent):
    a = agent()
    reply = a.call("exec", argv=["edgebench-no-such-command-xyz"], read={"times": "t.json"})
    assert reply["ok"] is True and reply["rc"] is None and reply["timed_out"] is False
    assert "FileNotFoundError" in reply["error"] and "edgebench-no-such-command-xyz" in reply["error"]
    assert reply["files"] == {"times": None}
    assert a.call("hello")["ok"] is True  # still serving


def test_exec_timeout_kills_the_command_and_its_children(agent, tmp_path):
    # the command starts a grandchild that would write a file after 1 s; the timeout takes both
    code = ("import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', "
            "'import time; time.sleep(1); open(\"late.txt\", \"w\").write(\"x\")']); time.sleep(30)")
    reply = agent().call("exec", argv=[sys.executable, "-c", code], timeout_s=0.3)
    assert reply["ok"] is True and reply["timed_out"] is True and reply["rc"] is not None and reply["rc"] < 0
    assert 0.3 <= reply["elapsed_s"] < 10
    time.sleep(1.5)
    assert not (tmp_path / "late.txt").exists()


def test_exec_samples_tegrastats_around_the_command(agent, tmp_path):
    env = fake_tegrastats(tmp_path)
    reply = agent(env=env).call("exec", argv=[sys.executable, "-c", "import time; time.sleep(0.5)"],
                                tegrastats_ms=50)
    assert reply["rc"] == 0
    lines = reply["tegrastats"].splitlines()
    assert len(lines) >= 3 and all(line.startswith("RAM ") and "interval 50" in line for line in lines)


def test_exec_without_tegrastats_on_path_gives_null(agent, tmp_path):
    env = {**os.environ, "PATH": str(tmp_path)}  # no tegrastats there
    reply = agent(env=env).call("exec", argv=[sys.executable, "-c", "pass"], tegrastats_ms=50)
    assert reply["rc"] == 0 and reply["tegrastats"] is None


# ---- failure replies --------------------------------------------------------------------------------

@pytest.mark.parametrize("line, words", [
    (b'{"op": "bench"}\n', ("unknown op", "bench", "hello")),
    (b'{"no_op": 1}\n', ("unknown op", "null")),
    (b"this is not json\n", ("bad request line",)),
    (b"[1, 2]\n", ("JSON object",)),
    (b'{"op": "hello", "verbose": true}\n', ("hello", "unknown field verbose")),
    (b'{"op": "exec", "argv": "ls"}\n', ("exec", "argv", "list of strings")),
    (b'{"op": "exec"}\n', ("exec", "missing field", "argv")),
    (b'{"op": "measure"}\n', ("measure", "no engine is open")),
], ids=["unknown-op", "no-op", "not-json", "not-an-object", "unknown-field", "wrong-type", "missing-field",
        "measure-before-open"])
def test_a_bad_request_gets_a_failure_reply_and_the_agent_serves_on(agent, line, words):
    a = agent()
    assert_failure(a.send_line(line), "run_failed", *words)
    assert a.call("hello")["ok"] is True
    assert a.finish() == (0, b"")


def test_open_of_a_missing_file_fails_and_names_it(agent, tmp_path):
    raw_inputs(tmp_path, (3, 4, 4))
    a = agent()
    assert_failure(a.call("open", **open_fields("onnxruntime", (3, 4, 4), onnx="missing.onnx")), "run_failed",
                   "onnx file missing.onnx does not exist", str(tmp_path))
    reply = a.call("open", **open_fields("onnxruntime", (3, 4, 4), onnx="check.bin", pool=4))
    assert_failure(reply, "run_failed", "pool file pool.bin holds 288 float32 values", "needs 384")


def test_open_of_a_file_that_is_no_model_is_build_failed(agent, tmp_path):
    raw_inputs(tmp_path, (3, 4, 4))
    (tmp_path / "broken.onnx").write_bytes(b"not an onnx model")
    assert_failure(agent().call("open", **open_fields("onnxruntime", (3, 4, 4), onnx="broken.onnx")), "build_failed")


def test_open_of_an_unknown_engine_lists_the_known_ones(agent):
    assert_failure(agent().call("open", engine="tflite"), "run_failed", "engine must be one of onnxruntime, pytorch")


# ---- onnxruntime -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory):
    """test_cnn exported by edgebench (opset 13, dynamic batch) and its input shape."""
    from edgebench.export import export_onnx
    from edgebench.models import build_model, get_spec

    loaded = build_model(get_spec("test_cnn"))
    art = export_onnx(loaded, opset=13, cache_dir=tmp_path_factory.mktemp("onnx-cache"))
    return art.path, tuple(loaded.spec.input_shape)


def test_onnxruntime_open_measure_close(agent, tmp_path, tiny_onnx):
    import onnxruntime as ort

    path, shape = tiny_onnx
    checks = raw_inputs(tmp_path, shape, batch=2, pool=3, check=2)
    a = agent()
    opened = a.call("open", **open_fields("onnxruntime", shape, onnx=str(path), providers=None, threads=1))
    assert opened["ok"] is True, opened
    assert opened["device"] == "cpu" and opened["details"]["providers"] == ["CPUExecutionProvider"]
    assert opened["load_s"] > 0 and opened["first_infer_s"] > 0
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    expected = np.stack([session.run(None, {session.get_inputs()[0].name: x})[0] for x in checks])
    got = decode(opened["outputs"])
    assert got.shape == (2, 2, 2) and np.allclose(got, expected, rtol=0, atol=1e-5)

    assert_failure(a.call("open", **open_fields("onnxruntime", shape, onnx=str(path))), "run_failed",
                   "already open")
    measured = a.call("measure", **FAST, tegrastats_ms=None, idle_s=0.0)
    assert measured["ok"] is True and len(measured["samples_ms"]) >= FAST["min_iters"]
    assert all(s > 0 for s in measured["samples_ms"])
    assert measured["tegrastats"] is None and measured["tegrastats_idle"] is None
    assert measured["rss_peak_mb"] > 10
    again = a.call("measure", warmup_iters=0, warmup_s=0.0, min_iters=1, min_time_s=0.2)
    assert sum(again["samples_ms"]) / 1000 >= 0.1  # ran for min_time_s, not just min_iters
    assert a.call("close") == {"ok": True}
    assert a.proc.wait(timeout=30) == 0


def test_onnxruntime_measure_samples_tegrastats_idle_and_busy(agent, tmp_path, tiny_onnx):
    path, shape = tiny_onnx
    raw_inputs(tmp_path, shape, batch=1, pool=2, check=1)
    a = agent(env=fake_tegrastats(tmp_path))
    assert a.call("open", **open_fields("onnxruntime", shape, batch=1, pool=2, check=1, onnx=str(path)))["ok"]
    measured = a.call("measure", warmup_iters=1, warmup_s=0.0, min_iters=3, min_time_s=0.3,
                      tegrastats_ms=50, idle_s=0.3)
    assert measured["ok"] is True, measured
    for key in ("tegrastats", "tegrastats_idle"):
        assert len(measured[key].splitlines()) >= 2 and measured[key].startswith("RAM 1000/3964MB tick 0")


def test_onnxruntime_cuda_asked_where_this_build_has_none_is_skipped(agent, tmp_path, tiny_onnx):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has the CUDA provider")
    path, shape = tiny_onnx
    raw_inputs(tmp_path, shape)
    a = agent()
    assert_failure(a.call("open", **open_fields("onnxruntime", shape, onnx=str(path), device="cuda")), "skipped",
                   "device cuda", "CPUExecutionProvider")
    assert_failure(a.call("open", **open_fields("onnxruntime", shape, onnx=str(path),
                                                providers=["TensorrtExecutionProvider"])),
                   "skipped", "requested provider was TensorrtExecutionProvider")


# ---- pytorch ------------------------------------------------------------------------------------------

def _torch_outputs(module, checks):
    import torch

    with torch.no_grad():
        return np.stack([module(torch.from_numpy(x)).numpy() for x in checks])


def test_pytorch_definition_file_with_weights(agent, tmp_path):
    import torch

    torch.manual_seed(0)  # conftest restores the RNG state
    module = testing_models.tiny_cnn(num_classes=3).eval()
    bn = module[1]
    bn.running_mean.uniform_(-0.5, 0.5)
    bn.running_var.uniform_(0.5, 2.0)
    torch.save(module.state_dict(), tmp_path / "weights.pt")
    checks = raw_inputs(tmp_path, (3, 16, 16), batch=2, pool=2, check=3)
    # a definition file that prints (from Python and at the C level) and whose factory fails:
    # build_failed, the replies stay whole, and a later open still works
    (tmp_path / "noisy.py").write_text("import os, sys\nprint('noise on stdout')\nos.write(1, b'raw noise\\n')\n"
                                       "def broken(num_classes):\n    raise ValueError('no such layer\\nsecond line')\n")
    a = agent()
    noisy = {"kind": "definition", "file": "noisy.py", "factory": "broken", "num_classes": 3}
    reply = a.call("open", **open_fields("pytorch", (3, 16, 16), pool=2, check=3, model=noisy))
    assert_failure(reply, "build_failed", "ValueError: no such layer")
    assert "second line" not in reply["error"]

    model = {"kind": "definition", "file": testing_models.__file__, "factory": "tiny_cnn", "num_classes": 3}
    opened = a.call("open", **open_fields("pytorch", (3, 16, 16), pool=2, check=3, model=model,
                                          weights="weights.pt", threads=1))
    assert opened["ok"] is True, opened
    assert opened["device"] == "cpu" and opened["details"]["torch"] == torch.__version__
    assert opened["details"]["torchvision"] is None  # not imported for a definition file
    got = decode(opened["outputs"])
    assert got.shape == (3, 2, 3)
    assert np.allclose(got, _torch_outputs(module, checks), rtol=0, atol=1e-5)
    measured = a.call("measure", **FAST)
    assert measured["ok"] is True and len(measured["samples_ms"]) >= FAST["min_iters"]
    assert a.finish() == (0, b"")
    noise = a.stderr_path.read_text()  # what was printed went to stderr
    assert "noise on stdout" in noise and "raw noise" in noise


def test_pytorch_definition_with_wrong_weights_is_build_failed(agent, tmp_path):
    import torch

    torch.save(testing_models.tiny_mlp(num_classes=2).state_dict(), tmp_path / "mlp.pt")
    raw_inputs(tmp_path, (3, 16, 16))
    model = {"kind": "definition", "file": testing_models.__file__, "factory": "tiny_cnn", "num_classes": 2}
    reply = agent().call("open", **open_fields("pytorch", (3, 16, 16), model=model, weights="mlp.pt"))
    assert_failure(reply, "build_failed", "RuntimeError", "state_dict")


def test_pytorch_torchvision_model_with_weights(agent, tmp_path):
    import torch
    import torchvision

    torch.manual_seed(1)
    module = torchvision.models.squeezenet1_1(weights=None, num_classes=2).eval()
    torch.save(module.state_dict(), tmp_path / "squeezenet.pt")
    checks = raw_inputs(tmp_path, (3, 64, 64), batch=1, pool=2, check=2)
    a = agent()
    model = {"kind": "torchvision", "name": "squeezenet1_1", "num_classes": 2}
    opened = a.call("open", **open_fields("pytorch", (3, 64, 64), batch=1, pool=2, check=2, model=model,
                                          weights="squeezenet.pt", device="auto"))
    assert opened["ok"] is True, opened
    assert opened["details"] == {"torch": torch.__version__, "torchvision": torchvision.__version__}
    device = "cuda" if torch.cuda.is_available() else "cpu"
    assert opened["device"] == device
    got = decode(opened["outputs"])
    expected = _torch_outputs(module, checks)
    assert got.shape == (2, 1, 2) and np.abs(expected).max() > 0
    assert np.allclose(got, expected, rtol=0, atol=1e-5 if device == "cpu" else 1e-3)
    measured = a.call("measure", **FAST)
    assert measured["ok"] is True and len(measured["samples_ms"]) >= FAST["min_iters"]
    assert_failure(a.call("open", **open_fields("pytorch", (3, 64, 64), model=model)), "run_failed", "already open")
    assert a.call("close") == {"ok": True}


# ---- under Python 3.6, the device's interpreter ------------------------------------------------------

def test_serve_under_python36_without_engine_libraries(agent, tmp_path, tiny_onnx):
    exe = python36()
    if exe is None:
        pytest.skip("no Python 3.6 here (set EDGEBENCH_TEST_PYTHON36 to one)")
    raw_inputs(tmp_path, (3, 4, 4))
    a = agent(python=exe, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert a.call("hello")["python_version"].startswith("3.6.")
    reply = a.call("exec", argv=[exe, "-c", "print('hi')"], read={"f": "pool.bin"})
    assert reply["rc"] == 0 and reply["output_tail"] == "hi\n" and reply["files"]["f"] is not None
    # a bare 3.6 has no numpy: the engine is skipped, with the reason
    assert_failure(a.call("open", **open_fields("onnxruntime", (3, 4, 4), onnx=str(tiny_onnx[0]))), "skipped",
                   "numpy is not importable by %s on the device" % exe)
    assert a.finish() == (0, b"")
