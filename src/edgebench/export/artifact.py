"""An on-disk artifact with the metadata that travels with it."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edgebench.hashing import file_sha256  # noqa: F401  (artifacts are hashed by content)


@dataclass
class Artifact:
    kind: str  # "onnx"
    path: Path
    sha256: str
    size_bytes: int
    metadata: dict = field(default_factory=dict)
    export_s: float = 0.0  # seconds spent producing it now; 0.0 when served from the cache
    cached: bool = False
    #: how the cache gave it: "hit", "built", "rebuilt: <why the stored one was rejected>";
    #: "" for a file the user gave
    cache_status: str = ""

    @property
    def input_name(self) -> str:
        return self.metadata["input_name"]

    @property
    def output_name(self) -> str:
        """The first output's name (a one-output model's only one)."""
        return self.metadata["output_name"]

    @classmethod
    def from_entry(cls, entry, name: str, export_s: float) -> "Artifact":
        """The ONNX file `name` of a cache.Entry; its metadata is the entry's plus the file's sha256."""
        meta = {**entry.meta, "sha256": entry.sha256(name)}
        return cls("onnx", entry.path(name), meta["sha256"], entry.size(name), meta, export_s, entry.cached, entry.status)


def input_names(artifact: Artifact) -> list[str]:
    """The artifact's input names in the model's order (models.inputs); files exported before
    several inputs were taken have one, `input_name`."""
    return list(artifact.metadata.get("input_names") or [artifact.metadata["input_name"]])


def item_shape(artifact: Artifact):
    """One item's shape without the batch axis, as models.inputs keeps it."""
    from edgebench.models.inputs import normalize

    return normalize(artifact.metadata["input_shape"])


def feeds(artifact: Artifact) -> str:
    """'input [batch, 3, 224, 224]', each input so, comma-separated."""
    from edgebench.models.inputs import named, with_batch

    shapes = [s for _, s in named(item_shape(artifact))]
    return ", ".join(f"{n} {with_batch(s)}" for n, s in zip(input_names(artifact), shapes))


def output_names(artifact: Artifact) -> list[str]:
    """The artifact's output names in the model's order (models.outputs); files exported before
    outputs were named by structure have one, `output_name`."""
    return list(artifact.metadata.get("output_names") or [artifact.metadata["output_name"]])
