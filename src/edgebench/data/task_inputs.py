"""Inputs from the model's task, for INT8 calibration and accuracy checks: an image folder, a
UCF50-layout folder, a detector's COCO-format folder or a segmenter's image/mask folder
(data.labelled), or, without data, scikit-image's photos (images) or a synthetic video set
(clips). They follow the model's declared input: an image input (C, H, W) gets the photos at its
size, in grey where C is 1 (to_channels); any other input (vectors, sequences) gets standard-normal
values from a fixed seed, and says so. A model of several inputs gets each input made so, as a
tuple per item (models.inputs). Returns (inputs, labels or None, description)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edgebench.errors import InvalidConfigError
from edgebench.models import inputs
from edgebench.models.spec import ACTION_RECOGNITION, DETECTION, SEGMENTATION, is_image


#: the built-in inputs' recipe; a change to how they are made bumps it, so cached ones are remade
#: (2: inputs follow the declared channels and rank)
BUILTIN_VERSION = 2

#: the ImageNet statistics averaged over the channels: a grey input's normalisation
GREY_MEAN, GREY_STD = 0.449, 0.226
#: ITU-R BT.601 luma weights, as cv2 and PIL convert RGB to grey
LUMA = (0.299, 0.587, 0.114)


def to_channels(x, channels: int):
    """An ImageNet-normalised (3, H, W) input as (channels, H, W): itself for 3; for 1, its luma
    normalised by GREY_MEAN and GREY_STD; otherwise channel k is its channel k mod 3."""
    from edgebench.data.images import IMAGENET_MEAN, IMAGENET_STD

    if channels == 3:
        return x
    if channels == 1:
        rgb = x * IMAGENET_STD[:, None, None] + IMAGENET_MEAN[:, None, None]
        luma = LUMA[0] * rgb[0] + LUMA[1] * rgb[1] + LUMA[2] * rgb[2]
        return ((luma - GREY_MEAN) / GREY_STD)[None].astype(np.float32)
    return np.ascontiguousarray(x[[k % 3 for k in range(channels)]])


def _in_channels(items: list, channels: int, desc: str) -> tuple[list, str]:
    if channels == 3:
        return items, desc
    what = "in grey (luma)" if channels == 1 else f"as {channels} channels (channel k is colour channel k mod 3)"
    return [to_channels(x, channels) for x in items], f"{desc}, {what}"


def synthetic_inputs(shape, count: int, seed: int) -> list:
    """`count` float32 items of `shape`, standard normal, from `seed`: the check and calibration
    inputs of a model whose input is not an image or a clip."""
    rng = np.random.default_rng(seed + 7919)  # not the timing pool's values (bench.inputs, the same seeds)
    return list(rng.standard_normal((count, *shape), dtype=np.float32))


def task_inputs(spec, data: str | Path | None, count: int, seed: int = 0, cache_dir: Path | None = None,
                split: str = "val"):
    """Up to `count` preprocessed single inputs (item shape, float32) for `spec`'s task.
    `split`: for an image folder with train/ and val/, which one; for UCF50, "train" or "val"
    groups (calibration takes training data, the accuracy gate validation data). Without `data`
    the built-in inputs are made once and kept in edgebench's cache (each of a run's workers would
    otherwise decode and crop the same photos or videos again)."""
    if data is None:
        return _builtin(spec, count, seed, cache_dir, split)
    return _task_inputs(spec, data, count, seed, cache_dir, split)


def _builtin(spec, count: int, seed: int, cache_dir: Path | None, split: str):
    import skimage

    from edgebench.cache import Cache

    fields = {"task": spec.task, "input_shape": inputs.to_json(spec.input_shape), "count": count, "seed": seed, "split": split,
              "recipe": BUILTIN_VERSION, "skimage": skimage.__version__}
    made = {}

    def build(folder: Path) -> dict:
        items, labels, desc = made["value"] = _task_inputs(spec, None, count, seed, cache_dir, split)
        for k, arr in enumerate(inputs.parts(inputs.stack(items))):
            np.save(folder / _stored(k), arr)
        return {"description": desc}

    label = f"{spec.task}-{inputs.as_option(spec.input_shape).replace(' ', '-').replace(',', 'x')}-{split}"
    entry = Cache(cache_dir).get_or_build("task-inputs", fields, build, label=label)
    if "value" in made:
        return made["value"]
    stacked = inputs.join(np.load(entry.path(_stored(k))) for k in range(len(inputs.named(spec.input_shape))))
    return inputs.items(stacked), None, entry.meta["description"]


def _stored(k: int) -> str:
    """The file of the built-in inputs' k-th input (the first keeps the one-input name)."""
    return "inputs.npy" if k == 0 else f"inputs-{k}.npy"


