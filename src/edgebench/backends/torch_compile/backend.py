"""torch.compile (Inductor): fp32/fp16/bf16, channels-last memory format on CUDA (NHWC for
images, NDHWC for clips: cuDNN's tensor-core convolutions want it, else they transpose per layer).
Compilation happens in `load` and its time is recorded as the build time.

On CUDA the default is Inductor's "default" mode with the compiled forward recorded into one
CUDA graph by edgebench (`cuda_graphs=True`): a replay per inference with no Python in between,
lower per-call overhead than "reduce-overhead" mode's cudagraph trees (which remain available:
mode=reduce-overhead, cuda_graphs=0). cuDNN autotuning is on. Inductor's freezing (weights as
constants, BatchNorm folded) is on for the CPU, where it lets oneDNN pre-pack the weights, and off
on CUDA: AOTAutograd's cache refuses frozen graphs, so every start, warm or cold, traced the model
again; on an H100 (ResNet-50 and MobileNetV2 FP16, batch 1) it was no faster with freezing, and
compiled in 13.6 s instead of 30.9 cold, 5.0 s instead of 11.5 warm (freezing=1 turns it on). On CUDA each plain convolution is also timed in its im2col + matmul
form and in edgebench's Triton kernel (triton_conv.py, `triton_conv=0` leaves it out) and
swapped for the fastest where that is faster (`im2col=auto`, the default there;
conv_lowering.py; im2col=0 turns all of it off). max-autotune is refused: minutes of tuning.

Precisions int8 and fp8 (e4m3) swap the model's convolutions and linear layers for edgebench's
low-precision ones before compiling (low_precision.py: BatchNorm folded, weights per output
channel, activation scales calibrated on the task's inputs, tensor-core products); what they
cannot serve stays FP16, and the record's details.low_precision_layers says which and why. INT8
needs sm_80+ (A100, Orin, H100/H200), FP8 sm_89+ (Ada, Hopper); on the CPU INT8 runs too, through
the same products, which is how the tests check it. On CUDA, where the model traces, both first
fuse each convolution with its residual add and ReLU into one Triton kernel, int8/fp8 between them
(int8_graph.py); the linear layers, and a model that does not trace, take the per-layer path."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from edgebench.backends.base import CALIBRATED_PRECISIONS, Backend, CalibratedModule
from edgebench.backends.options import BackendOptions
from edgebench.backends.profiling import torch_profile
from edgebench.backends.torch_io import CudaGraph, TorchIO, apply_cuda_flags, release_compile_workers
from edgebench.errors import InvalidConfigError
from edgebench.models import inputs

#: its compiles in edgebench's cache: Inductor's cache artifacts (one file) and the lowering decisions
CACHE_NAMESPACE, CACHE_FILE = "torch-compile", "inductor-artifacts.bin"
#: the INT8/FP8 layers' timings on CUDA (which layers the low precision serves faster), per model,
#: batch and GPU: a warm start chooses the same layers without timing them again
PLAN_NAMESPACE = "torch-compile-low-precision"
#: the files whose kernels those timings measured: a change to one of them times the layers again
_KERNEL_SOURCES = ("int8_conv.py", "int8_graph.py", "low_precision.py", "triton_int8.py", "conv_lowering.py")


@dataclass(frozen=True)
class TorchCompileOptions(BackendOptions):
    """None: the backend's default for the device (see the module's docstring)."""

    mode: Literal["default", "reduce-overhead"] = "default"
    #: default: on CUDA for images and clips
    channels_last: bool | None = None
    tf32: bool = False
    #: default: on CUDA
    cudnn_benchmark: bool | None = None
    #: default: on for the CPU, off on CUDA
    freezing: bool | None = None
    #: default: on CUDA in mode default
    cuda_graphs: bool | None = None
    host_io: bool = True
    triton_conv: bool = True
    #: auto (per-layer timing), all (1: every eligible convolution) or off (0); default: auto on
    #: CUDA when the input shape is known, else off
    im2col: Literal["off", "auto", "all"] | bool | None = None


class TorchCompileBackend(Backend):
    name = "torch-compile"
    options_class = TorchCompileOptions
    consumes = "module"
    devices = ("cpu", "cuda")
    precisions = ("fp32", "fp16", "bf16", "int8", "fp8")
    auto_precisions = {"cpu": ("fp32",), "cuda": ("fp32", "fp16", "bf16", "int8", "fp8")}
    profiler = "torch.profiler"

    def _prepare(self, module, batch_size: int) -> None:
        import torch

        calibration = None
        if isinstance(module, CalibratedModule):
            module, calibration, self.calibration_desc = module.module, module.calibration, module.description
        self.low = self.precision in CALIBRATED_PRECISIONS
        if self.low:
            self._check_low_precision(calibration)
        self.mode = self.options.mode
        if self.mode == "reduce-overhead" and self.device != "cuda":
            raise InvalidConfigError("torch-compile mode reduce-overhead (CUDA graphs) needs --device cuda")
        self._torch = torch
        self.io = TorchIO(self.device, self.precision, self.name)
        item = self.context.item_shape or ()
        image = not inputs.several(item) and len(item) in (3, 4)  # one image or clip input
        self.channels_last = _default(self.options.channels_last, self.device == "cuda" and image)
        self._format = torch.channels_last_3d if len(item) == 4 else torch.channels_last
        if self.low:  # folded in FP32, before the cast
            from edgebench.backends.torch_compile.low_precision import fold_batchnorm

            module, folded, why = fold_batchnorm(module.eval())
            self.details.update(batchnorm_folded=folded, **({"batchnorm_not_folded": why} if why else {}))
        module = module.to(self.device, self.io.dtype).eval()
        self.tf32 = self.options.tf32
        self.cudnn_benchmark = _default(self.options.cudnn_benchmark, self.device == "cuda")
        if self.channels_last:
            module = module.to(memory_format=self._format)
        self.module = module
        if self.low:
            self._quantize(calibration, batch_size)
        # freezing: weights become constants, so Inductor folds BatchNorm into convolutions and
        # pre-lays-out weights; valid for inference only, which is all a backend does
        self.freezing = _default(self.options.freezing, self.device != "cuda")
        if self.mode == "default":
            self.compiled = torch.compile(module, dynamic=False, options={"freezing": self.freezing})
        else:
            self.compiled = torch.compile(module, mode=self.mode, dynamic=False)
            self.freezing = False
        self.use_graph = _default(self.options.cuda_graphs, self.device == "cuda" and self.mode == "default")
        if self.use_graph and (self.device != "cuda" or self.mode != "default"):
            raise InvalidConfigError("torch-compile cuda_graphs=1 needs --device cuda and mode=default")
        # host_io: the casts, the layout change and the output's copy to the host are recorded into the graph too
        self.host_io = self.use_graph and self.options.host_io
        self.im2col = self._im2col_mode()
        self.triton_conv = self.device == "cuda" and self.options.triton_conv
        self.graph = None
        self.details.update(torch=torch.__version__, mode=self.mode, im2col=self.im2col, channels_last=bool(self.channels_last),
                            cuda_graphs=self.use_graph, cudnn_benchmark=self.cudnn_benchmark, freezing=self.freezing, tf32=self.tf32,
                            triton_conv=self.triton_conv and self.im2col == "auto",
                            graph_host_io=self.host_io)

    def _check_low_precision(self, calibration) -> None:
        """int8 / fp8: calibration inputs were given, and the GPU has the tensor cores."""
        import torch

        from edgebench.errors import BackendUnavailableError

        if calibration is None:
            raise InvalidConfigError(f"torch-compile {self.precision} calibrates on the task's inputs: give it a "
                                     "CalibratedModule (edgebench run and bench do)")
        need = LOW_PRECISION_NEEDS[self.precision]
        if self.device == "cuda":
            cc = torch.cuda.get_device_capability()
            if cc < need:
                raise BackendUnavailableError(
                    f"torch-compile {self.precision} needs a GPU of sm_{need[0]}{need[1]} or newer; "
                    f"{torch.cuda.get_device_name()} is sm_{cc[0]}{cc[1]}: use --precision fp16")

    def _quantize(self, calibration: list, batch_size: int) -> None:
        """Swap the layers for their int8 / fp8 form, calibrated on `calibration` (one batch of up
        to 8 items at a time, each copied to the device only when the last has run)."""
        from torch import nn

        from edgebench.backends.torch_compile.low_precision import gpu_path, kept_summary, quantize

        def batches():
            for i in range(0, len(calibration), 8):
                yield inputs.parts(self._to_device(inputs.stack(calibration[i:i + 8])))

        example, path, why = None, "", ""
        if self.device == "cuda":  # each convolution timed in both forms on its input at this batch
            import numpy as np

            import torch

            path, why = gpu_path(self.precision, self.device, torch.cuda.get_device_capability())
            self._flags()
            example = inputs.parts(self._to_device(inputs.random_batch(self.context.item_shape, batch_size,
                                                                       np.random.default_rng(0))))
        plan_cache, plan_fields, known = self._plan_cache(len(calibration)) if example is not None else (None, None, None)
        rows, unfused = [], ""
        if self.device == "cuda":  # each convolution, its residual add and ReLU one kernel, int8/fp8 between them
            from edgebench.backends.torch_compile import int8_graph

            unfused = int8_graph.probe(self.device, self.precision)
            if not unfused:
                self.module, rows, unfused = int8_graph.fuse_convs(self.module, batches(), self.io.dtype, example,
                                                                   self.precision, known)
        types = (nn.Linear,) if rows else (nn.Conv2d, nn.Linear)
        rows += quantize(self.module, batches(), self.precision, rows=batch_size, out_dtype=self.io.dtype,
                         example=example, path=path, types=types, known=known)
        if plan_fields is not None:
            self._store_plan(plan_cache, plan_fields, known, rows)
        low = [r for r in rows if r["choice"] == self.precision]
        kept = kept_summary(rows, self.precision)
        if not low:  # the cell would time the FP16 model under the low precision's name
            from edgebench.errors import BackendUnavailableError

            raise BackendUnavailableError(
                f"torch-compile {self.precision}: none of the model's {len(rows)} convolution and linear layers runs in "
                f"{self.precision} here ({kept}), so the cell would be the FP16 model; use --precision fp16")
        self.details.update(
            low_precision={"kind": self.precision, "layers": len(rows), "quantised": len(low),
                           "kept_fp16": len(rows) - len(low), "kept": kept,
                           "calibration": f"{len(calibration)} {self.calibration_desc}",
                           **({"gpu_path": path or "torch"} if self.device == "cuda" else {}),
                           **({"fused_convs": sum(r.get("gpu_path") == int8_graph.PATH for r in low)}
                              if self.device == "cuda" else {}),
                           **({"fused_convs_not_used": unfused} if unfused else {}),
                           **({"gpu_path_fallback": why} if why else {})},
            low_precision_layers=rows)

    def _plan_cache(self, calibration_items: int):
        """(the cache, the fields of this model's low-precision plan on this GPU, the layers' stored
        timings or None); (None, None, None) where the model is not identified (no source_key)."""
        from pathlib import Path

        from edgebench.cache import Cache
        from edgebench.hashing import file_sha256

        fields = self._model_fields()
        if fields is None:
            return None, None, None
        here = Path(__file__).parent
        fields.update(calibration=f"{calibration_items} {self.calibration_desc}",
                      kernels={name: file_sha256(here / name) for name in _KERNEL_SOURCES})
        cache = Cache(self.cache_dir)
        entry = cache.get(PLAN_NAMESPACE, fields, self._cache_label())
        return cache, fields, (entry.meta["timings"] if entry is not None else None)

    def _store_plan(self, cache, fields: dict, known: dict | None, rows: list[dict]) -> None:
        """The layers' timings (and a fused layer's tile shape) into the cache, where they were timed
        now; details.low_precision_plan says which."""
        if known is not None:
            self.details["low_precision_plan"] = "cached: the layers' timings of an earlier build on this GPU, not timed again"
            return
        timings = {r["layer"]: [r["float_us"], r["low_us"], *([r["tile"]] if "tile" in r else [])]
                   for r in rows if "float_us" in r}
        with cache.writing(PLAN_NAMESPACE, fields, self._cache_label()) as draft:
            draft.meta["timings"] = timings
        self.details["low_precision_plan"] = f"timed: {len(timings)} layers, stored in the cache"

    def _im2col_mode(self) -> str:
        # default on CUDA: per-layer timing decides (it never lowers a layer it timed slower)
        value = _default(self.options.im2col, "auto" if self.device == "cuda" and self.context.item_shape else "off")
        mode = ("all" if value else "off") if isinstance(value, bool) else value
        if mode != "off" and not self.context.item_shape:
            raise InvalidConfigError("torch-compile im2col needs item_shape to time each convolution on its input")
        return mode

    def _lower_convs(self, x, known: list | None = None) -> list:
        """Swap small convolutions for their im2col + matmul form or the Triton kernel where that
        is faster (before the first call, so Inductor traces the lowered module); with `known`
        (a cached compile's decisions), the same swaps without timing the layers again."""
        if self.im2col == "off":
            return []
        from edgebench.backends.torch_compile.conv_lowering import apply_decisions, lower_convs

        if known is not None:
            decisions = apply_decisions(self.module, known)
        else:
            decisions = lower_convs(self.module, self._to_device(x), self.im2col, triton=self.triton_conv)
        self.details["im2col_layers"] = decisions
        self.details["im2col_lowered"] = sum(d["choice"] == "im2col" for d in decisions)
        self.details["triton_convs"] = sum(d["choice"] == "triton" for d in decisions)
        return decisions

    def _model_fields(self) -> dict | None:
        """The model's weights and shapes, batch, precision, options, torch and the device: what
        both cache entries (the compile, the low-precision plan) depend on; None where the model is
        not identified (no source_key)."""
        from dataclasses import asdict

        from edgebench.system import device_identity

        if not self.context.source_key:
            return None
        return {"source": self.context.source_key, "batch": self.batch_size, "item": inputs.to_json(self.context.item_shape),
                "precision": self.precision, "options": asdict(self.options), "torch": self._torch.__version__,
                "device": device_identity(self.device)}

    def _cache_label(self) -> str:
        """The model's name, which starts its cache entries' folder names."""
        return str(self.context.source_key.get("model") or "")

    def _cache_fields(self) -> dict | None:
        """What this compile depends on (the model fields, and a low precision's calibration and
        scales), or None where the model is not identified (no source_key)."""
        fields = self._model_fields()
        if fields is None:
            return None
        if self.low:  # its scales: frozen into the compiled graph on the CPU
            fields["calibration"] = self.details["low_precision"]["calibration"]
            fields["scales"] = [[float(m.in_scale), getattr(m, "y_scale", None)] for m in self.module.modules()
                                if hasattr(m, "in_scale")]
        return fields

    def _compile_cache(self):
        """(the cache, this compile's entry fields, the verified entry or None). A hit primes
        Inductor's own caches with the stored artifacts (torch.compiler.load_cache_artifacts), so
        the compile that follows reuses its generated code and autotuning instead of redoing them."""
        from edgebench.cache import Cache

        fields = self._cache_fields()
        if fields is None:
            return None, None, None
        cache, label = Cache(self.cache_dir), self._cache_label()
        entry, rejected = cache.lookup(CACHE_NAMESPACE, fields, label)
        if rejected:
            self.details["cache"] = f"rebuilt: {rejected}"
        if entry is not None:
            try:
                info = self._torch.compiler.load_cache_artifacts(entry.path(CACHE_FILE).read_bytes())
                self.details["compile_cache_artifacts"] = {k: len(v) for k, v in (info.artifacts if info else {}).items()}
            except Exception as exc:  # noqa: BLE001 - a stale entry costs a compile, never the cell
                cache.discard(CACHE_NAMESPACE, fields, label)
                self.details["cache"] = f"rebuilt: Inductor could not load the stored artifacts ({str(exc)[:120]})"
                entry = None
        return cache, fields, entry

    def _store_compile(self, cache, fields: dict, decisions: list) -> None:
        """This compile's Inductor artifacts and lowering decisions, into edgebench's cache."""
        saved = self._torch.compiler.save_cache_artifacts()
        if not saved or saved[1].empty():
            return  # nothing Inductor could cache (the compile was bypassed): no entry
        label = self._cache_label()
        with cache.writing(CACHE_NAMESPACE, fields, label) as draft:
            (draft.folder / CACHE_FILE).write_bytes(saved[0])
            draft.meta["lowering"] = decisions

    def _to_device(self, x):
        t = self.io.to_device(x)
        if self.channels_last:
            t = inputs.apply(lambda part: part.contiguous(memory_format=self._format), t)
        return t

    def _call(self, t):
        torch = self._torch
        if self.mode == "reduce-overhead":
            torch.compiler.cudagraph_mark_step_begin()  # outputs of the previous replay are consumed
        with torch.inference_mode():
            return inputs.call(self.compiled, t)

    def _load(self) -> None:
        import numpy as np

        item = self.context.item_shape
        if item is None:
            if self.use_graph:
                raise InvalidConfigError("torch-compile cuda_graphs needs item_shape to size its static buffer")
            return  # compiles on the first run instead
        self._flags()
        sample = inputs.random_batch(item, self.batch_size, np.random.default_rng(0))  # the lowering's timing input
        x = inputs.apply(np.zeros_like, sample)  # the compile's
        t0 = time.perf_counter()
        cache, fields, entry = self._compile_cache()
        self.details["compile_cached"] = entry is not None
        known = entry.meta.get("lowering") if entry is not None else None
        decisions = self._lower_convs(sample, known)
        # a cached compile has its kernels built: one compile thread, so Inductor starts no worker
        # pool (on a GPU machine, a worker per core importing torch, which took seconds to shut down)
        from torch._inductor import config as inductor_config

        threads = {"compile_threads": 1} if entry is not None else {}
        with inductor_config.patch(threads):
            for _ in range(3):  # compile, then (reduce-overhead) the cudagraph-tree recording runs
                self.io.to_host(self._call(self._to_device(x)))
        if cache is not None and entry is None:
            self._store_compile(cache, fields, decisions)
        if self.use_graph:
            fmt = self._format if self.channels_last else None
            self.graph = CudaGraph(self.compiled, inputs.batch_shapes(item, self.batch_size), self.io.dtype, memory_format=fmt,
                                   host_io=self.host_io)
        release_compile_workers()  # compiled: none of Inductor's workers is left to take a core while timed
        self.timings["build_s"] = time.perf_counter() - t0

    def _flags(self) -> None:
        apply_cuda_flags(self.device, self.precision, self.tf32, self.cudnn_benchmark)

    def _run(self, x):
        self._flags()
        if self.graph is not None:
            return self.graph.infer(x, self._to_device, self.io.to_host)
        return self.io.to_host(self._call(self._to_device(x)))

    def native_call(self, x):
        t = self._to_device(x)
        if self.graph is not None:
            graph = self.graph
            return lambda: graph.run(t)
        return lambda: self._call(t)

    def _profile(self, x, queries: int, warmup: int, folder):
        """The compiled forward as it is timed (its CUDA graph where there is one); on the CPU the
        kernels Inductor generated are one row, the compiled graph's call ("## Call
        CompiledFxGraph ##"), beside the library ops it calls (convolutions, matmuls)."""
        self._flags()
        call = self.native_call(x)
        for _ in range(warmup):
            call()
        return torch_profile(call, queries, self.device, outside="(Python between ops)")

    def _unload(self) -> None:
        if self.graph is not None:
            self.graph.release()
            self.graph = None
        self.compiled = None
        self.module = None


#: the GPU architecture each low precision needs (torch._int_mm's INT8 tensor cores; e4m3)
LOW_PRECISION_NEEDS = {"int8": (8, 0), "fp8": (8, 9)}


def _default(value, default):
    """An option's value, or the backend's default for this device where the user gave none."""
    return default if value is None else value
