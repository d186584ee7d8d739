#!/usr/bin/env python3
"""A TEST STAND-IN FOR NVIDIA's trtexec. IT RUNS ONNX RUNTIME ON THE CPU, NOT TENSORRT.

Nothing this script prints or writes is TensorRT's: its "engine" files are small JSON notes that
name an ONNX file, its outputs and times come from onnxruntime.InferenceSession.run, and its
per-layer profile is ONNX Runtime's own per-node profile. It exists so that the tests can drive
edgebench's tensorrt backend on a remote target (build, parity, timing and profiling runs through
the agent's `exec`, the files read back, the record) where TensorRT cannot be installed. A test
that uses it shows that edgebench's orchestration works; it says nothing about TensorRT.

What it implements of trtexec's command line (only the four uses edgebench.targets.trtexec makes):

- build: --onnx=F --saveEngine=E [--minShapes= --optShapes= --maxShapes= | --optShapes=]
  [--profilingVerbosity=] [--fp16] [--int8] [--workspace=N | --memPoolSize=workspace:N]
  (--buildOnly | --skipInference). The ONNX file is loaded by ONNX Runtime (a file it cannot load
  fails the build), the shapes are checked against the model's input, and E gets a JSON note:
  the ONNX path, precision, shape profile and the emulated TensorRT version. Precision is only
  recorded: every run computes in FP32.
- inference: --loadEngine=E [--shapes=] [--warmUp=MS] [--duration=S] [--iterations=N]
  [--loadInputs=input:FILE] [--exportOutput=] [--exportTimes=] [--exportProfile=]
  [--exportLayerInfo=] [--profilingVerbosity=]. Queries run for --warmUp ms, then until both
  --iterations queries and --duration seconds are done (trtexec's defaults 200 ms, 10, 3 s).
  --exportTimes writes the TensorRT 8.x trace layout (warm-up queries included, times in ms from
  the start of the first query): h2d = copying the input array, compute = session.run, d2h =
  copying the outputs, enqueue = query start to the end of session.run (it is synchronous).
  --exportOutput writes the last query's outputs as `[{"name", "dimensions": "16x2", "values"}]`;
  --exportProfile writes `[{"count": N}, {"name", "timeMs", "averageMs", ["medianMs",]
  "percentage"}...]`, one entry per ONNX node, from ONNX Runtime's node profiling (medianMs from
  the emulated 8.6 on); --exportLayerInfo writes {"Layers": [...], "Bindings": [...]}.

Flags are parsed as trtexec parses them (`--name=value`, every flag must be known) and an unknown
flag stops the run with exit 1, as trtexec stops at one. Which flags are known depends on the
emulated release (STANDIN_TRTEXEC_VERSION, default 8.2.1); the gates are the ones
edgebench/targets/trtexec.py documents with its sources: --memPoolSize and --exportLayerInfo from
8.4, --skipInference from 8.6, --workspace gone in 10.0. Before 8.5, --warmUp and --duration are
whole numbers parsed with std::stoi as in trtexec's sampleOptions.cpp of that time (a trailing
fraction is dropped without a word: "--duration=2.5" is 2 seconds); from 8.5 they are floats.

Environment knobs:
- STANDIN_TRTEXEC_VERSION: the emulated TensorRT release ("8.2.1", "8.6.1", ...).
- STANDIN_TRTEXEC_LOG: a file to which each invocation's argv is appended as one JSON line.
- STANDIN_TRTEXEC_FAIL: build (the build prints errors and exits 1), oom (the build fails with a
  CUDA "out of memory" line), oom-trt (the build fails with TensorRT's "OutOfMemory" spelling),
  killed (the build is killed by SIGKILL, as the kernel's OOM killer does), parity / timing /
  profile (that kind of inference run fails).
- STANDIN_TRTEXEC_DEFAULT_DURATION: seconds used when --duration is not given (trtexec's default
  is 3; tests set 0 to stay fast).

Exit status: 0 on success, 1 on any failure (trtexec's EXIT_FAILURE).
"""
import json
import os
import re
import signal
import sys
import tempfile
import time

TAG = "standin-trtexec (ONNX Runtime, not TensorRT)"