def _several(spec, data, count: int, seed: int, split: str):
    """A several-input model's items: tuples with one array per input, each made as for a
    one-input model of that shape (photos for an image input, the same photos for every image
    input; standard-normal values otherwise, from a seed per input)."""
    import dataclasses

    if data is not None:
        raise InvalidConfigError(f"--data {data} holds one input per item, but {spec.name} takes several "
                                 f"({inputs.describe(spec.input_shape)}); leave --data out (its check and "
                                 "calibration inputs are then made for each input)")
    columns, descs = [], []
    for k, (name, shape) in enumerate(spec.input_shape):
        one = dataclasses.replace(spec, input_shape=shape, size=None)
        made, _, desc = _task_inputs(one, None, count, seed if is_image(shape) else seed + 104729 * k, None, split)
        columns.append(made)
        descs.append(f"{name}: {desc}")
    return [tuple(parts) for parts in zip(*columns)], None, "; ".join(descs)


def _task_inputs(spec, data: str | Path | None, count: int, seed: int, cache_dir: Path | None, split: str):
    if inputs.several(spec.input_shape):
        return _several(spec, data, count, seed, split)
    data_given = data is not None
    if spec.task == ACTION_RECOGNITION:
        from edgebench.data.ucf50 import ClipDataset, index_ucf50

        if data is None:
            from edgebench.cache import default_cache_dir
            from edgebench.data.synth import write_video_set

            root = Path(cache_dir or default_cache_dir()) / "synthetic-videos"
            if not (root / "UCF50").is_dir():
                write_video_set(root, groups=3, clips_per_group=3, seed=seed)
            data, desc = root, "synthetic UCF50-layout videos"
        else:
            desc = f"UCF50 folder {data}"
        index = index_ucf50(data)
        train, val = index.split() if len(index.groups()) > 1 else (index.items, index.items)
        pool = train if split == "train" else val
        rng = np.random.default_rng(seed)
        items = [pool[i] for i in rng.permutation(len(pool))[:count]]
        _, t, h, w = spec.input_shape
        ds = ClipDataset(items, t, (h, w))
        # labels only for the user's data: a model's class indices mean nothing on the synthetic set
        return [c.astype(np.float32) for c in ds.clips], (list(ds.labels) if data_given else None), desc
    shape = tuple(spec.input_shape)
    if not is_image(shape):
        if data is not None:
            raise InvalidConfigError(f"--data {data} holds images, but {spec.name} takes inputs of shape "
                                     f"{'x'.join(map(str, shape))}, not (C, H, W) images; leave --data out "
                                     "(its check and calibration inputs are then synthetic)")
        return (synthetic_inputs(shape, count, seed), None,
                f"synthetic standard-normal inputs (seed {seed}; the input {'x'.join(map(str, shape))} is not an image)")
    channels, size = shape[0], tuple(shape[1:])
    if data is None:
        from edgebench.data.photos import photo_inputs

        items, desc = _in_channels(photo_inputs(size, count, seed), channels, "scikit-image sample photos (crops and flips)")
        return items, None, desc
    if spec.task in (DETECTION, SEGMENTATION):
        from edgebench.data import labelled

        if channels != 3:
            raise InvalidConfigError(f"--data {data}: labelled detection and segmentation images are RGB, but "
                                     f"{spec.name} takes {channels} channels")
        if spec.task == DETECTION:
            return labelled.read_coco(data, size, count, seed, split)
        return labelled.read_masks(data, size, count, seed)
    from edgebench.data.images import ImageFolderDataset

    root = Path(data)
    folder = root / split if (root / split).is_dir() else root
    ds = ImageFolderDataset(folder, size)
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(ds))[:count]
    items, desc = _in_channels([ds.images[i] for i in idx], channels, f"image folder {folder}")
    return items, [ds.labels[i] for i in idx], desc
