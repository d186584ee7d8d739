"""Stored runs side by side: per cell (model, backend, precision, batch size) each run's p50, its
ratio to the first run's with a 95% bootstrap interval from the stored samples, and a verdict;
what differs between the runs' environments; the cells only some runs measured; the CI gate."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from edgebench.results.setup import SPEED_FACTS, timing_scope
from edgebench.errors import UserError
from edgebench.report.statistics import ratio_interval
from edgebench.results.record import Record
from edgebench.results.run import Run

BASELINE = "baseline"
FASTER = "faster"
SLOWER = "slower"
NO_CHANGE = "no significant change"
MISSING = "missing"

DEFAULT_DB = Path("results/edgebench.sqlite")


@dataclass
class CellComparison:
    """One cell across the runs; every list holds one entry per run, in the order given.

    ratio: run i's p50 / the first run's (above 1: slower), None for the first run and where
    either has no measurement; ci: its 95% bootstrap interval (None without samples);
    verdict: "baseline" for the first run, else "faster" / "slower" when the interval excludes 1,
    "no significant change" when it does not (or there are no samples), "missing" when the run
    has no successful measurement of the cell."""

    model: str
    backend: str  # the backend, with the options it ran with as name:key=value,...
    precision: str
    batch_size: int
    p50_ms: list = field(default_factory=list)
    ratio: list = field(default_factory=list)
    ci: list = field(default_factory=list)
    verdict: list = field(default_factory=list)
    #: the run's stored status of the cell ("ok", "build_failed", ...), None where it has no row
    status: list = field(default_factory=list)
    #: whether other processes contended for the CPU while the cell was timed; None where missing
    contended: list = field(default_factory=list)

    @property
    def name(self) -> str:
        """"resnet50 onnxruntime fp32 batch 1"."""
        return f"{self.model} {self.backend} {self.precision} batch {self.batch_size}"


@dataclass
class Comparison:
    """Runs compared with the first. labels: one per run (its id, as STORE:RUN when the runs come
    from several stores); env_differences: (what, its value in each run), only what differs;
    unmatched: (label, model, backend, precision) of each successful cell left uncompared: one
    the first run measured and no later run did, or a later run measured and the first did not."""

    labels: list[str]
    runs: list[Run]
    cells: list[CellComparison]
    env_differences: list[tuple[str, list]] = field(default_factory=list)
    unmatched: list[tuple[str, str, str, str]] = field(default_factory=list)
    #: (label of a later run, its cells' verdict counts, the setup differences from the first run
    #: that change speed: (what, first's value, its value)), for each later run that differs in speed
    explanations: list[tuple[str, str, list[tuple[str, object, object]]]] = field(default_factory=list)


@dataclass(frozen=True)
class Regression:
    """A cell the gate fails: run `label` took `ratio` times the first run's p50, with interval `ci`."""

    label: str
    cell: CellComparison
    ratio: float
    ci: tuple


def compare(refs: list[str], db: str | Path = DEFAULT_DB) -> Comparison:
    """Compare the runs `refs` name (run ids in `db`, store files, STORE:RUN; see
    results.lookup), the first as the baseline. Reads stores only. Raises UserError for fewer
    than two runs, a run or store that cannot be read, and runs with no cell in common."""
    from edgebench.results.lookup import load_runs

    _at_least_two(len(refs))  # before any store is read
    stored = load_runs(refs, db)
    seen = {}
    for ref, s in zip(refs, stored):
        key = (str(Path(s.store).resolve()), s.run.run_id)
        if key in seen:
            raise UserError(f"{ref} and {seen[key]} are the same run ({s.run.run_id}): a run compared with itself "
                            "shows nothing; name two different runs (`edgebench report --list` lists a store's runs)")
        seen[key] = ref
    several = len({Path(s.store).resolve() for s in stored}) > 1
    labels = [f"{s.store}:{s.run.run_id}" if several else s.run.run_id for s in stored]
    return compare_runs([s.run for s in stored], [s.records for s in stored], labels)


