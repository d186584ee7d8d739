"""The one recorder of cells: every Record is made here, every failure is mapped to its status
here, and the accuracy (parity, the precision's gate, task accuracy) is attached here, whichever
executor ran the cell (in process, an isolated worker, a target's agent or trtexec, a fleet node)
and whichever strategy measured it (timed rounds, a LoadGen scenario)."""
from __future__ import annotations

from edgebench.errors import (
    BackendUnavailableError,
    BuildError,
    CellFailed,
    EdgebenchError,
    ExportError,
    InvalidConfigError,
    TargetConnectError,
    TargetLostError,
    UserError,
)
from edgebench.results.record import Accuracy, ModelFacts, Record, Status


def new_record(run_id: str, model: str, backend: str, precision: str, batch_size: int, device: str, *,
               options: dict | None = None, task: str = "", device_name: str = "", facts: ModelFacts | None = None,
               timing: dict | None = None, status: Status = Status.OK, error: str = "") -> Record:
    """A cell's record before it runs (or, with a status, a cell that never ran)."""
    return Record(run_id=run_id, model=model, backend=backend, precision=precision, batch_size=batch_size,
                  device=device, status=status, error=error, task=task, device_name=device_name,
                  options=dict(options or {}), model_facts=facts or ModelFacts(), timing=dict(timing or {}))


def error_text(exc: BaseException) -> str:
    """A failure as one row's error: edgebench's own message whole, anything else as its type and
    first line."""
    text = str(exc).strip()
    if isinstance(exc, EdgebenchError):
        return text
    return f"{type(exc).__name__}: {text.splitlines()[0][:400] if text else ''}"


def is_oom(exc: BaseException) -> bool:
    """Host MemoryError, torch.cuda.OutOfMemoryError, or a runtime's own "out of memory"."""
    return (isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError"
            or "out of memory" in str(exc).lower())


def failure_status(exc: BaseException, stage: Status) -> Status:
    """The status of a cell that raised `exc` while at `stage` (the status a failure there has
    unless the exception says more)."""
    if isinstance(exc, CellFailed):
        return Status(exc.status)
    if isinstance(exc, TargetLostError):
        if exc.timed_out:  # the device did not answer in time: its session was ended
            return Status.TIMEOUT
        if exc.returncode not in (None, 255):  # the link held; the process on the device died
            return Status.CRASHED
        return Status.TARGET_LOST
    if isinstance(exc, TargetConnectError):
        return Status.TARGET_LOST
    if isinstance(exc, (BackendUnavailableError, InvalidConfigError)):
        return Status.SKIPPED
    if isinstance(exc, ExportError):
        return Status.EXPORT_FAILED
    if isinstance(exc, BuildError):
        return Status.BUILD_FAILED
    if is_oom(exc):
        return Status.OOM
    return stage


def must_raise(exc: BaseException, strict: bool, stage: Status) -> bool:
    """Whether a failure ends the command instead of becoming the cell's row: an interrupt, a
    user error that is not about this one cell, and with `strict` (the single-cell `bench`) also
    a missing dependency, a bad option, a failed export or build, or a failed run."""
    if isinstance(exc, KeyboardInterrupt) or (isinstance(exc, UserError) and not isinstance(exc, InvalidConfigError)):
        return True
    if strict and isinstance(exc, (BackendUnavailableError, InvalidConfigError, ExportError, BuildError)):
        return True
    return strict and stage == Status.RUN_FAILED


def fail(rec: Record, exc: BaseException, stage: Status) -> None:
    """Write a failure into the cell's record."""
    rec.status = failure_status(exc, stage)
    rec.error = exc.error if isinstance(exc, CellFailed) else error_text(exc)


