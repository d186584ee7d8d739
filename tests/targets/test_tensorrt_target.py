"""The tensorrt backend on a remote target, end to end through the real sshd and the real agent,
with tests/targets/standin_trtexec.py in the place of trtexec.

THE STAND-IN RUNS ONNX RUNTIME, NOT TENSORRT. These tests show that edgebench drives trtexec as
it should (the argv of each of its four uses, per TensorRT release; the files it reads back; the
record it makes of them; the engine cache on the device; each kind of failure) and nothing about
TensorRT itself. The stand-in is put on the device's side (a folder in the sshd fixture's remote
home) and the run's hold names it as the target's trtexec, with a TensorRT version, on top of
what the agent's real probe found there (which has neither here).
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from edgebench.api import run_suite
from edgebench.config import ModelOptions, SuiteConfig, TimingConfig
from edgebench.models import get_spec
from edgebench.results.record import Status
from edgebench.targets import registry, session
from edgebench.targets.registry import Target
from edgebench.targets.remote import TargetHold
from tests.conftest import several_outputs_model

STANDIN = Path(__file__).with_name("standin_trtexec.py")
FAST = TimingConfig(warmup_iters=1, warmup_s=0.0, min_iters=5, min_time_s=0.05, ci_pct=None)
#: 20 check items: two trtexec parity runs of 16, the second padded (the default 256 would be 16 runs)
CHECK = ModelOptions(check_size=20)
TARGET = "standin-device"
ENGINES = ".cache/edgebench/engines"
RUNS = ".cache/edgebench/runs"  # a cell's work folder on the device
ITEM = "x".join(str(d) for d in get_spec("test_cnn").input_shape)  # one sample, trtexec's spelling

_PROBES: dict[str, dict] = {}  # the agent's real probe of the sshd fixture's side, once per server


class StandinDevice:
    """The stand-in trtexec on the device's side: a folder in the remote home with the script and
    a `trtexec` launcher that sets the stand-in's knobs (the remote side gets sshd's environment,
    not the test's, so they travel in the launcher), and the log of every argv it was given."""

    def __init__(self, sshd):
        self.sshd = sshd
        self.folder = sshd.home / "standin" / uuid.uuid4().hex[:8]
        self.folder.mkdir(parents=True)
        shutil.copy(STANDIN, self.folder / STANDIN.name)
        self.tool = self.folder / "trtexec"
        self.log = self.folder / "argv.jsonl"
        self.version = "8.2.1-1+cuda10.2"  # as the probe gives it where only dpkg knows TensorRT (libnvinfer8)
        self.set()

    def set(self, version: str | None = None, fail: str = "") -> None:
        """Emulate TensorRT `version`; `fail` is STANDIN_TRTEXEC_FAIL (see the stand-in)."""
        self.version = version or self.version
        knobs = {"STANDIN_TRTEXEC_VERSION": self.version, "STANDIN_TRTEXEC_FAIL": fail,
                 "STANDIN_TRTEXEC_LOG": str(self.log), "STANDIN_TRTEXEC_DEFAULT_DURATION": "0"}
        self.tool.write_text("#!/bin/sh\n" + " ".join(f"{k}={shlex.quote(v)}" for k, v in knobs.items())
                             + f" exec {shlex.join([sys.executable, str(self.folder / STANDIN.name)])} \"$@\"\n")
        self.tool.chmod(0o755)

    def calls(self) -> list[list[str]]:
        """Every argv the stand-in was given, in order (the flags only, not the program)."""
        if not self.log.exists():
            return []
        return [json.loads(line)["argv"] for line in self.log.read_text().splitlines()]

    def engines(self) -> list[Path]:
        return sorted((self.sshd.home / ENGINES).glob("*.engine"))

    def open_hold(self, name: str, device: str = "auto", cache_dir=None) -> TargetHold:
        """TargetHold.open with the stand-in as the target's trtexec: the agent deployed and the
        device probed as a run does, then the probe told of the stand-in and its version."""
        target = registry.get_target(name)
        conn = target.connection()
        agent_path = session.deploy_agent(conn)
        if self.sshd.url not in _PROBES:
            _PROBES[self.sshd.url] = session.probe(conn, target.python, agent_path)
        probe = {**_PROBES[self.sshd.url], "trtexec": str(self.tool), "tensorrt_version": self.version,
                 "tensorrt_source": "test stand-in (ONNX Runtime, not TensorRT)"}
        return TargetHold(target, conn, agent_path, probe, device, cache_dir)


