"""A model's outputs as named tensors: a tensor, a tuple, a list, a dict, or these nested.

Every stage past the model works on the flat form: a list of (name, tensor) pairs in a fixed
order, named by where each tensor sits in the structure. The names are the ONNX file's output
names, so the outputs of ONNX Runtime, OpenVINO, trtexec's `--exportOutput` and TensorRT map back
to them.

- one tensor: "logits" (edgebench's historical name for a classifier's one output);
- a dict's entry: its key ("out", "boxes"); nested: joined by "." ("aux.0");
- a tuple's or list's element at the top: "output.0", "output.1"; nested: "boxes.0".

A backend's `run` gives the host arrays in that order: one numpy array for a one-tensor model
(as always), a tuple of arrays for any other.
"""
from __future__ import annotations

from edgebench.errors import ModelFileError

SINGLE = "logits"


def flatten(out, where: str = "the model") -> list:
    """[(name, tensor)] of a model output in a fixed order (dicts in their own order)."""
    import torch

    if isinstance(out, torch.Tensor):
        return [(SINGLE, out)]
    pairs: list = []
    _walk(out, "", pairs, where, torch)
    if not pairs:
        raise ModelFileError(f"{where} returns an empty {type(out).__name__}; return at least one tensor")
    names = [n for n, _ in pairs]
    if len(set(names)) != len(names):
        raise ModelFileError(f"{where} returns outputs whose names clash ({', '.join(names)}); use distinct dict keys")
    return pairs


def _walk(node, prefix: str, pairs: list, where: str, torch) -> None:
    if isinstance(node, torch.Tensor):
        pairs.append((prefix, node))
    elif isinstance(node, dict):
        for key, value in node.items():
            _walk(value, f"{prefix}.{key}" if prefix else str(key), pairs, where, torch)
    elif isinstance(node, (tuple, list)):
        for i, value in enumerate(node):
            _walk(value, f"{prefix}.{i}" if prefix else f"output.{i}", pairs, where, torch)
    else:
        raise ModelFileError(
            f"{where} returns a {type(node).__name__} at {prefix or 'the top'}; outputs must be tensors, or tuples, "
            "lists or dicts of tensors"
        )


def names(out) -> list[str]:
    return [name for name, _ in flatten(out)]


def tensors(out) -> tuple:
    """The output's tensors in flatten's order."""
    return tuple(t for _, t in flatten(out))


def to_host(out):
    """A model output -> float32 numpy on the host: one array for one tensor, else a tuple of
    arrays in flatten's order. Integer outputs (class labels) keep their values as float32."""
    arrays = tuple(t.float().cpu().numpy() for t in tensors(out))
    return arrays[0] if len(arrays) == 1 else arrays


def pack(arrays):
    """A runtime's list of output arrays -> what `Backend.run` returns (one array, or a tuple)."""
    arrays = tuple(arrays)
    return arrays[0] if len(arrays) == 1 else arrays


def as_list(out) -> list:
    """What `Backend.run` returned -> a list of its arrays (one for a one-tensor model)."""
    return list(out) if isinstance(out, (tuple, list)) else [out]


def copy(out):
    """An owned copy of what `Backend.run` returned (a runtime may hand back views of its buffers)."""
    import numpy as np

    if isinstance(out, (tuple, list)):
        return tuple(np.array(o, copy=True) for o in out)
    return np.array(out, copy=True)


def split(out, sizes: list[int]) -> list:
    """Outputs of one call on concatenated batches -> one per batch, as if each had run alone.
    Raises ValueError where an output has no batch axis to split."""
    import numpy as np

    arrays = [np.asarray(a) for a in as_list(out)]
    total = sum(sizes)
    if any(a.ndim == 0 or a.shape[0] != total for a in arrays):
        raise ValueError("an output has no batch axis")
    bounds = np.cumsum([0, *sizes])
    per = [[a[bounds[j]:bounds[j + 1]] for a in arrays] for j in range(len(sizes))]
    return [p[0] if not isinstance(out, (tuple, list)) else tuple(p) for p in per]
