"""Host<->device transfers shared by the torch-based backends: pinned staging buffers and
non-blocking copies on CUDA, zero-copy views on the CPU."""
from __future__ import annotations

_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def torch_dtype(precision: str):
    import torch

    return getattr(torch, _DTYPES[precision])


class TorchIO:
    def __init__(self, device: str, precision: str, backend: str = "torch"):
        import torch

        if device == "cuda" and not torch.cuda.is_available():
            from edgebench.errors import BackendUnavailableError

            raise BackendUnavailableError(f"{backend} --device cuda needs a CUDA GPU; torch.cuda.is_available() is False")
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
        with torch.inference_mode(False):  # the staging buffer is reused in and out of inference mode
            if self._pinned is None or self._pinned.shape != t.shape:
                self._pinned = torch.empty(t.shape, dtype=t.dtype).pin_memory()
            self._pinned.copy_(t)
            return self._pinned.to(self.device, non_blocking=True).to(self.dtype)

    def to_host(self, out):
        """Model output -> numpy float32 on the host (a synchronising copy on CUDA)."""
        return out.float().cpu().numpy()


def set_cudnn_benchmark(enabled: bool) -> None:
    """cuDNN picks convolution algorithms by timing them on the first call of each shape; a
    process-wide flag, so every torch backend sets its own value before it runs."""
    import torch

    torch.backends.cudnn.benchmark = bool(enabled)


class CudaGraph:
    """One forward pass of `fn` recorded into a CUDA graph over static input/output buffers,
    replayed per inference: one launch instead of one per kernel, no Python in between."""

    def __init__(self, fn, shape: tuple[int, ...], dtype, memory_format=None, warmup: int = 3):
        import torch

        self.torch = torch
        with torch.inference_mode(False):
            self.static_in = torch.zeros(shape, device="cuda", dtype=dtype)
            if memory_format is not None:
                self.static_in = self.static_in.contiguous(memory_format=memory_format)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), torch.no_grad():
            for _ in range(warmup):  # cuDNN autotuning, allocator warm-up, lazy compilation
                fn(self.static_in)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph), torch.no_grad():
            self.static_out = fn(self.static_in)

    @property
    def batch(self) -> int:
        return self.static_in.shape[0]

    def run(self, t):
        """Copy a device tensor in, replay, return the static output (valid until the next replay)."""
        self.static_in.copy_(t)
        self.graph.replay()
        return self.static_out
