"""A comparison of runs (report.compare.Comparison) rendered: aligned plain text for the
terminal, JSON, and the regression gate's lines."""
from __future__ import annotations

import json

from edgebench.report.compare import MISSING, Comparison, Regression
from edgebench.report.render.text import CONTENDED_MARK


def _tag(i: int) -> str:
    return f"[{i + 1}]"


def _ratio(ratio: float | None, ci: tuple | None) -> str:
    if ratio is None:
        return ""
    return f"{ratio:.3f}x" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else " (no samples for an interval)")


def _p50(cell, i: int) -> str:
    if cell.p50_ms[i] is None:
        return "-"
    return f"{cell.p50_ms[i]:.3f}" + (CONTENDED_MARK if cell.contended[i] else "")


def _versus(cell, i: int) -> str:
    """Run i's ratio to the first, its interval and verdict; or why it is missing."""
    if cell.verdict[i] == MISSING:
        status = cell.status[i]
        return f"{MISSING} ({status})" if status and status != "ok" else f"{MISSING} (not measured)"
    return f"{_ratio(cell.ratio[i], cell.ci[i])} {cell.verdict[i]}"


def _value(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    return " ".join(str(v).split())  # one line, whatever the probe printed


def _table(rows: list[list[str]], right: set) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for j, r in enumerate(rows):
        cells = (c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
        out.append("  ".join(cells).rstrip())
        if j == 0:
            out.append("  ".join("-" * w for w in widths))
    return out


def render_comparison(cmp: Comparison) -> str:
    """The runs, one row per compared cell (each run's p50, each later run's ratio to the first
    with its 95% interval and verdict), a count of verdicts per run, the environment differences
    and the cells left uncompared."""
    n = len(cmp.labels)
    out = ["runs (ratio: p50 / p50 of [1], above 1 is slower; 95% interval of the ratio of medians: the stored "
           "samples' bootstrap, widened by the spread between each run's rounds):"]
    for i, (label, run) in enumerate(zip(cmp.labels, cmp.runs)):
        tool = " ".join(filter(None, (run.edgebench_version, run.git_commit))) or "unknown"
        quick = ", QUICK smoke-run timing: not a result" if (run.config.get("timing") or {}).get("quick") else ""
        out.append(f"  {_tag(i)} {label}  started {run.started_at}, {run.status}, edgebench {tool}{quick}")
    header = ["model", "backend", "precision", "batch"] + [f"p50 {_tag(i)} ms" for i in range(n)]
    header += [f"{_tag(i)} vs [1]" for i in range(1, n)]
    rows = [header]
    for c in cmp.cells:
        row = [c.model, c.backend, c.precision, str(c.batch_size)] + [_p50(c, i) for i in range(n)]
        rows.append(row + [_versus(c, i) for i in range(1, n)])
    out += [""] + _table(rows, right={3, *range(4, 4 + n)})
    if any(any(c.contended) for c in cmp.cells):
        out.append(f"{CONTENDED_MARK} timed while other processes used the CPU: the time may be inflated")
    for i in range(1, n):
        verdicts = [c.verdict[i] for c in cmp.cells]
        counts = ", ".join(f"{verdicts.count(v)} {v}" for v in ("faster", "slower", "no significant change", MISSING)
                           if verdicts.count(v))
        out.append(f"{_tag(i)} vs [1]: {counts}")
    if cmp.env_differences:
        out += ["", "what differs between the runs:"]
        out += ["  " + line for line in _table([["", *map(_tag, range(n))]]
                                              + [[what, *map(_value, values)] for what, values in cmp.env_differences],
                                              right=set())]
    else:
        out += ["", "the runs' environments do not differ in what edgebench records (device, versions, power mode, "
                    "contention)"]
    for label, counts, differ in getattr(cmp, "explanations", []):
        tag = _tag(cmp.labels.index(label))
        if differ:
            out += ["", f"{tag} vs [1] ({counts}): setup differences that can explain it:"]
            out += [f"  {what}: {_value(a)} in [1], {_value(b)} in {tag}" for what, a, b in differ]
        else:
            out += ["", f"{tag} vs [1] ({counts}): no recorded setup difference explains it (power mode, clocks, "
                        "cores, governor, power limit, temperature and timing scope are the same or unknown)"]
    if cmp.unmatched:
        out += ["", "measured in only some runs, so not compared:"]
        tags = {label: _tag(i) for i, label in reversed(list(enumerate(cmp.labels)))}
        out += [f"  {tags[label]} {model} {backend} {precision}" for label, model, backend, precision in cmp.unmatched]
    return "\n".join(out)


def comparison_dict(cmp: Comparison, threshold: float | None = None, failing: list[Regression] | None = None,
                    not_judged: list | None = None) -> dict:
    """The comparison as plain data (and the gate's outcome when a threshold was given)."""
    out = {
        "labels": list(cmp.labels),
        "runs": [{"label": label, "run_id": r.run_id, "started_at": r.started_at, "finished_at": r.finished_at,
                  "status": r.status.value, "baseline": r.baseline, "edgebench_version": r.edgebench_version,
                  "git_commit": r.git_commit, "device": r.config.get("device"), "env": r.env}
                 for label, r in zip(cmp.labels, cmp.runs)],
        "cells": [{"model": c.model, "backend": c.backend, "precision": c.precision, "batch_size": c.batch_size,
                   "p50_ms": c.p50_ms, "ratio": c.ratio, "ci": [list(ci) if ci else None for ci in c.ci],
                   "verdict": c.verdict, "status": c.status, "contended": c.contended} for c in cmp.cells],
        "env_differences": [{"what": what, "values": values} for what, values in cmp.env_differences],
        "unmatched": [{"label": label, "model": m, "backend": b, "precision": p} for label, m, b, p in cmp.unmatched],
        "setup_explanations": [{"label": label, "verdicts": counts,
                                "differences": [{"what": w, "first": a, "this": b} for w, a, b in differ]}
                               for label, counts, differ in getattr(cmp, "explanations", [])],
    }
    if threshold is not None:
        out["gate"] = {"fail_if_slower": threshold, "passed": not failing,
                       "rule": "fails when a cell's 95% interval of the ratio lies wholly above 1 + fail_if_slower",
                       "failing": [{"label": r.label, "model": r.cell.model, "backend": r.cell.backend,
                                    "precision": r.cell.precision, "batch_size": r.cell.batch_size,
                                    "ratio": r.ratio, "ci": list(r.ci)} for r in failing or []],
                       "not_judged_contended": [{"label": label, "model": c.model, "backend": c.backend,
                                                 "precision": c.precision, "batch_size": c.batch_size}
                                                for label, c in not_judged or []]}
    return out


def render_comparison_json(cmp: Comparison, threshold: float | None = None,
                           failing: list[Regression] | None = None, not_judged: list | None = None) -> str:
    return json.dumps(comparison_dict(cmp, threshold, failing, not_judged), indent=2, default=str)


def gate_lines(cmp: Comparison, threshold: float, failing: list[Regression], within: list[Regression],
               not_judged: list | None = None) -> str:
    """The gate's outcome: each failing cell, or that none failed (and the cells significantly
    slower but not shown to exceed the threshold); then the contended cells it did not judge."""
    limit = f"{100 * threshold:g}%"
    first = cmp.labels[0]
    if failing:
        out = [f"regression gate FAILED: {len(failing)} cell{'s' if len(failing) != 1 else ''} more than {limit} "
               f"slower than in {first} (95% interval of the ratio wholly above {1 + threshold:g}):"]
        out += [f"  {r.label}: {r.cell.name}: {_ratio(r.ratio, r.ci)}" for r in failing]
    else:
        out = [f"regression gate passed: no cell is shown to be more than {limit} slower than in {first}"]
        if within:
            out.append(f"  slower, but not shown to be by more than {limit}:")
            out += [f"  {r.label}: {r.cell.name}: {_ratio(r.ratio, r.ci)}" for r in within]
    if not_judged:
        out.append(f"  not judged ({len(not_judged)}): other processes took the CPU while the cell was timed "
                   "(contended); rerun on a quiet machine, or pass --judge-contended:")
        out += [f"  {label}: {c.name}" for label, c in not_judged]
    return "\n".join(out)


__all__ = ["comparison_dict", "gate_lines", "render_comparison", "render_comparison_json"]
