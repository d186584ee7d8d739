"""trtexec on a target: the argv lists for its four uses (build, timing, profiling, parity) and
parsers for what it writes (--exportTimes, --exportProfile, --exportOutput, the summary it prints).

Nothing here runs trtexec: the argv lists are handed to whatever runs commands on the device, and
what comes back is parsed as data (json.loads and regular expressions only).

Where the flags and formats come from:
- flags: NVIDIA's trtexec reference ("Commonly Used Command-line Flags", docs.nvidia.com/deeplearning/
  tensorrt, developer guide for 8.x and the command-line-programs page for 10.x) and the migration
  appendix "Migrating trtexec Usage from TensorRT 8.x to 10.x" (--workspace=N replaced by
  --memPoolSize=workspace:N, removed in 10.x);
- output formats: NVIDIA/TensorRT samples/common/sampleReporting.cpp (exportJSONTrace,
  Profiler::exportJSONProfile, exportJSONOutput, printEpilog), read at commits 052281f0 (8.4 era)
  and 768d994b (10.x); the pre-8.0 trace names from samples/trtexec/tracer.py.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from edgebench.errors import InvalidConfigError, TargetOutputError
from edgebench.results.latency import LatencyStats

#: the input name edgebench's ONNX export gives the model's one input
INPUT_NAME = "input"

#: TensorRT release from which trtexec takes --memPoolSize. The memory-pool API
#: (IBuilderConfig::setMemoryPoolLimit) superseded setMaxWorkspaceSize in 8.3/8.4, trtexec's
#: --workspace is reported deprecated from then on, and TensorRT 10 removed it (NVIDIA's 8.x -> 10.x
#: trtexec migration appendix). JetPack 4.6 ships 8.2, which only knows --workspace.
MEMPOOL_FROM = (8, 4)

PRECISIONS = ("fp32", "fp16", "int8")


# --------------------------------------------------------------------------------------------
# versions and shapes

def parse_trt_version(version) -> tuple[int, int]:
    """(major, minor) from "8.2.1", "8.2.1.8", "8.2.1-1+cuda10.2" (the Debian package version the
    probe reports where only dpkg knows TensorRT), (8, 2) or 10."""
    if isinstance(version, int):
        return (version, 0)
    if isinstance(version, (tuple, list)):
        parts = [int(p) for p in version]
    else:
        m = re.fullmatch(r"\s*(\d+)(?:\.(\d+))?(?:\.\d+)*(?:-[0-9A-Za-z.+~]+)?\s*", str(version))
        if not m:
            raise InvalidConfigError(f"TensorRT version {version!r} is not like '8.2.1' or (8, 2)")
        parts = [int(m.group(1)), int(m.group(2) or 0)]
    if not parts:
        raise InvalidConfigError(f"TensorRT version {version!r} is empty")
    return (parts[0], parts[1] if len(parts) > 1 else 0)


def shape_spec(batch: int, sample_shape, name: str = INPUT_NAME) -> str:
    """trtexec's shape syntax, `name:BxCxHxW` ("x" between dimensions, ":" after the name)."""
    dims = [int(batch), *(int(d) for d in sample_shape)]
    if any(d < 1 for d in dims):
        raise InvalidConfigError(f"shape {dims} has a dimension below 1")
    return f"{name}:" + "x".join(str(d) for d in dims)


# --------------------------------------------------------------------------------------------
# command lines (lists of str; never a shell string)

