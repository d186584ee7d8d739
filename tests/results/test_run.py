"""A run's provenance: edgebench's version and the git commit of its source, stored once per run."""
import shutil
import subprocess

import pytest

import edgebench
from edgebench.results import Run, RunStatus, Store
from edgebench.results.run import source_commit

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(folder, *args):
    subprocess.run(["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                   check=True, capture_output=True)


@needs_git
def test_source_commit_names_the_checkout_and_marks_changes(tmp_path):
    pkg = tmp_path / "repo" / "pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    _git(tmp_path / "repo", "init", "-q")
    _git(tmp_path / "repo", "add", ".")
    _git(tmp_path / "repo", "commit", "-q", "-m", "one")
    head = subprocess.run(["git", "-C", str(pkg), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    assert source_commit(pkg) == head
    (tmp_path / "repo" / "notes.txt").write_text("outside the package: not a change to what ran")
    assert source_commit(pkg) == head
    (pkg / "__init__.py").write_text("x = 1\n")
    assert source_commit(pkg) == head + "+dirty"


@needs_git
def test_source_commit_is_none_outside_a_checkout(tmp_path):
    assert source_commit(tmp_path) is None
    # a copy that merely lies inside some repository (a virtual environment in a checkout)
    _git(tmp_path, "init", "-q")
    (tmp_path / "venv" / "pkg").mkdir(parents=True)
    assert source_commit(tmp_path / "venv" / "pkg") is None


def test_source_commit_is_none_without_git(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no git on the path
    assert source_commit() is None


def test_a_started_run_carries_version_and_commit():
    run = Run.start("r1", "pytorch@fp32", {"models": ["m"]}, {"host": "h"})
    assert run.edgebench_version == edgebench.__version__ and run.status is RunStatus.RUNNING
    assert run.git_commit == source_commit()
    assert run.started_at and run.finished_at is None


def test_unknown_run_status_rejected():
    with pytest.raises(ValueError):
        Run("r1", "t", "pytorch", status="great")


def test_run_is_stored_once_with_its_provenance(tmp_path):
    run = Run.start("r1", "pytorch@fp32", {"device": "cpu"}, {"host": "h"})
    with Store(tmp_path / "s.sqlite") as store:
        store.begin_run(run)
        store.finish_run("r1", "2026-01-01T00:01:00", RunStatus.INTERRUPTED)
    with Store(tmp_path / "s.sqlite", readonly=True) as store:
        back = store.run("r1")
    assert back.status is RunStatus.INTERRUPTED and back.finished_at == "2026-01-01T00:01:00"
    assert (back.edgebench_version, back.git_commit, back.env, back.config) == (
        edgebench.__version__, run.git_commit, {"host": "h"}, {"device": "cpu"})
