"""Builds an nn.Module for a spec: random init (seeded), a state-dict file, or torchvision's
pretrained weights with the head adapted to N classes."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgebench.errors import InvalidConfigError, ModelFileError, PretrainedWeightsError, WeightsError
from edgebench.models.spec import ModelSpec, is_classifier


#: where a model's weights came from; only RANDOM_INIT weights are edgebench's own to adjust
RANDOM_INIT, FACTORY, FILE, TORCHVISION = "random-init", "factory", "file", "torchvision"


@dataclass
class LoadedModel:
    module: Any  # torch.nn.Module in eval mode
    spec: ModelSpec
    #: the model's real class count, read from the module for user factories; None where its
    #: outputs have no class axis to read (models.outputs' structures)
    num_classes: int | None
    #: the truth about the weights' origin: "random-init(seed=0)", "factory:file.py:build",
    #: "file:ckpt.pt sha256:1a2b3c4d5e6f", "torchvision:ResNet50_Weights.IMAGENET1K_V2"
    weights: str
    weights_sha256: str
    origin: str = RANDOM_INIT  # RANDOM_INIT, FACTORY, FILE or TORCHVISION

    @property
    def edgebench_made(self) -> bool:
        """True when edgebench initialised the weights itself (so it may set their BatchNorm
        statistics); anything from outside (a factory, a file, torchvision) is never modified."""
        return self.origin == RANDOM_INIT


def build_model(
    spec: ModelSpec,
    num_classes: int | None = None,
    weights: str | Path | None = None,
    pretrained: bool = False,
    seed: int = 0,
) -> LoadedModel:
    """Build `spec`'s module in eval mode. A user factory is called with `num_classes` only when
    one is given; its class count is then read from the module's output."""
    import torch

    user = spec.source == "user"
    if num_classes is not None and int(num_classes) < 1:
        raise InvalidConfigError(f"--num-classes must be >= 1, got {num_classes}")
    if not user:
        num_classes = spec.default_num_classes if num_classes is None else int(num_classes)
    if weights is not None and pretrained:
        raise InvalidConfigError("pass either --weights FILE or --pretrained, not both")
    torch.manual_seed(seed)
    if pretrained:
        module, enum = _pretrained(spec, num_classes)
        origin, desc = TORCHVISION, f"torchvision:{enum}"
        if num_classes != 1000 and is_classifier(spec.task):
            desc += f" (head re-initialised for {num_classes} classes, seed {seed})"
    elif user:
        module = _call_factory(spec, num_classes)
        origin, desc = FACTORY, f"factory:{spec.name}"
    else:
        module = spec.factory(num_classes)
        origin, desc = RANDOM_INIT, f"random-init(seed={seed})"
    if weights is not None:
        load_weights(module, weights)
        from edgebench.hashing import file_sha256

        origin, desc = FILE, f"file:{Path(weights).name} sha256:{file_sha256(Path(weights))[:12]}"
    module.eval()
    if user:
        width = _output_width(spec, module)
        if num_classes is not None and width is not None and width != int(num_classes):
            raise InvalidConfigError(
                f"{spec.name} outputs {width} classes but --num-classes {num_classes} was given; drop --num-classes "
                "or make the factory take a num_classes argument"
            )
        num_classes = width if width is not None else num_classes
    return LoadedModel(module, spec, num_classes, desc, state_dict_sha256(module), origin)


def _call_factory(spec: ModelSpec, num_classes: int | None):
    """The user's factory, its failures turned into one-line ModelFileErrors."""
    from torch import nn

    try:
        module = spec.factory(num_classes)
    except Exception as exc:  # the user's code: any failure is theirs to fix
        text = str(exc).strip().splitlines()
        raise ModelFileError(
            f"factory {spec.name} raised {type(exc).__name__}: {text[0][:200] if text else ''}; fix the factory "
            "so that it returns an nn.Module"
        ) from exc
    if not isinstance(module, nn.Module):
        raise ModelFileError(
            f"factory {spec.name} returned a {type(module).__name__}, not a torch.nn.Module; return the model itself"
        )
    return module


