"""The Python API: `benchmark` (one cell), `run_suite` (models x backends -> store -> Table 1 /
Figure 4), `stream`, `export` and `load_model`. The CLI is a thin layer over these functions.

This module only gathers them: configuration lives in edgebench.config, the cells in
edgebench.bench.model_cell, the suite in edgebench.bench.suite, the single-cell entry points in
edgebench.bench.single. Nothing inside edgebench imports this module."""
from __future__ import annotations

from edgebench.bench.model_cell import load_model
from edgebench.config import TimingConfig
from edgebench.bench.single import benchmark, export, stream
from edgebench.bench.suite import SuiteResult
from edgebench.bench.suite import run_suite as _run_suite
from edgebench.config import ModelOptions, SuiteConfig
from edgebench.errors import EdgebenchError



def run_suite(config: SuiteConfig, progress: bool = False, on_record=None, time_left=None) -> SuiteResult:
    """Run every model x backend cell of `config` (bench.suite.run_suite), on its remote target
    when it names one (targets.executor)."""
    from edgebench.targets.executor import executor_for

    return _run_suite(config, progress=progress, on_record=on_record, executor=executor_for(config),
                      time_left=time_left)


__all__ = ["EdgebenchError", "ModelOptions", "SuiteConfig", "SuiteResult", "TimingConfig", "benchmark", "export",
           "load_model", "run_suite", "stream"]
