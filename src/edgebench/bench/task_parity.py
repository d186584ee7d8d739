"""The accuracy gate for models that are not one-tensor classifiers: several outputs, detectors,
segmenters. The same inputs go through the optimised artifact and the pristine PyTorch module, and
the optimised outputs are judged against the reference's, as bench.accuracy judges a classifier's
logits, with the metric a user of the task would judge them by.

- Every output (models.outputs' names): largest absolute and relative error and the mean cosine
  per item, as for a classifier's logits. An output whose shape depends on the data (detections
  after NMS) is compared only where both shapes agree.
- Detection: the reference's detections with a score of at least PSEUDO_LABEL_SCORE are the
  pseudo-labels; the optimised model's detections are scored against them with COCO's
  mAP@0.5:0.95 (torchmetrics' MeanAveragePrecision over pycocotools), and matched one to one by
  class and IoU >= 0.5 (box error in pixels, score error). TensorRT's maintainers ask for exactly
  this end-to-end check of FP16/INT8 detectors, not per-output differences (TensorRT#3135, #4605).
- Segmentation: the class per pixel (the arg-max over the class axis). Pixel agreement and mIoU
  (torchmetrics' MulticlassJaccardIndex) against the reference's masks, judged on the decisive
  pixels: those whose reference top class beats the runner-up by bench.accuracy's DECISIVE_MARGIN
  (ln 2), as a classifier's decisive inputs; a near-tie pixel flips with any rounding.

The gate: where the task metric has enough evidence (MIN_PSEUDO_LABELS boxes, MIN_DECISIVE_PIXELS
pixels) it decides, with the precision's threshold below; FP32 must also match every output to
rounding (a wrong graph shows there first). Without enough evidence (random-init weights detect
nothing with confidence) the result says so, and every output's cosine decides, as for logits.

Thresholds: mAP@0.5:0.95 against pseudo-labels counts a box shifted by a pixel or two as a miss
at IoU 0.95, so a faithful FP16 model scores below 1; INT8 moves boxes more."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from edgebench.bench.accuracy import DECISIVE_MARGIN, GateResult, TOLERANCES, compare, mean_lower_bound, row_cosines
from edgebench.models.outputs import as_list

#: per precision: min mAP@0.5:0.95 against the reference's pseudo-labels, min mIoU and min pixel
#: agreement on the decisive pixels
TASK_TOLERANCES = {
    "fp32": {"min_map": 0.99, "min_miou": 0.999, "min_pixels": 0.999},
    "fp16": {"min_map": 0.95, "min_miou": 0.99, "min_pixels": 0.995},
    "bf16": {"min_map": 0.90, "min_miou": 0.98, "min_pixels": 0.99},
    "int8": {"min_map": 0.85, "min_miou": 0.95, "min_pixels": 0.98},
    "fp8": {"min_map": 0.85, "min_miou": 0.95, "min_pixels": 0.98},
}
#: a reference detection at least this confident is a pseudo-label
PSEUDO_LABEL_SCORE = 0.5
#: pseudo-labels needed for the mAP to judge (fewer: not judged, and the outputs' cosines decide)
MIN_PSEUDO_LABELS = 30
#: decisive pixels needed for pixel agreement and mIoU to judge
MIN_DECISIVE_PIXELS = 1000
#: a pseudo-label and a detection of its class match when their IoU is at least this
MATCH_IOU = 0.5


@dataclass(frozen=True)
class ParityInfo:
    """What the gate needs to know of a model beside its outputs (picklable: it travels from a
    timing process to the one that judges): its task, its output names (models.outputs), and a
    detector's own post-processing of its raw outputs into detections (None where its outputs
    are its detections, or it is no detector)."""

    task: str = "unknown"
    names: tuple[str, ...] = ()
    decode: Callable | None = None


def structured(reference: list, parity: ParityInfo | None = None) -> bool:
    """Whether the outputs are not one classifier's logits: several outputs, or a task (detection,
    segmentation) that this module judges."""
    from edgebench.models.spec import is_classifier

    if any(isinstance(r, (tuple, list)) for r in reference or []):
        return True
    return parity is not None and parity.task != "unknown" and not is_classifier(parity.task)


def judge(reference: list, outputs: list, precision: str, tolerances: dict | None = None,
          parity: ParityInfo | None = None) -> GateResult:
    """The gate's verdict on `outputs` against `reference` (one entry per check batch): a model of
    several outputs, a detector or a segmenter by compare_structured, a one-tensor classifier by
    bench.accuracy.compare."""
    if not structured(reference, parity):
        return compare(reference, outputs, precision, tolerances)
    return compare_structured(reference, outputs, precision, parity, {**TOLERANCES[precision], **(tolerances or {})})


def per_output(reference: list, outputs: list, names: list[str] | None) -> list[dict]:
    """Each output's comparison over the batches both ran: {name, items, max_abs_diff,
    max_rel_diff, cosine, cosines (per item), shape_differs, finite}. An item is a row of the
    batch axis; an output whose shape depends on the data (detections after NMS) is one item per
    batch, compared where its shape matches the reference's."""
    pairs = [(as_list(r), as_list(o)) for r, o in zip(reference, outputs) if o is not None]
    count = len(pairs[0][0]) if pairs else 0
    names = list(names or [])[:count] + [f"output.{k}" for k in range(len(names or []), count)]
    results = []
    for k in range(count):
        row = {"name": names[k], "shape_differs": False, "items": 0, "max_abs_diff": 0.0, "max_rel_diff": 0.0,
               "cosine": 1.0, "finite": True}
        cosines, scale = [], 0.0
        for r, o in pairs:
            ref, out = np.asarray(r[k], dtype=np.float64), np.asarray(o[k], dtype=np.float64)
            if ref.shape != out.shape:
                row["shape_differs"] = True
                continue
            row["finite"] = row["finite"] and bool(np.isfinite(out).all())
            if not ref.size:
                continue
            ref, out = (ref.reshape(len(ref), -1), out.reshape(len(out), -1)) if ref.ndim > 1 else (ref[None], out[None])
            scale = max(scale, float(np.abs(ref).max()))
            row["max_abs_diff"] = max(row["max_abs_diff"], float(np.abs(out - ref).max()))
            cosines.append(row_cosines(ref, out))
        if cosines:
            every = np.concatenate(cosines)
            row.update(items=len(every), cosine=float(np.mean(every)), max_rel_diff=row["max_abs_diff"] / max(scale, 1e-12))
        row["cosines"] = np.concatenate(cosines) if cosines else np.ones(0)
        results.append(row)
    return results


