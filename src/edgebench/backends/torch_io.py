"""Host<->device transfers shared by the torch-based backends: pinned staging buffers and
non-blocking copies on CUDA, zero-copy views on the CPU."""
from __future__ import annotations

import numpy as np

from edgebench.models import inputs

#: the dtype a precision's tensors flow in; int8 and fp8 layers (torch_compile.low_precision) take
#: and give FP16, as do the layers they leave in floating point
_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16", "int8": "float16", "fp8": "float16"}


def torch_dtype(precision: str):
    import torch

    return getattr(torch, _DTYPES[precision])


class Staging:
    """The host side of a host->device copy: an input already in page-locked memory is copied
    by DMA straight from where it lies; any other is first copied into one page-locked staging
    buffer, reused while the shape holds (the copies are synchronised before the next input)."""

    def __init__(self):
        import torch

        self.torch = torch
        self.buffer = None

    def source(self, x):
        """numpy float32 -> a page-locked CPU tensor holding the same values."""
        torch = self.torch
        t = torch.from_numpy(x)
        if t.is_pinned():
            return t
        with torch.inference_mode(False):  # the buffer is reused in and out of inference mode
            if self.buffer is None or self.buffer.shape != t.shape:
                self.buffer = torch.empty(t.shape, dtype=t.dtype).pin_memory()
            return self.buffer.copy_(t)  # torch's copy is multi-threaded, numpy's is not


class TorchIO:
    def __init__(self, device: str, precision: str, backend: str = "torch"):
        import torch

        if device == "cuda" and not torch.cuda.is_available():
            from edgebench.errors import BackendUnavailableError

            raise BackendUnavailableError(f"{backend} --device cuda needs a CUDA GPU; torch.cuda.is_available() is False")
        self.torch = torch
        self.device = device
        self.dtype = torch_dtype(precision)
        self.staging: list[Staging] = []  # one per input: a staging buffer is reused while its copy may run

    def to_device(self, x):
        """numpy float32 -> a tensor on the device in the backend's dtype (a tuple of them for a
        batch of several inputs: models.inputs)."""
        torch = self.torch
        arrays = inputs.parts(x)
        if self.device == "cpu":
            ts = [torch.from_numpy(a) for a in arrays]
            return inputs.join(t if self.dtype == torch.float32 else t.to(self.dtype) for t in ts)
        while len(self.staging) < len(arrays):
            self.staging.append(Staging())
        return inputs.join(s.source(a).to(self.device, non_blocking=True).to(self.dtype)
                           for s, a in zip(self.staging, arrays))

    def to_host(self, out):
        """Model output -> numpy float32 on the host (one array, or a tuple for several outputs:
        models.outputs). On CUDA a copy that synchronises the stream, so nothing is left in flight
        after a torch backend's run: their synchronize() keeps Backend's no-op (a device-wide sync
        after it cost 12-23 us on H100/H200 hosts)."""
        if isinstance(out, self.torch.Tensor):
            return out.float().cpu().numpy()
        from edgebench.models import outputs

        return outputs.to_host(out)


def _pinned_zeros(shape):
    """A float32 numpy array page-locked for asynchronous copies (cudaHostRegister), and the
    finalizer that unregisters it: called by the owner once no graph reads it, else when the
    array is collected, before its memory is freed (freed memory left registered would make a
    later allocation at that address page-locked behind the back of CUDA's other users)."""
    import weakref

    import torch

    arr = np.zeros(shape, dtype=np.float32)
    cudart = torch.cuda.cudart()
    err = cudart.cudaHostRegister(arr.ctypes.data, arr.nbytes, 0)
    if int(err) != 0:
        raise RuntimeError(f"cudaHostRegister failed with CUDA error {int(err)}")
    return arr, weakref.finalize(arr, cudart.cudaHostUnregister, arr.ctypes.data)


def set_tf32(precision: str, allowed: bool = False) -> None:
    """FP32 cells compute in IEEE FP32: PyTorch lets cuDNN convolutions use TF32 (10-bit
    mantissa) by default, which is another precision. Process-wide flags, so every torch
    backend sets them before it compiles, captures or runs; `tf32=1` opts back in."""
    import torch

    tf32 = precision != "fp32" or allowed
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32


def set_cudnn_benchmark(enabled: bool) -> None:
    """cuDNN picks convolution algorithms by timing them on the first call of each shape; a
    process-wide flag, so every torch backend sets its own value before it runs."""
    import torch

    torch.backends.cudnn.benchmark = bool(enabled)


def apply_cuda_flags(device: str, precision: str, tf32: bool = False, cudnn_benchmark: bool | None = None) -> None:
    """A torch backend's process-wide CUDA flags, set before it compiles, captures or runs:
    TF32 per precision (the backend's `tf32` option), and cuDNN autotuning when the backend has a setting."""
    if device != "cuda":
        return
    if cudnn_benchmark is not None:
        set_cudnn_benchmark(cudnn_benchmark)
    set_tf32(precision, tf32)