def compare_runs(runs: list[Run], records: list[list[Record]], labels: list[str] | None = None) -> Comparison:
    """The comparison of stored runs with the first: a pure function of their records. A cell is
    compared when the first run measured it and a later run has a row of it (a failed row is
    "missing" there); of several rows of one cell in a run, the first counts. Raises UserError
    when a later run has no successful cell in common with the first."""
    _at_least_two(len(runs))
    labels = labels or [r.run_id for r in runs]
    measured = [_measured(recs) for recs in records]
    rows = [_rows(recs) for recs in records]
    base = measured[0]
    for i in range(1, len(runs)):
        if not base.keys() & measured[i].keys():
            raise _nothing_in_common(labels[0], records[0], labels[i], records[i])
    cells = []
    for key, first in base.items():
        if not any(key in r for r in rows[1:]):  # a later run that failed the cell shows it as missing
            continue
        cell = CellComparison(*key)
        for i, m in enumerate(measured):
            rec = m.get(key)
            row = rec or rows[i].get(key)
            ratio = ci = None
            if i > 0 and rec is not None:
                ratio = rec.latency.host.p50_ms / first.latency.host.p50_ms
                # ratio_interval(a, b) bounds median(a) / median(b): here run i over the first
                ci = ratio_interval(rec.latency.samples_ms, first.latency.samples_ms,
                                    rec.details.get("round_sizes"), first.details.get("round_sizes"))
            cell.p50_ms.append(rec.latency.host.p50_ms if rec else None)
            cell.ratio.append(ratio)
            cell.ci.append(ci)
            cell.verdict.append(BASELINE if i == 0 else MISSING if rec is None else verdict(ci))
            cell.status.append(row.status.value if row else None)
            cell.contended.append(row.contention.contended if row else None)
        cells.append(cell)
    matched = {(c.model, c.backend, c.precision, c.batch_size) for c in cells}
    unmatched = [(labels[i], *key[:3]) for i, m in enumerate(measured) for key in m if key not in matched]
    return Comparison(labels, list(runs), cells, env_differences(runs, records, cells), unmatched,
                      setup_explanations(labels, runs, cells))


def setup_explanations(labels: list[str], runs: list[Run], cells: list[CellComparison]) -> list:
    """For each later run with cells significantly faster or slower than the first run's: the
    setup facts (results.setup.SPEED_FACTS, and the timing scope) that differ between the two, the
    differences that can explain a difference in speed. Each fact is read as env_differences
    reads it (ENV_FACTS)."""
    speed = {label for label, _ in SPEED_FACTS} | {"timing scope"}
    readers = [(what, read) for what, read in ENV_FACTS if what in speed]

    def facts(run: Run) -> dict:
        return {what: read(run, []) for what, read in readers}

    first = facts(runs[0])
    out = []
    for i in range(1, len(runs)):
        moved = [c.verdict[i] for c in cells if c.verdict[i] in (FASTER, SLOWER)]
        if not moved:
            continue
        mine = facts(runs[i])
        differ = [(what, first[what], mine[what]) for what in first
                  if first[what] is not None and mine[what] is not None and first[what] != mine[what]
                  and not (what.startswith("temperature") and abs(first[what] - mine[what]) < 10)]
        counts = ", ".join(f"{moved.count(v)} {v}" for v in (SLOWER, FASTER) if moved.count(v))
        out.append((labels[i], counts, differ))
    return out


def _at_least_two(n: int) -> None:
    if n < 2:
        raise UserError(f"compare needs at least two runs, got {n}: edgebench compare A B [C ...], each a run id, "
                        "a store file or STORE:RUN")


def verdict(ci: tuple | None) -> str:
    """"slower" / "faster" when the ratio's interval lies wholly above / below 1."""
    if ci is None:
        return NO_CHANGE
    if ci[0] > 1.0:
        return SLOWER
    if ci[1] < 1.0:
        return FASTER
    return NO_CHANGE


