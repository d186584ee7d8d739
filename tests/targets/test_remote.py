"""The host side of a remote target that needs no connection: the opset a target's TensorRT
parses (and that the action models survive it), the environment a probe becomes, the raw input
files, how the device's torch rebuilds each kind of model, and decoding the outputs it sends."""
from __future__ import annotations

import base64

import numpy as np
import pytest

from edgebench.config import ModelOptions
from edgebench.errors import TargetOutputError
from edgebench.models import get_spec
from edgebench.targets import remote

NANO_PROBE = {
    "python_version": "3.6.9", "system": "Linux", "machine": "aarch64", "cpu_count": 4,
    "cpu_model": "ARMv8 Processor rev 1 (v8l)", "memory_total_kib": 4051060, "l4t": "32.6.1", "jetpack": "4.6",
    "power_mode": {"name": "MAXN", "id": 0}, "gpu": "integrated GPU of NVIDIA Jetson Nano Developer Kit",
    "tensorrt_version": "8.2.1-1+cuda10.2", "trtexec": "/usr/src/tensorrt/bin/trtexec", "torch_version": None,
    "onnxruntime_version": "1.10.0", "tegrastats": "/usr/bin/tegrastats", "reasons": {"torch_version": "no torch"},
}


@pytest.mark.parametrize("version, opset", [("8.2.1-1+cuda10.2", 13), ("8.2.1.8", 13), ("8.4.1", 17),
                                            ("8.6.2", 17), ("10.3.0", 17), (None, 13)])
def test_target_opset_follows_tensorrt(version, opset):
    assert remote.target_opset(version) == opset


def test_target_env_uses_the_local_keys_and_names_the_device():
    env = remote.target_env("nano", "ssh://me@jetson.local", NANO_PROBE)
    assert env["target"] == "nano" and env["jetpack"] == "4.6" and env["power_mode"] == "MAXN"
    assert env["tensorrt"] == "8.2.1-1+cuda10.2" and env["torch"] == "absent" and env["onnxruntime"] == "1.10.0"
    assert env["memory_total_mib"] == 3956 and env["jetson"] is True and env["os"] == "Linux L4T 32.6.1"
    assert remote.device_name(env, "cuda") == "nano: integrated GPU of NVIDIA Jetson Nano Developer Kit"
    assert remote.device_name(env, "cpu") == "nano: ARMv8 Processor rev 1 (v8l)"


@pytest.mark.parametrize("gpu, fast", [("integrated GPU of NVIDIA Jetson Nano Developer Kit", False),
                                       ("integrated GPU of NVIDIA Jetson TX2", False),
                                       ("integrated GPU of Jetson AGX Xavier", True),
                                       ("integrated GPU of NVIDIA Jetson AGX Orin Developer Kit", True),
                                       ("NVIDIA H100 80GB HBM3", True), (None, False)])
def test_fast_int8_only_where_the_gpu_has_it(gpu, fast):
    assert remote.fast_int8(gpu) is fast


class _Cell:
    """A ModelCell's inputs as stage_inputs reads them."""

    name, item_shape = "m", (3, 4, 4)

    def __init__(self, items: int, batch: int):
        rng = np.random.default_rng(0)
        self.pool = [rng.standard_normal((batch, 3, 4, 4)).astype(np.float32) for _ in range(3)]
        data = rng.standard_normal((items, 3, 4, 4)).astype(np.float32)
        padded = np.concatenate([data, data[: (-items) % batch]])
        self.items = data
        self.batches = [padded[i : i + batch] for i in range(0, len(padded), batch)]

    def check_batches(self):
        return self.batches, None, "test"


