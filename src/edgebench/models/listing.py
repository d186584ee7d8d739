"""What `edgebench models` lists: each registered model's task, input and size, read from its
declared size where it has one, so that listing the built-ins builds and imports nothing."""
from __future__ import annotations

from dataclasses import dataclass

from edgebench.errors import InvalidConfigError
from edgebench.models.registry import get_spec, list_models
from edgebench.models.spec import ModelSpec


@dataclass(frozen=True)
class ModelSummary:
    name: str
    task: str
    input_shape: tuple  # one item, without the batch axis (models.inputs)
    params: int  # trainable parameters with the class count asked for
    flops: int  # FLOPs per item (batch 1), 2 per multiply-add
    paper_name: str


def summarize_models(pattern: str = "*", include_test: bool = False, num_classes: int | None = None) -> list[ModelSummary]:
    """One summary per registered model matching the shell wildcard `pattern`, with
    `num_classes` outputs (None: each model's default)."""
    return [summarize(get_spec(name), num_classes) for name in list_models(pattern, include_test=include_test)]


def summarize(spec: ModelSpec, num_classes: int | None = None) -> ModelSummary:
    """`spec`'s summary from its declared size; a model registered without one is built and counted."""
    if num_classes is not None and int(num_classes) < 1:
        raise InvalidConfigError(f"--num-classes must be >= 1, got {num_classes}")
    if spec.size is not None:
        classes = spec.default_num_classes if num_classes is None else int(num_classes)
        params, flops = spec.size.at(classes - spec.default_num_classes)
    else:
        params, flops = _count(spec, num_classes)
    return ModelSummary(spec.name, spec.task, spec.input_shape, params, flops, spec.paper_name)


def _count(spec: ModelSpec, num_classes: int | None) -> tuple[int, int]:
    """(trainable params, FLOPs per item) of the built module."""
    from edgebench.models.build import build_model
    from edgebench.models.inputs import torch_batch
    from edgebench.models.stats import count_flops, trainable_params

    module = build_model(spec, num_classes).module
    return trainable_params(module), count_flops(module, torch_batch(spec.input_shape, 1))
