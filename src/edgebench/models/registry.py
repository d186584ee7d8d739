"""Model registry: strict (duplicates raise), searchable with wildcards, and resolving
torchvision classifiers and user `file.py:factory` models by name. The built-ins come from
models.catalog as data; nothing here imports model code or torch."""
from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import importlib.util
import inspect
from pathlib import Path
from typing import Callable

from edgebench.errors import InvalidConfigError, ModelFileError, UnknownModelError
from edgebench.models import inputs
from edgebench.models.catalog import BUILTIN_MODELS, DETECTORS, detector_spec, segmenter_spec, torchvision_spec
from edgebench.models.spec import CLASSIFICATION, IMAGE_CLASSIFICATION, IMAGE_INPUT, ModelSpec, is_image

_REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    if spec.name in _REGISTRY:
        raise ValueError(f"model {spec.name!r} is already registered; pick another name")
    _REGISTRY[spec.name] = spec
    return spec


for _spec in BUILTIN_MODELS:
    register(_spec)


def list_models(pattern: str = "*", include_test: bool = False) -> list[str]:
    """Registered names matching a shell wildcard; `test_*` models only when asked."""
    names = sorted(n for n in _REGISTRY if fnmatch.fnmatch(n, pattern))
    if not include_test and not pattern.startswith("test_"):
        names = [n for n in names if not n.startswith("test_")]
    return names


def _torchvision_classifiers() -> list[str]:
    import torchvision

    return sorted(torchvision.models.list_models(module=torchvision.models))


def _torchvision_models(kind: str) -> list[str]:
    import torchvision

    return sorted(torchvision.models.list_models(module=getattr(torchvision.models, kind)))


def get_spec(name: str, input_shape: tuple | None = None) -> ModelSpec:
    """Resolve a registered name, any torchvision classifier or segmenter, torchvision's single-shot
    detectors, or `path/to/file.py:factory`."""
    if name in _REGISTRY:
        spec = _REGISTRY[name]
    elif ":" in name and name.split(":", 1)[0].endswith(".py"):
        spec = _user_spec(name)
    elif name in DETECTORS:
        spec = detector_spec(name)
    elif name in _torchvision_models("segmentation"):
        spec = segmenter_spec(name)
    elif name in _torchvision_models("detection"):
        raise UnknownModelError(
            f"{name} is a two-stage or anchor-free torchvision detector; edgebench registers the single-shot ones "
            f"({', '.join(DETECTORS)}) as the network alone. Benchmark it whole with path/to/file.py:factory "
            "(TASK = 'object-detection'): its detections are then its outputs"
        )
    else:
        tv = _torchvision_classifiers()
        if name not in tv:
            known = list(_REGISTRY) + tv
            close = difflib.get_close_matches(name, known, n=3)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise UnknownModelError(
                f"unknown model {name!r}.{hint} List models with `edgebench models`, use any "
                "torchvision classifier name, or pass path/to/file.py:factory"
            )
        spec = torchvision_spec(name)
    if input_shape is not None and inputs.normalize(input_shape) != spec.input_shape:
        input_shape = inputs.normalize(input_shape)
        declared = inputs.names(spec.input_shape)
        if inputs.several(spec.input_shape) and inputs.names(input_shape) != declared:
            raise InvalidConfigError(
                f"--input-shape {inputs.describe(input_shape)} does not name {name}'s inputs {', '.join(declared)}; "
                f"pass one NAME:SHAPE for each, e.g. --input-shape {inputs.as_option(spec.input_shape)}")
        # the declared size holds at the declared input only
        spec = dataclasses.replace(spec, input_shape=input_shape, size=None)
    return spec


def _user_spec(ref: str) -> ModelSpec:
    path_s, factory_name = ref.rsplit(":", 1)
    path = Path(path_s)
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist; pass an existing path/to/file.py:factory")
    mod_name = "edgebench_user_" + path.stem
    try:
        module_spec = importlib.util.spec_from_file_location(mod_name, path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    except Exception as exc:  # the user's code: any failure is theirs to fix
        raise ModelFileError(f"could not import {path}: {type(exc).__name__}: {exc}") from exc
    factory = getattr(module, factory_name, None)
    if not callable(factory):
        found = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")]
        raise ModelFileError(
            f"{path} has no callable {factory_name!r}; callables there: {', '.join(sorted(found)) or 'none'}"
        )
    shape = getattr(factory, "input_shape", None) or getattr(module, "INPUT_SHAPE", None) or IMAGE_INPUT
    try:
        shape = inputs.normalize(shape)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: INPUT_SHAPE {getattr(module, 'INPUT_SHAPE', shape)!r} is not a shape ({exc}); "
                             "write one item's shape without the batch axis, e.g. (3, 224, 224), or a dict of "
                             "them by input name for several inputs") from exc
    task = getattr(module, "TASK", IMAGE_CLASSIFICATION if is_image(shape) else CLASSIFICATION)
    default_classes = int(getattr(module, "NUM_CLASSES", 2))
    return ModelSpec(
        name=ref,
        task=task,
        input_shape=shape,
        factory=_wrap_user_factory(factory, default_classes),
        default_num_classes=default_classes,
        source="user",
        description=(inspect.getdoc(factory) or "").split("\n")[0],
    )


def _wrap_user_factory(factory: Callable, default_classes: int) -> Callable:
    """build(num_classes | None): the factory gets `num_classes` only when one was asked for (or
    when it requires one and has no default), so a factory's own model is built as it wrote it."""
    params = inspect.signature(factory).parameters
    p = params.get("num_classes")
    takes_classes = p is not None or any(q.kind == q.VAR_KEYWORD for q in params.values())
    requires_classes = p is not None and p.default is inspect.Parameter.empty and p.kind != p.VAR_KEYWORD

    def build(num_classes: int | None):
        if num_classes is None and requires_classes:
            num_classes = default_classes
        if num_classes is not None and takes_classes:
            return factory(num_classes=num_classes)
        return factory()

    return build
