"""torchvision's detectors and segmenters as edgebench models: the network alone, as a deployment
runs it (TensorRT, DeepStream and Ultralytics' exports run the network and decode its raw outputs
outside it).

- A single-shot detector (SSD, SSDLite) is its backbone and head: images in, the head's raw
  outputs out: `bbox_regression` [batch, anchors, 4] and `cls_logits` [batch, anchors, classes].
  Its post-processing (anchor decoding, per-class score threshold, NMS) is torchvision's own,
  run by `DetectionDecoder` where edgebench needs the detections: for the accuracy gate.
- A segmenter (LR-ASPP, DeepLabV3, FCN) is torchvision's module as it is: images in, an
  OrderedDict of [batch, classes, H, W] scores out (`out`, and `aux` where the model has one).

Inputs are ImageNet-normalised, as for every edgebench image model. torchvision's segmenters take
exactly that. SSDLite takes (x - 0.5) / 0.5 of [0, 1] pixels; its network's first step is the
per-channel affine that maps the one to the other (one elementwise op, timed with the network).
The state dict's keys are torchvision's own (`backbone.*`, `head.*`), so a fine-tuned
torchvision checkpoint loads with `--weights`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from edgebench.errors import InvalidConfigError

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def build_detector(name: str, num_classes: int, weights=None):
    """torchvision's single-shot detector `name` with `num_classes` classes (background included,
    as torchvision counts them), as a DetectorNetwork; `weights`: a torchvision weights enum."""
    import torchvision

    kwargs = {"weights": weights} if weights is not None else {"weights": None, "weights_backbone": None,
                                                               "num_classes": num_classes}
    detector = torchvision.models.get_model(name, **kwargs)
    if not hasattr(detector, "anchor_generator") or not hasattr(detector, "box_coder"):
        raise InvalidConfigError(f"{name} is not a single-shot detector (SSD or SSDLite); edgebench runs those as the network alone")
    return DetectorNetwork(detector)


def build_segmenter(name: str, num_classes: int, weights=None):
    """torchvision's segmenter `name` with `num_classes` classes (background included)."""
    import torchvision

    if weights is not None:
        return torchvision.models.get_model(name, weights=weights)
    return torchvision.models.get_model(name, weights=None, weights_backbone=None, num_classes=num_classes, aux_loss=None)


class DetectorNetwork(nn.Module):
    """A torchvision SSD/SSDLite's backbone and head; its decoder is `detection_decoder()`."""

    def __init__(self, detector):
        super().__init__()
        self.backbone = detector.backbone
        self.head = detector.head
        self._detector = (detector,)  # its anchor generator, box coder and thresholds (not a submodule)
        mean = np.asarray(detector.transform.image_mean, dtype=np.float32)
        std = np.asarray(detector.transform.image_std, dtype=np.float32)
        imagenet_mean, imagenet_std = np.asarray(_IMAGENET_MEAN, np.float32), np.asarray(_IMAGENET_STD, np.float32)
        # ImageNet-normalised x -> pixels p = x * s + m -> the detector's (p - mean) / std
        self.register_buffer("scale", torch.from_numpy(imagenet_std / std).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("shift", torch.from_numpy((imagenet_mean - mean) / std).view(1, 3, 1, 1), persistent=False)

    def forward(self, x):
        features = list(self.backbone(x * self.scale + self.shift).values())
        return self.head(features)

    def detection_decoder(self, image_size: tuple[int, int]) -> "DetectionDecoder":
        """The detector's post-processing for inputs of `image_size` (H, W)."""
        from torchvision.models.detection.image_list import ImageList

        detector = self._detector[0]
        size = (int(image_size[0]), int(image_size[1]))
        images = torch.zeros(1, 3, *size)
        with torch.inference_mode():
            features = list(self.backbone(images).values())
            anchors = detector.anchor_generator(ImageList(images, [size]), features)[0]
        return DetectionDecoder(anchors.numpy(), tuple(detector.box_coder.weights), float(detector.score_thresh),
                                int(detector.topk_candidates), float(detector.nms_thresh),
                                int(detector.detections_per_img), size)


@dataclass(frozen=True, eq=False)
class DetectionDecoder:
    """A single-shot detector's post-processing of its raw outputs, torchvision's own
    (SSD.postprocess_detections: anchor decoding, clipping, per-class score threshold and top-k,
    batched NMS, the best `detections_per_img`). Plain data, so it travels between processes."""

    anchors: np.ndarray  # [anchors, 4] xyxy, for one image of `image_size`
    box_weights: tuple
    score_thresh: float
    topk_candidates: int
    nms_thresh: float
    detections_per_img: int
    image_size: tuple

    def __call__(self, arrays: list) -> list[dict]:
        """[bbox_regression, cls_logits] of a batch -> per image {boxes, scores, labels} (numpy)."""
        from types import SimpleNamespace

        from torchvision.models.detection import _utils
        from torchvision.models.detection.ssd import SSD

        regression, logits = (torch.as_tensor(np.asarray(a, dtype=np.float32)) for a in arrays[:2])
        anchors = torch.as_tensor(self.anchors)
        if regression.shape[1] != len(anchors):
            raise ValueError(f"the outputs hold {regression.shape[1]} anchors, the decoder {len(anchors)} "
                             f"(made for {self.image_size[0]}x{self.image_size[1]} inputs)")
        owner = SimpleNamespace(box_coder=_utils.BoxCoder(self.box_weights), score_thresh=self.score_thresh,
                                topk_candidates=self.topk_candidates, nms_thresh=self.nms_thresh,
                                detections_per_img=self.detections_per_img)
        with torch.inference_mode():
            found = SSD.postprocess_detections(owner, {"bbox_regression": regression, "cls_logits": logits},
                                               [anchors] * len(regression), [self.image_size] * len(regression))
        return [{k: v.numpy() for k, v in d.items()} for d in found]
