"""PyTorch eager: the pre-optimisation baseline, CPU or CUDA, fp32/fp16/bf16, inference mode;
optionally CUDA-graph capture and replay (`cuda_graphs=True`) to show launch overhead alone, and
a CPU thread count (`threads=N`, as onnxruntime takes it; default: PyTorch's own)."""
from __future__ import annotations

from dataclasses import dataclass, field

from edgebench.backends.base import Backend
from edgebench.backends.options import BackendOptions
from edgebench.backends.profiling import torch_profile
from edgebench.backends.torch_io import CudaGraph, TorchIO, apply_cuda_flags
from edgebench.errors import InvalidConfigError
from edgebench.models import inputs


@dataclass(frozen=True)
class PyTorchOptions(BackendOptions):
    #: record the forward into a CUDA graph and replay it (CUDA only)
    cuda_graphs: bool = False
    #: cuDNN autotuning; plain eager (the paper's baseline) keeps PyTorch's default: off
    cudnn_benchmark: bool = False
    #: with cuda_graphs: the casts and host copies are recorded into the graph too
    host_io: bool = True
    #: CPU threads while loaded (default: PyTorch's own)
    threads: int | None = field(default=None, metadata={"min": 1})
    #: let FP32 cells use TF32 on CUDA
    tf32: bool = False


class PyTorchBackend(Backend):
    name = "pytorch"
    options_class = PyTorchOptions
    consumes = "module"
    devices = ("cpu", "cuda")
    precisions = ("fp32", "fp16", "bf16")
    auto_precisions = {"cpu": ("fp32",), "cuda": ("fp32", "fp16")}
    profiler = "torch.profiler"

    def _prepare(self, module, batch_size: int) -> None:
        import torch

        self.cuda_graphs = self.options.cuda_graphs
        if self.cuda_graphs and self.device != "cuda":
            raise InvalidConfigError("--cuda-graphs needs --device cuda")
        self._torch = torch
        self.io = TorchIO(self.device, self.precision, self.name)
        self.module = module.to(self.device, self.io.dtype).eval()
        # plain eager (the paper's baseline) keeps PyTorch's default: no cuDNN autotuning
        self.cudnn_benchmark = self.options.cudnn_benchmark
        self.host_io = self.cuda_graphs and self.options.host_io
        threads = self.options.threads
        self.threads = threads
        self._threads_before: int | None = None
        self.details.update(torch=torch.__version__, threads=threads or torch.get_num_threads(), cuda_graphs=self.cuda_graphs,
                            cudnn_benchmark=self.cudnn_benchmark, graph_host_io=self.host_io)

    def _load(self) -> None:
        torch = self._torch
        if self.threads is not None:
            # process-wide: set while this backend is loaded, the previous count back on unload
            self._threads_before = torch.get_num_threads()
            torch.set_num_threads(self.threads)
        self.details["threads"] = torch.get_num_threads()
        self.graph = None
        if self.cuda_graphs:
            item = self.context.item_shape
            if item is None:
                raise InvalidConfigError("cuda_graphs needs the input shape (item_shape) to size its static buffer")
            self._flags()
            self.graph = CudaGraph(self.module, inputs.batch_shapes(item, self.batch_size), self.io.dtype,
                                   host_io=self.host_io)

    @property
    def any_batch(self) -> bool:
        return getattr(self, "graph", None) is None  # a CUDA graph replays one static shape

    def _flags(self) -> None:
        apply_cuda_flags(self.device, self.precision, self.options.tf32, self.cudnn_benchmark)

    def _run(self, x):
        torch = self._torch
        self._flags()
        if self.graph is not None:
            return self.graph.infer(x, self.io.to_device, self.io.to_host)
        t = self.io.to_device(x)
        with torch.inference_mode():
            return self.io.to_host(inputs.call(self.module, t))

    def native_call(self, x):
        torch = self._torch
        t = self.io.to_device(x)
        if self.graph is not None:
            graph = self.graph
            return lambda: graph.run(t)

        def call():
            with torch.inference_mode():
                return inputs.call(self.module, t)

        return call

    def _profile(self, x, queries: int, warmup: int, folder):
        self._flags()
        call = self.native_call(x)
        for _ in range(warmup):
            call()
        return torch_profile(call, queries, self.device, outside="(Python between ops)")

    def _unload(self) -> None:
        if self._threads_before is not None:
            self._torch.set_num_threads(self._threads_before)
            self._threads_before = None
        if getattr(self, "graph", None) is not None:
            self.graph.release()
        self.module = None
        self.graph = None