def build_argv(trtexec: str, onnx: str | Path, engine: str | Path, *, sample_shape, trt_version,
               precision: str = "fp32", min_batch: int = 1, opt_batch: int = 1, max_batch: int = 1,
               workspace_mib: int | None = None, input_name: str = INPUT_NAME) -> list[str]:
    """Build (and save) an engine from an ONNX file with a batch-axis shape profile.

    `sample_shape` is one sample's shape without the batch axis (e.g. (3, 224, 224));
    `workspace_mib` caps the builder's scratch memory (a 4 GB Nano needs a cap).
    """
    if precision not in PRECISIONS:
        raise InvalidConfigError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    if not (1 <= min_batch <= opt_batch <= max_batch):
        raise InvalidConfigError(f"batch profile must satisfy 1 <= min <= opt <= max, got {min_batch}/{opt_batch}/{max_batch}")
    version = parse_trt_version(trt_version)
    argv = [
        str(trtexec),
        f"--onnx={onnx}",
        f"--saveEngine={engine}",
        f"--minShapes={shape_spec(min_batch, sample_shape, input_name)}",
        f"--optShapes={shape_spec(opt_batch, sample_shape, input_name)}",
        f"--maxShapes={shape_spec(max_batch, sample_shape, input_name)}",
        # layer names and parameters are kept in the engine only when it is built with this
        # (IEngineInspector docs: the default is layer names only), so a later profiling run can
        # name and describe real layers. The detailed / layer_names_only / none levels are the
        # ProfilingVerbosity of the 8.2 API (EngineInspector, TensorRT 8.2.1 Python docs).
        "--profilingVerbosity=detailed",
    ]
    if precision == "fp16":
        argv.append("--fp16")
    elif precision == "int8":
        # No calibration cache is given, so trtexec uses placeholder dynamic ranges: the engine is
        # right for timing only, and the parity run says how far its outputs are off.
        argv.append("--int8")
    if workspace_mib is not None:
        if workspace_mib < 1:
            raise InvalidConfigError(f"workspace_mib must be >= 1, got {workspace_mib}")
        # MiB in both spellings: "--workspace=N Set workspace size in MiB" (8.2) and
        # "--memPoolSize=workspace:N" whose bare number is MiB (8.4+, 10.x).
        if version >= MEMPOOL_FROM:
            argv.append(f"--memPoolSize=workspace:{int(workspace_mib)}")
        else:
            argv.append(f"--workspace={int(workspace_mib)}")
    # build only: the timing run is separate. NVIDIA's trt-samples-for-hackathon-cn cookbook
    # (cookbook/07-Tool/trtexec/command.sh): 'Use "--buildOnly" rather than "--skipInference"
    # (TensorRT<=8.5)'; 10.x takes --skipInference.
    argv.append("--skipInference" if version >= (8, 6) else "--buildOnly")
    return argv


#: first release whose trtexec reads --duration (and --warmUp) as a float. Before, both are int32
#: read with std::stoi, which drops a fraction without a word ("--duration=1.67" runs 1 s): int32_t
#: in InferenceOptions of samples/common/sampleOptions.h at commit 052281f0 (8.x, --workspace era),
#: float at the 8.5-era header (the one with --preview and --heuristic) and in 10.x.
FLOAT_DURATION_FROM = (8, 5)


def timing_argv(trtexec: str, engine: str | Path, times_json: str | Path, *, sample_shape, batch: int = 1,
                warmup_ms: int = 200, duration_s: float = 3, iterations: int = 10,
                input_name: str = INPUT_NAME, trt_version=None) -> list[str]:
    """Time a saved engine: warm up for `warmup_ms`, then run until both `iterations` queries and
    `duration_s` seconds are done (trtexec's --iterations is a minimum, --duration too), and write
    every query's timestamps to `times_json`. With `trt_version` below FLOAT_DURATION_FROM the
    duration is rounded up to whole seconds, which that trtexec reads as given."""
    if warmup_ms < 0 or duration_s < 0 or iterations < 1:
        raise InvalidConfigError("warmup_ms and duration_s must be >= 0 and iterations >= 1")
    if trt_version is not None and parse_trt_version(trt_version) < FLOAT_DURATION_FROM:
        duration_s = math.ceil(duration_s)
    return [
        str(trtexec),
        f"--loadEngine={engine}",
        f"--shapes={shape_spec(batch, sample_shape, input_name)}",
        f"--warmUp={int(warmup_ms)}",          # milliseconds
        f"--duration={_num(round(duration_s, 3))}",  # seconds (a float in trtexec 8.x and 10.x)
        f"--iterations={int(iterations)}",
        f"--exportTimes={times_json}",
    ]