def test_stage_inputs_writes_raw_float32_in_order(tmp_path):
    cell = _Cell(items=37, batch=4)  # 10 check batches, the last padded; 3 parity chunks of 16, the last padded
    staged = remote.stage_inputs(cell, tmp_path)
    pool = np.fromfile(staged.pool, dtype=np.float32).reshape(3, 4, 3, 4, 4)
    assert staged.pool_count == 3 and np.array_equal(pool, np.stack(cell.pool))
    check = np.fromfile(staged.check, dtype=np.float32).reshape(10, 4, 3, 4, 4)
    assert staged.check_count == 10 and np.array_equal(check, np.stack(cell.batches))
    assert len(staged.parity) == 3 and staged.parity_batch == remote.PARITY_BATCH and staged.check_items == 40
    chunks = [np.fromfile(p, dtype=np.float32).reshape(16, 3, 4, 4) for p in staged.parity]
    assert np.array_equal(np.concatenate(chunks)[:37], cell.items)
    again = remote.stage_inputs(cell, tmp_path)  # the same content gets the same files
    assert again.pool == staged.pool and again.parity == staged.parity


def test_model_recipe_for_each_kind_of_model(tmp_path):
    assert remote.model_recipe(get_spec("resnet50")) == ({"kind": "torchvision", "name": "resnet50"}, None)
    recipe, file = remote.model_recipe(get_spec("c3d"))
    assert recipe == {"kind": "definition", "factory": "C3D"} and file.name == "c3d.py" and file.is_file()
    recipe, file = remote.model_recipe(get_spec("test_cnn"))
    assert recipe == {"kind": "definition", "factory": "tiny_cnn"} and file.name == "testing.py"
    user = tmp_path / "mine.py"
    user.write_text("from torch import nn\n\ndef net(num_classes=2):\n    return nn.Linear(4, num_classes)\n"
                    "INPUT_SHAPE = (4,)\n")
    recipe, file = remote.model_recipe(get_spec(f"{user}:net"))
    assert recipe == {"kind": "definition", "factory": "net"} and file == user


def test_decode_outputs_reads_raw_float32_and_refuses_anything_else():
    array = np.arange(12, dtype=np.float32).reshape(3, 2, 2)
    reply = {"outputs": {"shape": [3, 2, 2], "dtype": "float32", "b64": base64.b64encode(array.tobytes()).decode()}}
    out = remote.decode_outputs(reply, "t")
    assert len(out) == 3 and np.array_equal(out[2], array[2])
    for bad in ({"shape": [4, 2, 2], "dtype": "float32", "b64": reply["outputs"]["b64"]},
                {"shape": [3, 2, 2], "dtype": "float64", "b64": reply["outputs"]["b64"]},
                {"shape": [3, 2, 2], "dtype": "float32", "b64": "not base64!"}, None):
        with pytest.raises(TargetOutputError, match="raw float32"):
            remote.decode_outputs({"outputs": bad}, "t")


def test_decode_outputs_of_a_model_of_several_outputs_gives_a_tuple_per_batch():
    from edgebench.targets.agent import encode_outputs

    batches = [[np.full((2, 3), i, np.float32), np.full((2,), -i, np.float32)] for i in range(3)]
    out = remote.decode_outputs({"outputs": encode_outputs(np, batches)}, "t")
    assert len(out) == 3 and isinstance(out[1], tuple) and out[1][0].shape == (2, 3) and out[2][1].tolist() == [-2, -2]
    assert remote.decode_outputs({"outputs": encode_outputs(np, [b[:1] for b in batches])}, "t")[1].shape == (2, 3)
    from edgebench.targets.agent import AgentError

    with pytest.raises(AgentError, match="output 1 has a shape that depends on the data"):
        encode_outputs(np, [[np.zeros(2, np.float32), np.zeros(k, np.float32)] for k in (1, 2)])
    with pytest.raises(TargetOutputError, match="empty list"):
        remote.decode_outputs({"outputs": []}, "t")


