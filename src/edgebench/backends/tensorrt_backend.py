"""TensorRT 10 (the paper's steps 2-3): ONNX parser -> network -> builder config (FP16 flag,
workspace limit, a min/opt/max profile on the batch axis) -> serialized engine, cached on disk;
inference with an execution context, device buffers (torch CUDA tensors), H2D copy,
`execute_async_v3` on a CUDA stream, D2H copy, stream sync.

Only `_build_engine`, `_deserialize` and the `TensorRTBackend` methods touch `tensorrt`; the
cache key and entry, profile and error formatting are plain functions, tested without TensorRT.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

from edgebench.backends.base import Backend
from edgebench.backends.options import BackendOptions
from edgebench.backends.profiling import LayerTimes, RuntimeProfile
from edgebench.profilers import TENSORRT
from edgebench.cache import Cache, Entry
from edgebench.errors import BuildError, InvalidConfigError
from edgebench.export.artifact import input_names, item_shape, output_names
from edgebench.models import inputs
from edgebench.models.outputs import pack

DEFAULT_WORKSPACE_BYTES = 1 << 30
NAMESPACE, ENGINE = "tensorrt", "model.engine"  # its cache entries, and the engine's file in one


def profile_shapes(input_shape: tuple[int, ...], batch_size: int, max_batch: int | None = None):
    """(min, opt, max) shapes for the dynamic batch axis: 1, the benchmark batch, max_batch."""
    max_batch = max(batch_size, max_batch or batch_size)
    if batch_size < 1:
        raise InvalidConfigError(f"batch size must be >= 1, got {batch_size}")
    item = tuple(input_shape)
    return (1, *item), (batch_size, *item), (max_batch, *item)


def batch_size_of(profiles: dict) -> int:
    """The benchmark batch of {input name: (min, opt, max)} (every input's opt shares it)."""
    return next(iter(profiles.values()))[1][0]


def engine_cache_fields(onnx_sha256: str, trt_version: str, gpu: str, precision: str, profile, workspace: int) -> dict:
    """Everything that makes an engine valid: a change in any of these forces a rebuild."""
    return {
        "onnx_sha256": onnx_sha256,
        "tensorrt": trt_version,
        "gpu": gpu,
        "precision": precision,
        # one input's (min, opt, max), or {input name: (min, opt, max)} for several
        "profile": {n: [list(s) for s in p] for n, p in profile.items()} if isinstance(profile, dict) else [list(s) for s in profile],
        "workspace": workspace,
    }


def cached_engine(cache: Cache, fields: dict, build: Callable[[], bytes], label: str = "") -> tuple[bytes, Entry]:
    """(serialized engine, its cache entry) for `fields` (engine_cache_fields): the verified
    cached engine, else `build()`'s, stored first."""
    def write(folder: Path) -> None:
        (folder / ENGINE).write_bytes(build())

    entry = cache.get_or_build(NAMESPACE, fields, write, label)
    return entry.path(ENGINE).read_bytes(), entry


def rebuild_engine(cache: Cache, fields: dict, build: Callable[[], bytes], label: str = "") -> tuple[bytes, Entry]:
    """As cached_engine, after the cached engine would not deserialize: it is discarded and built anew."""
    cache.discard(NAMESPACE, fields, label)
    return cached_engine(cache, fields, build, label)


def format_parser_errors(errors: list[str], onnx_path: Path) -> str:
    shown = "; ".join(e.strip().replace("\n", " ") for e in errors[:3]) or "no error text"
    more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
    return f"TensorRT's ONNX parser rejected {onnx_path.name}: {shown}{more}"


def gpu_identity() -> str:
    import torch

    p = torch.cuda.get_device_properties(torch.cuda.current_device())
    return f"{p.name} sm_{p.major}{p.minor}"


@dataclass(frozen=True)
class TensorRTOptions(BackendOptions):
    #: the largest batch of the engine's profile (default: the benchmark batch)
    max_batch: int | None = field(default=None, metadata={"min": 1})
    #: the builder's workspace memory limit
    workspace_bytes: int = field(default=DEFAULT_WORKSPACE_BYTES, metadata={"min": 1})


class TensorRTBackend(Backend):
    name = "tensorrt"
    options_class = TensorRTOptions
    consumes = "onnx"
    devices = ("cuda",)
    precisions = ("fp32", "fp16", "int8")  # int8: the QDQ ONNX model (explicit quantization)
    auto_precisions = {"cuda": ("fp32", "fp16", "int8")}
    profiler = TENSORRT

    def __init__(self, device: str = "cuda", **kwargs):
        super().__init__(device=device, **kwargs)

    def _prepare(self, artifact, batch_size: int) -> None:
        import tensorrt as trt

        self._trt = trt
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.artifact = artifact
        self.input_names = input_names(artifact)
        self.output_names = output_names(artifact)
        self.profiles = {name: profile_shapes(shape, batch_size, self.options.max_batch)
                         for name, (_, shape) in zip(self.input_names, inputs.named(item_shape(artifact)))}
        workspace = self.options.workspace_bytes
        key = self.profiles if len(self.profiles) > 1 else self.profiles[self.input_names[0]]
        fields = engine_cache_fields(artifact.sha256, trt.__version__, gpu_identity(), self.precision, key, workspace)
        cache, label = Cache(self.cache_dir), str(artifact.metadata.get("model") or artifact.path.stem)
        self.engine_path = cache.folder(NAMESPACE, fields, label) / ENGINE
        self.details.update(tensorrt=trt.__version__, engine=str(self.engine_path), gpu=fields["gpu"])
        t0 = time.perf_counter()
        build = partial(self._build_engine, workspace)
        self.engine_bytes, entry = cached_engine(cache, fields, build, label)
        self._rebuild = partial(rebuild_engine, cache, fields, build, label)  # for _load
        self.engine_path = entry.path(ENGINE)
        self.timings["build_s"] = 0.0 if entry.cached else time.perf_counter() - t0
        self.details["engine_cached"] = entry.cached
        if entry.rebuilt:
            self.details["cache"] = entry.status

    def _build_engine(self, workspace: int) -> bytes:
        trt = self._trt
        builder = trt.Builder(self.logger)
        network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
        parser = trt.OnnxParser(network, self.logger)
        if not parser.parse_from_file(str(self.artifact.path)):
            errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
            raise BuildError(format_parser_errors(errors, self.artifact.path))
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace)
        if self.precision == "fp16" and not builder.platform_has_fast_fp16:
            raise BuildError(f"{gpu_identity()} has no fast FP16; an FP16 engine would not be faster: use fp32")
        if self.precision == "int8" and not builder.platform_has_fast_int8:
            # e.g. the Jetson Nano's Maxwell GPU: INT8 would run, slower, so it is not offered
            raise BuildError(f"{gpu_identity()} has no fast INT8 (needs DP4A, sm_61+); use fp16")
        if self.precision in ("fp16", "int8"):
            config.set_flag(trt.BuilderFlag.FP16)  # layers left unquantized may run in FP16
        if self.precision == "int8":
            config.set_flag(trt.BuilderFlag.INT8)  # the QDQ nodes fix the INT8 scales
        profile = builder.create_optimization_profile()
        for name, shapes in self.profiles.items():
            profile.set_shape(name, *shapes)
        config.add_optimization_profile(profile)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise BuildError(f"TensorRT could not build an engine from {self.artifact.path.name} (see TensorRT's log above)")
        return bytes(serialized)

    def _deserialize(self, data: bytes):
        runtime = self._trt.Runtime(self.logger)
        return runtime, runtime.deserialize_cuda_engine(data)

    def _load(self) -> None:
        import torch

        self.runtime, self.engine = self._deserialize(self.engine_bytes)
        if self.engine is None:
            # an engine from another TensorRT version or GPU: rebuild rather than crash
            self.engine_bytes, _ = self._rebuild()
            self.details["cache"] = "rebuilt: TensorRT could not deserialize the cached engine"
            self.runtime, self.engine = self._deserialize(self.engine_bytes)
            if self.engine is None:
                raise BuildError(f"TensorRT could not deserialize a freshly built engine {self.engine_path}")
        self.context = self.engine.create_execution_context()
        self.stream = torch.cuda.Stream()
        self._torch = torch
        self._buffers_for(batch_size_of(self.profiles))

    def _buffers_for(self, batch: int) -> None:
        """(Re)allocate device buffers and pinned host buffers for a batch size."""
        import numpy as np

        torch, trt = self._torch, self._trt
        for name, (_, opt, _) in self.profiles.items():
            self.context.set_input_shape(name, (batch, *opt[1:]))
        self.buffers = {}
        for i in range(self.engine.num_io_tensors):
            name = self.engine.get_tensor_name(i)
            shape = tuple(self.context.get_tensor_shape(name))
            if any(d < 0 for d in shape):  # known only after the run (an IOutputAllocator's job)
                raise BuildError(f"output {name} of {self.artifact.path.name} has a data-dependent shape {shape}; the "
                                 "tensorrt backend sizes its buffers before it runs: use onnxruntime or torch-compile")
            dtype = torch.from_numpy(np.empty(0, dtype=trt.nptype(self.engine.get_tensor_dtype(name)))).dtype
            self.buffers[name] = torch.empty(shape, dtype=dtype, device="cuda")
            self.context.set_tensor_address(name, self.buffers[name].data_ptr())
        self.host_ins = [torch.empty(tuple(self.buffers[n].shape), dtype=self.buffers[n].dtype).pin_memory()
                         for n in self.input_names]
        self.host_outs = [torch.empty(tuple(self.buffers[n].shape), dtype=self.buffers[n].dtype).pin_memory()
                          for n in self.output_names]
        self.batch = batch

    def _run(self, x):
        torch = self._torch
        if inputs.length(x) != self.batch:
            self._buffers_for(inputs.length(x))
        for host, part in zip(self.host_ins, inputs.parts(x)):
            host.numpy()[...] = part
        with torch.cuda.stream(self.stream):
            for host, name in zip(self.host_ins, self.input_names):
                self.buffers[name].copy_(host, non_blocking=True)  # H2D
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise RuntimeError("TensorRT execute_async_v3 returned False")
            for host, name in zip(self.host_outs, self.output_names):
                host.copy_(self.buffers[name], non_blocking=True)  # D2H
        return pack(host.numpy() for host in self.host_outs)  # valid after synchronize()

    def _synchronize(self) -> None:
        self.stream.synchronize()

    def _profile(self, x, queries: int, warmup: int, folder: Path) -> RuntimeProfile:
        """TensorRT's IProfiler on the execution context: each engine layer's time, reported by
        TensorRT once per query. The profiler stays set on the context, so the harness profiles
        a cell last, after its timing and checks, just before it unloads."""
        trt = self._trt
        for _ in range(warmup):
            self._run(x)
            self._synchronize()
        times: dict[str, list[float]] = {}

        class Collect(trt.IProfiler):
            def __init__(self):
                trt.IProfiler.__init__(self)

            def report_layer_time(self, layer_name, ms):
                times.setdefault(layer_name, []).append(ms)

        self._collect = Collect()  # referenced here while TensorRT holds it
        self.context.profiler = self._collect
        for _ in range(queries):
            self._run(x)
            self._synchronize()
        return RuntimeProfile(TENSORRT, queries, tuple(
            LayerTimes(name, None, sum(t), tuple(t) if len(t) == queries else None) for name, t in times.items()))

    def native_call(self, x):
        handle = self.stream.cuda_stream
        return lambda: (self.context.execute_async_v3(handle), self.stream.synchronize())

    def _unload(self) -> None:
        self.context = None
        self.engine = None
        self.runtime = None
        self.buffers = {}