def cell_key(rec: Record) -> tuple:
    """(model, backend with its options, precision, batch size): what a cell is matched by."""
    backend = rec.backend
    options = rec.options
    if options:
        backend += ":" + ",".join(f"{k}={v}" for k, v in options.items())
    if rec.details.get("fallback_from"):
        backend += f" (fallback from {rec.details['fallback_from']})"
    return rec.model, backend, rec.precision, rec.batch_size


def _rows(records: list[Record]) -> dict:
    """Each cell's first row, whatever its status."""
    out: dict = {}
    for rec in records:
        out.setdefault(cell_key(rec), rec)
    return out


def _measured(records: list[Record]) -> dict:
    """Each cell's first successful, timed row."""
    out: dict = {}
    for rec in records:
        if rec.ok and rec.latency.host is not None:
            out.setdefault(cell_key(rec), rec)
    return out


def _nothing_in_common(label0: str, recs0: list[Record], label: str, recs: list[Record]) -> UserError:
    models0, models = _unique(r.model for r in recs0), _unique(r.model for r in recs)
    common = set(models0) & set(models)
    if not common:
        return UserError(f"runs {label0} and {label} have no model in common ({label0}: {_names(models0)}; "
                         f"{label}: {_names(models)}); compare runs that measured the same models")

    def cells(rs):
        return _names(_unique(CellComparison(*cell_key(r)).name for r in rs if r.ok and r.model in common))

    return UserError(f"runs {label0} and {label} have no successful cell in common (same model, backend, precision "
                     f"and batch size); their common models' ok cells: {label0}: {cells(recs0)}; "
                     f"{label}: {cells(recs)}")


def _unique(items) -> list:
    return list(dict.fromkeys(items))


def _names(items: list, most: int = 6) -> str:
    if not items:
        return "none"
    return ", ".join(map(str, items[:most])) + (f", ... ({len(items)} in all)" if len(items) > most else "")


# -- environment -----------------------------------------------------------------------------

def _power_mode(env: dict):
    """A target's power mode, or the mode in a local Jetson's `nvpmodel -q` output."""
    if env.get("power_mode"):
        return env["power_mode"]
    if (env.get("setup") or {}).get("power_mode"):
        return env["setup"]["power_mode"]
    for line in str(env.get("nvpmodel") or "").splitlines():
        if line.startswith("NV Power Mode:"):
            return line.partition(":")[2].strip()
    return None


def _tool(run: Run):
    return " ".join(filter(None, (run.edgebench_version, run.git_commit))) or None


#: what env_differences compares, in this order: (what, its value in a run and that run's records)
ENV_FACTS = (
    ("device", lambda run, recs: run.config.get("device")),
    ("device name", lambda run, recs: ", ".join(_unique(r.device_name for r in recs if r.device_name)) or None),
    ("target", lambda run, recs: run.env.get("target")),
    ("host", lambda run, recs: run.env.get("host")),
    ("CPU", lambda run, recs: run.env.get("cpu")),
    ("GPU", lambda run, recs: run.env.get("gpu")),
    ("GPU driver", lambda run, recs: run.env.get("gpu_driver")),
    ("CUDA", lambda run, recs: run.env.get("cuda")),
    ("L4T", lambda run, recs: run.env.get("l4t") or run.env.get("l4t_release")),
    ("power mode", lambda run, recs: _power_mode(run.env)),
    ("CPU governor", lambda run, recs: (run.env.get("setup") or {}).get("cpu_governor") or run.env.get("cpu_governor")),
    *((label, lambda run, recs, key=key: (run.env.get("setup") or {}).get(key))
      for label, key in SPEED_FACTS if key not in ("power_mode", "cpu_governor")),
    ("timing scope", lambda run, recs: timing_scope(run.config, run.env)),
    ("python", lambda run, recs: run.env.get("python")),
    ("torch", lambda run, recs: run.env.get("torch")),
    ("torchvision", lambda run, recs: run.env.get("torchvision")),
    ("onnxruntime", lambda run, recs: run.env.get("onnxruntime")),
    ("openvino", lambda run, recs: run.env.get("openvino")),
    ("tensorrt", lambda run, recs: run.env.get("tensorrt")),
    ("trtexec", lambda run, recs: run.env.get("trtexec")),
    ("edgebench", lambda run, recs: _tool(run)),
    ("quick timing", lambda run, recs: bool((run.config.get("timing") or {}).get("quick"))),
)


