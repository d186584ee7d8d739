"""A Record's flat layout: one name per value, the names rows have always been stored under,
each mapped explicitly to its place in the grouped Record. The store's columns and
`edgebench bench --json` use it, so a store of any version reads unchanged."""
from __future__ import annotations

from typing import Any

from edgebench.results.latency import LatencyStats
from edgebench.results.record import GROUPS, Record

#: flat name -> (group, field) in Record, in the order rows have always listed them; group None:
#: a top-level field. Latency statistics stay one value here (the store spreads them over columns).
FIELDS: dict[str, tuple[str | None, str]] = {
    "run_id": (None, "run_id"),
    "model": (None, "model"),
    "backend": (None, "backend"),
    "precision": (None, "precision"),
    "batch_size": (None, "batch_size"),
    "device": (None, "device"),
    "status": (None, "status"),
    "error": (None, "error"),
    "task": (None, "task"),
    "device_name": (None, "device_name"),
    "num_classes": ("model_facts", "num_classes"),
    "input_shape": ("model_facts", "input_shape"),
    "weights": ("model_facts", "weights"),
    "params": ("model_facts", "params"),
    "flops": ("model_facts", "flops"),
    "macs": ("model_facts", "macs"),
    "artifact_bytes": ("artifact", "size_bytes"),
    "artifact_sha256": ("artifact", "sha256"),
    "export_s": ("cold_start", "export_s"),
    "build_s": ("cold_start", "build_s"),
    "prepare_s": ("cold_start", "prepare_s"),
    "load_s": ("cold_start", "load_s"),
    "first_infer_s": ("cold_start", "first_infer_s"),
    "latency": ("latency", "host"),
    "device_latency": ("latency", "device"),
    "gpu_mem_peak_allocated_mb": ("memory", "gpu_peak_allocated_mb"),
    "gpu_mem_peak_reserved_mb": ("memory", "gpu_peak_reserved_mb"),
    "host_rss_peak_mb": ("memory", "host_rss_peak_mb"),
    "energy_per_item_mj": ("energy", "per_item_mj"),
    "items_per_joule": ("energy", "items_per_joule"),
    "idle_power_w": ("energy", "idle_power_w"),
    "energy_source": ("energy", "source"),
    "warnings": (None, "warnings"),
    "contended": ("contention", "contended"),
    "other_cpu_pct": ("contention", "other_cpu_pct"),
    "load_before_pct": ("contention", "load_before_pct"),
    "fingerprint": (None, "fingerprint"),
    "options": (None, "options"),
    "samples_ms": ("latency", "samples_ms"),
    "max_abs_diff": ("accuracy", "max_abs_diff"),
    "max_rel_diff": ("accuracy", "max_rel_diff"),
    "top1_agreement": ("accuracy", "top1_agreement"),
    "cosine_similarity": ("accuracy", "cosine_similarity"),
    "accuracy_gate": ("accuracy", "gate"),
    "accuracy_gate_reason": ("accuracy", "gate_reason"),
    "task_accuracy": ("accuracy", "task_accuracy"),
    "harness_check_p50_ms": ("overhead", "harness_check_p50_ms"),
    "bare_p50_ms": ("overhead", "bare_p50_ms"),
    "details": (None, "details"),
    "timing": (None, "timing"),
    "loadgen_scenario": ("loadgen", "scenario"),
    "loadgen_result": ("loadgen", "result"),
    "loadgen_reasons": ("loadgen", "reasons"),
    "loadgen_p90_ms": ("loadgen", "p90_ms"),
    "loadgen_p99_ms": ("loadgen", "p99_ms"),
    "loadgen_samples_per_s": ("loadgen", "samples_per_s"),
    "loadgen_server_qps": ("loadgen", "server_qps"),
    "loadgen_latency_bound_ms": ("loadgen", "latency_bound_ms"),
    "loadgen_early_stopping_ms": ("loadgen", "early_stopping_ms"),
    "loadgen_compliant": ("loadgen", "compliant"),
    "loadgen_frame_budget_ms": ("loadgen", "frame_budget_ms"),
    "loadgen_meets_frame_budget": ("loadgen", "meets_frame_budget"),
    "created_at": (None, "created_at"),
}
#: the flat names holding LatencyStats
STATS = ("latency", "device_latency")


def flatten(rec: Record, env: dict | None = None) -> dict[str, Any]:
    """The record as one flat dict in FIELDS order (statistics as dicts, the status as its value).
    `env`, when given, goes where rows carried the environment before it moved to the run."""
    d = rec.to_dict()
    out: dict[str, Any] = {}
    for name, (group, key) in FIELDS.items():
        if name == "created_at" and env is not None:
            out["env"] = env
        out[name] = d[key] if group is None else d[group][key]
    return out


def unflatten(flat: dict) -> Record:
    """A Record from a flat dict (names missing: their defaults; names FIELDS lacks: ignored)."""
    top: dict[str, Any] = {}
    groups: dict[str, dict] = {}
    for name, (group, key) in FIELDS.items():
        if name not in flat:
            continue
        value = flat[name]
        if name in STATS and value is not None and not isinstance(value, LatencyStats):
            value = LatencyStats(**value)
        if group is None:
            top[key] = value
        else:
            groups.setdefault(group, {})[key] = value
    return Record(**top, **{g: GROUPS[g](**values) for g, values in groups.items()})