# -- detection -----------------------------------------------------------------------------

def detections(batch_outputs, names: list[str] | None, decode=None) -> list[dict] | None:
    """One batch's outputs -> per image {boxes [k, 4] xyxy, scores [k], labels [k]}: through
    `decode` (a registered detector's own post-processing of its raw head outputs), else read from
    outputs named ...boxes, ...scores and ...labels (a detector that returns its detections: one
    dict per image, or a dict of [batch, k, ...] tensors). None when neither applies."""
    arrays = as_list(batch_outputs)
    if decode is not None:
        return decode(arrays)
    if not names or len(names) != len(arrays):
        return None
    groups: dict[str, dict] = {}
    for name, a in zip(names, arrays):
        head, _, last = name.rpartition(".")
        if last in ("boxes", "scores", "labels"):
            groups.setdefault(head, {})[last] = np.asarray(a)
    groups = {k: g for k, g in groups.items() if set(g) == {"boxes", "scores", "labels"}}
    if not groups:
        return None
    images = []
    for group in groups.values():
        if group["boxes"].ndim == 3:  # [batch, k, 4]
            images += [{key: group[key][i] for key in group} for i in range(len(group["boxes"]))]
        else:
            images.append(group)
    return images


def detection_metrics(ref_images: list[dict], out_images: list[dict]) -> dict:
    """mAP@0.5:0.95 and mAP@0.5 of the optimised detections against the reference's pseudo-labels
    (torchmetrics, pycocotools backend), and the matched pairs' box and score errors."""
    _require_map()
    preds, targets = [], []
    matched, box_err, score_err = 0, [], []
    for ref, out in zip(ref_images, out_images):
        keep = np.asarray(ref["scores"]) >= PSEUDO_LABEL_SCORE
        t = _target({"boxes": np.asarray(ref["boxes"])[keep], "labels": np.asarray(ref["labels"])[keep]})
        p = _prediction(out)
        targets.append(t)
        preds.append(p)
        pairs = _match(t["boxes"], t["labels"], np.asarray(ref["scores"], dtype=np.float32)[keep], p)
        matched += len(pairs)
        for tb, pb, ts, ps in pairs:
            box_err.append(float(np.abs(tb - pb).mean()))
            score_err.append(abs(ts - ps))
    labels = sum(len(t["labels"]) for t in targets)
    result = {"pseudo_labels": labels, "matched": matched, "map": None, "map_50": None,
              "box_error_px": float(np.mean(box_err)) if box_err else None,
              "score_error": float(np.max(score_err)) if score_err else None}
    if labels:
        result["map"], result["map_50"] = _coco_map(preds, targets)
    return result


