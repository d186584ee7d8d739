"""Inputs from the model's task, for INT8 calibration and accuracy checks: an image folder, a
UCF50-layout folder, or, without data, scikit-image's photos (images) or a synthetic video set
(clips). Returns (inputs, labels or None, description)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edgebench.models.spec import ACTION_RECOGNITION


#: the built-in inputs' recipe; a change to how they are made bumps it, so cached ones are remade
BUILTIN_VERSION = 1


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

    fields = {"task": spec.task, "input_shape": list(spec.input_shape), "count": count, "seed": seed, "split": split,
              "recipe": BUILTIN_VERSION, "skimage": skimage.__version__}
    made = {}

    def build(folder: Path) -> dict:
        items, labels, desc = made["value"] = _task_inputs(spec, None, count, seed, cache_dir, split)
        np.save(folder / "inputs.npy", np.stack(items).astype(np.float32))
        return {"description": desc}

    label = f"{spec.task}-{'x'.join(map(str, spec.input_shape))}-{split}"
    entry = Cache(cache_dir).get_or_build("task-inputs", fields, build, label=label)
    if "value" in made:
        return made["value"]
    stacked = np.load(entry.path("inputs.npy"))
    return list(stacked), None, entry.meta["description"]


def _task_inputs(spec, data: str | Path | None, count: int, seed: int, cache_dir: Path | None, split: str):
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
    size = tuple(spec.input_shape[1:])
    if data is None:
        from edgebench.data.photos import photo_inputs

        return photo_inputs(size, count, seed), None, "scikit-image sample photos (crops and flips)"
    from edgebench.data.images import ImageFolderDataset

    root = Path(data)
    folder = root / split if (root / split).is_dir() else root
    ds = ImageFolderDataset(folder, size)
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(ds))[:count]
    return [ds.images[i] for i in idx], [ds.labels[i] for i in idx], f"image folder {folder}"
