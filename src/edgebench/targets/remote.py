"""A run's hold on a remote target: the connection, the agent deployed there, its probe (which
becomes the run's environment), the ONNX opset its TensorRT parses, and the files a model's
cells need there (the timing pool, the check batches, the ONNX, the weights, the definition),
written once on the host and copied once by content.

Everything the device sends back is parsed as data (JSON, raw float32); nothing from it is run.
"""
from __future__ import annotations

import base64
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path

from edgebench.errors import InvalidConfigError, TargetOutputError

#: the opset edgebench exports for a target whose TensorRT is older than each release: TensorRT
#: 8.2's ONNX parser (JetPack 4.6) reads opsets 7-13; 8.4-8.6 and 10.x read 17 (NVIDIA's
#: onnx-tensorrt support matrix for each release). A target without TensorRT gets 13 too: the
#: ONNX Runtime JetPack 4.6 users install (1.10/1.11) runs it.
OPSET_FOR_TRT = ((8, 4), 13), ((99, 0), 17)
DEFAULT_TARGET_OPSET = 13

#: items per trtexec parity run: the engine's shape profile reaches this batch, so the accuracy
#: gate's inputs take a few runs rather than one run per item
PARITY_BATCH = 16


def target_opset(trt_version: str | None) -> int:
    """The ONNX opset a target's TensorRT parses (see OPSET_FOR_TRT)."""
    if not trt_version:
        return DEFAULT_TARGET_OPSET
    from edgebench.targets.trtexec import parse_trt_version

    version = parse_trt_version(trt_version)
    return next(opset for below, opset in OPSET_FOR_TRT if version < below)


def target_env(name: str, url: str, probe: dict) -> dict:
    """The run's environment from the agent's probe JSON (targets.probe.TargetProbe.run_env)."""
    from edgebench.targets.probe import TargetProbe

    return TargetProbe.from_dict(probe).run_env(name, url)


def device_name(env: dict, device: str) -> str:
    """The name a target's record is filed under: the target, then its GPU or CPU."""
    part = env.get("gpu", "none") if device == "cuda" else env.get("cpu", "unknown")
    return f"{env['target']}: {part}"


def fast_int8(gpu: str | None) -> bool:
    """Whether a target's GPU has fast INT8 (DP4A or tensor cores, compute capability >= 6.1):
    not the Maxwell GPU of the Nano and the TX1, nor the TX2's Pascal 6.2; Xavier and Orin have it,
    and so do the discrete GPUs nvidia-smi names."""
    text = (gpu or "").lower()
    if not text:
        return False
    if "jetson" in text or "tegra" in text:
        return "xavier" in text or "orin" in text
    return True


@dataclass
class StagedModel:
    """One model's files on the host, ready to copy: raw float32, native byte order, no header."""

    pool: Path  # pool_size x batch x item: the timing inputs
    pool_count: int
    check: Path  # n x batch x item: the accuracy gate's inputs, in the benchmark's batches
    check_count: int
    parity: list[Path]  # the check items again, PARITY_BATCH at a time, for trtexec --loadInputs
    parity_batch: int
    check_items: int  # real (unpadded) items, in order, in `parity`


def one_input(model: str, item_shape) -> None:
    """Refuse a model of several (or named) inputs: the agent's engines and trtexec's commands
    feed one input."""
    from edgebench.models.inputs import describe, several

    if several(item_shape):
        raise InvalidConfigError(f"a remote target's agent and trtexec feed a model one unnamed input; {model} takes "
                                 f"{describe(item_shape)}: run it on this machine")


def stage_inputs(cell, folder: Path) -> StagedModel:
    """Write a ModelCell's timing pool and check batches as raw files under `folder`."""
    import numpy as np

    one_input(cell.name, cell.item_shape)

    folder.mkdir(parents=True, exist_ok=True)
    pool = np.stack(cell.pool).astype(np.float32)
    batches = cell.check_batches()[0]
    check = np.stack(batches).astype(np.float32)
    items = check.reshape(-1, *check.shape[2:])
    n = len(items)
    chunks = []
    for i in range(0, n, PARITY_BATCH):
        chunk = items[i : i + PARITY_BATCH]
        if len(chunk) < PARITY_BATCH:  # pad by repetition: the engine's profile is fixed at PARITY_BATCH
            chunk = np.concatenate([chunk, items[: PARITY_BATCH - len(chunk)]])
        chunks.append(_write(folder, "parity", chunk))
    return StagedModel(_write(folder, "pool", pool), len(pool), _write(folder, "check", check), len(check),
                       chunks, PARITY_BATCH, n)


