"""The backend interface: context-managed objects with guarded template methods.

Public `prepare / load / run / synchronize / unload`; subclasses implement `_prepare`,
`_load`, `_run` (and optionally `_synchronize`, `_unload`). Backends never time themselves:
the harness does t0 -> run -> synchronize -> t1. `run` takes and returns host numpy arrays,
so every backend's figure includes its own host<->device transfers (the paper's steps iii-v).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from edgebench.backends.options import BackendOptions, build_options
from edgebench.errors import BackendStateError, InvalidConfigError

_NEW, _PREPARED, _LOADED, _UNLOADED = "new", "prepared", "loaded", "unloaded"


@dataclass(frozen=True)
class BackendContext:
    """What the harness itself gives a backend beside the user's options: one item's shape
    (C, H, W) or (C, T, H, W), and what identifies the model's weights (for backends' own caches)."""

    item_shape: tuple[int, ...] | None = None
    source_key: dict | None = None

    def __post_init__(self):
        if self.item_shape is not None:
            object.__setattr__(self, "item_shape", tuple(self.item_shape))


#: the precisions a module-consuming backend calibrates itself on the task's inputs, given as a
#: CalibratedModule (torch-compile's int8 and fp8 layers)
CALIBRATED_PRECISIONS = ("int8", "fp8")


@dataclass
class CalibratedModule:
    """What a module-consuming backend gets for a precision calibrated on the task's inputs
    (torch-compile's int8 and fp8): a copy of the module to transform, and the calibration items
    (arrays, or tuples of them for several inputs: models.inputs) with what they are."""

    module: Any
    calibration: list
    description: str


class Backend(ABC):
    name: ClassVar[str]
    #: what `prepare` needs: "module" (an nn.Module) or "onnx" (an ONNX Artifact)
    consumes: ClassVar[str]
    # what the backend supports, declared here only: the registry, `--precision auto` and the
    # constructor's checks all read these
    devices: ClassVar[tuple[str, ...]] = ("cpu",)
    precisions: ClassVar[tuple[str, ...]] = ("fp32",)
    #: what `--precision auto` tries on each device (the accuracy gate then decides); a device
    #: not listed gets fp32
    auto_precisions: ClassVar[dict[str, tuple[str, ...]]] = {}
    #: the KEY=VALUE options a user may give (NAME:KEY=VALUE), as a frozen dataclass; any other
    #: key is an error
    options_class: ClassVar[type[BackendOptions]] = BackendOptions
    #: the runtime's own per-layer profiler that `profile` runs (its name: "torch.profiler",
    #: edgebench.profilers.ONNXRUNTIME, ...), or None where the runtime offers none
    profiler: ClassVar[str | None] = None

    @property
    def any_batch(self) -> bool:
        """Whether `run` takes a batch of any size with the same numerics per item (eager PyTorch),
        so the accuracy check may run its inputs in larger batches than the timed one."""
        return False

    def __init__(self, device: str = "cpu", precision: str = "fp32", cache_dir: Path | None = None,
                 options: BackendOptions | dict | None = None, context: BackendContext | None = None):
        if device not in self.devices:
            raise InvalidConfigError(f"backend {self.name} runs on {', '.join(self.devices)}, not {device!r}; pass --device {self.devices[0]}")
        if precision not in self.precisions:
            raise InvalidConfigError(
                f"backend {self.name} supports precision {', '.join(self.precisions)}, not {precision!r}; pass --precision {self.precisions[0]}"
            )
        self.device = device
        self.precision = precision
        self.cache_dir = cache_dir
        self.options = self.parse_options(options)
        self.context = context or BackendContext()
        #: seconds spent in prepare (engine build, compilation) and load; 0.0 when cached
        self.timings: dict[str, float] = {}
        #: facts about what actually ran (provider, engine file, versions) for the record
        self.details: dict[str, Any] = {}
        self._state = _NEW

    @classmethod
    def parse_options(cls, options: BackendOptions | dict | None) -> BackendOptions:
        """The user's options as this backend's options_class; an unknown key or a value of the
        wrong type is an InvalidConfigError (a misspelt option must not silently run the default)."""
        return build_options(cls.name, cls.options_class, options)

    @classmethod
    def usable_on(cls, device: str) -> bool:
        """Whether this backend can run on `device` with what is installed here (the library is
        known to be importable)."""
        return device in cls.devices

    # -- public, guarded -------------------------------------------------------------
    def prepare(self, source: Any, batch_size: int = 1) -> "Backend":
        if self._state != _NEW:
            raise BackendStateError(f"{self.name}: prepare() called twice")
        self.batch_size = batch_size
        self._prepare(source, batch_size)
        self._state = _PREPARED
        return self

    def load(self) -> "Backend":
        if self._state != _PREPARED:
            raise BackendStateError(f"{self.name}: load() needs prepare() first (state: {self._state})")
        self._load()
        self._state = _LOADED
        return self

    def run(self, x):
        if self._state != _LOADED:
            raise BackendStateError(f"{self.name}: run() needs load() first (state: {self._state})")
        return self._run(x)

    def synchronize(self) -> None:
        if self._state == _LOADED:
            self._synchronize()

    def unload(self) -> None:
        if self._state in (_PREPARED, _LOADED):
            self._unload()
        self._state = _UNLOADED

    def __enter__(self) -> "Backend":
        return self

    def __exit__(self, *exc) -> None:
        self.unload()

    def profile(self, x, queries: int, warmup: int, folder: Path):
        """The runtime's own per-layer profile of `queries` inferences on `x`, after `warmup`
        unprofiled ones, as a backends.profiling.RuntimeProfile; any file the profiler writes
        goes into `folder`. Called by the harness apart from its timed window: what is timed
        never runs under a profiler."""
        if self._state != _LOADED:
            raise BackendStateError(f"{self.name}: profile() needs load() first (state: {self._state})")
        if self.profiler is None:
            raise NotImplementedError(f"backend {self.name} has no per-layer profiler")
        return self._profile(x, queries, warmup, folder)

    # -- the library's own call, for the harness-overhead check ----------------------
    def native_call(self, x):
        """A zero-argument callable doing only the library's own inference call on `x`
        (no conversion), so the harness can be compared with a bare loop around it."""
        raise NotImplementedError

    # -- to implement ------------------------------------------------------------------
    @abstractmethod
    def _prepare(self, source: Any, batch_size: int) -> None: ...

    def _load(self) -> None:
        pass

    @abstractmethod
    def _run(self, x): ...

    def _synchronize(self) -> None:
        pass

    def _profile(self, x, queries: int, warmup: int, folder: Path):
        raise NotImplementedError

    def _unload(self) -> None:
        pass
