"""Fixed-seed input pools."""
from __future__ import annotations


def input_pool(item_shape: tuple[int, ...], batch_size: int, size: int = 8, seed: int = 0) -> list:
    """`size` float32 arrays of shape (batch_size, *item_shape), standard normal, seeded."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return [rng.standard_normal((batch_size, *item_shape), dtype=np.float32) for _ in range(size)]
