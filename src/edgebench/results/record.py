"""One measurement cell: model x backend x precision x batch x device, with its statistics and
its status, as plain data in named groups. A failed cell is a record too. The environment the
cell ran in is the run's (results.run), stored once per run."""
from __future__ import annotations

import datetime as _dt
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from typing import Any

from edgebench.results.latency import LatencyStats


class StrEnum(str, Enum):
    """An Enum whose members are their string values (enum.StrEnum, which Python 3.10 lacks):
    they compare equal to, print as and are stored as those strings."""

    __str__ = str.__str__
    __format__ = str.__format__


class Status(StrEnum):
    """How a cell ended; stored as the value."""

    OK = "ok"
    ACCURACY_FAILED = "accuracy_failed"  # timed, but its outputs failed the precision's accuracy gate
    EXPORT_FAILED = "export_failed"
    BUILD_FAILED = "build_failed"
    RUN_FAILED = "run_failed"
    OOM = "oom"
    TIMEOUT = "timeout"
    CRASHED = "crashed"
    SKIPPED = "skipped"  # not measurable here: backend missing, precision not offered, bad option
    TARGET_LOST = "target_lost"  # the connection to a remote target died during the cell (run --resume measures it again)
    NODE_LOST = "node_lost"  # a fleet node died during the cell's task, after one retry (run --resume measures it again)


@dataclass
class ModelFacts:
    """What the measured model is: its head, one item's input shape, its weights' label, size."""

    num_classes: int | None = None
    input_shape: list = field(default_factory=list)
    weights: str = ""
    params: int | None = None
    flops: int | None = None  # per item (batch 1), as the paper's Table 1 gives them
    macs: int | None = None


@dataclass
class ArtifactFacts:
    """The ONNX file an ONNX-consuming backend ran."""

    size_bytes: int | None = None
    sha256: str = ""


@dataclass
class ColdStart:
    """Cold start, seconds: export (ONNX) + prepare (engine/package build) + load (torch.compile
    compiles here) + the first inference; build_s is the backend's own build/compile time."""

    export_s: float | None = None
    build_s: float | None = None
    prepare_s: float | None = None
    load_s: float | None = None
    first_infer_s: float | None = None

    @property
    def total_s(self) -> float | None:
        """Seconds to the first result; None unless prepare, load and the first inference ran."""
        parts = [self.export_s or 0.0, self.prepare_s, self.load_s, self.first_infer_s]
        return None if any(p is None for p in parts[1:]) else sum(parts)


@dataclass
class Latency:
    """Per-batch latency, as results.latency.LatencyStats, and the samples the host figure came from."""

    #: host wall-clock per batch, including host<->device copies
    host: LatencyStats | None = None
    #: CUDA-event time per batch on device-resident inputs (GPU cells only)
    device: LatencyStats | None = None
    #: per-iteration host latencies in ms, for confidence intervals in reports
    samples_ms: list = field(default_factory=list)


@dataclass
class Memory:
    """Peak memory, MiB."""

    # torch's caching allocator: this cell's peak from prepare to its first inferences, above
    # what the process held before the cell began
    gpu_peak_allocated_mb: float | None = None
    gpu_peak_reserved_mb: float | None = None
    host_rss_peak_mb: float | None = None  # the measuring process's peak resident set


@dataclass
class Energy:
    """Energy over the timed window minus the idle baseline (bench.energy); None: no meter here."""

    per_item_mj: float | None = None
    items_per_joule: float | None = None
    idle_power_w: float | None = None
    source: str = ""


@dataclass
class Contention:
    """CPU time everything but the measuring process took (bench.contention), percent of one core:
    averaged over the timed windows, and over a short quiet window just before the first;
    contended: other_cpu_pct above bench.contention.CONTENDED_PCT (a warning says so too)."""

    contended: bool = False
    other_cpu_pct: float | None = None
    load_before_pct: float | None = None

    def __post_init__(self):
        self.contended = bool(self.contended)  # SQLite hands back 0/1, and NULL for rows stored before it


@dataclass
class Accuracy:
    """Against PyTorch FP32 on the same task inputs (bench.accuracy)."""

    NOT_JUDGED = "not judged"

    max_abs_diff: float | None = None
    max_rel_diff: float | None = None
    top1_agreement: float | None = None
    cosine_similarity: float | None = None
    #: "passed", "failed", "not judged" (no reference could be had: gate_reason says why; such a
    #: cell is never Table 1's post-opt pick) or "" (the baseline, which is the reference)
    gate: str = ""
    gate_reason: str = ""
    task_accuracy: float | None = None  # on labelled task data (--data), 0..1


@dataclass
class Overhead:
    """Harness-overhead check: the harness path and a bare loop around the backend's own call,
    interleaved (bench.harness.overhead_check)."""

    harness_check_p50_ms: float | None = None
    bare_p50_ms: float | None = None

    @property
    def pct(self) -> float | None:
        """How much slower the harness path was than the bare loop, percent; None if not checked."""
        if not self.harness_check_p50_ms or not self.bare_p50_ms:
            return None
        return 100.0 * (self.harness_check_p50_ms / self.bare_p50_ms - 1.0)


