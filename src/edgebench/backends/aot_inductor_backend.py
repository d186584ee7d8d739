"""AOTInductor: torch.export with a dynamic batch dimension -> a compiled package (.pt2) on disk,
in edgebench.cache like every artifact (keyed by model + weights hash, torch version, device,
precision, batch range),
then loaded with `torch._inductor.aoti_load_package`, which needs none of the model's Python
code: the PyTorch-native counterpart of a TensorRT engine.

The program is exported here and compiled in a child process (aoti_build.py, as trtexec builds
an engine) with its own, fresh Inductor cache folder, by the C++ compiler `cxx` (default: `g++`
on PATH, not $CXX). The package's wrapper library is loaded into a process that already holds
PyTorch's libstdc++; a compiler with another libstdc++ links its own copy into the wrapper,
and the two copies crash together: on the lent H100/H200 machines, whose environment sets
CXX=/opt/gcc/bin/g++, every such package ended in a segmentation fault in the wrapper's
device-string parsing (std::regex) while loading. A wrapper that holds its own libstdc++ is
refused with a BuildError naming the compiler, whichever way it was built. `build_process=0`
compiles in this process (shared Inductor cache, $CXX as Inductor picks it)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from edgebench.backends.base import Backend
from edgebench.backends.options import BackendOptions
from edgebench.backends.profiling import torch_profile
from edgebench.backends.torch_io import TorchIO, apply_cuda_flags, release_compile_workers
from edgebench.cache import Cache
from edgebench.system import device_identity
from edgebench.errors import BuildError, InvalidConfigError
from edgebench.models import inputs

DEFAULT_MAX_BATCH = 256
NAMESPACE, PACKAGE = "aot-inductor", "model.pt2"  # its cache entries, and the package's file in one


def package_cache_fields(source_key: dict, torch_version: str, device: str, precision: str, max_batch: int) -> dict:
    """Everything that makes a .pt2 package valid: a change in any of these forces a rebuild."""
    return {**source_key, "torch": torch_version, "device": device, "precision": precision, "max_batch": max_batch}


def bundled_libstdcxx(package: Path) -> str | None:
    """A libstdc++ symbol that the package's wrapper library defines itself (its compiler linked
    a copy of libstdc++ into it), or None. Needs binutils' `nm`; without it, None."""
    import zipfile

    nm = shutil.which("nm")
    if nm is None:
        return None
    with zipfile.ZipFile(package) as z, tempfile.TemporaryDirectory() as tmp:
        for name in (n for n in z.namelist() if n.endswith(".so")):
            path = z.extract(name, tmp)
            out = subprocess.run([nm, "-D", "--defined-only", path], capture_output=True, text=True).stdout
            for sym in (line.split()[-1] for line in out.splitlines() if line.strip()):
                if sym.startswith(("_ZNSt6locale", "_ZNKSt19__codecvt_utf8_base", "_ZNSt8ios_base4Init")):
                    return sym
    return None


@dataclass(frozen=True)
class AOTInductorOptions(BackendOptions):
    #: the largest batch the package accepts (its dynamic batch axis runs 1..max_batch)
    max_batch: int = field(default=DEFAULT_MAX_BATCH, metadata={"min": 1})
    #: compile in a child process (0: in this one, shared Inductor cache, $CXX as Inductor picks it)
    build_process: bool = True
    tf32: bool = False
    #: the C++ compiler of the child build (default: g++ on PATH)
    cxx: str | None = None
    build_timeout_s: int = field(default=1800, metadata={"min": 0})