def _prediction(d: dict) -> dict:
    """Detections {boxes, scores, labels} (numpy) as torchmetrics' tensors."""
    import torch

    return {"boxes": torch.as_tensor(np.asarray(d["boxes"], np.float32).reshape(-1, 4)),
            "scores": torch.as_tensor(np.asarray(d["scores"], np.float32).reshape(-1)),
            "labels": torch.as_tensor(np.asarray(d["labels"]).astype(np.int64).reshape(-1))}


def _target(t: dict) -> dict:
    """Labels {boxes, labels} (numpy) as torchmetrics' tensors."""
    import torch

    return {"boxes": torch.as_tensor(np.asarray(t["boxes"], np.float32).reshape(-1, 4)),
            "labels": torch.as_tensor(np.asarray(t["labels"]).astype(np.int64).reshape(-1))}


def _require_map() -> None:
    import importlib.util

    if importlib.util.find_spec("pycocotools") is None or importlib.util.find_spec("torchmetrics") is None:
        raise ModuleNotFoundError("the detection gate's mAP needs torchmetrics and pycocotools: pip install torchmetrics pycocotools")


def _coco_map(preds: list[dict], targets: list[dict]) -> tuple[float, float]:
    """(mAP@0.5:0.95, mAP@0.5) of `preds` against `targets` (torchmetrics' tensors), by COCO's
    rules through pycocotools: the 100 best detections of an image count."""
    _require_map()
    from torchmetrics.detection import MeanAveragePrecision

    metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", backend="pycocotools")
    metric.warn_on_many_detections = False  # COCO's rule: the 100 best detections per image count
    metric.update(preds, targets)
    values = metric.compute()
    return float(values["map"]), float(values["map_50"])


def _match(t_boxes, t_labels, t_scores, pred: dict) -> list:
    """Greedy one-to-one matches of pseudo-labels (most confident first) to detections of the same
    class with IoU >= MATCH_IOU, the highest IoU first: [(label box, detection box, label score,
    detection score)]."""
    from torchvision.ops import box_iou

    if not len(t_boxes) or not len(pred["boxes"]):
        return []
    iou = box_iou(t_boxes, pred["boxes"]).numpy()
    same = t_labels.numpy()[:, None] == pred["labels"].numpy()[None, :]
    iou = np.where(same, iou, 0.0)
    taken, pairs = set(), []
    for i in np.argsort(-t_scores, kind="stable"):
        for j in np.argsort(-iou[i], kind="stable"):
            if iou[i, j] < MATCH_IOU:
                break
            if j not in taken:
                taken.add(j)
                pairs.append((t_boxes[i].numpy(), pred["boxes"][j].numpy(), float(t_scores[i]),
                              float(pred["scores"][j])))
                break
    return pairs


# -- segmentation --------------------------------------------------------------------------

def _masks(batch) -> tuple:
    """(class mask, decisive pixels) of a reference batch's first output [batch, classes, H, W]."""
    scores = np.asarray(as_list(batch)[0])
    classes = scores.shape[1]
    if classes < 2:
        return scores.argmax(axis=1), np.ones((len(scores), *scores.shape[2:]), bool)
    top2 = np.partition(scores, classes - 2, axis=1)[:, -2:]  # the runner-up, then the top
    return scores.argmax(axis=1), (top2[:, 1] - top2[:, 0]) >= DECISIVE_MARGIN


#: what was derived from the reference's outputs (its detections and masks per batch, its task
#: metric on labelled data): the same for every cell of the model, so made once. Holds one
#: reference (the current model's).
_REFERENCE = {"outputs": None, "values": {}}


def of_reference(reference: list, key: tuple, make: Callable[[], object]):
    """`make()`, a value derived from the reference's outputs, made once per reference list and
    `key`."""
    if _REFERENCE["outputs"] is not reference:
        _REFERENCE["outputs"], _REFERENCE["values"] = reference, {}
    values = _REFERENCE["values"]
    if key not in values:
        values[key] = make()
    return values[key]


