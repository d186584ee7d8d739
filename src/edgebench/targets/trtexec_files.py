"""What trtexec writes on a target (--exportTimes, --exportProfile, --exportLayerInfo,
--exportOutput), parsed as data: json.loads and regular expressions only, nothing run. Each parser
fails loudly, naming the file, on input it does not know. Where the formats come from: NVIDIA/
TensorRT samples/common/sampleReporting.cpp (exportJSONTrace, Profiler::exportJSONProfile,
exportJSONOutput), read at commits 052281f0 (8.4 era) and 768d994b (10.x); the pre-8.0 trace names
from samples/trtexec/tracer.py."""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from edgebench.errors import TargetOutputError
from edgebench.results.latency import LatencyStats


# --------------------------------------------------------------------------------------------
# reading what trtexec writes

# C++ streams print non-finite floats as nan / -nan / inf, which JSON cannot hold; an FP16 engine
# that overflows writes them into --exportOutput. They are read as floats so the parity check can
# report them, instead of the whole file failing to parse.
_NONFINITE = re.compile(r"(?<=[\[,:\s])(-?)(nan|inf)(?=[\s,\]\}])", re.IGNORECASE)


def _load_json(text: str, source: str):
    def repl(m):
        return "NaN" if m.group(2).lower() == "nan" else ("-Infinity" if m.group(1) else "Infinity")

    try:
        return json.loads(_NONFINITE.sub(repl, text))
    except json.JSONDecodeError as e:
        raise TargetOutputError(f"{source}: not valid JSON ({e.msg} at line {e.lineno} column {e.colno}); "
                                "the file may be truncated") from None


def _read(path_or_text, what: str) -> tuple[str, str]:
    """(text, source name): a Path is read (and names itself); text already fetched is named `what`."""
    if isinstance(path_or_text, Path):
        try:
            return path_or_text.read_text(encoding="utf-8", errors="replace"), str(path_or_text)
        except OSError as e:
            raise TargetOutputError(f"{path_or_text}: cannot read {what} ({e.strerror})") from None
    return str(path_or_text), what


