"""`run --target` through a real sshd (tests/targets/conftest.py): the agent runs on the far side
of a real SSH connection under this machine's Python (torch and onnxruntime importable), times
real cells there, and the rows land in the store with the target named; a connection killed
mid-run becomes target_lost rows that `--resume` measures again; the dry run; the errors."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time

import pytest

from edgebench.config import ModelOptions, SuiteConfig, TimingConfig
from edgebench.results.record import Status
from edgebench.targets import registry
from tests.cli import FAST, run_cli
from tests.conftest import several_outputs_model
from tests.targets.test_remote import NANO_PROBE

TINY = TimingConfig(warmup_iters=1, warmup_s=0.0, min_iters=6, min_time_s=0.02, ci_pct=None)


def _add(sshd, name: str = "dev") -> None:
    registry.save_target(registry.Target(name=name, url=sshd.url, python=sys.executable, ssh_config=str(sshd.ssh_config)))


def test_a_suite_runs_on_the_target_and_its_rows_name_it(sshd, tmp_path):
    from edgebench.api import run_suite

    _add(sshd)
    cfg = SuiteConfig(models=["test_cnn"], backends=["pytorch", "onnxruntime", "tensorrt@fp16", "openvino"],
                      timing=TINY, out_dir=tmp_path / "out", cache_dir=tmp_path / "cache", repetitions=2, target="dev")
    result = run_suite(cfg)
    rows = {r.backend: r for r in result.records}
    eager, ort = rows["pytorch"], rows["onnxruntime"]
    assert eager.status == Status.OK and ort.status == Status.OK, (eager.error, ort.error)
    for rec in (eager, ort):
        assert rec.device == "cpu" and rec.device_name.startswith("dev: ")
        assert rec.latency.host.count >= TINY.min_iters and len(rec.latency.samples_ms) == rec.latency.host.count
        assert rec.details["target"]["target"] == "dev" and rec.cold_start.load_s is not None
    # the baseline ran on the device's torch and is compared with the host's PyTorch FP32 too
    assert eager.accuracy.max_abs_diff is not None and eager.accuracy.max_abs_diff < 1e-5 and eager.accuracy.gate == ""
    assert ort.accuracy.gate == "passed" and ort.details["opset"] == 13  # no TensorRT there: the conservative opset
    assert rows["tensorrt"].status == Status.SKIPPED and "no trtexec on target dev" in rows["tensorrt"].error
    assert rows["openvino"].status == Status.SKIPPED and "does not run on a target" in rows["openvino"].error
    env = result.table.run.env
    assert env["target"] == "dev" and env["python"] == "%d.%d.%d" % sys.version_info[:3]
    assert "- Target: measured on target **dev**" in result.outputs["table1.md"].read_text()
    assert registry.get_target("dev").probe["python_executable"] == sys.executable  # the run's probe is kept

    # a second run copies nothing: every file is on the device already, found by its content hash
    files = sorted(p.stat().st_mtime_ns for p in (sshd.home / ".cache/edgebench/files").rglob("*") if p.is_file())
    again = run_suite(cfg)
    assert [r.status for r in again.records[:2]] == [Status.OK, Status.OK]
    assert sorted(p.stat().st_mtime_ns for p in (sshd.home / ".cache/edgebench/files").rglob("*") if p.is_file()) == files


def _rows(db) -> list[tuple]:
    with sqlite3.connect(db) as con:
        return con.execute("SELECT run_id, model, backend, status, error, details FROM records ORDER BY rowid").fetchall()


def test_a_lost_connection_is_target_lost_and_resume_measures_only_those_cells(sshd, tmp_path):
    _add(sshd)
    out, cache = tmp_path / "out", tmp_path / "cache"
    args = ["run", "--target", "dev", "--models", "test_cnn,test_cnn3d", "--backends", "pytorch,onnxruntime",
            "--out", str(out), "--cache-dir", str(cache), "--no-progress", "--repetitions", "2",
            "--warmup-iters", "1", "--warmup-s", "0", "--min-iters", "5", "--min-time-s", "1.5", "--ci", "off"]
    proc = subprocess.Popen([sys.executable, "-m", "edgebench", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    lines = []
    for line in proc.stderr:  # one line per finished cell
        lines.append(line)
        if line.startswith("[2/4]"):
            break
    time.sleep(2.5)  # into the second model's cells
    sshd.stop()
    stdout, rest = proc.communicate(timeout=300)
    assert proc.returncode == 0, "".join(lines) + rest
    first = _rows(out / "edgebench.sqlite")
    status = {(m, b): s for _, m, b, s, _, _ in first}
    assert status[("test_cnn", "pytorch")] == "ok" and status[("test_cnn", "onnxruntime")] == "ok"
    lost = [k for k, s in status.items() if s == "target_lost"]
    assert ("test_cnn3d", "pytorch") in lost and len(lost) >= 2, status
    errors = [e for _, m, b, s, e, _ in first if s == "target_lost"]
    assert all("dev" in e for e in errors), errors

    sshd.start()
    out2 = run_cli(*args, "--resume")
    assert out2.returncode == 0, out2.stderr
    rows = _rows(out / "edgebench.sqlite")[len(first):]
    assert {(m, b) for _, m, b, s, _, _ in rows if s == "ok"} == set(status)
    resumed = {(m, b) for _, m, b, _, _, d in rows if "resumed_from" in json.loads(d)}
    assert resumed == {k for k, s in status.items() if s == "ok"}  # only the lost cells were measured again


def test_dry_run_prints_the_device_commands_and_connects_to_nothing():
    registry.save_target(registry.Target(name="nano", url="ssh://me@jetson.invalid", probe=NANO_PROBE,
                                         probed_at="2026-11-27T00:00:00+00:00"))
    out = run_cli("run", "--target", "nano", "--dry-run", "--models", "resnet50,c3d", "--backends", "pytorch,tensorrt@fp16")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "nothing is run" in text.splitlines()[0]
    assert "agent.py probe" in text and "agent.py serve" in text and '"op": "open"' in text
    build = [line for line in text.splitlines() if "--saveEngine" in line]
    assert len(build) == 2 and all("--fp16" in b and "--workspace=1024" in b and "--buildOnly" in b for b in build)
    assert "--shapes=input:1x3x8x64x64" in text and "--shapes=input:1x3x224x224" in text
    assert "--exportTimes=" in text and "--loadInputs=input:" in text and "--exportProfile=" in text
    assert "--exportLayerInfo" not in text  # TensorRT 8.2's trtexec does not take it
    assert "tegrastats --interval 100" in text  # the probe found tegrastats: energy is sampled


@pytest.mark.parametrize("args, needle", [
    (["--dry-run"], "--dry-run shows the commands a run would send to a device; pass --target NAME"),
    (["--target", "nowhere"], "nowhere"),
    (["--target", "nano", "--precision", "auto"], "--precision auto is not offered with --target"),
])
def test_bad_target_arguments_are_one_line_exit_2(args, needle, tmp_path):
    registry.save_target(registry.Target(name="nano", url="ssh://me@jetson.invalid", probe=NANO_PROBE))
    out = run_cli("run", "--models", "test_cnn", "--out", str(tmp_path), *args, *FAST)
    assert out.returncode == 2 and needle in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_an_unreachable_target_is_one_line_exit_3_and_stores_nothing(tmp_path):
    from tests.targets.conftest import free_port

    registry.save_target(registry.Target(name="gone", url=f"ssh://127.0.0.1:{free_port()}"))
    out = run_cli("run", "--target", "gone", "--models", "test_cnn", "--out", str(tmp_path / "out"), *FAST)
    assert out.returncode == 3, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "cannot connect" in out.stderr
    assert not (tmp_path / "out" / "edgebench.sqlite").exists()


def test_a_bad_backend_spec_with_a_target_is_refused_before_a_run_begins(sshd, tmp_path):
    _add(sshd)
    out = tmp_path / "out"
    proc = run_cli("run", "--target", "dev", "--models", "test_cnn", "--backends", "pytorch,onnxruntime:thread=1",
                   "--out", str(out), *FAST)
    assert proc.returncode == 2 and "thread" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (out / "edgebench.sqlite").exists()


def test_a_lost_target_records_the_remaining_cells_at_once(sshd, tmp_path, monkeypatch):
    """The target goes away after the first model: once a cell finds it gone, the later models'
    cells are target_lost without being built (one reconnect try each), and no reference is
    computed for a cell that produced no outputs."""
    from edgebench.bench import cell as cell_module
    from edgebench.api import run_suite

    _add(sshd)
    built, references = [], []
    real_init, real_reference = cell_module.ModelCell.__init__, cell_module.ModelCell.reference_outputs
    monkeypatch.setattr(cell_module.ModelCell, "__init__",
                        lambda self, name, *a, **kw: (built.append(name), real_init(self, name, *a, **kw))[1])
    monkeypatch.setattr(cell_module.ModelCell, "reference_outputs",
                        lambda self: (references.append(self.name), real_reference(self))[1])
    cfg = SuiteConfig(models=["test_cnn", "test_mlp", "test_cnn3d"], backends=["pytorch", "onnxruntime"],
                      timing=TINY, out_dir=tmp_path / "out", cache_dir=tmp_path / "cache", repetitions=1, target="dev",
                      model_options=ModelOptions(check_size=8))
    seen = []

    def stop_after_first_model(rec):
        seen.append(rec)
        if len(seen) == 2:
            sshd.stop()

    try:
        result = run_suite(cfg, on_record=stop_after_first_model)
    finally:
        sshd.start()
    status = [(r.model, r.status) for r in result.records]
    assert status[:2] == [("test_cnn", Status.OK)] * 2, status
    assert [s for _, s in status[2:]] == [Status.TARGET_LOST] * 4, status
    # the second model is built before its first cell finds the target gone; the third is not
    assert built == ["test_cnn", "test_mlp"] and set(references) == {"test_cnn"}
    assert all("dev" in r.error for r in result.records[2:])


def test_a_model_of_several_outputs_runs_on_the_target_output_by_output(sshd, tmp_path):
    """The agent returns every output (it returned the first one only), in the host's order, so the
    gate compares each with the host's PyTorch FP32."""
    from edgebench.api import run_suite

    _add(sshd)
    model = several_outputs_model(tmp_path, "{'cls': f[:, :2], 'aux': (f, f.sum(dim=1))}")
    cfg = SuiteConfig(models=[model], backends=["pytorch", "onnxruntime"], timing=TINY, out_dir=tmp_path / "out",
                      cache_dir=tmp_path / "cache", target="dev")
    eager, ort = run_suite(cfg).records
    assert eager.status == Status.OK and ort.status == Status.OK, (eager.error, ort.error)
    for rec in (eager, ort):
        assert [o["name"] for o in rec.details["output_parity"]] == ["cls", "aux.0", "aux.1"]
        assert rec.accuracy.max_abs_diff < 1e-4
    assert ort.accuracy.gate == "passed"