def _output_width(spec: ModelSpec, module) -> int | None:
    """The class count a user model really has, from its output on one zero input: a classifier's
    one [batch, classes] tensor's last axis, a segmenter's first output's axis 1 ([batch, classes,
    H, W]); None for any other output (a tuple, list or dict of tensors: models.outputs)."""
    import torch

    from edgebench.models import outputs
    from edgebench.models.spec import SEGMENTATION

    from edgebench.models import inputs

    try:
        with torch.inference_mode():
            out = inputs.call(module, inputs.torch_batch(spec.input_shape, 1))
    except Exception as exc:
        text = str(exc).strip().splitlines()
        raise ModelFileError(
            f"{spec.name} fails on a zero input of batch 1 and shape {inputs.describe(spec.input_shape)} ({type(exc).__name__}: "
            f"{text[0][:160] if text else ''}); set INPUT_SHAPE in the model file or pass --input-shape"
        ) from exc
    pairs = outputs.flatten(out, where=spec.name)  # a structure of tensors, or a one-line error
    first = pairs[0][1]
    if spec.task == SEGMENTATION:
        if first.dim() != 4:
            raise ModelFileError(f"{spec.name} declares TASK = {SEGMENTATION!r} but its first output {pairs[0][0]} has shape "
                                 f"{tuple(first.shape)}; a segmenter's first output is [batch, classes, height, width]")
        return int(first.shape[1])
    if is_classifier(spec.task) and len(pairs) == 1:
        if first.dim() < 2:
            raise ModelFileError(f"{spec.name} returns a tensor of shape {tuple(first.shape)}; a classifier returns "
                                 "[batch, classes] (or declare another TASK in the model file)")
        return int(first.shape[-1])
    return None


