"""A run: one `edgebench run` over models x backends, stored once beside its records with what
it ran on and with what: its configuration, the environment, edgebench's version and the git
commit of the edgebench source."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from edgebench import __version__
from edgebench.results.record import StrEnum, utc_now

#: seconds each git call may take; provenance is never worth holding up (or failing) a run
GIT_TIMEOUT_S = 2.0


class RunStatus(StrEnum):
    RUNNING = "running"  # begun; a run whose process died keeps this status
    FINISHED = "finished"
    INTERRUPTED = "interrupted"  # stopped early (Ctrl-C, an error): the rows stored so far are kept


@dataclass
class Run:
    """One run as stored in the store's runs table (baseline: its baseline_backend column)."""

    run_id: str
    started_at: str
    #: the baseline (pre-opt) backend as name@precision, e.g. "pytorch@fp32"
    baseline: str
    config: dict = field(default_factory=dict)
    #: bench.environment.capture(): host, CPU, GPU, library versions, governor, ...
    env: dict = field(default_factory=dict)
    status: RunStatus = RunStatus.RUNNING
    finished_at: str | None = None
    #: None for runs stored before edgebench recorded them
    edgebench_version: str | None = None
    git_commit: str | None = None  # short hash, "+dirty" when the source differs from it

    def __post_init__(self):
        self.status = RunStatus(self.status)

    @classmethod
    def start(cls, run_id: str, baseline: str, config: dict, env: dict) -> "Run":
        """A run beginning now, with this edgebench's version and source commit."""
        return cls(run_id, utc_now(), baseline, config, env, edgebench_version=__version__, git_commit=source_commit())


def source_commit(folder: Path | None = None) -> str | None:
    """`git rev-parse --short HEAD` of the checkout the edgebench package (or `folder`) lies in,
    with "+dirty" when `git status --porcelain` shows changes in that folder; None when it is not
    a tracked part of a git checkout (an installed wheel, a copy), git is missing or too slow.
    Only the package folder decides "dirty": results or notes elsewhere in the checkout change
    nothing that ran."""
    folder = folder or Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, check=True,
                              timeout=GIT_TIMEOUT_S).stdout.strip()

    try:
        # tracked, so not a copy that merely lies inside some other repository (a venv in a checkout)
        git("ls-files", "--error-unmatch", "--", ".")
        commit = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--", ".")
    except (OSError, subprocess.SubprocessError):
        return None
    return (commit + ("+dirty" if dirty else "")) or None
