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


class BackendUnavailableError(DependencyError):
    pass


class PretrainedWeightsError(DependencyError):
    """torchvision's weights could not be fetched (no internet, no cache)."""


class ExportError(EdgebenchError):
    """torch -> artifact conversion failed for a model (recorded as export_failed)."""


class BuildError(EdgebenchError):
    """artifact -> runnable (e.g. a TensorRT engine build) failed (recorded as build_failed)."""


class TargetOutputError(EdgebenchError):
    """A file or log a remote target sent back (trtexec's JSON, its summary) is missing, truncated
    or not in the format expected; the message names the file and what was wrong."""


class BackendStateError(EdgebenchError):
    """A backend method was called out of order (e.g. run before load)."""