def _float(value, source: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TargetOutputError(f"{source}: {where} is {value!r}, not a number")
    return float(value)


# ---- --exportTimes

#: trace fields by format. "v8" is what sampleReporting.cpp's exportJSONTrace writes since the
#: enqueue/H2D/D2H split (TensorRT 8.x; 10.x drops endToEndMs); "v7" is the older one that
#: samples/trtexec/tracer.py reads (input/output instead of H2D/D2H, no enqueue times).
TRACE_FIELDS = {
    "v8": ("startEnqMs", "endEnqMs", "startH2dMs", "endH2dMs", "startComputeMs", "endComputeMs",
           "startD2hMs", "endD2hMs", "h2dMs", "computeMs", "d2hMs", "latencyMs", "endToEndMs"),
    "v7": ("startInMs", "endInMs", "startComputeMs", "endComputeMs", "startOutMs", "endOutMs",
           "inMs", "computeMs", "outMs", "latencyMs", "endToEndMs"),
}


@dataclass(frozen=True)
class TrtexecTimes:
    """Per-query times from one --exportTimes file, in milliseconds, in trace order.

    latency = H2D + compute + D2H (trtexec's "Latency"); end_to_end runs from the query's H2D start
    to its D2H end, so it includes waiting for the query before it; enqueue is the host time to
    enqueue the query (None in the pre-8.0 format, which did not record it).
    """

    format: str
    latency_ms: tuple[float, ...]
    compute_ms: tuple[float, ...]
    h2d_ms: tuple[float, ...]
    d2h_ms: tuple[float, ...]
    end_to_end_ms: tuple[float, ...]
    enqueue_ms: tuple[float, ...] | None
    start_compute_ms: tuple[float, ...]

    @property
    def count(self) -> int:
        return len(self.latency_ms)

    @classmethod
    def joined(cls, traces: list["TrtexecTimes"]) -> "TrtexecTimes":
        """Several rounds' traces as one, in order (a part any of them lacks is None)."""
        if not traces:
            raise TargetOutputError("no trtexec timing trace to join")

        def cat(name):
            parts = [getattr(t, name) for t in traces]
            return None if any(p is None for p in parts) else tuple(v for p in parts for v in p)

        return cls(traces[0].format, *(cat(f) for f in ("latency_ms", "compute_ms", "h2d_ms", "d2h_ms",
                                                         "end_to_end_ms", "enqueue_ms", "start_compute_ms")))

    def after_warmup(self, warmup_ms: float) -> "TrtexecTimes":
        """The queries trtexec itself counts as timed: those whose compute starts at or after
        `warmup_ms` (printPerformanceReport's isNotWarmup). 8.x traces hold the warm-up queries too;
        10.x writes only the timed ones, where this keeps all."""
        keep = [i for i, s in enumerate(self.start_compute_ms) if s >= warmup_ms]
        if not keep:
            raise TargetOutputError(f"no query in the trace starts after the {warmup_ms} ms warm-up")

        def pick(seq):
            return None if seq is None else tuple(seq[i] for i in keep)

        return TrtexecTimes(self.format, pick(self.latency_ms), pick(self.compute_ms), pick(self.h2d_ms),
                            pick(self.d2h_ms), pick(self.end_to_end_ms), pick(self.enqueue_ms),
                            pick(self.start_compute_ms))

    def stats(self, batch_size: int = 1) -> dict[str, LatencyStats | None]:
        """LatencyStats for each part of trtexec's split (None where the format lacks it)."""
        def ls(seq):
            return None if seq is None else LatencyStats.from_values([v / 1e3 for v in seq], batch_size=batch_size)

        return {"latency": ls(self.latency_ms), "compute": ls(self.compute_ms), "h2d": ls(self.h2d_ms),
                "d2h": ls(self.d2h_ms), "end_to_end": ls(self.end_to_end_ms), "enqueue": ls(self.enqueue_ms)}


#: per trace format, (start, end, duration) field names of the H2D, compute and D2H phases:
#: TensorRT 8+ names them h2d/compute/d2h, TensorRT 7 in/compute/out
_PHASES = {
    "v8": (("startH2dMs", "endH2dMs", "h2dMs"), ("startComputeMs", "endComputeMs", "computeMs"),
           ("startD2hMs", "endD2hMs", "d2hMs")),
    "v7": (("startInMs", "endInMs", "inMs"), ("startComputeMs", "endComputeMs", "computeMs"),
           ("startOutMs", "endOutMs", "outMs")),
}


def parse_times(path_or_text, source: str = "--exportTimes output") -> TrtexecTimes:
    """Read trtexec's --exportTimes JSON (a Path, or text with `source` naming where it came from)."""
    text, source = _read(path_or_text, source)
    data = _load_json(text, source)
    if not isinstance(data, list):
        raise TargetOutputError(f"{source}: expected a JSON list of queries, got {type(data).__name__}")
    if not data:
        raise TargetOutputError(f"{source}: the trace holds no queries")
    first = data[0]
    if not isinstance(first, dict):
        raise TargetOutputError(f"{source}: query 0 is {type(first).__name__}, not an object")
    if "startH2dMs" in first:
        fmt = "v8"
    elif "startInMs" in first:
        fmt = "v7"
    else:
        raise TargetOutputError(f"{source}: query 0 has neither startH2dMs (TensorRT 8+) nor startInMs "
                                f"(TensorRT 7); its keys are {sorted(first)[:8]}")
    lat, comp, h2d, d2h, e2e, enq, scomp = [], [], [], [], [], [], []
    for i, q in enumerate(data):
        if not isinstance(q, dict):
            raise TargetOutputError(f"{source}: query {i} is {type(q).__name__}, not an object")

        def get(key, required=True):
            if key not in q:
                if required:
                    raise TargetOutputError(f"{source}: query {i} has no {key!r} ({fmt} trace format)")
                return None
            return _float(q[key], source, f"query {i} {key}")

        # the durations are written next to the timestamps; where a field is missing the
        # timestamp difference is the same number (traceToTiming in sampleReporting.cpp)
        def phase(start_key, end_key, duration_key):
            start, end, duration = get(start_key), get(end_key), get(duration_key, False)
            return start, end, end - start if duration is None else duration

        (s_h2d, e_h2d, h), (s_c, _, c), (_, e_d2h, d) = (phase(*names) for names in _PHASES[fmt])
        la = get("latencyMs", False)
        ee = get("endToEndMs", False)  # absent in 10.x
        lat.append(h + c + d if la is None else la)
        e2e.append(e_d2h - s_h2d if ee is None else ee)
        if fmt == "v8":  # TensorRT 7's trace has no enqueue span
            enq.append(get("endEnqMs") - get("startEnqMs"))
        h2d.append(h)
        comp.append(c)
        d2h.append(d)
        scomp.append(s_c)
    for name, seq in (("latencyMs", lat), ("computeMs", comp), ("h2dMs", h2d), ("d2hMs", d2h)):
        bad = next((i for i, v in enumerate(seq) if not math.isfinite(v) or v < 0), None)
        if bad is not None:
            raise TargetOutputError(f"{source}: query {bad} has {name} = {seq[bad]!r}; times must be finite and >= 0")
    return TrtexecTimes(fmt, tuple(lat), tuple(comp), tuple(h2d), tuple(d2h), tuple(e2e),
                        tuple(enq) if fmt == "v8" else None, tuple(scomp))


# ---- --exportProfile

@dataclass(frozen=True)
class LayerTime:
    """One layer of a --exportProfile file: total time over all profiled queries, its mean and
    (TensorRT 8.6+) median per query, and its share of the total, in percent."""

    name: str
    total_ms: float
    average_ms: float
    median_ms: float | None
    percentage: float


@dataclass(frozen=True)
class LayerProfile:
    count: int
    layers: tuple[LayerTime, ...]

    def to_rows(self) -> list[dict]:
        return [{"layer": lt.name, "total_ms": lt.total_ms, "average_ms": lt.average_ms,
                 "median_ms": lt.median_ms, "percentage": lt.percentage} for lt in self.layers]


def parse_profile(path_or_text, source: str = "--exportProfile output") -> LayerProfile:
    """Read trtexec's --exportProfile JSON: `[{"count": N}, {"name", "timeMs", "averageMs",
    ["medianMs",] "percentage"}, ...]` (Profiler::exportJSONProfile)."""
    text, source = _read(path_or_text, source)
    data = _load_json(text, source)
    if not isinstance(data, list) or not data:
        raise TargetOutputError(f"{source}: expected a non-empty JSON list, got {type(data).__name__}")
    head = data[0]
    if not isinstance(head, dict) or "count" not in head:
        raise TargetOutputError(f"{source}: the first element must be {{\"count\": N}}, got {str(head)[:60]}")
    count = head["count"]
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise TargetOutputError(f"{source}: count is {count!r}, not a whole number of queries")
    layers = []
    for i, row in enumerate(data[1:], start=1):
        if not isinstance(row, dict) or not isinstance(row.get("name"), str):
            raise TargetOutputError(f"{source}: element {i} is not a layer with a name: {str(row)[:60]}")
        for key in ("timeMs", "averageMs", "percentage"):
            if key not in row:
                raise TargetOutputError(f"{source}: layer {row['name']!r} has no {key!r}")
        layers.append(LayerTime(
            name=row["name"],
            total_ms=_float(row["timeMs"], source, f"layer {row['name']!r} timeMs"),
            average_ms=_float(row["averageMs"], source, f"layer {row['name']!r} averageMs"),
            median_ms=_float(row["medianMs"], source, f"layer {row['name']!r} medianMs") if "medianMs" in row else None,
            percentage=_float(row["percentage"], source, f"layer {row['name']!r} percentage"),
        ))
    return LayerProfile(count=count, layers=tuple(layers))


# ---- --exportLayerInfo

def parse_layer_info(path_or_text, source: str = "--exportLayerInfo output") -> list[dict]:
    """Read trtexec's --exportLayerInfo JSON, `{"Layers": [...], "Bindings": [...]}`: the engine's
    layers after TensorRT's fusions, as [{"name", "type"}] in engine order. With the default
    profiling verbosity a layer is its name alone (type None); with --profilingVerbosity=detailed
    it is an object with "Name" and "LayerType" (IEngineInspector's layout)."""
    text, source = _read(path_or_text, source)
    data = _load_json(text, source)
    if not isinstance(data, dict) or not isinstance(data.get("Layers"), list):
        raise TargetOutputError(f"{source}: expected an object with a \"Layers\" list, got {str(data)[:60]}")
    out = []
    for i, layer in enumerate(data["Layers"]):
        if isinstance(layer, str):
            out.append({"name": layer, "type": None})
        elif isinstance(layer, dict) and isinstance(layer.get("Name"), str):
            kind = layer.get("LayerType")
            out.append({"name": layer["Name"], "type": kind if isinstance(kind, str) else None})
        else:
            raise TargetOutputError(f"{source}: layer {i} is neither a name nor an object with a Name: {str(layer)[:60]}")
    return out


# ---- --exportOutput

def parse_outputs(path_or_text,
                  source: str = "--exportOutput output") -> dict[str, tuple[tuple[int, ...], list[float]]]:
    """Read trtexec's --exportOutput JSON: `[{"name", "dimensions": "1x1000", "values": [...]}]`
    (exportJSONOutput) -> {name: (dims, flat values)}. The values' count must match the dims."""
    text, source = _read(path_or_text, source)
    data = _load_json(text, source)
    if not isinstance(data, list) or not data:
        raise TargetOutputError(f"{source}: expected a non-empty JSON list of outputs, got {type(data).__name__}")
    out = {}
    for i, entry in enumerate(data):
        if not isinstance(entry, dict) or not {"name", "dimensions", "values"} <= set(entry):
            raise TargetOutputError(f"{source}: output {i} lacks name/dimensions/values: {str(entry)[:60]}")
        name, dims_text, values = entry["name"], entry["dimensions"], entry["values"]
        if not re.fullmatch(r"\d+(x\d+)*", str(dims_text)):
            raise TargetOutputError(f"{source}: output {name!r} has dimensions {dims_text!r}, not like '1x1000'")
        dims = tuple(int(d) for d in str(dims_text).split("x"))
        if not isinstance(values, list):
            raise TargetOutputError(f"{source}: output {name!r} values are not a list")
        flat = [_float(v, source, f"output {name!r} value {j}") for j, v in enumerate(values)]
        if len(flat) != math.prod(dims):
            raise TargetOutputError(f"{source}: output {name!r} has {len(flat)} values for dimensions "
                                    f"{dims_text} ({math.prod(dims)} expected)")
        out[name] = (dims, flat)
    return out
