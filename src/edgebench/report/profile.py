"""Per-layer profiles as the cells store them (details["layer_profile"]: bench.profile's, or a
target's trtexec --exportProfile, which has no "source" or "op_type"): a cell's slowest layers,
and which cells of a stored run have a profile, or why one has none (a UserError when none has)."""
from __future__ import annotations

from edgebench.profilers import TRTEXEC
from edgebench.errors import UserError
from edgebench.results.record import Record, Status
from edgebench.results.run import Run


def cell_label(rec: Record) -> str:
    """"resnet50 / onnxruntime fp32 (cpu)"."""
    return f"{rec.model} / {rec.backend} {rec.precision} ({rec.device})"


def profile_source(rec: Record) -> str:
    """Which profiler measured a cell's layers (rows stored before the source was recorded: a
    target's tensorrt cells, trtexec)."""
    profile = rec.details.get("layer_profile") or {}
    return profile.get("source") or (TRTEXEC if rec.backend == "tensorrt" else "unknown profiler")


def slowest_layers(profile: dict, top: int | None = None) -> list[dict]:
    """The layers of a stored profile, the largest share first; `top` of them."""
    layers = sorted(profile.get("layers") or [], key=lambda row: -(row.get("percentage") or 0.0))
    return layers if top is None else layers[:top]


def why_no_profile(rec: Record, run: Run) -> str:
    """Why a stored cell has no per-layer profile, and what to do about it."""
    if rec.details.get("no_layer_profile"):
        return rec.details["no_layer_profile"]
    if rec.status not in (Status.OK, Status.ACCURACY_FAILED):
        first = rec.error.strip().splitlines()[0] if rec.error.strip() else "no reason recorded"
        return f"not measured ({rec.status}: {first})"
    if run.env.get("target") and rec.backend != "tensorrt":
        return (f"{rec.backend} runs without a profiler on a target; a target's tensorrt cells carry "
                f"trtexec's per-layer profile")
    if not run.config.get("profile"):
        return f"run {run.run_id} was not run with --profile; run again with --profile"
    return "no per-layer profile was stored"


def profiled_cells(run: Run, records: list[Record], model: str,
                   backend: str | None = None) -> tuple[list[Record], list[tuple[Record, str]]]:
    """The cells of `model` (and of `backend`: NAME or NAME@PRECISION) in a stored run: (those with
    a per-layer profile, [(cell, why it has none)] for the others). A UserError names what is
    there when the model or backend is not in the run, or says why when no cell has a profile."""
    cells = [r for r in records if r.model == model]
    if not cells:
        models = ", ".join(dict.fromkeys(r.model for r in records)) or "none"
        raise UserError(f"model {model!r} is not in run {run.run_id}; its models: {models}")
    if backend is not None:
        name, _, precision = backend.partition("@")
        chosen = [r for r in cells if r.backend == name and precision in ("", r.precision)]
        if not chosen:
            have = ", ".join(dict.fromkeys(f"{r.backend}@{r.precision}" for r in cells))
            raise UserError(f"run {run.run_id} has no {backend} cell for {model}; its cells: {have}")
        cells = chosen
    found = [r for r in cells if (r.details.get("layer_profile") or {}).get("layers")]
    missing = [(r, why_no_profile(r, run)) for r in cells if not (r.details.get("layer_profile") or {}).get("layers")]
    if not found:
        reasons = list(dict.fromkeys(why for _, why in missing))
        text = reasons[0] if len(reasons) == 1 else "; ".join(f"{cell_label(r)}: {why}" for r, why in missing)
        raise UserError(f"no per-layer profile stored for {model}"
                        f"{f' on {backend}' if backend else ''} in run {run.run_id}: {text}")
    return found, missing
