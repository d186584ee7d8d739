"""Fixed-seed input pools."""
from __future__ import annotations


def input_pool(item_shape: tuple[int, ...], batch_size: int, size: int = 8, seed: int = 0) -> list:
    """`size` float32 arrays of shape (batch_size, *item_shape), standard normal, seeded."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return [rng.standard_normal((batch_size, *item_shape), dtype=np.float32) for _ in range(size)]


def page_locked(pool: list) -> list:
    """Copies of `pool` in page-locked host memory (PyTorch's pinned allocator), as numpy arrays:
    the inputs of CUDA timing, so a backend copies them to the device by DMA straight from where
    they lie, as trtexec's host buffers and the paper's pipeline (host -> device copy, execute,
    device -> host copy, stream synchronisation) do, with no staging memcpy on the host."""
    import torch

    out = []
    for x in pool:
        t = torch.empty(x.shape, dtype=torch.float32, pin_memory=True)
        t.numpy()[...] = x
        out.append(t.numpy())  # the array keeps the pinned tensor alive
    return out