#: first release whose trtexec is known here to take --exportLayerInfo: a TensorRT 8.4.1.2 log
#: ("[TensorRT v8412] # trtexec ... --profilingVerbosity=detailed --exportLayerInfo=...", zmurder.github.io
#: note on QDQ engines) and the NVIDIA trt-samples-for-hackathon-cn cookbook ("Print information of the
#: TensorRT engine (TensorRT>=8.4)"). No 8.2 source or log showing the flag was found, and trtexec
#: stops at an unknown flag, so on 8.2 the profiling run asks only for --exportProfile.
LAYER_INFO_FROM = (8, 4)


def profile_argv(trtexec: str, engine: str | Path, profile_json: str | Path, layer_info_json: str | Path | None, *,
                 sample_shape, trt_version, batch: int = 1, iterations: int = 10,
                 input_name: str = INPUT_NAME) -> list[str]:
    """One separate profiling run: per-layer times (--exportProfile) and, where the TensorRT version
    has it, the engine's layers (--exportLayerInfo). Per-layer profiling slows every layer down, so
    its times are never the row's latency; the timing run is."""
    argv = [
        str(trtexec),
        f"--loadEngine={engine}",
        f"--shapes={shape_spec(batch, sample_shape, input_name)}",
        f"--iterations={int(iterations)}",
        f"--exportProfile={profile_json}",
    ]
    if layer_info_json is not None and parse_trt_version(trt_version) >= LAYER_INFO_FROM:
        argv += ["--profilingVerbosity=detailed", f"--exportLayerInfo={layer_info_json}"]
    return argv


def parity_argv(trtexec: str, engine: str | Path, input_file: str | Path, output_json: str | Path, *,
                sample_shape, batch: int = 1, input_name: str = INPUT_NAME) -> list[str]:
    """Run the engine once on a raw input file (host byte order, the input's dtype, no header) and
    write its outputs as JSON, for the host to compare with PyTorch FP32 on the same input."""
    return [
        str(trtexec),
        f"--loadEngine={engine}",
        f"--shapes={shape_spec(batch, sample_shape, input_name)}",
        f"--loadInputs={input_name}:{input_file}",
        f"--exportOutput={output_json}",
        # one query is enough for outputs; keep the run short on a slow device
        "--iterations=1", "--warmUp=0", "--duration=0",
    ]


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)


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


# ---- the performance summary trtexec prints

_NUM = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf|-?nan)"

#: 8.x/10.x summary lines ("=== Performance summary ===" in printEpilog) -> key prefix
_SUMMARY_METRICS = {
    "Latency": "latency",
    "End-to-End Host Latency": "end_to_end",
    "Enqueue Time": "enqueue",
    "H2D Latency": "h2d",
    "GPU Compute Time": "gpu_compute",
    "D2H Latency": "d2h",
}


def _alternatives(names) -> str:
    """A regex group of the names, longest first, so "End-to-End Host Latency" wins over "Latency"."""
    return "(" + "|".join(re.escape(k) for k in sorted(names, key=len, reverse=True)) + ")"


_STAT_LINE = re.compile(r"(?:^|\]\s*|\s)" + _alternatives(_SUMMARY_METRICS) + r":\s*(min\s*=.*)$")
_STAT_PART = re.compile(r"(min|max|mean|median|percentile\((\d+(?:\.\d+)?)%\))\s*=\s*" + _NUM + r"\s*ms")

#: the older block form ("Host Latency" / "Enqueue Time" / "GPU Compute" headers, then
#: "min: X ms (end to end Y ms)" lines) that earlier trtexec releases print (7.x at least)
_OLD_HEADERS = {"Host Latency": "latency", "Enqueue Time": "enqueue", "GPU Compute": "gpu_compute",
                "GPU Compute Time": "gpu_compute", "H2D Latency": "h2d", "D2H Latency": "d2h"}