class AOTInductorBackend(Backend):
    name = "aot-inductor"
    options_class = AOTInductorOptions
    consumes = "module"
    devices = ("cpu", "cuda")
    precisions = ("fp32", "fp16", "bf16")
    auto_precisions = {"cpu": ("fp32",), "cuda": ("fp32", "fp16", "bf16")}
    profiler = "torch.profiler"

    def _prepare(self, module, batch_size: int) -> None:
        import torch

        item = self.context.item_shape
        source_key = self.context.source_key
        if item is None or source_key is None:
            raise InvalidConfigError("aot-inductor needs item_shape and source_key (model name and weights hash) for its cache")
        self._torch = torch
        self.io = TorchIO(self.device, self.precision, self.name)
        max_batch = max(batch_size, self.options.max_batch)
        fields = package_cache_fields(source_key, torch.__version__, device_identity(self.device), self.precision, max_batch)
        cache, label = Cache(self.cache_dir), str(source_key.get("model") or "")
        self.package = cache.folder(NAMESPACE, fields, label) / PACKAGE
        self.details.update(torch=torch.__version__, package=str(self.package))
        t0 = time.perf_counter()
        entry = cache.get_or_build(
            NAMESPACE, fields, lambda folder: self._build(module, item, max_batch, source_key, folder / PACKAGE), label)
        self.package = entry.path(PACKAGE)
        self.timings["build_s"] = 0.0 if entry.cached else time.perf_counter() - t0
        self.details["package_cached"] = entry.cached
        if entry.rebuilt:
            self.details["cache"] = entry.status

    def _build(self, module, item, max_batch: int, source_key: dict, package: Path) -> None:
        """Export `module` and compile it into `package` (inside a cache entry being written)."""
        torch = self._torch
        self._flags()
        module = module.to(self.device, self.io.dtype).eval()
        example = inputs.parts(inputs.torch_batch(item, 2, "randn"))  # 2: keep the axis symbolic
        example = tuple(t.to(self.device, self.io.dtype) for t in example)
        batch = torch.export.Dim("batch", min=1, max=max_batch)
        in_process = not self.options.build_process
        self.details["build_process"] = not in_process
        try:
            with torch.inference_mode(False), torch.no_grad():
                program = torch.export.export(module, example, dynamic_shapes=tuple({0: batch} for _ in example))
                if in_process:
                    torch._inductor.aoti_compile_and_package(program, package_path=str(package))
                    release_compile_workers()
            if not in_process:
                self._build_in_child(program, package)
            # a refused package is never published: the entry being written is dropped
            self._refuse_own_libstdcxx(package, os.environ.get("CXX", "g++") if in_process else self.details["cxx"])
        except BuildError:
            raise
        except Exception as exc:
            raise BuildError(f"AOTInductor could not compile {source_key.get('model')}: {type(exc).__name__}: "
                             f"{str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ''}") from exc

    def _build_in_child(self, program, package) -> None:
        """Save the exported program beside the package and compile it in `python -m
        edgebench.backends.aoti_build` with a private Inductor cache (removed afterwards); its
        last error line becomes the BuildError."""
        saved = package.with_suffix(".program.pt2")
        self._torch.export.save(program, str(saved))
        cmd = [sys.executable, "-m", "edgebench.backends.aoti_build", str(saved), str(package), self.precision,
               "1" if self.options.tf32 else "0"]
        cache = tempfile.mkdtemp(prefix="edgebench-aoti-inductor-")
        cxx = self.options.cxx or "g++"
        self.details["cxx"] = cxx
        env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache, "CXX": cxx}
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env,
                                  timeout=self.options.build_timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise BuildError(f"AOTInductor build of {self.details.get('package')} took over {exc.timeout} s; "
                             "raise the aot-inductor option build_timeout_s") from exc
        finally:
            saved.unlink(missing_ok=True)
            shutil.rmtree(cache, ignore_errors=True)
        if proc.returncode != 0:
            lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
            why = lines[-1][:300] if lines else "no error output"
            if proc.returncode < 0:
                why = f"the build process died with signal {-proc.returncode}; {why}"
            raise BuildError(f"AOTInductor could not compile {self.context.source_key.get('model')}: {why}")

    @staticmethod
    def _refuse_own_libstdcxx(package: Path, cxx: str) -> None:
        own = bundled_libstdcxx(package)
        if own:
            package.unlink(missing_ok=True)
            raise BuildError(f"the AOTInductor package built by C++ compiler {cxx!r} carries its own libstdc++ ({own}); "
                             "loading it beside PyTorch's crashes. Pass the aot-inductor option cxx=g++ (the system "
                             "compiler, whose libstdc++ PyTorch uses)")

    def _flags(self) -> None:
        apply_cuda_flags(self.device, self.precision, self.options.tf32)

    def _load(self) -> None:
        self.runner = self._torch._inductor.aoti_load_package(str(self.package))

    def _run(self, x):
        self._flags()
        t = self.io.to_device(x)
        with self._torch.inference_mode():
            return self.io.to_host(inputs.call(self.runner, t))

    def native_call(self, x):
        t = self.io.to_device(x)
        return lambda: inputs.call(self.runner, t)

    def _profile(self, x, queries: int, warmup: int, folder):
        """On the CPU the package's own generated kernels run outside any torch op: they are the
        row named "(AOTInductor generated code)", beside the library ops the package calls."""
        self._flags()
        call = self.native_call(x)
        for _ in range(warmup):
            call()
        return torch_profile(call, queries, self.device, outside="(AOTInductor generated code)")

    def _unload(self) -> None:
        self.runner = None