def _flags(argv: list[str]) -> dict[str, str]:
    return dict(a.partition("=")[::2] for a in argv)


def _kind(argv: list[str]) -> str:
    flags = _flags(argv)
    return ("build" if "--onnx" in flags else "profile" if "--exportProfile" in flags else
            "parity" if "--loadInputs" in flags else "timing" if "--exportTimes" in flags else "other")


@pytest.fixture
def device(sshd, monkeypatch):
    registry.save_target(Target(name=TARGET, url=sshd.url, python=sys.executable, ssh_config=str(sshd.ssh_config)))
    for folder in (ENGINES, RUNS):  # the remote home lives as long as the sshd
        shutil.rmtree(sshd.home / folder, ignore_errors=True)
    dev = StandinDevice(sshd)
    monkeypatch.setattr(TargetHold, "open", classmethod(lambda cls, *a, **kw: dev.open_hold(*a, **kw)))
    yield dev
    shutil.rmtree(dev.folder, ignore_errors=True)
    for folder in (ENGINES, RUNS):
        shutil.rmtree(sshd.home / folder, ignore_errors=True)


def _run(tmp_path, backends, timing=FAST, **kw):
    cfg = SuiteConfig(models=["test_cnn"], backends=backends, target=TARGET, timing=timing, repetitions=2, pool_size=2,
                      model_options=CHECK,
                      out_dir=tmp_path / "out", cache_dir=tmp_path / "cache", **kw)
    return {r.backend: r for r in run_suite(cfg).records}


def _ok(rec):
    assert rec.status == Status.OK, (rec.backend, rec.status, rec.error)
    return rec


def test_standin_refuses_flags_its_release_does_not_know(tmp_path):
    """The stand-in itself: trtexec stops at an unknown flag, and so does it (per emulated release)."""
    import subprocess

    def run(version, *argv):
        env = {**os.environ, "STANDIN_TRTEXEC_VERSION": version}
        return subprocess.run([sys.executable, str(STANDIN), *argv], env=env, capture_output=True, text=True,
                              timeout=60, cwd=tmp_path)

    for version, flag in (("8.2.1", "--memPoolSize=workspace:64"), ("8.2.1", "--skipInference"),
                          ("8.2.1", "--exportLayerInfo=l.json"), ("10.3.0", "--workspace=64"), ("8.6.1", "--bogus")):
        out = run(version, "--onnx=m.onnx", "--saveEngine=e.engine", flag)
        assert out.returncode == 1 and "unknown flag" in out.stdout and flag.partition("=")[0] in out.stdout
        assert "ONNX Runtime, not TensorRT" in out.stdout
    (tmp_path / "junk.engine").write_bytes(b"\x00not an engine")
    out = run("8.2.1", "--loadEngine=junk.engine", f"--shapes=input:1x{ITEM}", "--exportTimes=t.json")
    assert out.returncode == 1 and "Engine deserialization failed" in out.stdout


