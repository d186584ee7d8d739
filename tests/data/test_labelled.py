"""Labelled detection and segmentation data (data.labelled): a COCO-format folder and an image/mask
folder, the set edgebench makes itself, and the task metrics measured against their labels."""
from __future__ import annotations

import json

import numpy as np
import pytest

from edgebench.bench.suite import run_suite
from edgebench.cli.main import main
from edgebench.config import ModelOptions, SuiteConfig, TimingConfig
from edgebench.data import labelled
from edgebench.errors import InvalidConfigError
from edgebench.results import Status
from tests.conftest import FAST_TIMING


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return labelled.write_shapes_set(tmp_path_factory.mktemp("shapes"), count=12, size=96, seed=3)


def test_the_shapes_set_is_coco_with_masks_that_match_its_boxes(shapes):
    coco = json.loads((shapes / "annotations.json").read_text())
    assert len(coco["images"]) == 12 and {c["id"] for c in coco["categories"]} == {1, 2, 3}
    import cv2

    for a in coco["annotations"][:10]:
        mask = cv2.imread(str(shapes / "masks" / coco["images"][a["image_id"] - 1]["file_name"]), cv2.IMREAD_GRAYSCALE)
        x, y, w, h = a["bbox"]
        region = mask[y:y + h, x:x + w] == a["category_id"]
        assert region.any() and region.sum() <= a["area"] + 1 and w * h >= a["area"]


def test_coco_boxes_are_scaled_to_the_models_input(shapes):
    items, labels, desc = labelled.read_coco(shapes, (48, 192), count=12, seed=0)
    assert items[0].shape == (3, 48, 192) and "COCO-format folder" in desc
    coco = json.loads((shapes / "annotations.json").read_text())
    total = sum(len(t["labels"]) for t in labels)
    assert total == len(coco["annotations"])
    boxes = np.concatenate([t["boxes"] for t in labels])
    assert boxes[:, 2].max() <= 192 + 1e-3 and boxes[:, 3].max() <= 48 + 1e-3  # x scaled by 2, y by 0.5


def test_masks_are_resized_by_nearest_neighbour(shapes):
    items, masks, _ = labelled.read_masks(shapes, (64, 64), count=5, seed=0)
    assert len(items) == 5 and masks[0].shape == (64, 64) and set(np.unique(np.concatenate(masks))) <= {0, 1, 2, 3}


def test_a_folder_without_annotations_is_a_one_line_error(tmp_path):
    with pytest.raises(InvalidConfigError, match=r"has no annotations.json .* \(make one with `edgebench data synth"):
        labelled.read_coco(tmp_path, (32, 32), 4, 0)
    with pytest.raises(InvalidConfigError, match="needs images/ and masks/"):
        labelled.read_masks(tmp_path, (32, 32), 4, 0)


def test_the_cli_writes_a_shapes_set(tmp_path, capsys):
    assert main(["data", "synth", str(tmp_path / "s"), "--task", "shapes", "--images", "3", "--size", "48"]) == 0
    assert "annotations.json (COCO format)" in capsys.readouterr().out
    assert len(list((tmp_path / "s" / "masks").glob("*.png"))) == 3


def test_a_segmenter_on_labelled_data_reports_mIoU_against_the_masks(tmp_path, shapes):
    """Pre and post get the mIoU against the masks; the post cell keeps 99% of the reference's or
    fails the gate. Random weights score near zero, but the same near zero on both sides."""
    cfg = SuiteConfig(models=["lraspp_mobilenet_v3_large"], backends=["pytorch", "onnxruntime"], device="cpu",
                      timing=TimingConfig(**FAST_TIMING), pool_size=2, out_dir=tmp_path / "out", isolate=False,
                      cache_dir=tmp_path / "cache",
                      model_options=ModelOptions(check_size=8, input_shape=(3, 64, 64), data=str(shapes)))
    pre, post = run_suite(cfg).records
    assert pre.status is Status.OK and post.status is Status.OK, post.error
    assert pre.details["task_metric"] == "mIoU" and 0 <= pre.accuracy.task_accuracy <= 1
    assert post.accuracy.task_accuracy == pytest.approx(pre.accuracy.task_accuracy, abs=1e-6)
    assert post.details["task_metric_reference"] == pytest.approx(pre.accuracy.task_accuracy)
    assert "image/mask folder" in post.details["accuracy_inputs"]


def test_the_labelled_gate_fails_a_detector_that_loses_the_references_map(monkeypatch):
    """Against the labels, the optimised detector's mAP must keep 99% of the reference's."""
    from edgebench.bench import task_parity as tp
    from edgebench.bench.recorder import attach_accuracy
    from edgebench.models.spec import DETECTION
    from edgebench.results.record import Record

    rng = np.random.default_rng(0)
    truth = []
    for _ in range(6):
        xy = rng.uniform(0, 100, (3, 2))
        truth.append({"boxes": np.concatenate([xy, xy + 30], axis=1).astype(np.float32), "labels": np.array([1, 2, 3])})

    def decode(arrays):
        boxes, scores = arrays
        return [{"boxes": b, "scores": s, "labels": np.array([1.0, 2.0, 3.0])} for b, s in zip(boxes, scores)]

    ref = [(np.stack([t["boxes"] for t in truth[i:i + 2]]), np.full((2, 3), 0.9, np.float32)) for i in (0, 2, 4)]
    moved = [(b + 8.0, s) for b, s in ref]
    info = tp.ParityInfo(DETECTION, ("boxes", "scores"), decode)
    rec = Record("run", "m", "openvino", "int8", 2, "cpu")
    attach_accuracy(rec, (truth, "labelled", 6, info), moved, ref)
    assert rec.details["task_metric_reference"] == pytest.approx(1.0)
    assert rec.accuracy.task_accuracy < 0.5 and rec.accuracy.gate == "failed"
    assert "mAP on the labelled data" in rec.accuracy.gate_reason and "99% of the reference's 1.0000" in rec.accuracy.gate_reason