@dataclass
class LoadGen:
    """An MLPerf LoadGen scenario cell (bench.loadgen): LoadGen's verdict, the reasons it gives
    when INVALID, and the scenario's figure read back from its summary (the summary itself is in
    details["loadgen_summary"]). Empty for the harness's own cells."""

    scenario: str = ""  # single-stream, multi-stream, offline, server
    result: str = ""  # LoadGen's verdict: VALID or INVALID
    reasons: list = field(default_factory=list)  # why INVALID, in LoadGen's words
    p90_ms: float | None = None  # single-stream's figure (and the others' where reported)
    p99_ms: float | None = None  # multi-stream's figure
    samples_per_s: float | None = None  # offline's figure; server: completed samples per second
    server_qps: float | None = None  # server: the scheduled arrival rate of the run kept
    latency_bound_ms: float | None = None  # server: the bound on the 99th percentile
    early_stopping_ms: float | None = None  # LoadGen's early-stopping estimate of the scenario's percentile
    compliant: bool = False  # MLPerf's minimum duration and query counts
    frame_budget_ms: float | None = None  # 1000 / --target-fps
    meets_frame_budget: bool | None = None

    def __post_init__(self):
        self.compliant = bool(self.compliant)  # SQLite hands back 0/1, and NULL for rows stored before it
        self.scenario, self.result = self.scenario or "", self.result or ""
        if self.meets_frame_budget is not None:
            self.meets_frame_budget = bool(self.meets_frame_budget)


def utc_now() -> str:
    """UTC now, ISO 8601 to the second: how records and runs stamp their times."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


#: the groups of a Record, by field name
GROUPS = {"model_facts": ModelFacts, "artifact": ArtifactFacts, "cold_start": ColdStart, "latency": Latency,
          "memory": Memory, "energy": Energy, "contention": Contention, "accuracy": Accuracy, "overhead": Overhead, "loadgen": LoadGen}


@dataclass
class Record:
    """One cell's row. The identity (run, model, backend, precision, batch, device) and the status
    are top-level fields, read everywhere; what was measured lives in the groups."""

    run_id: str
    model: str
    backend: str
    precision: str
    batch_size: int
    device: str
    status: Status = Status.OK
    error: str = ""
    task: str = ""
    device_name: str = ""
    #: the backend spec's options (NAME@PREC:KEY=VALUE), part of the cell's identity: two cells of
    #: one backend and precision differ by them (rows stored before schema 9 kept them in details)
    options: dict = field(default_factory=dict)
    #: hash of everything that defines this cell's measurement (run --resume reuses ok rows)
    fingerprint: str = ""
    created_at: str = field(default_factory=utc_now)
    model_facts: ModelFacts = field(default_factory=ModelFacts)
    artifact: ArtifactFacts = field(default_factory=ArtifactFacts)
    cold_start: ColdStart = field(default_factory=ColdStart)
    latency: Latency = field(default_factory=Latency)
    memory: Memory = field(default_factory=Memory)
    energy: Energy = field(default_factory=Energy)
    contention: Contention = field(default_factory=Contention)
    accuracy: Accuracy = field(default_factory=Accuracy)
    overhead: Overhead = field(default_factory=Overhead)
    loadgen: LoadGen = field(default_factory=LoadGen)
    warnings: list = field(default_factory=list)
    details: dict = field(default_factory=dict)
    #: the timing configuration the cell was measured with (bench.harness.TimingConfig as a dict)
    timing: dict = field(default_factory=dict)

    def __post_init__(self):
        self.status = Status(self.status)  # a stored string becomes its member; an unknown one raises ValueError
        if not self.options and isinstance(self.details.get("options"), dict):  # a row stored before schema 9
            self.details = dict(self.details)
            self.options = self.details.pop("options")

    @property
    def ok(self) -> bool:
        return self.status == Status.OK

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dicts, lists and strings (the status as its value); `from_dict` reads it back."""
        d = asdict(self)  # nested groups (LatencyStats too) become dicts; lists and dicts are copied
        d["status"] = self.status.value
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Record":
        """The inverse of `to_dict`; keys it does not know are ignored."""
        kwargs = {}
        for f in fields(cls):
            if f.name not in d:
                continue
            value = d[f.name]
            if f.name in GROUPS and isinstance(value, dict):
                group = dict(value)
                if f.name == "latency":
                    for key in ("host", "device"):
                        group[key] = LatencyStats(**group[key]) if group.get(key) else None
                names = {g.name for g in fields(GROUPS[f.name])}
                value = GROUPS[f.name](**{k: v for k, v in group.items() if k in names})
            kwargs[f.name] = value
        return cls(**kwargs)


__all__ = ["Accuracy", "ArtifactFacts", "ColdStart", "Contention", "Energy", "Latency", "LoadGen", "Memory", "ModelFacts",
           "Overhead", "Record", "Status", "StrEnum", "utc_now"]
