"""The gate of models that are not one-tensor classifiers (bench.task_parity): every output is
compared, a detector is judged by mAP against the reference's detections, a segmenter by pixel
agreement and mIoU on its decisive pixels; too little evidence is said, never silently passed."""
from __future__ import annotations

import numpy as np
import pytest

from edgebench.bench import task_parity as tp
from edgebench.bench.task_parity import judge
from edgebench.models.spec import DETECTION, SEGMENTATION


def _boxes(rng, n):
    xy = rng.uniform(0, 200, (n, 2))
    wh = rng.uniform(20, 60, (n, 2))
    return np.concatenate([xy, xy + wh], axis=1).astype(np.float32)


def _image(rng, n=12, classes=5):
    return {"boxes": _boxes(rng, n), "scores": rng.uniform(0.6, 1.0, n).astype(np.float32),
            "labels": rng.integers(1, classes, n).astype(np.float32)}


def test_identical_detections_score_map_1_and_moved_boxes_score_less():
    rng = np.random.default_rng(0)
    ref = [_image(rng) for _ in range(4)]
    same = tp.detection_metrics(ref, ref)
    assert same["map"] == pytest.approx(1.0) and same["matched"] == 48 and same["box_error_px"] == 0.0
    moved = [{**d, "boxes": d["boxes"] + 3.0} for d in ref]
    worse = tp.detection_metrics(ref, moved)
    assert worse["map_50"] == pytest.approx(1.0) and worse["map"] < 0.9
    assert worse["box_error_px"] == pytest.approx(3.0)
    relabelled = [{**d, "labels": d["labels"] % 4 + 1} for d in ref]  # every class wrong
    assert tp.detection_metrics(ref, relabelled)["map"] == pytest.approx(0.0)


def test_low_scores_are_not_pseudo_labels():
    rng = np.random.default_rng(1)
    ref = [{**_image(rng), "scores": np.full(12, 0.2, np.float32)}]
    m = tp.detection_metrics(ref, ref)
    assert m["pseudo_labels"] == 0 and m["map"] is None


def _decode(arrays):
    """A picklable decoder: raw outputs [batch, k, 4] and [batch, k] -> per image detections."""
    boxes, scores = arrays
    return [{"boxes": b, "scores": s, "labels": np.ones(len(s), np.float32)} for b, s in zip(boxes, scores)]


def _raw(rng, batches=4, batch=2, k=10):
    return [(np.stack([_boxes(rng, k) for _ in range(batch)]), rng.uniform(0.6, 1.0, (batch, k)).astype(np.float32))
            for _ in range(batches)]


def test_a_detector_is_judged_by_map_when_the_reference_detects_enough():
    rng = np.random.default_rng(2)
    ref = _raw(rng)
    info = tp.ParityInfo(DETECTION, ("boxes", "scores"), _decode)
    good = judge(ref, ref, "int8", parity=info)
    assert good.passed and good.task_metrics["map"] == pytest.approx(1.0) and good.top1_agreement is None
    assert [o["name"] for o in good.outputs] == ["boxes", "scores"]
    shifted = [(b + 12.0, s) for b, s in ref]  # cosines stay near 1, the boxes miss at high IoU
    bad = judge(ref, shifted, "int8", parity=info)
    assert not bad.passed and "mAP@0.5:0.95" in bad.reason and bad.cosine > 0.98


def test_a_detector_with_too_few_confident_detections_falls_back_to_the_outputs_and_says_so():
    rng = np.random.default_rng(3)
    ref = _raw(rng, batches=1, batch=1, k=5)  # 5 pseudo-labels < MIN_PSEUDO_LABELS
    res = judge(ref, ref, "fp16", parity=tp.ParityInfo(DETECTION, ("boxes", "scores"), _decode))
    assert res.passed and "mAP not judged" in res.note
    noisy = [(b * -1.0, s) for b, s in ref]
    assert "cosine" in judge(ref, noisy, "fp16", parity=tp.ParityInfo(DETECTION, ("boxes", "scores"), _decode)).reason


def test_detections_are_read_from_outputs_named_boxes_scores_labels():
    rng = np.random.default_rng(4)
    img = _image(rng)
    names = ["output.0.boxes", "output.0.scores", "output.0.labels"]
    found = tp.detections((img["boxes"], img["scores"], img["labels"]), names)
    assert len(found) == 1 and np.array_equal(found[0]["boxes"], img["boxes"])
    batched = tp.detections((img["boxes"][None], img["scores"][None], img["labels"][None]), ["boxes", "scores", "labels"])
    assert len(batched) == 1 and batched[0]["scores"].shape == (12,)
    assert tp.detections((img["boxes"],), ["x"]) is None


