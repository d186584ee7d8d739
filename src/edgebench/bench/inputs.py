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
    from math import prod

    from edgebench.errors import InvalidConfigError

    available = available_memory_bytes()
    need = (pool_size + 1) * batch_size * prod(item_shape) * 4
    if available is not None and need > available:
        raise InvalidConfigError(
            f"--batch-size {batch_size} needs about {need / 2**30:.1f} GiB for {model}'s inputs alone "
            f"({pool_size} timing batches and a check batch of {'x'.join(map(str, item_shape))} float32), more than "
            f"the {available / 2**30:.1f} GiB available here; pass a smaller --batch-size or --pool-size")
