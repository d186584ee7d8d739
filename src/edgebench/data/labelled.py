"""Labelled detection and segmentation data for `--data`: the images a detector's or segmenter's
accuracy check and INT8 calibration run on, and the labels its mAP or mIoU are measured against.

- Detection: a COCO-format folder: an annotations JSON (`annotations.json`, or a file in
  `annotations/`, the one whose name holds the split, "val" or "train", when there are several)
  and the images it names (`file_name`, under the folder or its `images/`). Boxes are COCO's
  [x, y, width, height] in pixels; the labels are COCO's `category_id`s, which is what torchvision's
  COCO detectors output. Crowd annotations are left out, as COCO's evaluation ignores them.
- Segmentation: `images/` and `masks/` with the same file stems: a mask is a PNG of class
  indices per pixel, 255 where no class is marked (Pascal VOC's convention).

Each image is resized to the model's input (H, W), without keeping its aspect ratio, as
torchvision's SSDLite transform does, and ImageNet-normalised as every edgebench image input;
boxes are scaled to match and masks resized by nearest neighbour.

`write_shapes_set` makes such a folder: shapes of three classes with known boxes and masks, on
crops of scikit-image's photos. It serves the tests and a first try of `--data`.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgebench.errors import InvalidConfigError

#: the synthetic set's classes: COCO-style category ids from 1 (0 is the background of its masks)
SHAPE_CLASSES = {1: "square", 2: "circle", 3: "triangle"}
IGNORE = 255  # a mask pixel that belongs to no class


def _rgb(path: Path):
    import cv2

    bgr = cv2.imread(str(path))
    if bgr is None:
        raise InvalidConfigError(f"cannot read image {path}; pass a folder of PNG or JPEG images")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _annotations_file(root: Path, split: str) -> Path:
    if (root / "annotations.json").is_file():
        return root / "annotations.json"
    found = sorted((root / "annotations").glob("*.json")) if (root / "annotations").is_dir() else []
    if not found:
        raise InvalidConfigError(f"{root} has no annotations.json or annotations/*.json; pass a COCO-format folder "
                                 "(make one with `edgebench data synth OUT --task shapes`)")
    named = [p for p in found if split in p.stem]
    return (named or found)[0]


def read_coco(root: str | Path, size: tuple[int, int], count: int, seed: int, split: str = "val"):
    """(inputs, labels [{boxes [k, 4] xyxy in input pixels, labels [k]}], description) of up to
    `count` images of the COCO-format folder `root`, in a random order from `seed`."""
    from edgebench.data.images import preprocess_image

    root = Path(root)
    if not root.is_dir():
        raise InvalidConfigError(f"--data {root} does not exist; pass a COCO-format folder")
    path = _annotations_file(root, split)
    try:
        coco = json.loads(path.read_text())
        images = {int(im["id"]): im for im in coco["images"]}
        annotations = coco["annotations"]
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidConfigError(f"{path} is not a COCO annotations file ({type(exc).__name__}: {exc}); it needs "
                                 "'images' and 'annotations'") from exc
    per_image: dict[int, list] = {i: [] for i in images}
    for a in annotations:
        if not a.get("iscrowd", 0) and int(a["image_id"]) in per_image:
            per_image[int(a["image_id"])].append(a)
    ids = sorted(images)
    order = [ids[i] for i in np.random.default_rng(seed).permutation(len(ids))[:count]]
    h, w = size
    items, labels = [], []
    for image_id in order:
        info = images[image_id]
        file = root / info["file_name"] if (root / info["file_name"]).is_file() else root / "images" / info["file_name"]
        rgb = _rgb(file)
        sy, sx = h / rgb.shape[0], w / rgb.shape[1]
        boxes = np.array([[a["bbox"][0] * sx, a["bbox"][1] * sy, (a["bbox"][0] + a["bbox"][2]) * sx,
                           (a["bbox"][1] + a["bbox"][3]) * sy] for a in per_image[image_id]], dtype=np.float32)
        items.append(preprocess_image(rgb, size))
        labels.append({"boxes": boxes.reshape(-1, 4),
                       "labels": np.array([int(a["category_id"]) for a in per_image[image_id]], dtype=np.int64)})
    if not items:
        raise InvalidConfigError(f"{path} names no images; pass a COCO-format folder with images")
    return items, labels, f"COCO-format folder {root} ({path.name})"


def read_masks(root: str | Path, size: tuple[int, int], count: int, seed: int):
    """(inputs, masks [H, W] int64 of class indices (IGNORE where unmarked), description) of up to
    `count` image/mask pairs of `root` (images/ and masks/, the same stems)."""
    import cv2

    from edgebench.data.images import preprocess_image

    root = Path(root)
    if not (root / "images").is_dir() or not (root / "masks").is_dir():
        raise InvalidConfigError(f"--data {root} needs images/ and masks/ (class index per pixel, 255 unmarked); "
                                 "make one with `edgebench data synth OUT --task shapes`")
    masks = {p.stem: p for p in (root / "masks").glob("*.png")}
    pairs = sorted((p, masks[p.stem]) for p in (root / "images").iterdir() if p.stem in masks)
    if not pairs:
        raise InvalidConfigError(f"no image in {root / 'images'} has a mask of the same name in {root / 'masks'}")
    h, w = size
    items, labels = [], []
    for i in np.random.default_rng(seed).permutation(len(pairs))[:count]:
        image, mask = pairs[i]
        items.append(preprocess_image(_rgb(image), size))
        m = cv2.imread(str(mask), cv2.IMREAD_GRAYSCALE)
        labels.append(cv2.resize(m, (w, h), interpolation=cv2.INTER_NEAREST).astype(np.int64))
    return items, labels, f"image/mask folder {root}"


def write_shapes_set(out: str | Path, count: int = 48, size: int = 160, seed: int = 0, per_image: tuple = (2, 5)) -> Path:
    """Write `count` images of `size` pixels: crops of scikit-image's photos with 2-4 filled
    shapes of SHAPE_CLASSES each, with images/, masks/ and a COCO annotations.json; returns `out`."""
    import cv2

    from edgebench.data.photos import sample_photos

    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    photos = sample_photos()
    images, annotations = [], []
    for i in range(count):
        photo = photos[i % len(photos)]
        side = int(min(photo.shape[:2]) * rng.uniform(0.5, 1.0))
        y, x = (int(rng.integers(0, photo.shape[k] - side + 1)) for k in (0, 1))
        img = cv2.resize(photo[y:y + side, x:x + side], (size, size), interpolation=cv2.INTER_AREA).copy()
        mask = np.zeros((size, size), np.uint8)
        for _ in range(int(rng.integers(*per_image))):
            cls = int(rng.integers(1, len(SHAPE_CLASSES) + 1))
            r = int(rng.integers(size // 12, size // 5))
            cx, cy = (int(rng.integers(r, size - r)) for _ in range(2))
            colour = tuple(int(v) for v in rng.integers(0, 256, 3))
            shape = np.zeros_like(mask)
            if cls == 1:
                cv2.rectangle(shape, (cx - r, cy - r), (cx + r, cy + r), 1, -1)
            elif cls == 2:
                cv2.circle(shape, (cx, cy), r, 1, -1)
            else:
                cv2.fillPoly(shape, [np.array([[cx, cy - r], [cx - r, cy + r], [cx + r, cy + r]], np.int32)], 1)
            img[shape > 0] = colour
            mask[shape > 0] = cls  # a later shape covers an earlier one
        for cls in SHAPE_CLASSES:  # boxes from the visible pixels: covered parts are no box
            n, comp, stats, _ = cv2.connectedComponentsWithStats((mask == cls).astype(np.uint8))
            for k in range(1, n):
                bx, by, bw, bh, area = (int(v) for v in stats[k])
                if area >= 16:
                    annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": cls,
                                        "bbox": [bx, by, bw, bh], "area": area, "iscrowd": 0})
        name = f"{i:04d}.png"
        cv2.imwrite(str(out / "images" / name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(out / "masks" / name), mask)
        images.append({"id": i + 1, "file_name": name, "width": size, "height": size})
    categories = [{"id": k, "name": v} for k, v in SHAPE_CLASSES.items()]
    (out / "annotations.json").write_text(json.dumps({"images": images, "annotations": annotations,
                                                       "categories": categories}))
    return out