def test_data_dependent_outputs_are_judged_by_the_task_not_their_shapes():
    """Detections after NMS: the optimised model found one box fewer on one image; the outputs'
    shapes differ there, and mAP judges."""
    rng = np.random.default_rng(5)
    ref = [(im["boxes"], im["scores"], im["labels"]) for im in (_image(rng, 40) for _ in range(2))]
    out = [ref[0], tuple(a[:-1] for a in ref[1])]
    res = judge(ref, out, "fp16", parity=tp.ParityInfo(DETECTION, ("output.0.boxes", "output.0.scores", "output.0.labels")))
    assert res.passed, res.reason
    assert res.task_metrics["map"] > 0.95 and "depends on the data" in res.note


def _seg(rng, batch=2, classes=4, hw=40):
    logits = rng.normal(0, 0.1, (batch, classes, hw, hw)).astype(np.float32)
    cls = rng.integers(0, classes, (batch, 1, hw, hw))
    np.put_along_axis(logits, cls, 3.0, axis=1)  # every pixel decisive
    return logits


def test_a_segmenter_is_judged_by_mIoU_and_pixel_agreement_on_decisive_pixels():
    rng = np.random.default_rng(6)
    ref = [_seg(rng) for _ in range(2)]
    info = tp.ParityInfo(SEGMENTATION, ("out",))
    same = judge(ref, ref, "int8", parity=info)
    assert same.passed and same.task_metrics["miou"] == pytest.approx(1.0)
    assert same.task_metrics["decisive_pixels"] == 2 * 2 * 40 * 40
    flipped = [r.copy() for r in ref]
    flipped[0][:, :, :20] = np.roll(flipped[0][:, :, :20], 1, axis=1)  # half of a batch's pixels change class
    res = judge(ref, flipped, "int8", parity=info)
    assert not res.passed and "mIoU" in res.reason and res.task_metrics["pixel_agreement"] < 0.9


def test_a_model_of_several_outputs_is_compared_output_by_output():
    rng = np.random.default_rng(7)
    ref = [(rng.normal(size=(2, 5)), rng.normal(size=(2, 3, 4))) for _ in range(3)]
    assert judge(ref, ref, "fp32").passed
    off = [(a, b * 1.01) for a, b in ref]
    res = judge(ref, off, "fp32")
    assert not res.passed and res.reason.startswith("output output.1: max relative error")
    missing = judge(ref, [a for a, _ in ref], "fp32")
    assert not missing.passed and "1 outputs, the reference has 2" in missing.reason
    nan = [(a, np.full_like(b, np.nan)) for a, b in ref]
    assert "NaN" in judge(ref, nan, "fp16").reason


def test_a_gate_that_cannot_be_evaluated_is_recorded_not_raised(monkeypatch):
    """Without pycocotools the detection gate cannot run: the row says so and is never picked,
    and the run goes on (it once ended the whole run with a traceback)."""
    from edgebench.bench.recorder import attach_accuracy
    from edgebench.results.record import Record, Status

    def missing(*_):
        raise ModuleNotFoundError("`MAP` metric requires that `pycocotools` or `faster-coco-eval` installed")

    monkeypatch.setattr(tp, "detection_metrics", missing)
    ref = _raw(np.random.default_rng(8))
    rec = Record("run", "m", "onnxruntime", "fp16", 1, "cpu")
    attach_accuracy(rec, (None, "inputs", 8, tp.ParityInfo(DETECTION, ("boxes", "scores"), _decode)), ref, ref)
    assert rec.accuracy.gate == "not judged" and "pycocotools" in rec.accuracy.gate_reason
    assert rec.status == Status.OK and any("never the post-opt pick" in w for w in rec.warnings)


def test_the_references_detections_are_decoded_once_per_model():
    """Every cell of a model is judged against the same reference: its decoding (torchvision's NMS
    on every check input, seconds per cell) is done once."""
    calls = []

    def counting(arrays):
        calls.append(1)
        return _decode(arrays)

    ref = _raw(np.random.default_rng(9))
    info = tp.ParityInfo(DETECTION, ("boxes", "scores"), counting)
    outs = [[(b + 0.01 * k, s) for b, s in ref] for k in range(3)]  # three cells
    for out in outs:
        assert judge(ref, out, "fp16", parity=info).passed
    assert len(calls) == len(ref) + 3 * len(ref)