def env_differences(runs: list[Run], records: list[list[Record]],
                    cells: list[CellComparison]) -> list[tuple[str, list]]:
    """(what, value per run) for each fact of ENV_FACTS whose value differs between the runs, then
    ("contended: CELL", flag per run) for each compared cell whose contention flag differs."""
    out = []
    for what, read in ENV_FACTS:
        values = [read(run, recs) for run, recs in zip(runs, records)]
        if len({repr(v) for v in values}) > 1:
            out.append((what, values))
    for c in cells:
        flags = {f for f in c.contended if f is not None}
        if len(flags) > 1:
            out.append((f"contended: {c.name}", list(c.contended)))
    return out


# -- the CI gate -----------------------------------------------------------------------------

def parse_threshold(text: str) -> float:
    """--fail-if-slower's value as a fraction: "5%" -> 0.05, and "0.05" -> 0.05 (a bare number
    must be a fraction below 1, so that "5" is not read as 500%)."""
    raw = str(text).strip()
    percent = raw.endswith("%")
    try:
        value = float(raw[:-1] if percent else raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise UserError(f"--fail-if-slower takes a non-negative percentage such as 5% or a fraction such as 0.05, "
                        f"not {text!r}")
    if percent:
        return value / 100.0
    if value >= 1:
        raise UserError(f"--fail-if-slower {text} is ambiguous: write a percentage such as {value:g}% or a fraction "
                        f"below 1 such as {value / 100:g}")
    return value


def contended_pairs(cmp: Comparison) -> list[tuple[str, CellComparison]]:
    """(label, cell) of each later run's cell that the gate does not judge by default: other
    processes took the CPU while it or the first run's cell was timed, so its ratio says more
    about the machine's load than about the code."""
    return [(cmp.labels[i], c) for c in cmp.cells for i in range(1, len(cmp.labels))
            if c.verdict[i] != MISSING and (c.contended[0] or c.contended[i])]


def regressions(cmp: Comparison, threshold: float, judge_contended: bool = False) -> list[Regression]:
    """The cells of later runs that are slower than the first run's by more than `threshold` (a
    fraction, 0.05 for 5%) with 95% confidence: the ratio's interval (ratio_interval) lies wholly
    above 1 + threshold. A cell without samples (no interval) or missing from a run never fails;
    nor, unless `judge_contended`, a contended one (contended_pairs)."""
    skip = set() if judge_contended else {(label, c.name) for label, c in contended_pairs(cmp)}
    out = []
    for c in cmp.cells:
        for i in range(1, len(cmp.labels)):
            ci = c.ci[i]
            if (cmp.labels[i], c.name) in skip:
                continue
            if ci is not None and ci[0] > 1.0 + threshold:
                out.append(Regression(cmp.labels[i], c, c.ratio[i], ci))
    return out


def slower_within(cmp: Comparison, threshold: float, judge_contended: bool = False) -> list[Regression]:
    """Cells of later runs significantly slower than the first run's, but not shown to be slower
    by more than `threshold`: what the gate lets through."""
    failing = {(r.label, r.cell.name) for r in regressions(cmp, threshold, judge_contended)}
    return [Regression(cmp.labels[i], c, c.ratio[i], c.ci[i]) for c in cmp.cells for i in range(1, len(cmp.labels))
            if c.verdict[i] == SLOWER and (cmp.labels[i], c.name) not in failing]


__all__ = ["BASELINE", "FASTER", "MISSING", "NO_CHANGE", "SLOWER", "CellComparison", "Comparison", "Regression",
           "cell_key", "compare", "compare_runs", "contended_pairs", "env_differences", "parse_threshold", "regressions",
           "setup_explanations", "slower_within", "verdict"]
