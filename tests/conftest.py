"""Shared fixtures: an isolated artifact cache, RNG state restored, hardware markers that
skip themselves where the hardware or library is absent."""
from __future__ import annotations

import random
from importlib.util import find_spec

import pytest

FAST_TIMING = dict(warmup_iters=1, warmup_s=0.0, min_iters=3, min_time_s=0.0, ci_pct=None)


def small_suite(tmp_path, models: list[str], backends: list[str], **model_options) -> list:
    """The records of a quick in-process suite on the CPU (FAST_TIMING, two timing batches, no
    isolation), its cache and output under `tmp_path`; `model_options`: ModelOptions' fields."""
    from edgebench.bench.suite import run_suite
    from edgebench.config import ModelOptions, SuiteConfig, TimingConfig

    cfg = SuiteConfig(models=list(models), backends=backends, device="cpu", timing=TimingConfig(**FAST_TIMING), pool_size=2,
                      out_dir=tmp_path / "out", isolate=False, cache_dir=tmp_path / "cache",
                      model_options=ModelOptions(**model_options))
    return run_suite(cfg).records


def built_for_nvidia(build):
    """build() (a Triton kernel compiled ahead of time for an NVIDIA architecture), or the test
    skipped where this Triton cannot build for NVIDIA (no NVIDIA backend or no ptxas)."""
    try:
        return build()
    except Exception as exc:  # noqa: BLE001 - a Triton build without its NVIDIA backend or ptxas
        if "ptxas" in str(exc) or "nvidia" in str(exc).lower():
            pytest.skip(f"Triton cannot build for NVIDIA here: {exc}")
        raise


def several_outputs_model(folder, returns: str) -> str:
    """A model file in `folder` whose forward returns `returns`, an expression of `f` (a convolution's
    [batch, 4] features of a 3x16x16 input), e.g. a dict of a tensor and a tuple; its file.py:factory."""
    path = folder / "several.py"
    path.write_text("import torch\nINPUT_SHAPE = (3, 16, 16)\n"
                    "class Several(torch.nn.Module):\n"
                    "    def __init__(self):\n"
                    "        super().__init__()\n"
                    "        self.conv = torch.nn.Conv2d(3, 4, 3)\n"
                    "    def forward(self, x):\n"
                    "        f = self.conv(x).mean(dim=(2, 3))\n"
                    f"        return {returns}\n"
                    "def make():\n    torch.manual_seed(0)\n    return Several()\n")
    return f"{path}:make"


def several_inputs_model(folder) -> str:
    """A model file in `folder` of two named inputs (an image and a vector) and two outputs (a dict);
    its file.py:factory."""
    path = folder / "two_in_two_out.py"
    path.write_text("import torch\nINPUT_SHAPE = {'image': (3, 12, 12), 'extra': (5,)}\n"
                    "class TwoInTwoOut(torch.nn.Module):\n"
                    "    def __init__(self):\n"
                    "        super().__init__()\n"
                    "        self.conv, self.fc = torch.nn.Conv2d(3, 4, 3), torch.nn.Linear(5, 4)\n"
                    "    def forward(self, image, extra):\n"
                    "        f = self.conv(image).mean(dim=(2, 3)) + self.fc(extra)\n"
                    "        return {'cls': f[:, :2], 'embedding': f}\n"
                    "def make():\n    torch.manual_seed(0)\n    return TwoInTwoOut()\n")
    return f"{path}:make"


def signal_after_line(cmd: list, env: dict, prefix: str, sig: int, timeout: float = 120,
                      as_timeout: bool = False) -> tuple[int, str]:
    """Start `cmd`, send it `sig` once a line of its stderr starts with `prefix`, and return its
    exit code and the rest of its stderr. SIGINT is given its default back in the child, as a
    terminal's Ctrl-C finds it: a test run started in the background by a shell inherits SIGINT
    ignored, and Python then installs no KeyboardInterrupt handler. `as_timeout`: as GNU
    `timeout` does, the signal goes to the command and then to its whole process group (its
    workers, and the command a second time)."""
    import os
    import signal
    import subprocess

    def child_setup():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if as_timeout:
            os.setpgrp()

    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=child_setup)
    try:
        for line in proc.stderr:
            if line.startswith(prefix):
                proc.send_signal(sig)
                if as_timeout:
                    os.killpg(proc.pid, sig)
                break
        _, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, err


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def pytest_collection_modifyitems(config, items):
    no_cuda = pytest.mark.skip(reason="needs an NVIDIA GPU with CUDA (torch.cuda.is_available() is False)")
    no_trt = pytest.mark.skip(reason="needs the tensorrt Python module and a CUDA GPU; tensorrt is not installed here")
    for item in items:
        if "needs_cuda" in item.keywords and not _cuda():
            item.add_marker(no_cuda)
        if "tensorrt" in item.keywords and (find_spec("tensorrt") is None or not _cuda()):
            item.add_marker(no_trt)


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory):
    """The test cache for fixtures of module and session scope too, which are set up before the
    per-test `_isolated`: nothing a test run builds lands in the user's ~/.cache/edgebench."""
    patch = pytest.MonkeyPatch()
    patch.setenv("EDGEBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    yield
    patch.undo()


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory, monkeypatch):
    import numpy as np
    import torch

    monkeypatch.setenv("EDGEBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    torch_state = torch.random.get_rng_state()
    py_state = random.getstate()
    np_state = np.random.get_state()
    yield
    torch.random.set_rng_state(torch_state)
    random.setstate(py_state)
    np.random.set_state(np_state)


@pytest.fixture
def fast_timing():
    from edgebench.config import TimingConfig

    return TimingConfig(**FAST_TIMING)


@pytest.fixture
def tiny_loaded():
    from edgebench.models import build_model, get_spec

    return build_model(get_spec("test_cnn"))


@pytest.fixture(scope="session")
def synth_videos(tmp_path_factory):
    """A synthetic UCF50-layout set: 4 classes x 6 groups x 6 clips of 24 frames, 64x64."""
    from edgebench.data.synth import write_video_set

    return write_video_set(tmp_path_factory.mktemp("synth"), groups=6, clips_per_group=6, frames=24, size=64)
