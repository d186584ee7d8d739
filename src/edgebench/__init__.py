"""edgebench: benchmark vision models before and after optimisation (PyTorch -> ONNX ->
ONNX Runtime / TensorRT), reproducing Table 1 and Figure 4 of the Jetson Nano paper.

`import edgebench` is light: torch and the backends load on first use.
"""
from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "benchmark": "edgebench.bench.single",
    "run_suite": "edgebench.api",  # the suite with the executor a config names (a target's)
    "SuiteConfig": "edgebench.config",
    "ModelOptions": "edgebench.config",
    "TimingConfig": "edgebench.config",
    "list_models": "edgebench.models.registry",
    "list_availability": "edgebench.backends.registry",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'edgebench' has no attribute {name!r}")


__all__ = ["__version__", *_LAZY]
