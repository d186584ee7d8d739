"""Host<->device transfers shared by the torch-based backends: pinned staging buffers and
non-blocking copies on CUDA, zero-copy views on the CPU."""
from __future__ import annotations

_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def torch_dtype(precision: str):
    import torch

    return getattr(torch, _DTYPES[precision])


class TorchIO:
    def __init__(self, device: str, precision: str):
        import torch

        self.torch = torch
        self.device = device
        self.dtype = torch_dtype(precision)
        self._pinned = None

    def to_device(self, x):
        """numpy float32 -> a tensor on the device in the backend's dtype."""
        torch = self.torch
        t = torch.from_numpy(x)
        if self.device == "cpu":
            return t if self.dtype == torch.float32 else t.to(self.dtype)
        if self._pinned is None or self._pinned.shape != t.shape:
            self._pinned = torch.empty(t.shape, dtype=t.dtype).pin_memory()
        self._pinned.copy_(t)
        return self._pinned.to(self.device, non_blocking=True).to(self.dtype)

    def to_host(self, out):
        """Model output -> numpy float32 on the host (a synchronising copy on CUDA)."""
        return out.float().cpu().numpy()
