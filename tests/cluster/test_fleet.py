"""The fleet on a real Ray cluster made here: a head offering device dev-a and a second node
offering dev-b, both on 127.0.0.1 with one CPU each. Tiny models spread across both devices into
one store; the second node killed mid-run gives node_lost rows; --resume, once a node offers
dev-b again, measures only those."""
from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import several_inputs_model, signal_after_line

pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")  # ships with ray

pytestmark = pytest.mark.cluster

SRC = Path(__file__).resolve().parents[2] / "src"
#: cells in the node's task process (--no-isolate): isolation has its own tests (tests/bench/test_isolation.py),
#: and a spawned worker per cell would triple these tests' time
TINY = ["--models", "test_cnn,test_mlp", "--backends", "pytorch,onnxruntime", "--warmup-iters", "1", "--warmup-s", "0",
        "--min-iters", "3", "--min-time-s", "0", "--ci", "off", "--repetitions", "1", "--pool-size", "2", "--check-size", "8",
        "--no-isolate"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A head (dev-a) and a second node (dev-b) started with `ray start`, in a temporary folder of
    their own, so that stopping them touches no other Ray on the machine."""

    def __init__(self):
        # a short folder: Ray's socket paths must fit in 107 bytes
        self.tmp = Path(tempfile.mkdtemp(prefix="ebray", dir="/tmp"))
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.env = {**os.environ, "RAY_TMPDIR": str(self.tmp), "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
                    "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
                    # a lost node is declared dead after ~1.5 s rather than Ray's default ~15 s
                    "RAY_health_check_period_ms": "500", "RAY_health_check_timeout_ms": "500",
                    "RAY_health_check_failure_threshold": "3", "RAY_health_check_initial_delay_ms": "0",
                    "RAY_USAGE_STATS_ENABLED": "0",
                    # the nodes' artifact cache in this folder too: the module-scoped cluster starts
                    # before the per-test fixture points EDGEBENCH_CACHE at pytest's folder
                    "EDGEBENCH_CACHE": str(self.tmp / "cache")}
        self.ray = str(Path(sys.executable).with_name("ray"))
        if not Path(self.ray).exists():
            self.ray = shutil.which("ray") or "ray"

    def start_head(self) -> None:
        self._ray_start("--head", "--port", str(self.port), "--include-dashboard=false", "--temp-dir", str(self.tmp),
                        "--resources", json.dumps({"edgebench:dev-a": 1}))

    def start_second(self) -> None:
        self._ray_start("--address", self.address, "--resources", json.dumps({"edgebench:dev-b": 1}))

    def _ray_start(self, *args: str) -> None:
        proc = subprocess.run([self.ray, "start", "--num-cpus", "1", "--disable-usage-stats", *args],
                              env=self.env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr

    def _ours(self) -> list:
        """This cluster's processes: those naming its folder (GCS, raylets, monitors) and theirs."""
        found = {}
        for p in psutil.process_iter(["cmdline"]):
            if str(self.tmp) in " ".join(p.info["cmdline"] or []):
                for q in [p, *p.children(recursive=True)]:
                    found[q.pid] = q
        return list(found.values())

    def kill_second(self) -> None:
        """SIGKILL the raylet offering dev-b and everything under it (its workers, their cells)."""
        for p in self._ours():
            try:
                if "edgebench:dev-b" in " ".join(p.cmdline()) and "raylet" in p.name():
                    for q in [*p.children(recursive=True), p]:
                        q.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass

    def stop(self) -> None:
        for p in self._ours():
            try:
                p.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster():
    c = Cluster()
    try:
        c.start_head()
        c.start_second()
        yield c
    finally:
        c.stop()


def edgebench(cluster: Cluster, *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgebench", *args], env=cluster.env, capture_output=True,
                          text=True, timeout=300, **kw)


def rows(db: Path) -> list[dict]:
    """(device, model, backend, status, resumed_from) of every stored row, through the runs table."""
    conn = sqlite3.connect(db)
    out = []
    for run_id, config, details, model, backend, status in conn.execute(
            "SELECT r.run_id, u.config, r.details, r.model, r.backend, r.status FROM records r "
            "JOIN runs u ON u.run_id = r.run_id ORDER BY r.id"):
        out.append({"run": run_id, "device": json.loads(config)["fleet_device"], "model": model, "backend": backend,
                    "status": status, "resumed_from": json.loads(details).get("resumed_from"),
                    "fleet_device": json.loads(details).get("fleet_device")})
    conn.close()
    return out


def test_fleet_lists_both_devices(cluster):
    out = edgebench(cluster, "fleet", "--cluster", cluster.address)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split()[:3] == ["device", "node", "alive"]
    for device in ("dev-a", "dev-b"):
        line = next(line for line in lines if line.startswith(device))
        assert " yes " in line and platform.python_version() in line  # alive, with its facts
    import ray

    assert ray.__version__ in out.stdout


def test_errors_are_one_line(cluster, tmp_path):
    unknown = edgebench(cluster, "run", "--cluster", cluster.address, "--devices", "dev-a,dev-x", *TINY,
                        "--out", str(tmp_path))
    assert unknown.returncode == 2
    assert "dev-x" in unknown.stderr and "dev-a, dev-b" in unknown.stderr and "Traceback" not in unknown.stderr
    unreachable = edgebench(cluster, "fleet", "--cluster", f"127.0.0.1:{_free_port()}")
    assert unreachable.returncode == 3 and unreachable.stderr.count("\n") == 1, unreachable.stderr
    assert not (tmp_path / "edgebench.sqlite").exists()


def test_run_spreads_models_across_devices_into_one_store(cluster, tmp_path):
    out = edgebench(cluster, "run", "--cluster", cluster.address, "--devices", "dev-a,dev-b", *TINY,
                    "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    stored = rows(tmp_path / "edgebench.sqlite")
    assert len(stored) == 8 and {r["status"] for r in stored} == {"ok"}
    for device in ("dev-a", "dev-b"):
        mine = [r for r in stored if r["device"] == device]
        assert {(r["model"], r["backend"]) for r in mine} == {(m, b) for m in ("test_cnn", "test_mlp")
                                                              for b in ("pytorch", "onnxruntime")}
        assert {r["fleet_device"] for r in mine} == {device} and len({r["run"] for r in mine}) == 1
        assert (tmp_path / device / "table1.md").is_file() and (tmp_path / device / "figure4_speedup.png").is_file()
        assert f"{device}: 4/4 cells done, 0 running, 0 left" in out.stderr
        assert f"== {device}" in out.stdout


def test_a_model_of_several_inputs_and_outputs_runs_on_a_device(cluster, tmp_path):
    """A user's model file of two named inputs and a dict of two outputs, on a node's task: each
    output compared, in the device's store and Table 1."""
    model = several_inputs_model(tmp_path)
    out = edgebench(cluster, "run", "--cluster", cluster.address, "--devices", "dev-b", *TINY[2:], "--models", model,
                    "--out", str(tmp_path / "out"))
    assert out.returncode == 0, out.stderr
    conn = sqlite3.connect(tmp_path / "out" / "edgebench.sqlite")
    stored = conn.execute("SELECT r.backend, r.status, r.details FROM records r ORDER BY r.id").fetchall()
    conn.close()
    assert [row[:2] for row in stored] == [("pytorch", "ok"), ("onnxruntime", "ok")]
    assert [o["name"] for o in json.loads(stored[1][2])["output_parity"]] == ["cls", "embedding"]
    assert "image 3x12x12, extra 5" in (tmp_path / "out" / "dev-b" / "table1.md").read_text()


def test_scenario_cells_run_on_each_device(cluster, tmp_path):
    """`run --cluster --scenario`: each device runs the model's LoadGen cells through its own suite."""
    out = edgebench(cluster, "run", "--cluster", cluster.address, "--devices", "dev-a,dev-b", "--models", "test_mlp",
                    "--backends", "pytorch", "--scenario", "single-stream,offline", "--scenario-duration", "0.2",
                    "--check-size", "4", "--pool-size", "2", "--no-isolate", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    conn = sqlite3.connect(tmp_path / "edgebench.sqlite")
    stored = conn.execute("SELECT u.config, r.status, r.loadgen_scenario, r.loadgen_result FROM records r "
                          "JOIN runs u ON u.run_id = r.run_id ORDER BY r.id").fetchall()
    conn.close()
    by_device = {}
    for config, status, scenario, result in stored:
        by_device.setdefault(json.loads(config)["fleet_device"], []).append((status, scenario, result))
    for device in ("dev-a", "dev-b"):
        assert [row[:2] for row in by_device[device]] == [("ok", "single-stream"), ("ok", "offline")]
        assert by_device[device][0][2] == "VALID"
        assert f"{device}: 2/2 cells done" in out.stderr
        assert "MLPerf LoadGen SingleStream" in (tmp_path / device / "table1.md").read_text()


def test_each_scenario_is_a_cell_of_a_fleet_task():
    """A task's cells, as a lost node's rows name them: backend x scenario (config.model_cells, the
    one count the suite, the CLI and the fleet share)."""
    from edgebench.config import LoadGenConfig, SuiteConfig, model_cells

    cfg = SuiteConfig(models=["test_mlp"], backends=["pytorch", "onnxruntime@fp16"],
                      loadgen=LoadGenConfig(scenarios=("server", "offline")))
    assert model_cells(cfg) == [("pytorch", "fp32", "server"), ("pytorch", "fp32", "offline"),
                                ("onnxruntime", "fp16", "server"), ("onnxruntime", "fp16", "offline")]
    assert model_cells(SuiteConfig(models=["test_mlp"], backends=["pytorch"])) == [("pytorch", "fp32", "")]
    assert len(model_cells(SuiteConfig(models=["test_mlp"], target="nano"))) == 2  # its pair, before the probe


def test_a_lost_node_gives_node_lost_rows_and_resume_measures_only_those(cluster, tmp_path):
    # each cell timed for 1 s, so dev-b's second model is surely still running when its node is
    # killed (with no minimum time it could finish first on a quiet machine)
    cmd = [sys.executable, "-m", "edgebench", "run", "--cluster", cluster.address, "--devices", "dev-a,dev-b", *TINY,
           "--min-time-s", "1", "--out", str(tmp_path)]
    proc = subprocess.Popen(cmd, env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = []
    try:
        for line in proc.stderr:  # kill dev-b's node once its first model is stored, its second under way
            seen.append(line)
            if line.startswith("dev-b: 2/4 cells done"):
                cluster.kill_second()
                break
        rest, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, "".join(seen) + err
    stored = rows(tmp_path / "edgebench.sqlite")
    dev_b = [r for r in stored if r["device"] == "dev-b"]
    ok_models = {r["model"] for r in dev_b if r["status"] == "ok"}
    lost_models = {r["model"] for r in dev_b if r["status"] == "node_lost"}
    assert len(ok_models) == 1 and len(lost_models) == 1 and ok_models | lost_models == {"test_cnn", "test_mlp"}, dev_b
    assert len(dev_b) == 4
    assert [r["status"] for r in stored if r["device"] == "dev-a"] == ["ok"] * 4
    assert "dev-b: 4/4 cells done, 0 running, 0 left" in err

    # without dev-b, --resume refuses (exit 2) and names what is offered; with a node for it again,
    # only the lost cells are measured
    refused = edgebench(cluster, *cmd[3:], "--resume")
    assert refused.returncode == 2 and "dev-b" in refused.stderr
    cluster.start_second()
    again = edgebench(cluster, *cmd[3:], "--resume")
    assert again.returncode == 0, again.stderr
    new = [r for r in rows(tmp_path / "edgebench.sqlite")[len(stored):]]
    assert len(new) == 8 and {r["status"] for r in new} == {"ok"}
    fresh = {(r["device"], r["model"]) for r in new if r["resumed_from"] is None}
    assert fresh == {("dev-b", m) for m in lost_models}


def test_ctrl_c_on_the_host_keeps_every_stored_row(cluster, tmp_path):
    # each cell timed for 3 s, so that the second model is still running seconds after the first is stored
    slow = [a if a != "0" or TINY[i - 1] != "--min-time-s" else "3" for i, a in enumerate(TINY)]
    cmd = [sys.executable, "-m", "edgebench", "run", "--cluster", cluster.address, "--devices", "dev-a", *slow,
           "--out", str(tmp_path)]
    code, err = signal_after_line(cmd, cluster.env, "dev-a: 2/4 cells done", signal.SIGINT)
    assert code == 130, err
    assert "every completed row is kept" in err
    stored = rows(tmp_path / "edgebench.sqlite")
    assert len(stored) >= 2 and {r["status"] for r in stored} == {"ok"}
    conn = sqlite3.connect(tmp_path / "edgebench.sqlite")
    assert [s for (s,) in conn.execute("SELECT status FROM runs")] == ["interrupted"]
    conn.close()
    assert (tmp_path / "dev-a" / "table1.md").is_file()