#: flag -> (kind, first emulated release that knows it, first release that no longer knows it)
FLAGS = {
    "--onnx": ("path", None, None),
    "--saveEngine": ("path", None, None),
    "--loadEngine": ("path", None, None),
    "--minShapes": ("shapes", None, None),
    "--optShapes": ("shapes", None, None),
    "--maxShapes": ("shapes", None, None),
    "--shapes": ("shapes", None, None),
    "--profilingVerbosity": ("verbosity", None, None),
    "--fp16": ("bool", None, None),
    "--int8": ("bool", None, None),
    "--workspace": ("int", None, (10, 0)),
    "--memPoolSize": ("mempool", (8, 4), None),
    "--buildOnly": ("bool", None, None),
    "--skipInference": ("bool", (8, 6), None),
    "--warmUp": ("time", None, None),
    "--duration": ("time", None, None),
    "--iterations": ("int", None, None),
    "--loadInputs": ("inputs", None, None),
    "--exportOutput": ("path", None, None),
    "--exportTimes": ("path", None, None),
    "--exportProfile": ("path", None, None),
    "--exportLayerInfo": ("path", (8, 4), None),
}

#: from this release --warmUp and --duration are floats (before: int32 through std::stoi)
FLOAT_TIMES_FROM = (8, 5)
#: from this release --exportProfile rows carry medianMs
MEDIAN_FROM = (8, 6)


class Failed(Exception):
    """A failure trtexec would report: the lines are printed, then exit 1."""

    def __init__(self, *lines):
        super().__init__(lines[-1] if lines else "failed")
        self.lines = lines


def log(level, text):
    sys.stdout.write("[%s] %s\n" % (level, text))


def version_tuple(text):
    m = re.match(r"\s*(\d+)(?:\.(\d+))?", text)
    if not m:
        raise SystemExit("STANDIN_TRTEXEC_VERSION %r is not like 8.2.1" % text)
    return int(m.group(1)), int(m.group(2) or 0)


def stoi(text, flag):
    """std::stoi: optional spaces and sign, then digits; the rest of the text is ignored."""
    m = re.match(r"\s*([-+]?\d+)", text)
    if not m:
        raise Failed("[E] stoi: invalid value %r for %s" % (text, flag))
    return int(m.group(1))


def to_float(text, flag):
    try:
        return float(text)
    except ValueError:
        raise Failed("[E] stof: invalid value %r for %s" % (text, flag))


def parse_shapes(text, flag):
    """`name:1x3x16x16[,name2:...]` -> {name: [dims]} (the name is everything before the last ':')."""
    out = {}
    for item in text.split(","):
        name, sep, dims = item.rpartition(":")
        if not sep or not name or not re.fullmatch(r"\d+(x\d+)*", dims):
            raise Failed("[E] Invalid %s value %r: expected name:AxBxC" % (flag, item))
        out[name.replace("'", "")] = [int(d) for d in dims.split("x")]
    return out


def parse_args(argv, version):
    opts = {}
    for arg in argv:
        name, sep, value = arg.partition("=")
        spec = FLAGS.get(name)
        if spec is not None:
            kind, since, until = spec
            if (since is not None and version < since) or (until is not None and version >= until):
                spec = None
        if spec is None or not arg.startswith("--"):
            raise Failed("[E] Unknown option: %s" % arg,
                         "[E] unknown flag %s for the emulated TensorRT %d.%d" % (name, version[0], version[1]))
        if kind == "bool":
            opts[name] = True
        elif not sep:
            raise Failed("[E] %s needs a value (%s=...)" % (name, name))
        elif kind == "int":
            opts[name] = stoi(value, name)
        elif kind == "time":
            opts[name] = to_float(value, name) if version >= FLOAT_TIMES_FROM else stoi(value, name)
        elif kind == "shapes":
            opts[name] = parse_shapes(value, name)
        elif kind == "verbosity":
            if value not in ("layer_names_only", "detailed", "none"):
                raise Failed("[E] Unknown profilingVerbosity: %s" % value)
            opts[name] = value
        elif kind == "mempool":
            pool, _, size = value.partition(":")
            if pool != "workspace" or not size:
                raise Failed("[E] Invalid --memPoolSize value %r (this stand-in knows workspace:N)" % value)
            opts[name] = {pool: to_float(size, name)}
        elif kind == "inputs":
            tensor, sep2, path = value.rpartition(":")
            if not sep2 or not tensor:
                raise Failed("[E] Invalid --loadInputs value %r: expected name:file" % value)
            opts.setdefault(name, {})[tensor] = path
        else:
            opts[name] = value
    if "--loadEngine" in opts and "--saveEngine" in opts:
        raise Failed("[E] Incompatible load and save engine options selected")
    return opts