def segmentation_metrics(reference: list, outputs: list) -> dict:
    """Pixel agreement (all pixels, decisive pixels) and mIoU on the decisive pixels of the first
    output's class masks ([batch, classes, H, W], arg-max over classes)."""
    import torch
    from torchmetrics.classification import MulticlassJaccardIndex

    pairs = [(j, np.asarray(as_list(o)[0])) for j, o in enumerate(outputs) if o is not None]
    classes = np.asarray(as_list(reference[0])[0]).shape[1]
    metric = MulticlassJaccardIndex(num_classes=classes, average="macro", ignore_index=-1)
    total = agree = decisive = decisive_agree = 0
    for j, out in pairs:
        ref_mask, sure = of_reference(reference, ("masks", j), lambda: _masks(reference[j]))
        out_mask = out.argmax(axis=1)
        same = ref_mask == out_mask
        total += same.size
        agree += int(same.sum())
        decisive += int(sure.sum())
        decisive_agree += int(same[sure].sum())
        target = np.where(sure, ref_mask, -1)
        metric.update(torch.as_tensor(out_mask), torch.as_tensor(target))
    return {"pixels": total, "pixel_agreement": agree / total if total else None, "decisive_pixels": decisive,
            "decisive_pixel_agreement": decisive_agree / decisive if decisive else None,
            "miou": float(metric.compute()) if decisive else None}


def compare_structured(reference: list, outputs: list, precision: str, parity: ParityInfo | None,
                       tol: dict) -> GateResult:
    """An optimised model's outputs against the reference's, judged by the task (module
    docstring). `tol`: bench.accuracy's tolerances of the precision."""
    from edgebench.models.spec import DETECTION, SEGMENTATION

    parity = parity or ParityInfo()
    ran = [j for j, o in enumerate(outputs) if o is not None]
    refs, outs = [reference[j] for j in ran], [outputs[j] for j in ran]
    items = sum(len(as_list(r)[0]) if np.ndim(as_list(r)[0]) else 1 for r in refs)

    def failed(reason: str) -> GateResult:
        return GateResult(False, reason, float("inf"), float("inf"), 0.0, None, items)

    if not ran:
        return failed("no check outputs to compare")
    n_ref, n_out = len(as_list(refs[0])), len(as_list(outs[0]))
    if n_ref != n_out:
        return failed(f"{n_out} outputs, the reference has {n_ref} ({', '.join(parity.names) or 'unnamed'})")
    rows = per_output(refs, outs, list(parity.names))
    bad = [r["name"] for r in rows if not r["finite"]]
    if bad:
        return failed(f"output {', '.join(bad)} contains NaN or Inf")
    task_tol = {**TASK_TOLERANCES.get(precision, TASK_TOLERANCES["fp32"]), **{k: v for k, v in tol.items() if k in TASK_TOLERANCES["fp32"]}}
    reasons, notes, metrics, judged = [], [], None, False
    if parity.task == DETECTION:
        ref_det = [of_reference(reference, ("detections", j),
                                lambda: detections(reference[j], list(parity.names), parity.decode)) for j in ran]
        out_det = [detections(o, list(parity.names), parity.decode) for o in outs]
        if any(d is None for d in ref_det + out_det):
            notes.append("detections not judged: the outputs are not boxes, scores and labels, and the model has no decoder")
        else:
            metrics = detection_metrics([d for ds in ref_det for d in ds], [d for ds in out_det for d in ds])
            if metrics["pseudo_labels"] >= MIN_PSEUDO_LABELS:
                judged = True
                if metrics["map"] < task_tol["min_map"]:
                    reasons.append(f"mAP@0.5:0.95 {metrics['map']:.3f} against the reference's {metrics['pseudo_labels']} "
                                   f"detections (score >= {PSEUDO_LABEL_SCORE:g}) < {task_tol['min_map']:g}")
            else:
                notes.append(f"mAP not judged: the reference made {metrics['pseudo_labels']} detections with score >= "
                             f"{PSEUDO_LABEL_SCORE:g} on the check inputs; {MIN_PSEUDO_LABELS} are needed (trained weights, "
                             "or more check inputs)")
    elif parity.task == SEGMENTATION:
        if np.ndim(as_list(refs[0])[0]) != 4:
            notes.append("masks not judged: the first output is not [batch, classes, height, width]")
        else:
            metrics = segmentation_metrics(reference, outputs)
            if metrics["decisive_pixels"] >= MIN_DECISIVE_PIXELS:
                judged = True
                if metrics["miou"] < task_tol["min_miou"]:
                    reasons.append(f"mIoU {metrics['miou']:.4f} on {metrics['decisive_pixels']:,} decisive pixels < "
                                   f"{task_tol['min_miou']:g}")
                if metrics["decisive_pixel_agreement"] < task_tol["min_pixels"]:
                    reasons.append(f"pixel agreement {100 * metrics['decisive_pixel_agreement']:.2f}% on decisive pixels < "
                                   f"{100 * task_tol['min_pixels']:g}%")
            else:
                notes.append(f"masks not judged: {metrics['decisive_pixels']} decisive pixels (reference top class ahead "
                             f"by >= ln 2); {MIN_DECISIVE_PIXELS} are needed")
    compared = [r for r in rows if r["items"]]
    for row in rows:
        if row["shape_differs"]:
            notes.append(f"output {row['name']}'s shape depends on the data; compared on the batches where it matches the reference's"
                         if row["items"] else f"output {row['name']}'s shape differs from the reference's on every batch")
            if not row["items"] and not judged:
                reasons.append(f"output {row['name']}'s shape differs from the reference's")
    for row in compared:
        if tol["max_rel_diff"] is not None and not row["shape_differs"] and row["max_rel_diff"] > tol["max_rel_diff"]:
            reasons.append(f"output {row['name']}: max relative error {row['max_rel_diff']:.3g} > {tol['max_rel_diff']:g}")
        if not judged and row["cosine"] < tol["min_cosine"]:
            reasons.append(f"output {row['name']}: cosine similarity {row['cosine']:.5f} < {tol['min_cosine']:g}")
    worst = min(compared, key=lambda r: r["cosine"]) if compared else None
    summary = [{k: v for k, v in r.items() if k != "cosines"} for r in rows]
    return GateResult(
        not reasons, "; ".join(reasons),
        max((r["max_abs_diff"] for r in compared), default=0.0), max((r["max_rel_diff"] for r in compared), default=0.0),
        worst["cosine"] if worst else 1.0, None, items, note="; ".join(notes),
        cosine_lower=mean_lower_bound(worst["cosines"]) if worst is not None and len(worst["cosines"]) else None,
        task_metrics=metrics, outputs=summary)