def batchnorm_layers(module) -> list:
    """The module's BatchNorm layers (1-D, 2-D and 3-D)."""
    from torch import nn

    return [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def recalibrate_batchnorm(loaded: LoadedModel, items: list, desc: str, batch: int = 8) -> bool:
    """Set a random-init model's BatchNorm running statistics from real inputs (a cumulative
    average over train-mode forward passes; weights untouched). Freshly initialised
    statistics (mean 0, variance 1) do not match the activations, so some architectures'
    signals shrink layer by layer: random-init MobileNetV2 emits logits ~1e-10 wide, below
    FP16's resolution, so a precision check would judge noise. With statistics from inputs, each
    BatchNorm normalises as in a trained network. Returns False (nothing done) when the model
    has no BatchNorm or no inputs were given."""
    import torch

    from edgebench.models import inputs

    if not loaded.edgebench_made:  # never touch what the user gave
        raise ValueError(f"refusing to recalibrate BatchNorm of {loaded.weights}: only random-init weights are edgebench's")
    norms = batchnorm_layers(loaded.module)
    if not norms or not items:
        return False
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average over all batches
    module = loaded.module.train()
    try:
        with torch.no_grad():
            for i in range(0, len(items), batch):
                inputs.call(module, inputs.from_numpy(inputs.stack(items[i : i + batch])))
    finally:
        for m, mom in zip(norms, saved):
            m.momentum = mom
        module.eval()
    loaded.weights = f"{loaded.weights}, BatchNorm statistics from {len(items)} {desc}"
    loaded.weights_sha256 = state_dict_sha256(module)
    return True


def batchnorm_statistics(module) -> dict:
    """The running statistics of the module's BatchNorm layers, by state-dict name (numpy arrays)."""
    names = {id(m): name for name, m in module.named_modules()}
    out = {}
    for m in batchnorm_layers(module):
        for buf in ("running_mean", "running_var", "num_batches_tracked"):
            value = getattr(m, buf, None)
            if value is not None:
                out[f"{names[id(m)]}.{buf}".lstrip(".")] = value.detach().cpu().numpy().copy()
    return out


def set_batchnorm_statistics(loaded: LoadedModel, stats: dict, items: int, desc: str) -> None:
    """Put statistics that recalibrate_batchnorm made for these same weights and inputs (kept in a
    cache) into a random-init model, labelled as recalibrate_batchnorm labels them."""
    import torch

    if not loaded.edgebench_made:
        raise ValueError(f"refusing to set BatchNorm statistics of {loaded.weights}: only random-init weights are edgebench's")
    ours = batchnorm_statistics(loaded.module)
    if set(ours) != set(stats):
        raise ValueError("the stored BatchNorm statistics are not this model's layers")
    buffers = dict(loaded.module.named_buffers())
    with torch.no_grad():
        for name, value in stats.items():
            buffers[name].copy_(torch.from_numpy(value))
    loaded.weights = f"{loaded.weights}, BatchNorm statistics from {items} {desc}"
    loaded.weights_sha256 = state_dict_sha256(loaded.module)


def _pretrained(spec: ModelSpec, num_classes: int):
    """(torchvision's pretrained module with its head adapted to `num_classes`, the weights enum's name)."""
    if spec.source != "torchvision":
        raise InvalidConfigError(
            f"--pretrained works for torchvision models only; {spec.name} is a {spec.source} model: pass --weights FILE"
        )
    import torchvision

    from edgebench.models.spec import DETECTION, SEGMENTATION

    dense = spec.task in (DETECTION, SEGMENTATION)
    if dense and num_classes != spec.default_num_classes:
        raise InvalidConfigError(
            f"torchvision's pretrained {spec.name} has {spec.default_num_classes} classes, not {num_classes}; drop "
            "--num-classes, or pass --weights FILE with a checkpoint fine-tuned for your classes"
        )
    try:
        enum = torchvision.models.get_model_weights(spec.name).DEFAULT
        if dense:  # the registered network around torchvision's pretrained model (models.dense)
            from edgebench.models import dense as dense_models

            build = dense_models.build_detector if spec.task == DETECTION else dense_models.build_segmenter
            return build(spec.name, num_classes, weights=enum), f"{type(enum).__name__}.{enum.name}"
        module = torchvision.models.get_model(spec.name, weights=enum)
    except Exception as exc:  # network errors come in many types (URLError, OSError, HTTPError)
        raise PretrainedWeightsError(
            f"could not fetch torchvision's pretrained weights for {spec.name} ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:160]}); this needs internet or a filled torch hub cache: "
            "connect, or pass --weights FILE with a state dict"
        ) from exc
    if num_classes != 1000:
        adapt_head(module, num_classes)
    return module, f"{type(enum).__name__}.{enum.name}"


def adapt_head(module, num_classes: int, old_classes: int = 1000) -> None:
    """Replace the last Linear/Conv2d producing `old_classes` outputs with a fresh one
    producing `num_classes` (covers fc, classifier[-1] and SqueezeNet's 1x1 conv head)."""
    from torch import nn

    target = None
    for name, child in module.named_modules():
        if isinstance(child, nn.Linear) and child.out_features == old_classes:
            target = (name, nn.Linear(child.in_features, num_classes, bias=child.bias is not None))
        elif isinstance(child, nn.Conv2d) and child.out_channels == old_classes:
            target = (
                name,
                nn.Conv2d(child.in_channels, num_classes, child.kernel_size, child.stride, child.padding),
            )
    if target is None:
        raise InvalidConfigError(f"found no {old_classes}-output layer to adapt to {num_classes} classes")
    name, new = target
    parent_name, _, attr = name.rpartition(".")
    parent = module.get_submodule(parent_name) if parent_name else module
    setattr(parent, attr, new)


def load_weights(module, path: str | Path) -> None:
    """Load a state dict (or a checkpoint dict holding one under 'state_dict'/'model')."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist; pass a saved state dict (torch.save(model.state_dict(), FILE))")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(f"could not read {path} as a torch checkpoint ({type(exc).__name__}); save it with torch.save(model.state_dict(), FILE)") from exc
    if isinstance(obj, dict) and not any(hasattr(v, "shape") for v in obj.values()):
        obj = obj.get("state_dict", obj.get("model", obj))
    if not isinstance(obj, dict):
        raise WeightsError(f"{path} holds a {type(obj).__name__}, not a state dict; save model.state_dict()")
    own = module.state_dict()
    missing = sorted(set(own) - set(obj))
    unexpected = sorted(set(obj) - set(own))
    wrong = sorted(k for k in set(own) & set(obj) if tuple(own[k].shape) != tuple(obj[k].shape))
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if wrong:
            k = wrong[0]
            parts.append(f"{len(wrong)} of wrong shape (e.g. {k}: file {tuple(obj[k].shape)} vs model {tuple(own[k].shape)})")
        raise WeightsError(
            f"checkpoint {path} does not fit the model: {'; '.join(parts)}; check the model name and --num-classes"
        )
    module.load_state_dict(obj)


def state_dict_sha256(module) -> str:
    h = hashlib.sha256()
    for key, tensor in sorted(module.state_dict().items()):
        h.update(key.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()
