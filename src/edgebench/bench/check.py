"""How many check inputs a cell runs for the accuracy gate. The reference cell (eager PyTorch FP32,
the suite's baseline) runs all of them, and keeps its outputs in edgebench's cache, reused while
its first batch reproduces them. Every other cell runs the batches its verdict needs
(bench.accuracy.check_plan), and the rest only when that sample leaves the verdict in doubt."""
from __future__ import annotations

from typing import Callable

import numpy as np

from edgebench.models.inputs import length
from edgebench.models.outputs import as_list, pack
from edgebench.results.record import Record

#: the largest difference, relative to the largest |output|, at which the reference cell's first
#: batch still reproduces its cached outputs (the same kernels on the same machine: bit-exact, or
#: a rounding apart where threads split a sum differently)
REUSE_REL_DIFF = 1e-5
#: the reference's outputs in its cache entry: one array per batch and output, keyed "batch.output"
OUTPUTS = "outputs.npz"
#: outputs larger than this many MiB (as float32) are used but not cached: a segmenter's logits at
#: the default check size run to gigabytes, and recomputing them costs one eager pass; the
#: environment's EDGEBENCH_REFERENCE_CACHE_MB sets another limit
MAX_CACHED_MB = 256


def planned_outputs(cell, rec: Record, reference: list | None, first, run: Callable[[list], list]) -> list:
    """A cell's outputs on `cell`'s check batches: None for a batch it did not need. `first`: the
    first batch's, already run; `run(indices)` runs those batches. Without a reference of the
    same batches, or when the inputs are labelled (task accuracy is reported over all), all run."""
    from edgebench.bench.accuracy import check_plan, compare, decisive_items, gate_precision, verdict_clear
    from edgebench.bench.task_parity import structured

    batches = cell.check_batches()[0]
    labels, _, items, parity = cell.check_info()
    n = len(batches)
    # a detector's or segmenter's verdict is judged on every check input (no decisive-input plan)
    if reference is None or len(reference) != n or labels is not None or structured(reference, parity):
        return [first] + run(list(range(1, n)))
    items = items or sum(length(b) for b in batches)
    planned, rest = check_plan(reference, items)
    outputs: list = [first] + [None] * (n - 1)
    _fill(outputs, [j for j in planned if j != 0], run)
    precision = gate_precision(rec.precision)
    doubt = verdict_clear(compare(reference, outputs, precision), precision) if rest else ""
    if doubt:
        _fill(outputs, [j for j in rest if j != 0], run)
    ran = sum(_real(j, length(batches[j]), items) for j, o in enumerate(outputs) if o is not None)
    decisive = sum(decisive_items(reference)[:items])
    rec.details["check_inputs_run"] = ran
    if ran < items:
        rec.details["check_plan"] = (f"{ran} of {items} check inputs: every one of the {decisive} decisive ones and "
                                     f"a sample; the rest were not needed (the sample's verdict was clear)")
    elif doubt:
        rec.details["check_plan"] = f"all {items} check inputs: on a sample, {doubt}"
    return outputs


def _fill(outputs: list, indices: list, run: Callable[[list], list]) -> None:
    for j, out in zip(indices, run(indices)):
        outputs[j] = out


def _real(j: int, size: int, items: int) -> int:
    """Real (not padding) items in batch j of `size`."""
    return max(0, min(size, items - j * size))


def reference_outputs(cell, rec: Record, first, compute: Callable[[], list]) -> list:
    """The reference cell's outputs on every check batch: from the cache when its first batch,
    `first`, reproduces the cached first batch; else `compute()`, then cached. How they were got
    is in details["reference_cache"]."""
    from edgebench.cache import Cache

    batches = cell.check_batches()[0]
    cache, fields = Cache(cell.cache_dir), _fields(cell, rec, batches)
    entry = cache.get("reference", fields, label=rec.model)
    if entry is not None:
        cached = _load_outputs(entry.path(OUTPUTS), len(batches))
        if cached is not None and _reproduces(first, cached[0]):
            rec.details["reference_cache"] = "hit"
            return [first] + cached[1:]
        cache.discard("reference", fields, label=rec.model)
        rec.details["reference_cache"] = "rebuilt: the first batch no longer reproduces the cached outputs"
    outputs = compute()
    size_mb, limit_mb = sum(np.asarray(o).size * 4 for out in outputs for o in as_list(out)) / 2**20, reference_cache_limit_mb()
    if size_mb > limit_mb:
        rec.details["reference_cache"] = (f"not stored: {size_mb:.3g} MiB of outputs, over the cache's limit of "
                                          f"{limit_mb:g} MiB (EDGEBENCH_REFERENCE_CACHE_MB); recomputed on each run")
        return outputs
    with cache.writing("reference", fields, label=rec.model) as draft:
        np.savez(draft.folder / OUTPUTS, **{f"{j}.{k}": np.asarray(o, dtype=np.float32)
                                            for j, out in enumerate(outputs) for k, o in enumerate(as_list(out))})
    rec.details.setdefault("reference_cache", "built")
    return outputs


def reference_cache_limit_mb() -> float:
    """The largest reference outputs (MiB) the cache stores: EDGEBENCH_REFERENCE_CACHE_MB, or MAX_CACHED_MB."""
    import os

    from edgebench.errors import InvalidConfigError

    text = os.environ.get("EDGEBENCH_REFERENCE_CACHE_MB", "")
    try:
        value = float(text) if text else MAX_CACHED_MB
    except ValueError:
        value = -1.0
    if not value >= 0:  # also NaN
        raise InvalidConfigError(f"EDGEBENCH_REFERENCE_CACHE_MB={text!r} is not a number of MiB: "
                                 f"set it to one, 0 or more (0 caches none), e.g. {MAX_CACHED_MB}")
    return value


def _load_outputs(path, batches: int) -> list | None:
    """The stored outputs per batch (one array, or a tuple of them), or None when they do not
    cover every batch."""
    with np.load(path) as stored:
        keys = list(stored.keys())
        per = [sorted((int(k.split(".")[1]), stored[k]) for k in keys if k.split(".")[0] == str(j)) for j in range(batches)]
    if any(not p for p in per):
        return None
    return [pack(a for _, a in p) for p in per]


def _reproduces(first, cached) -> bool:
    a_list, b_list = as_list(first), as_list(cached)
    if len(a_list) != len(b_list):
        return False
    for a, b in zip(a_list, b_list):
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        if a.shape != b.shape or not np.isfinite(a).all():
            return False
        if a.size and float(np.abs(a - b).max()) > REUSE_REL_DIFF * max(float(np.abs(b).max()), 1e-12):
            return False
    return True


def _fields(cell, rec: Record, batches: list) -> dict:
    """What the reference's outputs depend on: the weights, the very check inputs, the batch,
    the backend and its options, the library and the device."""
    import torch

    from edgebench.hashing import arrays_sha256
    from edgebench.system import device_identity

    return {"source": cell.source_key(), "check_inputs_sha256": arrays_sha256(batches), "batches": [length(b) for b in batches],
            "backend": rec.backend, "options": rec.options, "precision": rec.precision, "torch": torch.__version__,
            "device": device_identity(rec.device), "file": OUTPUTS}
