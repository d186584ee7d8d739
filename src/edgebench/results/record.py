"""One measurement cell: model x backend x precision x batch x device, with its statistics,
its environment and its status. A failed cell is a record too."""
from __future__ import annotations

import dataclasses
import datetime as _dt
from dataclasses import dataclass, field
from typing import Any

from edgebench.bench.stats import LatencyStats

STATUSES = ("ok", "accuracy_failed", "export_failed", "build_failed", "run_failed", "oom", "timeout", "crashed", "skipped")


@dataclass
class Record:
    run_id: str
    model: str
    backend: str
    precision: str
    batch_size: int
    device: str
    status: str = "ok"
    error: str = ""
    task: str = ""
    device_name: str = ""
    num_classes: int | None = None
    input_shape: list = field(default_factory=list)
    weights: str = ""
    params: int | None = None
    flops: int | None = None
    macs: int | None = None
    artifact_bytes: int | None = None
    artifact_sha256: str = ""
    # cold start, seconds: export (ONNX) + prepare (engine/package build) + load (torch.compile
    # compiles here) + the first inference; build_s is the backend's own build/compile time
    export_s: float | None = None
    build_s: float | None = None
    prepare_s: float | None = None
    load_s: float | None = None
    first_infer_s: float | None = None
    #: host wall-clock per batch, including host<->device copies
    latency: LatencyStats | None = None
    #: CUDA-event time per batch on device-resident inputs (GPU cells only)
    device_latency: LatencyStats | None = None
    # torch's caching allocator: this cell's peak from prepare to its first inferences, above
    # what the process held before the cell began
    gpu_mem_peak_allocated_mb: float | None = None
    gpu_mem_peak_reserved_mb: float | None = None
    host_rss_peak_mb: float | None = None  # the measuring process's peak resident set
    # energy over the timed window minus the idle baseline (bench.energy); None: no meter here
    energy_per_item_mj: float | None = None
    items_per_joule: float | None = None
    idle_power_w: float | None = None
    energy_source: str = ""
    warnings: list = field(default_factory=list)
    # CPU time everything but the measuring process took (bench.contention), percent of one core:
    # averaged over the timed windows, and over a short quiet window just before the first;
    # contended: other_cpu_pct above bench.contention.CONTENDED_PCT (a warning says so too)
    contended: bool = False
    other_cpu_pct: float | None = None
    load_before_pct: float | None = None
    #: hash of everything that defines this cell's measurement (run --resume reuses ok rows)
    fingerprint: str = ""
    #: per-iteration host latencies in ms, for confidence intervals in reports
    samples_ms: list = field(default_factory=list)
    # against PyTorch FP32 on the same task inputs (bench.accuracy)
    max_abs_diff: float | None = None
    max_rel_diff: float | None = None
    top1_agreement: float | None = None
    cosine_similarity: float | None = None
    accuracy_gate: str = ""  # "passed", "failed", or "" (the baseline, or no reference)
    accuracy_gate_reason: str = ""
    task_accuracy: float | None = None  # on labelled task data (--data), 0..1
    # harness-overhead check: the harness path and a bare loop around the backend's own
    # call, interleaved (bench.harness.overhead_check)
    harness_check_p50_ms: float | None = None
    bare_p50_ms: float | None = None
    details: dict = field(default_factory=dict)
    timing: dict = field(default_factory=dict)
    env: dict = field(default_factory=dict)
    created_at: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"status {self.status!r} not in {STATUSES}")
        self.contended = bool(self.contended)  # SQLite hands back 0/1, and NULL for rows stored before it

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def p50_ms(self) -> float | None:
        return self.latency.p50_ms if self.latency else None

    @property
    def cold_start_s(self) -> float | None:
        parts = [self.export_s or 0.0, self.prepare_s, self.load_s, self.first_infer_s]
        return None if any(p is None for p in parts[1:]) else sum(parts)

    @property
    def harness_overhead_pct(self) -> float | None:
        if not self.harness_check_p50_ms or not self.bare_p50_ms:
            return None
        return 100.0 * (self.harness_check_p50_ms / self.bare_p50_ms - 1.0)

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["latency"] = self.latency.to_dict() if self.latency else None
        d["device_latency"] = self.device_latency.to_dict() if self.device_latency else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Record":
        d = dict(d)
        for key in ("latency", "device_latency"):
            lat = d.get(key)
            d[key] = LatencyStats(**lat) if lat else None
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})
