"""torchvision's detectors and segmenters as registered models (models.dense), and models whose
outputs are a tuple or a dict: every CPU path runs them and the gate judges them by their task."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from edgebench.models import build_model, get_spec
from edgebench.results import Status
from tests.conftest import several_outputs_model, small_suite

#: the issue's case: a module returning a dict of a tensor and a tuple of two
DICT_AND_TUPLE = "{'cls': f[:, :2], 'aux': (f, f.sum(dim=1))}"


def _suite(tmp_path, model: str, backends: list[str], check: int = 8, shape=None):
    return small_suite(tmp_path, [model], backends, check_size=check, calibration_size=8, input_shape=shape)


def test_a_model_returning_a_dict_and_a_tuple_runs_on_every_cpu_path(tmp_path):
    """The issue's case: a module returning several tensors was refused; now each output is named
    (the ONNX file's output names), run by every backend and compared output by output."""
    records = _suite(tmp_path, several_outputs_model(tmp_path, DICT_AND_TUPLE),
                     ["pytorch", "onnxruntime", "openvino", "torch-compile", "onnxruntime@int8"], check=16)
    assert [r.status for r in records][:4] == [Status.OK] * 4, [r.error for r in records]
    for rec in records[1:4]:
        assert rec.accuracy.gate == "passed" and rec.accuracy.top1_agreement is None
        assert [o["name"] for o in rec.details["output_parity"]] == ["cls", "aux.0", "aux.1"]
    assert records[4].status in (Status.OK, Status.ACCURACY_FAILED), records[4].error
    assert records[4].details["output_parity"]


def test_onnx_output_names_are_the_structure_names(tmp_path):
    import onnx

    from edgebench.export import export_onnx

    loaded = build_model(get_spec(several_outputs_model(tmp_path, DICT_AND_TUPLE)))
    assert loaded.num_classes is None  # no single class axis to read
    art = export_onnx(loaded, cache_dir=tmp_path / "cache")
    assert [o.name for o in onnx.load(str(art.path)).graph.output] == ["cls", "aux.0", "aux.1"]
    assert art.metadata["output_names"] == ["cls", "aux.0", "aux.1"]


def test_the_registered_detector_is_the_network_alone_and_decodes_with_torchvision():
    spec = get_spec("ssdlite320_mobilenet_v3_large", (3, 160, 160))
    assert spec.task == "object-detection" and spec.default_num_classes == 91
    module = build_model(spec).module
    with torch.inference_mode():
        out = module(torch.zeros(2, 3, 160, 160))
    assert list(out) == ["bbox_regression", "cls_logits"] and out["cls_logits"].shape[-1] == 91
    decode = pickle.loads(pickle.dumps(module.detection_decoder((160, 160))))  # it crosses processes
    found = decode([out["bbox_regression"].numpy(), out["cls_logits"].numpy()])
    assert len(found) == 2 and set(found[0]) == {"boxes", "scores", "labels"}
    assert (found[0]["boxes"] >= 0).all() and (found[0]["boxes"] <= 160).all()
    assert set(module.state_dict()) == {k for k in module.state_dict() if k.startswith(("backbone.", "head."))}


def test_the_registered_detector_runs_through_onnx_and_int8_judged_by_detections(tmp_path):
    records = _suite(tmp_path, "ssdlite320_mobilenet_v3_large", ["pytorch", "onnxruntime", "openvino@int8"],
                     shape=(3, 160, 160))
    assert [r.status for r in records][:2] == [Status.OK, Status.OK], [r.error for r in records]
    assert records[2].status in (Status.OK, Status.ACCURACY_FAILED), records[2].error
    onnx_rec = records[1]
    assert onnx_rec.accuracy.gate == "passed" and "task_parity" in onnx_rec.details
    assert onnx_rec.details["task_parity"]["matched"] == onnx_rec.details["task_parity"]["pseudo_labels"]
    assert records[0].model_facts.params == 3_440_060 and records[0].model_facts.num_classes == 91


def test_the_registered_segmenter_is_judged_by_its_masks(tmp_path):
    records = _suite(tmp_path, "lraspp_mobilenet_v3_large", ["pytorch", "onnxruntime", "onnxruntime@int8"],
                     shape=(3, 96, 96))
    assert [r.status for r in records][:2] == [Status.OK, Status.OK], [r.error for r in records]
    metrics = records[1].details["task_parity"]
    assert metrics["pixel_agreement"] > 0.99 and metrics["pixels"] == 8 * 96 * 96
    assert records[2].status in (Status.OK, Status.ACCURACY_FAILED) and "pixel_agreement" in records[2].details["task_parity"]
    md = (tmp_path / "out" / "table1.md").read_text()
    assert "Semantic segmentation" in md


def test_pretrained_dense_models_keep_their_classes():
    from edgebench.errors import InvalidConfigError

    with pytest.raises(InvalidConfigError, match="has 91 classes, not 2; drop --num-classes"):
        build_model(get_spec("ssdlite320_mobilenet_v3_large"), num_classes=2, pretrained=True)


def test_a_segmenter_file_must_return_class_scores_per_pixel(tmp_path):
    from edgebench.errors import ModelFileError

    path = tmp_path / "seg.py"
    path.write_text("import torch\nTASK = 'semantic-segmentation'\nINPUT_SHAPE = (3, 16, 16)\n"
                    "def make():\n    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(768, 4))\n")
    with pytest.raises(ModelFileError, match=r"first output logits has shape \(1, 4\); a segmenter's first output"):
        build_model(get_spec(f"{path}:make"))


def test_the_check_keeps_a_segmenters_outputs_within_its_memory_budget(tmp_path, monkeypatch):
    """LR-ASPP at 520x520 outputs 23 MiB of class scores an input: 256 check inputs were 5.8 GB per
    copy, and a CPU run ran out of memory. The check is cut to fit, and says so."""
    from edgebench.bench import model_cell
    from edgebench.bench.model_cell import ModelCell
    from edgebench.config import ModelOptions

    monkeypatch.setattr(model_cell, "CHECK_OUTPUT_BYTES", 10 * 2**20)
    cell = ModelCell("lraspp_mobilenet_v3_large", ModelOptions(check_size=64, input_shape=(3, 128, 128)), 2, 1,
                     tmp_path / "cache")
    batches, _, desc = cell.check_batches()
    assert (10 * 2**20) // (21 * 128 * 128 * 4) == 7  # under the floor of 8 check inputs
    assert sum(len(b) for b in batches) == 8
    assert "8 of --check-size 64: one input's outputs take 1.3 MiB" in desc


def test_torchvisions_segmenters_and_single_shot_detectors_resolve_by_name():
    from edgebench.errors import UnknownModelError

    assert get_spec("deeplabv3_mobilenet_v3_large").task == "semantic-segmentation"
    ssd = get_spec("ssd300_vgg16")
    assert ssd.task == "object-detection" and ssd.input_shape == (3, 300, 300) and ssd.default_num_classes == 91
    with pytest.raises(UnknownModelError, match="fasterrcnn_resnet50_fpn is a two-stage .* path/to/file.py:factory"):
        get_spec("fasterrcnn_resnet50_fpn")


def test_a_stream_labels_a_detectors_and_a_segmenters_frames():
    from edgebench.bench.stream import predict

    assert predict(np.array([[0.1, 2.0, -1.0]]), class_names=["a", "b", "c"]) == (1, 2.0, "b")
    scores = np.zeros((1, 4, 6, 6), np.float32)
    scores[0, 2, :3] = 1.0  # class 2 on half of the pixels, the background on the rest
    assert predict(scores) == (2, 0.5, "class 2 on 50% of pixels")

    def decode(arrays):
        return [{"scores": np.array([0.9, 0.6, 0.2]), "boxes": np.zeros((3, 4)), "labels": np.ones(3)}]

    assert predict((np.zeros((1, 3, 4)), np.zeros((1, 3, 2))), decode=decode) == (2, None, "2 objects")


def test_a_detector_whose_outputs_depend_on_the_data_fails_export_in_one_line_that_says_why(tmp_path):
    """Detections after NMS have no batch axis; the exporter's own message does not say so."""
    from edgebench.errors import ExportError
    from edgebench.export import export_onnx

    path = tmp_path / "nms.py"
    path.write_text("import torch\nINPUT_SHAPE = (3, 8, 8)\nTASK = 'object-detection'\n"
                    "class D(torch.nn.Module):\n"
                    "    def __init__(self):\n"
                    "        super().__init__()\n"
                    "        self.conv = torch.nn.Conv2d(3, 1, 3)\n"
                    "    def forward(self, x):\n"
                    "        s = self.conv(x).flatten(1)\n"
                    "        return [{'scores': v[v > 0], 'labels': (v[v > 0] * 0).long()} for v in s]\n"
                    "def make():\n    torch.manual_seed(0)\n    return D()\n")
    loaded = build_model(get_spec(f"{path}:make"))
    with pytest.raises(ExportError, match=r"outputs output\.0\.scores, output\.0\.labels, .* have no batch axis .* "
                                          r"run this model on pytorch or torch-compile") as err:
        export_onnx(loaded, cache_dir=tmp_path / "cache")
    assert "\n" not in str(err.value)
