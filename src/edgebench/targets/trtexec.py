"""trtexec on a target: the argv lists for its four uses (build, timing, profiling, parity); what
it writes is read by targets.trtexec_files.

Nothing here runs trtexec: the argv lists are handed to whatever runs commands on the device.

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

import math
import re
from pathlib import Path

from edgebench.errors import InvalidConfigError
from edgebench.models.inputs import SINGLE

#: the input name edgebench's ONNX export gives the model's one input
INPUT_NAME = SINGLE

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