@pytest.mark.parametrize("model", ["c3d", "conv_autoencoder", "densenet3d"])
def test_action_models_survive_opset_13(model, tmp_path):
    """TensorRT 8.2 (JetPack 4.6) parses opset 13: the three 3-D models export there with the
    dynamic batch axis, and ONNX Runtime matches PyTorch at batch 2."""
    import onnx
    import onnxruntime as ort
    import torch

    from edgebench.bench.model_cell import load_model
    from edgebench.export import export_onnx

    loaded = load_model(model, ModelOptions(opset=13), tmp_path)
    art = export_onnx(loaded, opset=13, cache_dir=tmp_path)
    proto = onnx.load(str(art.path))
    assert {o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")} == {13}
    x = np.random.default_rng(0).standard_normal((2, *loaded.spec.input_shape)).astype(np.float32)
    got = ort.InferenceSession(str(art.path), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    with torch.inference_mode():
        want = loaded.module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)


class _StagedCell:
    """What stage_inputs reads of a ModelCell: the timing pool and the check batches."""

    name, item_shape = "m", (3, 4, 4)

    def __init__(self, value: float):
        import numpy as np

        self.pool = [np.full((1, 3, 4, 4), value, dtype=np.float32)]
        self._check = [np.full((1, 3, 4, 4), value + 0.5, dtype=np.float32)]

    def check_batches(self):
        return self._check, None, ""


def test_staged_inputs_follow_the_cell_not_its_address(tmp_path):
    """A model's cell freed and the next one made at the same address (CPython reuses a freed
    block for the next object of its size, so id() repeats): the next model gets its own inputs,
    never the earlier one's."""
    import numpy as np

    from edgebench.targets.registry import Target
    from edgebench.targets.remote import TargetHold

    hold = TargetHold(Target(name="t", url="ssh://t.invalid"), None, "agent.py", {}, "cpu", tmp_path)
    first = _StagedCell(1.0)
    assert np.fromfile(hold.staged(first).pool, dtype=np.float32)[0] == 1.0
    address = id(first)
    del first
    # the freed block is on its size class's free list, perhaps under blocks freed after it (the
    # weak reference's own clean-up frees some): allocate, keeping each, until one takes it
    held = []
    for _ in range(100_000):
        second = object.__new__(_StagedCell)
        if id(second) == address:
            break
        held.append(second)
    assert id(second) == address  # what the defect needs; CPython's allocator gives it within a pool
    second.__init__(2.0)
    assert np.fromfile(hold.staged(second).pool, dtype=np.float32)[0] == 2.0


def test_a_truncated_staged_file_is_written_again(tmp_path):
    """A staged file cut short (a full disk, a kill mid-write) is never taken for the real one:
    the next staging writes it whole, and a write in progress never has the final name."""
    from edgebench.targets.remote import stage_inputs

    cell = _StagedCell(1.0)
    staged = stage_inputs(cell, tmp_path)
    size = staged.pool.stat().st_size
    staged.pool.write_bytes(staged.pool.read_bytes()[: size // 2])
    again = stage_inputs(cell, tmp_path)
    assert again.pool == staged.pool and again.pool.stat().st_size == size
    assert not [p for p in tmp_path.iterdir() if p.suffix not in (".bin",)]


def test_the_probe_is_typed_and_checked_once():
    """A fact is a value or None (with the probe's reason), never "absent" or "none"; a fact of
    the wrong type from the device is refused when the probe is read."""
    from edgebench.errors import TargetOutputError
    from edgebench.targets.probe import TargetProbe

    p = TargetProbe.from_dict(NANO_PROBE)
    assert p.trtexec == "/usr/src/tensorrt/bin/trtexec" and p.tensorrt_version == "8.2.1-1+cuda10.2"
    assert p.torch_version is None and p.reason("torch_version") == "no torch" and p.has_gpu
    assert p.power_mode == "MAXN" and p.power_mode_id == 0 and p.memory_total_kib == 4051060
    bare = TargetProbe.from_dict({"gpu": "", "reasons": {}})
    assert not bare.has_gpu and bare.trtexec is None and bare.reason("trtexec") == "the probe gave no reason"
    assert bare.run_env("t", "ssh://t")["gpu"] == "none"  # the store's word, made only for the run's env
    with pytest.raises(TargetOutputError, match="cpu_count is '4', not a int"):
        TargetProbe.from_dict({**NANO_PROBE, "cpu_count": "4"})
