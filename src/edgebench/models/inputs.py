"""A model's inputs: one tensor, or several named ones.

A model declares one item's shape without the batch axis: `(3, 224, 224)` for one input, or, in a
model file, a dict `INPUT_SHAPE = {"image": (3, 320, 320), "depth": (1, 320, 320)}` for several
(`--input-shape image:3,320,320 depth:1,320,320` on the command line). Several inputs are kept as
a tuple of (name, shape) pairs in the declared order; the model is called with them in that order,
`module(image, depth)`, and they are the ONNX graph's input names. Every input has the batch axis
first.

A batch of a one-input model is one numpy array; of a several-input model, a tuple of arrays in
the declared order (as models.outputs packs outputs). One item (a check or calibration input) is
likewise one array or a tuple. The helpers below treat both alike, so the code that stacks, slices
and feeds inputs has one path."""
from __future__ import annotations

from math import prod

#: the one input's name (ONNX's input name of a one-input model)
SINGLE = "input"


def several(shape) -> bool:
    """Whether `shape` declares named inputs ((name, shape) pairs: several, or one given a name),
    not one unnamed input's shape."""
    return bool(shape) and not isinstance(shape[0], int)


def normalize(shape):
    """A declared shape as edgebench keeps it: a tuple of ints for one input, a tuple of
    (name, tuple of ints) pairs for several (from a dict, pairs, or their JSON lists)."""
    if isinstance(shape, dict):
        pairs = list(shape.items())
    elif several(shape):
        pairs = [tuple(p) for p in shape]
    else:
        return tuple(int(d) for d in shape)
    names = [str(n) for n, _ in pairs]
    if len(set(names)) != len(names):
        raise ValueError(f"input names repeat: {', '.join(names)}")
    return tuple((str(n), tuple(int(d) for d in s)) for n, s in pairs)


def named(shape) -> list[tuple[str, tuple[int, ...]]]:
    """[(name, shape)] of every input; a one-input model's is named SINGLE."""
    return [(n, tuple(s)) for n, s in shape] if several(shape) else [(SINGLE, tuple(shape))]


def names(shape) -> list[str]:
    return [n for n, _ in named(shape)]


def describe(shape) -> str:
    """'3x224x224', or 'image 3x320x320, depth 1x320x320' for several inputs."""
    if not several(shape):
        return "x".join(map(str, shape))
    return ", ".join(f"{n} {'x'.join(map(str, s))}" for n, s in shape)


def as_option(shape) -> str:
    """The shape as --input-shape takes it: '3,224,224', or 'image:3,320,320 depth:1,320,320'."""
    if not several(shape):
        return ",".join(map(str, shape))
    return " ".join(f"{n}:{','.join(map(str, s))}" for n, s in shape)


def parse_option(values) -> tuple:
    """--input-shape's words ('3,224,224', or 'NAME:3,320,320' once per input) as a shape
    (normalize); ValueError names what is wrong."""
    if isinstance(values, str):
        values = [values]
    pairs = []
    for word in values:
        name, sep, dims = word.rpartition(":")
        try:
            shape = tuple(int(d) for d in dims.split(",") if d.strip())
        except ValueError:
            raise ValueError(f"{word!r} is not a shape: write comma-separated sizes, e.g. 3,224,224") from None
        if not shape or any(d <= 0 for d in shape):
            raise ValueError(f"{word!r} is not a shape: every size must be a positive integer")
        pairs.append((name if sep else None, shape))
    if len(pairs) == 1 and pairs[0][0] is None:
        return pairs[0][1]
    if any(n is None or not n for n, _ in pairs):
        raise ValueError("several input shapes need a name each: NAME:3,320,320 NAME2:1,320,320")
    return normalize(pairs)


def with_batch(shape) -> str:
    """One input's shape with its batch axis in front: '[batch, 3, 224, 224]'."""
    return "[batch, " + ", ".join(map(str, shape)) + "]"


def to_json(shape) -> list:
    """The shape as JSON lists ([3, 224, 224], or [["image", [3, 320, 320]], ...])."""
    return [[n, list(s)] for n, s in shape] if several(shape) else list(shape)


def numel(shape) -> int:
    """Values in one item, over all its inputs."""
    return sum(prod(s) for _, s in named(shape))


# -- batches and items: one array, or a tuple of arrays --------------------------------------------
def parts(x) -> tuple:
    """A batch or item as a tuple of its inputs' arrays (one-tuple for one input)."""
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def join(arrays):
    """The inverse of parts: one array stays itself, several are a tuple."""
    arrays = tuple(arrays)
    return arrays[0] if len(arrays) == 1 else arrays


def length(batch) -> int:
    """The batch size."""
    return len(parts(batch)[0])


def stack(items, dtype="float32"):
    """Items (arrays, or tuples of arrays) -> one batch."""
    import numpy as np

    return join(np.stack(column).astype(dtype, copy=False) for column in zip(*(parts(i) for i in items)))


def concatenate(batches):
    import numpy as np

    return join(np.concatenate(column) for column in zip(*(parts(b) for b in batches)))


def take(batch, start: int, stop: int | None = None):
    """Items start..stop of a batch (a view)."""
    return join(a[start:stop] for a in parts(batch))


def items(batch) -> list:
    """A batch as its list of items."""
    cols = parts(batch)
    return [join(c[i] for c in cols) for i in range(len(cols[0]))]


def apply(fn, x):
    """`fn` on every input's array of `x`, the structure kept."""
    return join(fn(a) for a in parts(x))


def feed(input_names, batch) -> dict:
    """{input name: array}, as ONNX Runtime and OpenVINO take inputs."""
    arrays = parts(batch)
    if len(arrays) != len(input_names):
        raise ValueError(f"{len(arrays)} input arrays for the inputs {', '.join(input_names)}")
    return dict(zip(input_names, arrays))


def call(module, x):
    """`module` on a batch of torch tensors: one tensor, or several in the declared order."""
    return module(*parts(x))


def batch_shapes(shape, batch_size: int):
    """A batch's array shape, (batch_size, *shape), or a tuple of them for several inputs."""
    return join((batch_size, *s) for _, s in named(shape)) if several(shape) else (batch_size, *shape)


def random_batch(shape, batch_size: int, rng):
    """One batch of standard-normal float32 values for every input of `shape`."""
    return join(rng.standard_normal((batch_size, *s), dtype="float32") for _, s in named(shape))


def from_numpy(x):
    """Numpy batch -> torch tensors sharing its memory, the structure kept."""
    import torch

    return apply(torch.from_numpy, x)


def torch_batch(shape, batch_size: int, fill: str = "zeros"):
    """A torch batch of every input of `shape`: zeros, or standard-normal values ("randn")."""
    import torch

    make = torch.zeros if fill == "zeros" else torch.randn
    return join(make(batch_size, *s) for _, s in named(shape))