def attach_accuracy(rec: Record, check_info: tuple, outputs, reference, gate: bool = True,
                    no_reference: str = "") -> None:
    """Parity against PyTorch FP32 on the task inputs, the precision's accuracy gate, and the
    task accuracy when the inputs are labelled. A cell that fails the gate keeps its timing and
    is marked accuracy_failed; one that should be judged but has no reference (`no_reference` says
    why) is "not judged". Neither is ever picked as the post-opt result."""
    if outputs is None:
        return
    from edgebench.bench.accuracy import gate_precision, task_accuracy
    from edgebench.bench.task_parity import judge, of_reference, structured

    labels, desc, n, parity = check_info
    rec.details["accuracy_inputs"] = desc
    labelled = None  # a detector's mAP or a segmenter's mIoU on the labelled data (bench.task_parity)
    if labels is not None and n and not structured(outputs, parity):
        import numpy as np

        rec.accuracy.task_accuracy = task_accuracy([np.concatenate(outputs)[:n]], labels)
    elif labels is not None and n:
        labelled = _labelled(outputs, labels, n, parity, rec.warnings)
        if labelled is not None:
            rec.accuracy.task_accuracy, rec.details["task_metric"] = labelled["value"], labelled["metric"]
    acc = rec.accuracy
    if reference is None:
        if gate:
            acc.gate = Accuracy.NOT_JUDGED
            acc.gate_reason = f"no reference outputs: {no_reference or 'none could be computed'}"
            rec.warnings.append(f"accuracy not judged ({acc.gate_reason}); this cell is never the post-opt pick")
        return
    try:
        res = judge(reference, outputs, gate_precision(rec.precision), parity=parity)
    except Exception as exc:  # a metric's library missing or failing: this row says so, the run goes on
        if gate:
            acc.gate = Accuracy.NOT_JUDGED
            acc.gate_reason = f"the accuracy check failed: {error_text(exc)}"
            rec.warnings.append(f"accuracy not judged ({acc.gate_reason}); this cell is never the post-opt pick")
        return
    acc.max_abs_diff, acc.max_rel_diff = res.max_abs_diff, res.max_rel_diff
    acc.cosine_similarity, acc.top1_agreement = res.cosine, res.top1_agreement
    if res.outputs is not None:  # a model of several outputs, a detector or a segmenter (bench.task_parity)
        rec.details["output_parity"] = res.outputs
        if res.task_metrics is not None:
            rec.details["task_parity"] = res.task_metrics
    else:
        rec.details["top1_decisive_items"] = res.decisive_items
        rec.details["top1_decisive_agreement"] = res.decisive_agreement
    reason = res.reason
    if gate and labelled is not None:
        # the same for every cell of the model: measured once (its failure is the cell's own, above)
        found = of_reference(reference, ("labelled", n), lambda: _labelled(reference, labels, n, parity, []))
        if found is not None:
            from edgebench.bench.task_parity import KEEP_LABELLED

            keep = KEEP_LABELLED.get(gate_precision(rec.precision), KEEP_LABELLED["fp32"])
            rec.details["task_metric_reference"] = found["value"]
            if labelled["value"] < keep * found["value"]:
                reason = "; ".join(filter(None, [reason, f"{labelled['metric']} on the labelled data "
                                                          f"{labelled['value']:.4f} < {100 * keep:g}% of the "
                                                          f"reference's {found['value']:.4f}"]))
    if gate:
        acc.gate = "passed" if res.passed and not reason else "failed"
        # a pass says what it could not judge (too few decisive inputs for top-1), never silently
        acc.gate_reason = reason or res.note
        if acc.gate == "failed" and rec.status == Status.OK:
            rec.status = Status.ACCURACY_FAILED


def _labelled(outputs, labels, n: int, parity, warnings: list) -> dict | None:
    """A detector's mAP or a segmenter's mIoU of `outputs` on the labelled check inputs
    (bench.task_parity.labelled_metric: {"metric", "value"}); None where it cannot be read, and
    where it failed, a line in `warnings`."""
    from edgebench.bench.task_parity import labelled_metric

    try:
        return labelled_metric(outputs, labels, n, parity)
    except Exception as exc:  # a metric's library missing: said, and the rest of the row kept
        warnings.append(f"task accuracy on the labelled data not measured: {error_text(exc)}")
        return None