# -- labelled data (--data) ------------------------------------------------------------------

#: the share of the reference's mAP or mIoU on labelled data that an optimised model must keep
#: (MLPerf's closed division asks 99% of the FP32 model's accuracy of INT8 and FP16 submissions)
KEEP_LABELLED = {"fp32": 0.999, "fp16": 0.99, "bf16": 0.99, "int8": 0.99, "fp8": 0.99}


def labelled_metric(outputs: list, labels: list, items: int, parity: ParityInfo | None) -> dict | None:
    """A detector's COCO mAP@0.5:0.95 against the labels ({boxes, labels} per image) or a
    segmenter's mIoU against the masks, on the first `items` check inputs: {"metric", "value"};
    None for any other task, or where the outputs are not detections or masks."""
    from edgebench.models.spec import DETECTION, SEGMENTATION

    if parity is None or parity.task not in (DETECTION, SEGMENTATION):
        return None
    if parity.task == DETECTION:
        found = [detections(o, list(parity.names), parity.decode) for o in outputs]
        if any(f is None for f in found):
            return None
        images = [d for batch in found for d in batch][:items]
        return {"metric": "mAP", "value": _coco_map([_prediction(d) for d in images],
                                                     [_target(t) for t in labels[:items]])[0]}
    import torch
    from torchmetrics.classification import MulticlassJaccardIndex

    first = [np.asarray(as_list(o)[0]) for o in outputs]
    if first[0].ndim != 4:
        return None
    masks = np.concatenate([f.argmax(axis=1) for f in first])[:items]
    classes = first[0].shape[1]
    target = np.stack(labels[:items])
    target = np.where((target >= 0) & (target < classes), target, -1)
    metric = MulticlassJaccardIndex(num_classes=classes, average="macro", ignore_index=-1)
    return {"metric": "mIoU", "value": float(metric(torch.as_tensor(masks), torch.as_tensor(target)))}
