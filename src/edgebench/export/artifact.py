"""An on-disk artifact with the metadata that travels with it, and content-keyed caching."""
from __future__ import annotations

import hashlib
import json
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

    @property
    def input_name(self) -> str:
        return self.metadata["input_name"]

    @property
    def output_name(self) -> str:
        return self.metadata["output_name"]


def cache_key(fields: dict) -> str:
    """A stable hash of everything that changes an artifact's content."""
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


def default_cache_dir() -> Path:
    import os

    return Path(os.environ.get("EDGEBENCH_CACHE", Path.home() / ".cache" / "edgebench"))
