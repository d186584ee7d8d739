"""MLPerf LoadGen's summary (mlperf_log_summary.txt) read as typed data: the verdict, each
"... satisfied" check as a boolean, the reasons in LoadGen's words, the headline figure, the
early-stopping estimates and the additional latency statistics."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

@dataclass
class Summary:
    """What edgebench reads from mlperf_log_summary.txt. `checks`: each "... satisfied" line as a
    boolean, keyed by its name ("Min duration", "Min queries", "Early stopping", "Performance
    constraints"); the properties read them, so nothing matches LoadGen's display text."""

    result: str = ""  # VALID or INVALID, as LoadGen prints it (stored with the row)
    reasons: list = field(default_factory=list)
    checks: dict = field(default_factory=dict)
    percentile: float | None = None  # the scenario's headline percentile (90 or 99)
    percentile_ms: float | None = None  # its latency
    samples_per_s: float | None = None  # Offline "Samples per second", Server "Completed samples per second"
    scheduled_qps: float | None = None  # Server
    early_stopping_ms: dict = field(default_factory=dict)  # percentile -> LoadGen's early-stopping estimate, ms
    latencies_ms: dict = field(default_factory=dict)  # "Additional Stats": "p50", "p90", ... "mean", "max" in ms
    text: str = ""

    @property
    def valid(self) -> bool:
        return self.result == "VALID"

    def _check(self, name: str) -> bool | None:
        """True or False as LoadGen said; None where the summary has no such line."""
        return self.checks.get(name)

    @property
    def min_duration_met(self) -> bool | None:
        return self._check("Min duration")

    @property
    def min_queries_met(self) -> bool | None:
        return self._check("Min queries")

    @property
    def early_stopping_met(self) -> bool | None:
        return self._check("Early stopping")

    @property
    def constraints_met(self) -> bool | None:
        return self._check("Performance constraints")


_NUMBER = r"([0-9]+(?:\.[0-9]+)?)"


def parse_summary(text: str) -> Summary:
    """LoadGen's summary text -> Summary: the verdict, the `... satisfied : NO` lines and the
    recommendations as reasons (with the early-stopping bullets when early stopping failed), the
    headline figure, the early-stopping estimates and the additional latency statistics."""
    s = Summary(text=text)
    section = ""
    early: list[str] = []
    failed_checks: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("==="):
            continue
        if line in ("Recommendations:", "Early Stopping Result:"):
            section = line
            continue
        if line.startswith("*"):
            bullet = line.lstrip("* ").strip()
            if section == "Recommendations:":
                s.reasons.append(bullet)
            elif section == "Early Stopping Result:":
                early.append(bullet)
                m = re.match(rf"Early stopping {_NUMBER}th percentile estimate: {_NUMBER}", bullet)
                if m:
                    s.early_stopping_ms[float(m.group(1))] = float(m.group(2)) / 1e6
            continue
        if section and not raw.startswith(" "):
            section = ""
        if ":" not in line:
            if section == "Early Stopping Result:" and early:
                early[-1] += " " + line  # a bullet continued on the next line
            continue
        key, _, value = (part.strip() for part in line.partition(":"))
        if key == "Result is":
            s.result = value
        elif key.endswith(" satisfied") and value.upper() in ("YES", "NO"):
            s.checks[key[: -len(" satisfied")]] = value.upper() == "YES"
            if value.upper() == "NO":
                failed_checks.append(f"{key}: NO")
        elif m := re.fullmatch(rf"{_NUMBER}th percentile latency \(ns\)", key):
            s.percentile, s.percentile_ms = float(m.group(1)), float(value) / 1e6
        elif key in ("Samples per second", "Completed samples per second"):
            s.samples_per_s = float(value)
        elif key == "Scheduled samples per second":
            s.scheduled_qps = float(value)
        elif m := re.fullmatch(rf"{_NUMBER} percentile latency \(ns\)", key):
            s.latencies_ms[f"p{float(m.group(1)):g}"] = float(value) / 1e6
        elif key in ("Min latency (ns)", "Max latency (ns)", "Mean latency (ns)"):
            s.latencies_ms[key.split()[0].lower()] = float(value) / 1e6
    if s.early_stopping_met is False:
        s.reasons += early
    s.reasons = failed_checks + s.reasons
    return s
