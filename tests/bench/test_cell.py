"""The cells driven directly: a model cell shared by its backend cells, a backend cell's
open / measure / finish, failures as statuses (raised with `strict`), the accuracy attached."""
import pytest

from edgebench.bench import environment
from edgebench.bench.cell import BackendCell
from edgebench.bench.model_cell import ModelCell, check_pristine, load_model
from edgebench.bench.recorder import attach_accuracy, error_text
from edgebench.config import ModelOptions
from edgebench.errors import InvalidConfigError
from edgebench.results import Status


def test_error_text_keeps_edgebench_messages_whole_and_shortens_others():
    assert error_text(InvalidConfigError("bad option; pass a good one")) == "bad option; pass a good one"
    assert error_text(ValueError("first line\nsecond line")) == "ValueError: first line"
    assert error_text(RuntimeError()) == "RuntimeError: "


def test_check_pristine_refuses_weights_changed_since_the_build():
    import torch

    loaded = load_model("test_mlp", ModelOptions())
    check_pristine(loaded)
    with torch.no_grad():
        next(loaded.module.parameters()).add_(1.0)
    with pytest.raises(RuntimeError, match="altered the weights of test_mlp"):
        check_pristine(loaded)


def test_backend_cell_opens_measures_and_finishes_a_record(fast_timing):
    cell = ModelCell("test_cnn", ModelOptions(), 1, 2, None)
    assert cell.source_key()["model"] == "test_cnn" and cell.source_key()["weights_sha256"]
    bc = BackendCell(cell, "pytorch", "run-1", "cpu", "fp32", fast_timing, environment.capture())
    assert bc.open() and bc.alive
    bc.measure(fast_timing)
    rec = bc.finish()
    assert rec.status is Status.OK and rec.latency.host.count >= 3 and not bc.alive
    assert rec.model_facts.params == 1442 and rec.cold_start.first_infer_s > 0
    attach_accuracy(rec, cell.check_info(), bc.outputs, cell.reference_outputs())
    assert rec.accuracy.gate == "passed" and rec.accuracy.top1_agreement == 1.0


def test_a_refused_cell_is_skipped_with_the_reason_or_raises_when_strict(fast_timing):
    cell = ModelCell("test_mlp", ModelOptions(), 1, 2, None)
    env = environment.capture()
    bc = BackendCell(cell, "pytorch", "run-1", "cpu", "int8", fast_timing, env)  # pytorch has no INT8
    assert not bc.open() and not bc.alive
    assert bc.rec.status is Status.SKIPPED and "int8" in bc.rec.error
    with pytest.raises(InvalidConfigError, match="int8"):
        BackendCell(cell, "pytorch", "run-1", "cpu", "int8", fast_timing, env, strict=True).open()


def test_a_rebuilt_cache_entry_is_named_in_the_record(fast_timing, tmp_path):
    """A damaged cached ONNX file is rebuilt, and the row says so (a clean hit says nothing)."""
    def opened():
        cell = ModelCell("test_cnn", ModelOptions(), 1, 2, tmp_path)
        bc = BackendCell(cell, "onnxruntime", "run-1", "cpu", "fp32", fast_timing, environment.capture())
        assert bc.open()
        bc.close()
        return cell, bc.rec

    cell, first = opened()
    assert "artifact_cache" not in first.details
    path = cell.artifact().path
    path.write_bytes(path.read_bytes() + b"\0")
    _, again = opened()
    assert again.details["artifact_cache"].startswith("rebuilt: model.onnx is")


def test_check_inputs_run_through_eager_pytorch_in_large_batches_with_the_same_outputs():
    """The reference and an eager baseline run the check inputs ~32 items a call, not one timed
    batch a call; the outputs, split back per batch, are those of batch-by-batch calls."""
    import numpy as np
    import torch

    from edgebench.bench.model_cell import CHECK_BATCH, batched

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 2)).eval()
    batches = [np.random.default_rng(i).standard_normal((2, 3, 8, 8)).astype(np.float32) for i in range(37)]
    sizes = []

    def run(x):
        sizes.append(len(x))
        with torch.inference_mode():
            return net(torch.from_numpy(x)).numpy()

    out = batched(run, batches)
    assert max(sizes) == CHECK_BATCH and len(sizes) == -(-37 * 2 // CHECK_BATCH)
    with torch.inference_mode():
        one_by_one = [net(torch.from_numpy(x)).numpy() for x in batches]
    assert len(out) == 37 and all(o.shape == (2, 2) for o in out)
    np.testing.assert_allclose(np.concatenate(out), np.concatenate(one_by_one), rtol=1e-5, atol=1e-6)


def test_batched_check_falls_back_to_one_batch_a_call_when_memory_runs_short():
    import numpy as np

    from edgebench.bench.model_cell import batched

    def run(x):
        if len(x) > 2:
            raise RuntimeError("CUDA out of memory. Tried to allocate 3.2 GiB")
        return x.sum(axis=1, keepdims=True)

    batches = [np.full((2, 3), i, dtype=np.float32) for i in range(20)]
    out = batched(run, batches)
    assert len(out) == 20 and all(float(o[0, 0]) == 3 * i for i, o in enumerate(out))
    import pytest

    with pytest.raises(RuntimeError, match="shape mismatch"):  # any other error is the cell's failure
        batched(lambda x: (_ for _ in ()).throw(RuntimeError("shape mismatch")), batches)
