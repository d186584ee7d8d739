"""Typed errors. Each says what was asked, what is allowed, and how to fix it.

The CLI maps `UserError` subclasses to exit code 2 and `DependencyError` subclasses to
exit code 3, printing the message on one line with no traceback.
"""
from __future__ import annotations


class EdgebenchError(Exception):
    """Base of every error edgebench raises on purpose."""

    exit_code = 1


class UserError(EdgebenchError):
    """Bad input: a name, a value, a file. Exit code 2."""

    exit_code = 2


class DependencyError(EdgebenchError):
    """A library or device that is needed is missing. Exit code 3."""

    exit_code = 3


class UnknownModelError(UserError):
    pass


class UnknownBackendError(UserError):
    pass


class InvalidConfigError(UserError):
    pass


class ModelFileError(UserError):
    """A user's `file.py:factory` cannot be loaded."""


class WeightsError(UserError):
    """A checkpoint is missing, unreadable or does not fit the model."""


class ArtifactError(UserError):
    """An on-disk artifact (ONNX file, engine) is invalid."""


class OutputDirError(UserError):
    pass


class StoreError(UserError):
    """A results store is missing, unreadable, damaged, not edgebench's, or stays locked."""


class UnknownTargetError(UserError):
    """A target name that is not in the targets file."""


class BackendUnavailableError(DependencyError):
    pass


class TargetConnectError(DependencyError):
    """A remote target cannot be reached, refuses the login, or cannot start the agent
    (ssh's own failure, exit 255, or no working Python there); the message says how to fix it,
    `reason` is the cause in a few words (ssh's last line), for a table cell."""

    def __init__(self, message: str, reason: str = ""):
        super().__init__(message)
        self.reason = reason or message

    def __reduce__(self):  # keeps `reason` across a process boundary (pickle)
        return type(self), (str(self), self.reason)


class PretrainedWeightsError(DependencyError):
    """torchvision's weights could not be fetched (no internet, no cache)."""


class ExportError(EdgebenchError):
    """torch -> artifact conversion failed for a model (recorded as export_failed)."""


class BuildError(EdgebenchError):
    """artifact -> runnable (e.g. a TensorRT engine build) failed (recorded as build_failed)."""


class TargetOutputError(EdgebenchError):
    """A file or log a remote target sent back (trtexec's JSON, its summary) is missing, truncated
    or not in the format expected; the message names the file and what was wrong."""


class TargetLostError(EdgebenchError):
    """The connection to a remote target died, or the target stopped answering, while it was
    working: the cell it was running is lost (recorded as target_lost), the others stand.
    `op` is what was asked, `returncode` ssh's exit code (255: the connection; another: the
    remote program's own; None: still running or never started), `timed_out` whether no
    answer came in time."""

    def __init__(self, message: str, op: str | None = None, returncode: int | None = None,
                 timed_out: bool = False):
        super().__init__(message)
        self.op = op
        self.returncode = returncode
        self.timed_out = timed_out

    def __reduce__(self):  # keeps the attributes across a process boundary (pickle)
        return type(self), (str(self), self.op, self.returncode, self.timed_out)


class NoResultError(EdgebenchError):
    """A run ended with every cell failed or skipped: its rows are stored, and it exits 1."""


class BackendStateError(EdgebenchError):
    """A backend method was called out of order (e.g. run before load)."""


class CellFailed(EdgebenchError):
    """Whatever ran a cell (an isolated worker, a target's agent, trtexec) reported that it failed,
    with the status it failed with (a results.Status value) and one line saying why."""

    def __init__(self, status, error: str):
        super().__init__(error)
        self.status = status
        self.error = error

    def __reduce__(self):
        return type(self), (self.status, self.error)
