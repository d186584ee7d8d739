"""Fixed-seed input pools."""
from __future__ import annotations


def input_pool(item_shape, batch_size: int, size: int = 8, seed: int = 0) -> list:
    """`size` batches of (batch_size, *item_shape) float32 arrays, standard normal, seeded (a tuple
    of arrays each for a model of several inputs: models.inputs)."""
    import numpy as np

    from edgebench.models.inputs import random_batch

    rng = np.random.default_rng(seed)
    return [random_batch(item_shape, batch_size, rng) for _ in range(size)]


def page_locked(pool: list) -> list:
    """Copies of `pool` in page-locked host memory (PyTorch's pinned allocator), as numpy arrays:
    the inputs of CUDA timing, so a backend copies them to the device by DMA straight from where
    they lie, as trtexec's host buffers and the paper's pipeline (host -> device copy, execute,
    device -> host copy, stream synchronisation) do, with no staging memcpy on the host."""
    import torch

    from edgebench.models.inputs import apply

    def pinned(x):
        t = torch.empty(x.shape, dtype=torch.float32, pin_memory=True)
        t.numpy()[...] = x
        return t.numpy()  # the array keeps the pinned tensor alive

    return [apply(pinned, x) for x in pool]


def available_memory_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (None where it cannot be read)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_input_memory(model: str, item_shape, batch_size: int, pool_size: int) -> None:
    """Refuse, before anything is built, a batch whose inputs alone (the timing pool and one check
    batch, float32) do not fit in the memory this machine has available: such a run would
    allocate for minutes, then fail every cell."""
    from edgebench.errors import InvalidConfigError
    from edgebench.models.inputs import describe, numel

    available = available_memory_bytes()
    need = (pool_size + 1) * batch_size * numel(item_shape) * 4
    if available is not None and need > available:
        raise InvalidConfigError(
            f"--batch-size {batch_size} needs about {need / 2**30:.1f} GiB for {model}'s inputs alone "
            f"({pool_size} timing batches and a check batch of {describe(item_shape)} float32), more than "
            f"the {available / 2**30:.1f} GiB available here; pass a smaller --batch-size or --pool-size")
