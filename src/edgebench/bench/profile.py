"""A cell's per-layer profile: one pass under the runtime's own profiler (Backend.profile), taken
after the cell's timed rounds and checks, never inside them, with any file the profiler writes in
a temporary folder; stored in the record as details["layer_profile"]."""
from __future__ import annotations

import math
import statistics
import tempfile
from pathlib import Path

#: the profiled queries: about PROFILE_S seconds of the cell's median latency (the profiler's own
#: overhead comes on top), at least MIN_QUERIES and at most MAX_QUERIES, after WARMUP unprofiled
#: ones (a fresh ONNX Runtime session or OpenVINO request allocates on its first run)
PROFILE_S = 2.0
MIN_QUERIES, MAX_QUERIES = 5, 50
WARMUP = 3


def profile_queries(p50_s: float | None) -> int:
    """How many queries to profile for a cell whose median latency is `p50_s` seconds."""
    if not p50_s or p50_s <= 0:
        return MIN_QUERIES
    return max(MIN_QUERIES, min(MAX_QUERIES, math.ceil(PROFILE_S / p50_s)))


def layer_profile(profile) -> dict:
    """A backends.profiling.RuntimeProfile as stored: {"source", "queries", "layers": [{"layer",
    "op_type", "total_ms", "average_ms" (per query), "median_ms" (per query, where the profiler
    reports each query apart, else None), "percentage" (of the profiled total)}]}, the layers in
    the order the runtime gave them."""
    total = sum(lt.total_ms for lt in profile.layers)
    if not profile.layers or total <= 0 or profile.queries < 1:
        raise ValueError(f"{profile.source} reported no layer time over {profile.queries} queries")
    layers = [{
        "layer": lt.layer,
        "op_type": lt.op_type,
        "total_ms": round(lt.total_ms, 6),
        "average_ms": round(lt.total_ms / profile.queries, 6),
        "median_ms": round(statistics.median(lt.per_query_ms), 6) if lt.per_query_ms else None,
        "percentage": round(100.0 * lt.total_ms / total, 4),
    } for lt in profile.layers]
    return {"source": profile.source, "queries": profile.queries, "layers": layers}


def take_profile(backend, x, p50_s: float | None) -> dict:
    """Profile a loaded backend on input `x` (see profile_queries) and return the stored shape;
    the profiler's files live and die in a temporary folder, never in the working directory."""
    with tempfile.TemporaryDirectory(prefix="edgebench-profile-") as folder:
        raw = backend.profile(x, profile_queries(p50_s), WARMUP, Path(folder))
    return layer_profile(raw)
