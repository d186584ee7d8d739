"""PyTorch eager: the pre-optimisation baseline, CPU or CUDA, fp32/fp16/bf16, inference mode;
optionally CUDA-graph capture and replay (`cuda_graphs=True`) to show launch overhead alone."""
from __future__ import annotations

from edgebench.backends.base import Backend
from edgebench.backends.torch_io import TorchIO
from edgebench.errors import BackendUnavailableError, InvalidConfigError


class PyTorchBackend(Backend):
    name = "pytorch"
    consumes = "module"
    devices = ("cpu", "cuda")
    precisions = ("fp32", "fp16", "bf16")

    def _prepare(self, module, batch_size: int) -> None:
        import torch

        if self.device == "cuda" and not torch.cuda.is_available():
            raise BackendUnavailableError("pytorch --device cuda needs a CUDA GPU; torch.cuda.is_available() is False")
        self.cuda_graphs = bool(self.options.get("cuda_graphs"))
        if self.cuda_graphs and self.device != "cuda":
            raise InvalidConfigError("--cuda-graphs needs --device cuda")
        self._torch = torch
        self.io = TorchIO(self.device, self.precision)
        self.module = module.to(self.device, self.io.dtype).eval()
        self.details.update(torch=torch.__version__, threads=torch.get_num_threads(), cuda_graphs=self.cuda_graphs)

    def _load(self) -> None:
        if self.cuda_graphs:
            self._capture(self.batch_size)

    def _capture(self, batch: int) -> None:
        """Record one forward pass into a CUDA graph over static input/output buffers."""
        torch = self._torch
        item = self.options.get("item_shape")
        if item is None:
            raise InvalidConfigError("cuda_graphs needs the input shape (item_shape) to size its static buffer")
        self.static_in = torch.zeros((batch, *item), device="cuda", dtype=self.io.dtype)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), torch.inference_mode():
            for _ in range(3):  # warm-up outside the graph (cuDNN autotuning, allocator)
                self.module(self.static_in)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph), torch.inference_mode():
            self.static_out = self.module(self.static_in)

    def _run(self, x):
        torch = self._torch
        if self.cuda_graphs:
            if x.shape[0] != self.static_in.shape[0]:
                self._capture(x.shape[0])
            self.static_in.copy_(self.io.to_device(x))
            self.graph.replay()
            return self.io.to_host(self.static_out)
        with torch.inference_mode():
            return self.io.to_host(self.module(self.io.to_device(x)))

    def _synchronize(self) -> None:
        if self.device == "cuda":
            self._torch.cuda.synchronize()

    def native_call(self, x):
        torch = self._torch
        if self.cuda_graphs:
            self.static_in.copy_(self.io.to_device(x))
            return self.graph.replay
        t = self.io.to_device(x)

        def call():
            with torch.inference_mode():
                return self.module(t)

        return call

    def _unload(self) -> None:
        self.module = None
        self.graph = None