class CudaGraph:
    """One forward pass of `fn` recorded into a CUDA graph over static input/output buffers,
    replayed per inference: one launch instead of one per kernel, no Python in between.
    `shape` is the batch's shape, (batch, *item), or a tuple of them for a model of several
    inputs (models.inputs), each then a static buffer of its own.

    Two entry points: `run(t)` takes a device tensor already in the model's dtype and layout
    (the device-time measurement); `run_host(x)` takes the host numpy float32 batch, as the
    paper's TensorRT pipeline does: the host->device copy of the input (straight from `x` when it
    lies in page-locked memory, else through a page-locked staging buffer), then one replay of a
    second graph that holds the cast to the model's dtype and layout (one kernel), the forward,
    the cast of the logits to float32 and their device->host copy into a page-locked buffer,
    then one stream synchronisation."""

    def __init__(self, fn, shape: tuple[int, ...], dtype, memory_format=None, warmup: int = 3,
                 host_io: bool = False):
        import torch

        self.torch = torch
        self.fn = fn
        self.dtype = dtype
        self.memory_format = memory_format
        self.shapes = [tuple(s) for s in shape] if shape and not isinstance(shape[0], int) else [tuple(shape)]
        self.warmup = warmup
        self.host_io = host_io
        self.graph = self.host_graph = None
        if host_io:  # the device-input graph is then recorded on first use only (memory)
            self._capture_host_io()
        else:
            self._capture_device()

    def _capture_device(self) -> None:
        torch = self.torch
        with torch.inference_mode(False):
            self.static_in = [torch.zeros(s, device="cuda", dtype=self.dtype) for s in self.shapes]
            if self.memory_format is not None:
                self.static_in = [t.contiguous(memory_format=self.memory_format) for t in self.static_in]
        self._warm(lambda: self.fn(*self.static_in), self.warmup)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph), torch.no_grad():
            self.static_out = self.fn(*self.static_in)

    def _warm(self, step, warmup: int) -> None:
        torch = self.torch
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), torch.no_grad():
            for _ in range(warmup):  # cuDNN autotuning, allocator warm-up, lazy compilation
                step()
        torch.cuda.current_stream().wait_stream(side)

    def _host_step(self):
        from edgebench.models import outputs

        fmt = self.memory_format or self.torch.contiguous_format
        outs = [o.float() for o in outputs.tensors(self.fn(*(d.to(self.dtype, memory_format=fmt) for d in self.dev_in)))]
        if self.host_out is not None:  # recorded into the graph: the outputs come back in the replay
            for host, out in zip(self.host_out, outs):
                host.copy_(out, non_blocking=True)
        return outs

    def _capture_host_io(self) -> None:
        torch = self.torch
        self.staging = [Staging() for _ in self.shapes]
        with torch.inference_mode(False):
            self.dev_in = [torch.zeros(s, device="cuda", dtype=torch.float32) for s in self.shapes]
        self.host_out = None
        self._warm(self._host_step, self.warmup)
        with torch.no_grad():  # the outputs' shapes, for their pinned buffers
            shapes = [tuple(o.shape) for o in self._host_step()]
        torch.cuda.synchronize()
        # page-locked by cudaHostRegister, outside PyTorch's caching host allocator, whose
        # block reuse and events do not know that a graph keeps writing the buffers
        pinned = [_pinned_zeros(shape) for shape in shapes]
        self.host_out_np = tuple(arr for arr, _ in pinned)
        self._unpins = [unpin for _, unpin in pinned]
        self.host_out = [torch.from_numpy(arr) for arr in self.host_out_np]
        self.host_graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.host_graph), torch.no_grad():
            self.dev_out = self._host_step()

    def release(self) -> None:
        """Drop the graphs, then unpin the output buffer (a graph may write it until it is gone)."""
        self.torch.cuda.synchronize()
        self.graph = self.host_graph = None
        for unpin in self.__dict__.pop("_unpins", ()):
            unpin()
        self.host_out = self.host_out_np = None

    def infer(self, x, to_device, to_host):
        """One inference on a host batch: through the host-I/O graph when it was asked for, else
        the backend's own copy in (`to_device`), a replay and its copy out (`to_host`). A new
        batch size drops the graphs; they are recorded again at that size on their next use."""
        batch = inputs.length(x)
        if batch != self.shapes[0][0]:
            self.release()
            self.shapes = [(batch, *s[1:]) for s in self.shapes]
        if self.host_io:
            return self.run_host(x)
        return to_host(self.run(to_device(x)))

    def run(self, t):
        """Copy a device tensor in, replay, return the static output (valid until the next replay)."""
        if self.graph is None:
            self._capture_device()
        for static, part in zip(self.static_in, inputs.parts(t)):
            static.copy_(part)
        self.graph.replay()
        return self.static_out

    def run_host(self, x):
        """Host float32 batch in, host float32 outputs out (views of pinned buffers, valid until
        the next call; the caller copies what it keeps): one array, or a tuple for several."""
        if self.host_graph is None:
            self._capture_host_io()
        for dev, staging, part in zip(self.dev_in, self.staging, inputs.parts(x)):
            dev.copy_(staging.source(part), non_blocking=True)
        self.host_graph.replay()
        self.torch.cuda.current_stream().synchronize()
        from edgebench.models import outputs

        return outputs.pack(self.host_out_np)


def release_compile_workers() -> None:
    """Shut down Inductor's compile-worker pools once a backend has compiled: on a GPU machine
    each compiling process starts a pool of up to 32 worker processes (one per core), which import
    torch and Triton in the background and then idle. Left alive, every compiled cell holds its
    own pool's memory, and a pool still starting takes a core from the cells timed next (they were
    flagged contended) and from its own process's first rounds. A later compile starts a new pool."""
    import sys

    async_compile = sys.modules.get("torch._inductor.async_compile")
    if async_compile is not None and getattr(async_compile, "_pool_set", None):
        async_compile.shutdown_compile_workers()