def _write(folder: Path, stem: str, array) -> Path:
    """Save under a name made of the content's hash, so that equal inputs share one file. The file
    is written beside its name and renamed into place, so a name always holds the whole content; a
    file of the wrong size under it (written before, cut short) is written again."""
    import hashlib
    import os

    data = array.tobytes()
    path = folder / f"{stem}-{hashlib.sha256(data).hexdigest()[:16]}.bin"
    if not path.is_file() or path.stat().st_size != len(data):
        tmp = path.with_name(f"{path.name}.part.{os.getpid()}")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path


def weights_file(loaded, folder: Path) -> Path:
    """The model's state dict, as the device's torch loads it (torch.save's zip format, read by
    torch 1.6 and later)."""
    import torch

    path = folder / f"weights-{loaded.weights_sha256[:16]}.pt"
    if not path.exists():
        tmp = path.with_suffix(".part")
        torch.save({k: v.detach().cpu().contiguous() for k, v in loaded.module.state_dict().items()}, tmp)
        tmp.replace(path)
    return path


def model_recipe(spec) -> tuple[dict, Path | None]:
    """How the device's torch rebuilds the model: ({"kind": "torchvision", "name": ...}, None), or
    ({"kind": "definition", "factory": ...}, the definition file to ship). Raises ValueError with
    the reason when the device cannot rebuild it (the row says so)."""
    import importlib.util

    factory = spec.factory
    target = getattr(factory, "target", "")
    if target == "edgebench.models.classifiers:build_torchvision":
        return {"kind": "torchvision", "name": factory.args[0]}, None
    if spec.source == "user":
        path, _, name = spec.name.rpartition(":")
        return {"kind": "definition", "factory": name}, Path(path)
    module, _, name = target.partition(":")
    if module and not factory.args:
        found = importlib.util.find_spec(module)
        if found is not None and found.origin:
            return {"kind": "definition", "factory": name}, Path(found.origin)
    raise ValueError(f"{spec.name} has no torchvision name or definition file the device's torch could build it from")


def decode_outputs(reply: dict, what: str) -> list:
    """The agent's `outputs` ({"shape", "dtype": "float32", "b64"}, or a list of them for a model
    of several outputs) -> per check batch, one array (or a tuple, models.outputs)."""
    out = reply.get("outputs")
    if isinstance(out, list):
        if not out:
            raise TargetOutputError(f"{what}: the agent sent an empty list of outputs")
        per_output = [_decode_array(o, what) for o in out]
        if len({len(p) for p in per_output}) != 1:
            raise TargetOutputError(f"{what}: the agent's outputs hold different numbers of check batches")
        return [tuple(p[i] for p in per_output) for i in range(len(per_output[0]))]
    return _decode_array(out, what)


def _decode_array(out, what: str) -> list:
    """One encoded output of every check batch -> one array per batch."""
    import numpy as np

    try:
        shape = [int(d) for d in out["shape"]]
        if out.get("dtype") != "float32":
            raise ValueError(f"dtype {out.get('dtype')!r}, not float32")
        array = np.frombuffer(base64.b64decode(out["b64"], validate=True), dtype=np.float32).reshape(shape)
    except (TypeError, KeyError, ValueError) as exc:
        raise TargetOutputError(f"{what}: the agent's outputs are not raw float32 of the shape it gave ({exc})") from exc
    return [array[i] for i in range(shape[0])]


def staging_dir(cache_dir: Path | None) -> Path:
    """Where a run writes the files it copies to targets: under the cache, else a temp folder."""
    if cache_dir is not None:
        return Path(cache_dir) / "target-files"
    return Path(tempfile.gettempdir()) / "edgebench-target-files"