_OLD_HEADER = re.compile(r"(?:^|\]\s*)" + _alternatives(_OLD_HEADERS) + r"\s*$")
_OLD_STAT = re.compile(r"(?:^|\]\s*)(min|max|mean|median):\s*" + _NUM
                       + r"\s*ms(?:\s*\(end to end\s*" + _NUM + r"\s*ms\))?")
_OLD_PCT = re.compile(r"(?:^|\]\s*)percentile:\s*" + _NUM + r"\s*ms at\s*(\d+(?:\.\d+)?)%"
                      r"(?:\s*\(end to end\s*" + _NUM + r"\s*ms at\s*\d+(?:\.\d+)?%\))?")


def _pct_key(p: str) -> str:
    return "p" + (p[:-2] if p.endswith(".0") else p).replace(".", "_")


def parse_summary(text: str, source: str = "trtexec output") -> dict[str, float]:
    """The numbers of trtexec's printed performance summary as one flat dict of floats.

    Keys: `throughput_qps`, `<metric>_<stat>_ms` for metric in latency, end_to_end, enqueue, h2d,
    gpu_compute, d2h and stat in min, max, mean, median, p90/p95/p99 (whatever percentiles were
    printed), `total_host_walltime_s`, `total_gpu_compute_s`. Both the one-line form and the
    older block form ("Host Latency" / "mean: X ms (end to end Y ms)") are read. A summary with no
    latency numbers at all is an error (the run failed or the log was cut before the summary).
    """
    out: dict[str, float] = {}
    section = None
    for raw in str(text).splitlines():
        line = raw.rstrip()
        m = re.search(r"Throughput:\s*" + _NUM + r"\s*qps", line)
        if m:
            out["throughput_qps"] = float(m.group(1))
            continue
        m = re.search(r"Total Host Walltime:\s*" + _NUM + r"\s*s\b", line)
        if m:
            out["total_host_walltime_s"] = float(m.group(1))
            continue
        m = re.search(r"Total GPU Compute Time:\s*" + _NUM + r"\s*s\b", line)
        if m:
            out["total_gpu_compute_s"] = float(m.group(1))
            continue
        m = _STAT_LINE.search(line)
        if m:
            prefix = _SUMMARY_METRICS[m.group(1)]
            for part in _STAT_PART.finditer(m.group(2)):
                stat = _pct_key(part.group(2)) if part.group(2) else part.group(1)
                out[f"{prefix}_{stat}_ms"] = float(part.group(3))
            section = None
            continue
        # the block form
        m = _OLD_HEADER.search(line)
        if m:
            section = _OLD_HEADERS[m.group(1)]
            continue
        if section:
            m = _OLD_STAT.search(line)
            if m:
                out[f"{section}_{m.group(1)}_ms"] = float(m.group(2))
                if m.group(3) is not None and section == "latency":
                    out[f"end_to_end_{m.group(1)}_ms"] = float(m.group(3))
                continue
            m = _OLD_PCT.search(line)
            if m:
                key = _pct_key(m.group(2))
                out[f"{section}_{key}_ms"] = float(m.group(1))
                if m.group(3) is not None and section == "latency":
                    out[f"end_to_end_{key}_ms"] = float(m.group(3))
                continue
            m = re.search(r"(?:^|\]\s*)throughput:\s*" + _NUM + r"\s*qps", line)
            if m:
                out.setdefault("throughput_qps", float(m.group(1)))
                continue
            m = re.search(r"(?:^|\]\s*)walltime:\s*" + _NUM + r"\s*s\b", line)
            if m:
                out.setdefault("total_host_walltime_s", float(m.group(1)))
                continue
    if not any(k.startswith(("latency_", "gpu_compute_")) for k in out):
        raise TargetOutputError(f"{source}: no performance summary (no Latency or GPU Compute Time line); "
                                "trtexec may have failed or its output was cut off")
    return out
