"""Content hashes that several stages need (a leaf module: the standard library, and numpy for
arrays, imported where used)."""
from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: Path, chunk: int = 1 << 22) -> str:
    """Hex SHA-256 of a file's bytes, read in `chunk`-byte blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def arrays_sha256(arrays) -> str:
    """Hex SHA-256 of arrays' values as contiguous float32, one after another (a set of inputs:
    calibration, check or BatchNorm inputs, as cache keys). An item of several inputs (a tuple of
    arrays, models.inputs) counts as its arrays in order."""
    import numpy as np

    h = hashlib.sha256()
    for x in arrays:
        for part in (x if isinstance(x, tuple) else (x,)):
            h.update(np.ascontiguousarray(part, dtype=np.float32).tobytes())
    return h.hexdigest()