class TargetHold:
    """One run's hold on a target: `open` deploys the agent and probes the device (a refused
    connection or a failed authentication raises TargetConnectError, exit 3, before anything is
    measured); then it copies files by content (each once per run, and only what the device
    lacks) and opens agent sessions for the cells."""

    def __init__(self, target, connection, agent_path: str, probe, device: str, cache_dir: Path | None):
        from edgebench.targets.probe import TargetProbe

        self.target, self.conn, self.agent_path = target, connection, agent_path
        self.probe = probe if isinstance(probe, TargetProbe) else TargetProbe.from_dict(probe, f"the probe of {target.name}")
        self.name = target.name
        self.env = self.probe.run_env(target.name, target.url)
        self.device = device  # what the run asked for: auto, cpu or cuda
        self.default_device = "cpu" if device == "cpu" or not self.probe.has_gpu else "cuda"
        self.staging = staging_dir(cache_dir)
        self.staging.mkdir(parents=True, exist_ok=True)
        self.opset = target_opset(self.probe.tensorrt_version)
        self._uploaded: dict[Path, str] = {}
        self._staged = weakref.WeakKeyDictionary()  # ModelCell -> StagedModel, gone with the cell
        #: why the target is gone (the first lost cell's error), or "" while it answers
        self.lost = ""

    @classmethod
    def open(cls, name: str, device: str = "auto", cache_dir: Path | None = None) -> "TargetHold":
        from edgebench.targets import registry, session

        from dataclasses import replace

        from edgebench.results.record import utc_now

        target = registry.get_target(name)
        conn = target.connection()
        agent_path = session.deploy_agent(conn)
        found = session.probe(conn, target.python, agent_path)
        target = replace(target, probe=found, probed_at=utc_now())
        registry.save_target(target)  # `edgebench targets` shows what the latest run found
        return cls(target, conn, agent_path, found, device, cache_dir)

    def configure(self, cfg):
        """The suite's config for this target: its default backends (the paper's pair: eager
        PyTorch, then TensorRT through trtexec, or ONNX Runtime where trtexec is missing) and the
        ONNX opset its TensorRT parses (a lower --opset is kept)."""
        from dataclasses import replace

        from edgebench.errors import InvalidConfigError

        backends = list(cfg.backends) if cfg.backends else ["pytorch", "tensorrt" if self.probe.trtexec else "onnxruntime"]
        if len(set(backends)) != len(backends):
            raise InvalidConfigError(f"backend listed twice in {backends}")
        options = replace(cfg.model_options, opset=min(cfg.model_options.opset, self.opset))
        return replace(cfg, backends=backends, model_options=options)

    def summary(self) -> dict:
        """What a record says of the device it was measured on."""
        keys = ("target", "target_address", "l4t", "jetpack", "power_mode", "gpu", "tensorrt", "torch", "onnxruntime")
        return {k: self.env.get(k) for k in keys}


    def session(self):
        from edgebench.targets.session import AgentSession

        return AgentSession(self.conn, self.target.python, self.agent_path, self.name)

    def upload(self, path: Path) -> str:
        """The file's path on the device, copying it there unless it is there already."""
        path = Path(path)
        if path not in self._uploaded:
            self._uploaded[path] = self.conn.upload(path)
        return self._uploaded[path]

    def upload_many(self, paths) -> dict[Path, str]:
        """upload() for several files, with one check of which the device has."""
        paths = [Path(p) for p in paths]
        missing = [p for p in paths if p not in self._uploaded]
        if missing:
            self._uploaded.update(self.conn.upload_many(missing))
        return {p: self._uploaded[p] for p in paths}

    def present(self, remote_path: str) -> bool:
        return remote_path in self.conn.present([remote_path])

    def staged(self, cell) -> StagedModel:
        """The model's raw input files, written once per model: held by the cell itself (weakly), never
        by its address, which a freed cell hands to the next one."""
        if cell not in self._staged:
            self._staged[cell] = stage_inputs(cell, self.staging)
        return self._staged[cell]

    def mark_lost(self, error: str) -> None:
        """The connection is gone: later cells are recorded as target_lost at once."""
        self.lost = self.lost or error

    def try_reconnect(self) -> None:
        """Once per model after a loss: one cheap command on the device; if it answers, the target
        is back and the model's cells run."""
        if not self.lost:
            return
        try:
            if self.conn.run(["true"], timeout=30).returncode == 0:
                self.lost = ""
        except Exception:  # noqa: BLE001 - still gone: the model's cells are target_lost
            pass


__all__ = ["DEFAULT_TARGET_OPSET", "PARITY_BATCH", "StagedModel", "TargetHold", "decode_outputs", "device_name",
           "fast_int8", "model_recipe", "stage_inputs", "staging_dir", "target_env", "target_opset", "weights_file"]