def test_tensorrt_82_cell_builds_times_profiles_then_reuses_the_engine(device, tmp_path):
    """TensorRT 8.2 (JetPack 4.6, its version as dpkg spells it): --workspace and --buildOnly at
    build, no --exportLayerInfo, whole seconds for --duration; the
    row is ok with trtexec's split, a layer profile and the accuracy gate passed against host
    PyTorch; a second run finds the engine on the device and does not build it again."""
    recs = _run(tmp_path, ["onnxruntime", "tensorrt"])
    _ok(recs["onnxruntime"])
    rec = _ok(recs["tensorrt"])
    assert rec.details["target"]["target"] == TARGET and rec.details["target"]["tensorrt"] == "8.2.1-1+cuda10.2"
    assert rec.latency.host.p50_ms > 0 and rec.latency.device.p50_ms > 0
    assert rec.latency.device.p50_ms <= rec.latency.host.p50_ms  # compute is a part of H2D + compute + D2H
    assert len(rec.latency.samples_ms) >= FAST.min_iters
    split = rec.details["trtexec_p50_ms"]
    assert {"enqueue", "h2d", "compute", "d2h", "end_to_end"} <= set(split) and all(v >= 0 for v in split.values())
    assert rec.details["trace_format"] == "v8"
    profile = rec.details["layer_profile"]
    assert profile["queries"] >= 1 and profile["layers"]
    assert abs(sum(row["percentage"] for row in profile["layers"]) - 100) < 0.1
    assert all(row["median_ms"] is None for row in profile["layers"])  # no medianMs before 8.6
    assert rec.details["engine"] == "built" and rec.cold_start.build_s > 0 and rec.cold_start.load_s > 0
    assert rec.accuracy.gate == "passed", rec.accuracy.gate_reason
    assert rec.accuracy.max_abs_diff < 1e-4 and rec.accuracy.top1_agreement == 1.0
    assert rec.artifact.sha256 and rec.details["opset"] == 13  # TensorRT 8.2 parses opset 13

    calls = device.calls()
    kinds = [_kind(a) for a in calls]
    assert kinds[0] == "build" and kinds.count("build") == 1 and kinds[-1] == "profile"
    assert kinds.count("timing") == 2 and kinds.count("parity") == 2  # a timing run a round; 20 items, 16 a run
    build = _flags(calls[0])
    assert build["--workspace"] == "1024" and "--buildOnly" in build and "--memPoolSize" not in build
    assert "--skipInference" not in build and build["--profilingVerbosity"] == "detailed"
    assert build["--minShapes"] == f"input:1x{ITEM}" and build["--optShapes"] == f"input:1x{ITEM}"
    assert build["--maxShapes"] == f"input:16x{ITEM}"  # the parity runs' batch
    assert build["--onnx"].startswith(".cache/edgebench/files/") and build["--saveEngine"].startswith(ENGINES)
    for argv in calls:
        flags = _flags(argv)
        if _kind(argv) == "parity":
            assert flags["--shapes"] == f"input:16x{ITEM}" and flags["--loadInputs"].startswith("input:.cache/")
            assert flags["--iterations"] == "1" and flags["--warmUp"] == "0" and flags["--duration"] == "0"
        if _kind(argv) == "timing":
            assert flags["--shapes"] == f"input:1x{ITEM}" and flags["--warmUp"] == "0"
            # trtexec before 8.5 reads --duration with std::stoi: whole seconds, rounded up
            assert flags["--duration"] == "1" and int(flags["--iterations"]) >= 3
        if _kind(argv) == "profile":
            assert "--exportLayerInfo" not in flags and "--exportProfile" in flags
    engines = device.engines()
    assert len(engines) == 1 and json.loads(engines[0].read_text())["precision"] == "fp32"
    built_at = engines[0].stat().st_mtime_ns

    # no minimum time this once: trtexec 8.2's whole second a round makes a trace of ~10^4 queries of
    # this tiny model, slow to read and summarise, and the flags were checked above
    again = _run(tmp_path, ["onnxruntime", "tensorrt"], timing=replace(FAST, min_time_s=0.0))
    rec2 = _ok(again["tensorrt"])
    assert rec2.details["engine"] == "cached on the device" and rec2.cold_start.build_s == 0.0
    assert rec2.accuracy.gate == "passed" and rec2.run_id != rec.run_id
    assert [_kind(a) for a in device.calls()[len(calls):]].count("build") == 0
    assert device.engines() == engines and engines[0].stat().st_mtime_ns == built_at
    assert not list((device.sshd.home / RUNS).glob("*"))  # each cell's work folder removed


def test_tensorrt_86_flags_and_a_cached_engine_that_does_not_load(device, tmp_path):
    """TensorRT 8.6: --memPoolSize and --skipInference at build, --exportLayerInfo in the profiling
    run, medianMs in the profile; an engine file on the device that does not load is built again,
    once, and the row says so."""
    device.set("8.6.1")
    rec = _ok(_run(tmp_path, ["onnxruntime", "tensorrt"])["tensorrt"])
    assert rec.details["engine"] == "built" and rec.details["opset"] == 17
    assert rec.accuracy.gate == "passed"
    assert all(row["median_ms"] is not None for row in rec.details["layer_profile"]["layers"])
    layers = rec.details["engine_layers"]  # --exportLayerInfo, read back and recorded
    assert layers and all(layer["name"] and layer["type"] for layer in layers)
    calls = device.calls()
    build = _flags(calls[0])
    assert _kind(calls[0]) == "build" and build["--memPoolSize"] == "workspace:1024"
    assert "--skipInference" in build and "--workspace" not in build and "--buildOnly" not in build
    profile = _flags(calls[-1])
    assert _kind(calls[-1]) == "profile" and profile["--profilingVerbosity"] == "detailed"
    assert profile["--exportLayerInfo"].endswith("/layers.json")

    (engine,) = device.engines()
    engine.write_bytes(b"\x7fELF garbage, as an engine another TensorRT wrote would be to this one")
    seen = len(calls)
    rec2 = _ok(_run(tmp_path, ["onnxruntime", "tensorrt"])["tensorrt"])
    assert rec2.details["engine"] == "rebuilt: the cached engine did not load"
    assert rec2.accuracy.gate == "passed" and rec2.cold_start.build_s > 0
    kinds = [_kind(a) for a in device.calls()[seen:]]
    assert kinds[:3] == ["parity", "build", "parity"] and kinds.count("build") == 1
    assert json.loads(engine.read_text())["emulated_tensorrt"] == "8.6"  # the garbage replaced