def session(onnx_path, profile=False):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    if profile:
        so.enable_profiling = True
        so.profile_file_prefix = os.path.join(tempfile.gettempdir(), "standin-trtexec-ort-profile-%d" % os.getpid())
    try:
        return ort.InferenceSession(onnx_path, sess_options=so, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise Failed("[E] [standin] ONNX Runtime could not load %s: %s" % (onnx_path, str(exc).splitlines()[0]),
                     "[E] Failed to parse onnx file", "[E] Parsing model failed",
                     "[E] Failed to create engine from model or file.", "[E] Engine set up failed")


def model_input(sess):
    inputs = sess.get_inputs()
    if len(inputs) != 1:
        raise Failed("[E] [standin] this stand-in runs models with one input, not %d" % len(inputs))
    return inputs[0]


def check_dims(name, dims, model_in, flag):
    if name != model_in.name:
        raise Failed("[E] Cannot find input tensor with name \"%s\" in the network inputs! Please make sure "
                     "the input tensor names are correct." % name, "[E] Network And Config setup failed")
    want = model_in.shape
    if len(dims) != len(want) or any(isinstance(w, int) and w != d for w, d in zip(want[1:], dims[1:])):
        raise Failed("[E] %s %s=%s does not match the model input %s" % (flag, name, "x".join(map(str, dims)), want))


def build(opts, version, fail):
    onnx_path, engine_path = opts["--onnx"], opts.get("--saveEngine")
    if not engine_path:
        raise Failed("[E] [standin] this stand-in builds only with --saveEngine")
    if not (opts.get("--buildOnly") or opts.get("--skipInference")):
        raise Failed("[E] [standin] this stand-in builds only with --buildOnly / --skipInference")
    if fail == "killed":
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    if fail == "build":
        raise Failed("[E] Error[4]: [standin] builder failure asked for by STANDIN_TRTEXEC_FAIL=build",
                     "[E] Engine could not be created from network", "[E] Building engine failed",
                     "[E] Failed to create engine from model or file.", "[E] Engine set up failed")
    if fail == "oom":
        raise Failed("[E] [standin] 1: Error Code 1: Cuda Runtime (out of memory)",
                     "[E] Engine could not be created from network", "[E] Building engine failed",
                     "[E] Failed to create engine from model or file.", "[E] Engine set up failed")
    if fail == "oom-trt":
        raise Failed("[E] [standin] 2: Error Code 2: OutOfMemory (no further information)",
                     "[E] Engine could not be created from network", "[E] Building engine failed",
                     "[E] Failed to create engine from model or file.", "[E] Engine set up failed")
    sess = session(onnx_path)
    model_in = model_input(sess)
    have = [f for f in ("--minShapes", "--optShapes", "--maxShapes") if f in opts]
    if have and have != ["--optShapes"] and len(have) != 3:
        raise Failed("[E] Must specify only --optShapes or all of --minShapes, --optShapes, --maxShapes")
    profile = {}
    if have:
        opt = opts["--optShapes"]
        for name in opt:
            ranges = [opts.get(f, opt)[name] if name in opts.get(f, opt) else None for f in
                      ("--minShapes", "--optShapes", "--maxShapes")]
            if None in ranges:
                raise Failed("[E] input %s is not in all of --minShapes, --optShapes, --maxShapes" % name)
            for f, dims in zip(("--minShapes", "--optShapes", "--maxShapes"), ranges):
                check_dims(name, dims, model_in, f)
            if not all(a <= b for a, b in zip(ranges[0], ranges[1])) or not all(a <= b for a, b in zip(ranges[1], ranges[2])):
                raise Failed("[E] profile for %s must satisfy min <= opt <= max, got %s" % (name, ranges))
            profile[name] = {"min": ranges[0], "opt": ranges[1], "max": ranges[2]}
    precision = "int8" if opts.get("--int8") else "fp16" if opts.get("--fp16") else "fp32"
    note = {
        "standin_engine": "written by a test stand-in for trtexec that runs ONNX Runtime; not a TensorRT engine",
        "onnx": os.path.abspath(onnx_path), "precision": precision, "profile": profile,
        "input": model_in.name, "emulated_tensorrt": "%d.%d" % version,
        "profiling_verbosity": opts.get("--profilingVerbosity", "layer_names_only"),
    }
    t0 = time.perf_counter()
    tmp = engine_path + ".standin-part"
    with open(tmp, "w") as f:
        json.dump(note, f)
    os.replace(tmp, engine_path)
    log("I", "Engine built in %.3f sec." % (time.perf_counter() - t0))
    log("I", "Saving engine to %s (a JSON note, %s)" % (engine_path, TAG))


def load_engine(path):
    try:
        with open(path) as f:
            note = json.load(f)
        if not isinstance(note, dict) or "onnx" not in note or "standin_engine" not in note:
            raise ValueError("not a stand-in engine note")
    except (OSError, ValueError) as exc:
        raise Failed("[E] Error opening engine file: %s" % path if isinstance(exc, OSError) else
                     "[E] [standin] 1: Serialization assertion failed: %s is not an engine (%s)" % (path, exc),
                     "[E] [standin] 4: Error Code 4: Internal Error (Engine deserialization failed.)",
                     "[E] Engine set up failed")
    return note


def infer(opts, version, fail):
    import numpy as np

    note = load_engine(opts["--loadEngine"])
    kind = ("profile" if "--exportProfile" in opts else "parity" if "--loadInputs" in opts else
            "timing" if "--exportTimes" in opts else "inference")
    if fail == kind:
        raise Failed("[E] [standin] %s run failure asked for by STANDIN_TRTEXEC_FAIL=%s" % (kind, fail),
                     "[E] Error occurred during inference")
    input_name = note["input"]
    profile = note.get("profile") or {}
    shapes = opts.get("--shapes") or {name: p["opt"] for name, p in profile.items()}
    if input_name not in shapes:
        raise Failed("[E] [standin] no shape for input %s; pass --shapes=%s:..." % (input_name, input_name))
    dims = shapes[input_name]
    if input_name in profile:
        lo, hi = profile[input_name]["min"], profile[input_name]["max"]
        if len(dims) != len(lo) or any(d < a or d > b for d, a, b in zip(dims, lo, hi)):
            raise Failed("[E] %s: dimensions %s are outside the engine's profile [%s, %s]"
                         % (input_name, "x".join(map(str, dims)), "x".join(map(str, lo)), "x".join(map(str, hi))),
                         "[E] Inference set up failed")
    count = int(np.prod(dims))
    loads = opts.get("--loadInputs") or {}
    for name in loads:
        if name != input_name:
            raise Failed("[E] [standin] --loadInputs names %s; the engine's input is %s" % (name, input_name))
    if input_name in loads:
        path = loads[input_name]
        try:
            raw = open(path, "rb").read()
        except OSError:
            raise Failed("[E] Cannot open file %s" % path, "[E] Inference set up failed")
        if len(raw) != count * 4:
            raise Failed("[E] [standin] %s holds %d bytes; input %s of %s float32 needs %d"
                         % (path, len(raw), input_name, "x".join(map(str, dims)), count * 4),
                         "[E] Inference set up failed")
        x = np.frombuffer(raw, dtype=np.float32).reshape(dims)
    else:
        x = np.random.default_rng(0).uniform(-1, 1, size=dims).astype(np.float32)

    want_profile = "--exportProfile" in opts
    sess = session(note["onnx"], profile=want_profile)
    out_names = [o.name for o in sess.get_outputs()]
    warmup_ms = opts.get("--warmUp", 200)
    duration_s = opts.get("--duration", float(os.environ.get("STANDIN_TRTEXEC_DEFAULT_DURATION", "3")))
    iterations = opts.get("--iterations", 10)

    trace, outputs = [], None
    origin = time.perf_counter()

    def ms():
        return (time.perf_counter() - origin) * 1e3

    def query():
        start = ms()
        h2d_start = ms()
        x_dev = np.array(x, copy=True)
        h2d_end = ms()
        y = sess.run(None, {input_name: x_dev})
        compute_end = ms()
        host = [np.array(v, copy=True) for v in y]
        d2h_end = ms()
        trace.append({"startEnqMs": start, "endEnqMs": compute_end, "startH2dMs": h2d_start, "endH2dMs": h2d_end,
                      "startComputeMs": h2d_end, "endComputeMs": compute_end, "startD2hMs": compute_end,
                      "endD2hMs": d2h_end, "h2dMs": h2d_end - h2d_start, "computeMs": compute_end - h2d_end,
                      "d2hMs": d2h_end - compute_end, "latencyMs": d2h_end - h2d_start,
                      "endToEndMs": d2h_end - h2d_start})
        return host

    while ms() < warmup_ms:
        outputs = query()
    timed_from, timed = ms(), 0
    while timed < iterations or (ms() - timed_from) < duration_s * 1e3:
        outputs = query()
        timed += 1
    log("I", "%d queries (%d after the %s ms warm-up) in %.3f s, %s" % (len(trace), timed, warmup_ms, ms() / 1e3, TAG))

    if "--exportTimes" in opts:
        write_json(opts["--exportTimes"], trace)
    if "--exportOutput" in opts:
        write_json(opts["--exportOutput"], [
            {"name": name, "dimensions": "x".join(str(d) for d in value.shape),
             "values": [float(v) for v in value.reshape(-1)]} for name, value in zip(out_names, outputs)])
    if want_profile:
        write_json(opts["--exportProfile"], node_profile(sess.end_profiling(), len(trace), version))
    if "--exportLayerInfo" in opts:
        import onnx

        graph = onnx.load(note["onnx"]).graph
        write_json(opts["--exportLayerInfo"], {
            "Layers": [{"Name": n.name, "LayerType": n.op_type, "Inputs": list(n.input), "Outputs": list(n.output)}
                       for n in graph.node],
            "Bindings": [input_name] + out_names,
            "Note": "ONNX nodes listed by a test stand-in for trtexec; not TensorRT layers"})


def node_profile(trace_file, queries, version):
    """ONNX Runtime's per-node kernel times (its profiling JSON) in --exportProfile's layout."""
    with open(trace_file) as f:
        events = json.load(f)
    os.remove(trace_file)
    per_node = {}
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            per_node.setdefault(e["name"][: -len("_kernel_time")], []).append(e["dur"] / 1e3)
    total = sum(sum(v) for v in per_node.values()) or 1.0
    rows = [{"count": queries}]
    for name, times in per_node.items():
        row = {"name": name, "timeMs": sum(times), "averageMs": sum(times) / max(queries, 1)}
        if version >= MEDIAN_FROM:
            ordered = sorted(times)
            row["medianMs"] = ordered[len(ordered) // 2]
        row["percentage"] = 100.0 * sum(times) / total
        rows.append(row)
    return rows


def write_json(path, data):
    with open(path, "w") as f:
        json.dump(data, f)


def main(argv):
    version = version_tuple(os.environ.get("STANDIN_TRTEXEC_VERSION", "8.2.1"))
    line = "&&&& %%s %s # %s" % (TAG, " ".join(["trtexec"] + argv))
    print(line % "RUNNING")
    log_file = os.environ.get("STANDIN_TRTEXEC_LOG")
    if log_file:
        with open(log_file, "a") as f:
            f.write(json.dumps({"argv": argv, "cwd": os.getcwd()}) + "\n")
    fail = os.environ.get("STANDIN_TRTEXEC_FAIL", "")
    try:
        opts = parse_args(argv, version)
        if "--onnx" in opts:
            build(opts, version, fail)
        elif "--loadEngine" in opts:
            infer(opts, version, fail)
        else:
            raise Failed("[E] Model missing or format not recognized")
    except Failed as exc:
        for text in exc.lines:
            print(text)
        print(line % "FAILED")
        return 1
    print(line % "PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