def test_a_failed_build_is_a_build_failed_row_and_the_other_cells_stay_ok(device, tmp_path):
    device.set(fail="build")
    recs = _run(tmp_path, ["pytorch", "onnxruntime", "tensorrt"])
    _ok(recs["pytorch"])
    assert _ok(recs["onnxruntime"]).accuracy.gate == "passed"
    rec = recs["tensorrt"]
    assert rec.status == Status.BUILD_FAILED
    assert rec.error.startswith("trtexec engine build failed (exit 1): ")
    assert "Building engine failed" in rec.error and "Engine set up failed" in rec.error  # trtexec's last lines
    assert rec.latency.host is None and not device.engines()


@pytest.mark.parametrize("fail", ["oom", "oom-trt", "killed"])
def test_out_of_memory_in_the_build_is_an_oom_row(device, tmp_path, fail):
    """CUDA's "out of memory", TensorRT's "OutOfMemory" and the kernel's OOM killer (SIGKILL)."""
    device.set(fail=fail)
    rec = _run(tmp_path, ["tensorrt"])["tensorrt"]
    assert rec.status == Status.OOM, (rec.status, rec.error)
    assert rec.error.startswith("trtexec engine build failed (exit ")


def test_a_failed_profiling_run_costs_only_the_layer_profile(device, tmp_path):
    device.set("8.6.1", fail="profile")
    rec = _ok(_run(tmp_path, ["tensorrt"])["tensorrt"])
    assert "layer_profile" not in rec.details and rec.latency.host is not None
    assert any(w.startswith("no per-layer profile: trtexec profiling run failed (exit 1)") for w in rec.warnings)


def test_every_round_is_equally_warm_and_onnxruntime_int8_runs_on_a_target(device, tmp_path):
    """Each trtexec timing round is a fresh process, so each gets the cell's full warm-up (the
    agent's arms keep their process and stay warm); onnxruntime@int8 runs the host's QDQ model."""
    warm = replace(FAST, warmup_s=0.05)
    recs = _run(tmp_path, ["pytorch", "onnxruntime@int8", "tensorrt"], timing=warm)
    _ok(recs["tensorrt"])
    int8 = _ok(recs["onnxruntime"])
    assert int8.precision == "int8" and int8.accuracy.gate in ("passed", "failed") and int8.artifact.sha256
    timing = [_flags(a) for a in device.calls() if _kind(a) == "timing"]
    assert len(timing) == 2 and [f["--warmUp"] for f in timing] == ["50", "50"]


def test_trtexec_outputs_of_a_model_of_several_outputs_map_back_by_name(device, tmp_path):
    """--exportOutput names each output; they are read back in the ONNX file's order
    (models.outputs), not the first one alone, and the gate compares every one."""
    model = several_outputs_model(tmp_path, "{'scores': f.sum(dim=1), 'cls': f[:, :2]}")
    cfg = SuiteConfig(models=[model], backends=["pytorch", "tensorrt"], target=TARGET, timing=FAST,
                      pool_size=2, model_options=CHECK, out_dir=tmp_path / "out", cache_dir=tmp_path / "cache")
    recs = {r.backend: r for r in run_suite(cfg).records}
    rec = _ok(recs["tensorrt"])
    assert [o["name"] for o in rec.details["output_parity"]] == ["scores", "cls"]
    assert rec.accuracy.gate == "passed" and rec.accuracy.max_abs_diff < 1e-4
