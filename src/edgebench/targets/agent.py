"""The device agent, copied to a remote device and run there. `python3 agent.py probe` prints one
JSON object describing the device (L4T, power mode, CPU, memory, GPU, TensorRT, torch, tegrastats);
`python3 agent.py serve` answers the host's requests, JSON lines on stdin and stdout: run a command
(trtexec), or open an onnxruntime or pytorch engine and time it (see Server).

It must run on a Jetson Nano's JetPack 4.6, which ships Python 3.6: no 3.7+ syntax or APIs
(tests/targets/test_agent.py proves it), no import of edgebench, and only the standard library at
import time; numpy, onnxruntime and torch are imported when an engine that needs them opens. It is
one file because it is shipped as one. Every probe step is guarded: what cannot be found is null,
with a short reason under "reasons".
"""
import argparse
import base64
import contextlib
import glob
import importlib
import importlib.util
import json
import os
import platform
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

#: the version of what the agent prints: the probe's fields and serve's protocol
AGENT_SCHEMA = 2

#: seconds any one command may take; a hung nvpmodel or a slow `import torch` costs this at most
COMMAND_TIMEOUT_S = 20

#: where JetPack installs trtexec (it is not on PATH there)
TRTEXEC_DEFAULT = "/usr/src/tensorrt/bin/trtexec"

#: L4T release -> JetPack release, only the JetPack 4.4-4.6.x releases, where NVIDIA's JetPack archive
#: (developer.nvidia.com/embedded/jetpack-archive) pairs one L4T with one JetPack (32.5.0, 32.6.1,
#: 32.7.1, 32.7.4 and 32.7.6 were also seen so paired in public Jetson notes). Any other L4T gets
#: no guess: JetPack 5/6 point releases share L4T minors, and an unknown future one may too.
JETPACK_BY_L4T = {
    "32.4.3": "4.4",
    "32.4.4": "4.4.1",
    "32.5.0": "4.5",
    "32.5.1": "4.5.1",
    "32.6.1": "4.6",
    "32.7.1": "4.6.1",
    "32.7.2": "4.6.2",
    "32.7.3": "4.6.3",
    "32.7.4": "4.6.4",
    "32.7.5": "4.6.5",
    "32.7.6": "4.6.6",
}


def run_command(argv, timeout=COMMAND_TIMEOUT_S):
    """Run argv; return (returncode, stdout, reason). returncode is None when it could not run or
    timed out, and reason then says why; it never raises."""
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=timeout)
    except (OSError, ValueError) as exc:
        return None, "", "%s: %s" % (argv[0], exc.strerror if isinstance(exc, OSError) else exc)
    except subprocess.TimeoutExpired:
        return None, "", "%s timed out after %s s" % (argv[0], timeout)
    reason = ""
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or proc.stdout.strip().splitlines() or [""])[-1]
        reason = "%s exited %d: %s" % (argv[0], proc.returncode, last[:200])
    return proc.returncode, proc.stdout, reason


# ---------------------------------------------------------------------------------------------
# parsers: text in, value out (None when the text is not in the expected form)

_TEGRA_RELEASE = re.compile(r"#\s*R(\d+)\s*\(release\),\s*REVISION:\s*(\d+)(?:\.(\d+))?")
_TEGRA_BOARD = re.compile(r"BOARD:\s*([\w-]+)")


def parse_nv_tegra_release(text):
    """"# R32 (release), REVISION: 6.1, GCID: ..., BOARD: t210ref, ..." -> {"l4t": "32.6.1",
    "board": "t210ref"}; a revision without a minor part ("REVISION: 5") reads as 5.0."""
    m = _TEGRA_RELEASE.search(text)
    if not m:
        return None
    board = _TEGRA_BOARD.search(text)
    return {"l4t": "%s.%s.%s" % (m.group(1), m.group(2), m.group(3) or "0"),
            "board": board.group(1) if board else None}


def parse_nvpmodel(text):
    """`nvpmodel -q` output ("NV Power Mode: MAXN" then the mode id alone on a line) ->
    {"name": "MAXN", "id": 0}; id is None if the id line is missing."""
    m = re.search(r"NV Power Mode:\s*(\S+)", text)
    if not m:
        return None
    ident = re.search(r"^\s*(\d+)\s*$", text[m.end():], re.MULTILINE)
    return {"name": m.group(1), "id": int(ident.group(1)) if ident else None}


def parse_meminfo(text):
    """/proc/meminfo -> MemTotal in kB (None if absent)."""
    m = re.search(r"^MemTotal:\s*(\d+)\s*kB", text, re.MULTILINE)
    return int(m.group(1)) if m else None


def parse_cpuinfo(text):
    """/proc/cpuinfo -> the CPU's model name. x86 says "model name"; arm64 kernels say
    "model name" (L4T) or only "Hardware"/"Processor", so those are tried in turn."""
    for key in ("model name", "Hardware", "Processor", "cpu model"):
        m = re.search(r"^%s\s*:\s*(.+?)\s*$" % re.escape(key), text, re.MULTILINE)
        if m:
            return m.group(1)
    return None


# ---------------------------------------------------------------------------------------------
# the setup readings: raw text of the files and commands that say how the device is set up (power
# mode, cores online, governors, clocks, temperatures). They are sent back as text and read on the
# host (edgebench.results.setup). A local machine is read by edgebench.system.setup_readings, of
# which this is a copy (this file imports nothing of edgebench); a test keeps the two the same.

#: files read, as globs under root (a missing one is left out)
SETUP_FILES = (
    "/sys/devices/system/cpu/online", "/sys/devices/system/cpu/offline", "/sys/devices/system/cpu/present",
    "/sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_governor",
    "/sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_min_freq",
    "/sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_max_freq",
    "/sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_cur_freq",
    "/sys/devices/system/cpu/cpu[0-9]*/cpufreq/cpuinfo_max_freq",
    "/sys/devices/system/cpu/cpufreq/boost", "/sys/devices/system/cpu/intel_pstate/no_turbo",
    "/sys/class/thermal/thermal_zone[0-9]*/type", "/sys/class/thermal/thermal_zone[0-9]*/temp",
    "/sys/class/devfreq/*/min_freq", "/sys/class/devfreq/*/max_freq", "/sys/class/devfreq/*/cur_freq",
    "/sys/class/devfreq/*/available_frequencies",
    "/proc/device-tree/model", "/etc/nvpmodel.conf",
)
#: commands run where they are on PATH (jetson_clocks --show needs root; without it, no answer)
SETUP_COMMANDS = (("nvpmodel", "-q"), ("jetson_clocks", "--show"))
#: the most read of one file (an nvpmodel.conf is a few kB)
SETUP_FILE_CAP = 256 * 1024


def setup_readings(root="/", run=run_command, which=shutil.which):
    """{"files": {path: text}, "commands": {"nvpmodel -q": stdout or None}}: what the setup
    fingerprint reads, unparsed. Never raises; what cannot be read is left out."""
    files = {}
    for pattern in SETUP_FILES:
        for path in sorted(glob.glob(os.path.join(root, pattern.lstrip("/")))):
            try:
                with open(path, "rb") as f:
                    files["/" + os.path.relpath(path, root).lstrip("/")] = f.read(SETUP_FILE_CAP).decode("utf-8", "replace")
            except (IOError, OSError):
                continue
    commands = {}
    for argv in SETUP_COMMANDS:
        if which(argv[0]) is None:
            continue
        try:
            rc, out, _ = run(list(argv))
        except Exception:  # an injected runner's failure: no answer
            rc, out = None, ""
        commands[" ".join(argv)] = out if rc == 0 else None
    return {"files": files, "commands": commands}


# ---------------------------------------------------------------------------------------------
# the probe

class Probe(object):
    """Collects the device description. `root` is where files are read from ("/" on a device, a
    fixture folder in tests); `run(argv)` runs a command like run_command; `which(name)` finds one
    on PATH; `find_spec(name)` tells whether a module is importable (importlib.util.find_spec)."""

    def __init__(self, root="/", run=run_command, which=shutil.which,
                 find_spec=importlib.util.find_spec, python=sys.executable):
        self.root = root
        self.run = run
        self.which = which
        self.find_spec = find_spec
        self.python = python
        self.reasons = {}

    def _path(self, path):
        return os.path.join(self.root, path.lstrip("/"))

    def _read(self, path, field):
        """The text of a file under root, or None with a reason for `field`."""
        try:
            with open(self._path(path), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except (IOError, OSError) as exc:
            self.reasons[field] = "cannot read %s: %s" % (path, exc.strerror or exc)
            return None

    def _command(self, argv, field):
        """stdout of argv when it ran and exited 0, else None with a reason for `field`."""
        try:
            rc, out, reason = self.run(argv)
        except Exception as exc:  # an injected runner's failure is this field's failure only
            rc, out, reason = None, "", "%s: %s" % (argv[0], exc)
        if rc != 0:
            self.reasons[field] = reason or "%s failed" % argv[0]
            return None
        return out

    def _python_version_of(self, module, field):
        """`module.__version__` read in a child interpreter (so torch is never imported here)."""
        if self.find_spec(module) is None:
            self.reasons[field] = "%s is not importable by %s" % (module, self.python)
            return None
        out = self._command([self.python, "-c", "import %s; print(%s.__version__)" % (module, module)],
                            field)
        return out.strip().splitlines()[-1] if out and out.strip() else None

    def collect(self):
        self.reasons = {}
        result = {
            "agent_schema": AGENT_SCHEMA,
            "python_version": platform.python_version(),
            "python_executable": self.python,
            "system": platform.system(),
            "machine": platform.machine(),
            "cpu_count": os.cpu_count(),
        }
        steps = (self._cpu, self._memory, self._l4t, self._power_mode, self._jetson_clocks,
                 self._gpu, self._tensorrt, self._trtexec, self._tegrastats, self._frameworks, self._setup)
        for step in steps:
            try:
                result.update(step())
            except Exception as exc:  # a probe bug costs its own fields, never the whole probe
                self.reasons[step.__name__.lstrip("_")] = "probe error: %r" % (exc,)
        result["reasons"] = dict(self.reasons)
        return result

    def _cpu(self):
        text = self._read("/proc/cpuinfo", "cpu_model")
        model = parse_cpuinfo(text) if text is not None else None
        if text is not None and model is None:
            self.reasons["cpu_model"] = "no model name in /proc/cpuinfo"
        return {"cpu_model": model}

    def _memory(self):
        text = self._read("/proc/meminfo", "memory_total_kib")
        kib = parse_meminfo(text) if text is not None else None
        if text is not None and kib is None:
            self.reasons["memory_total_kib"] = "no MemTotal in /proc/meminfo"
        return {"memory_total_kib": kib}

    def _l4t(self):
        text = self._read("/etc/nv_tegra_release", "l4t")
        parsed = parse_nv_tegra_release(text) if text is not None else None
        if text is not None and parsed is None:
            self.reasons["l4t"] = "/etc/nv_tegra_release is not like '# R32 (release), REVISION: 6.1'"
        l4t = parsed["l4t"] if parsed else None
        jetpack = JETPACK_BY_L4T.get(l4t) if l4t else None
        if jetpack is None:
            self.reasons["jetpack"] = ("L4T %s is not in the agent's L4T -> JetPack table" % l4t
                                       if l4t else "no L4T release")
        return {"l4t": l4t, "l4t_board": parsed["board"] if parsed else None, "jetpack": jetpack}

    def _power_mode(self):
        if self.which("nvpmodel") is None:
            self.reasons["power_mode"] = "nvpmodel not on PATH"
            return {"power_mode": None}
        out = self._command(["nvpmodel", "-q"], "power_mode")
        mode = parse_nvpmodel(out) if out is not None else None
        if out is not None and mode is None:
            self.reasons["power_mode"] = "no 'NV Power Mode:' line in nvpmodel -q output"
        return {"power_mode": mode}

    def _jetson_clocks(self):
        # only whether `jetson_clocks --show` answers: its layout changes between L4T releases
        if self.which("jetson_clocks") is None:
            self.reasons["jetson_clocks_show"] = "jetson_clocks not on PATH"
            return {"jetson_clocks_show": None}
        out = self._command(["jetson_clocks", "--show"], "jetson_clocks_show")
        return {"jetson_clocks_show": out is not None}

    def _gpu(self):
        if self.which("nvidia-smi") is not None:
            out = self._command(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], "gpu")
            names = [line.strip() for line in (out or "").splitlines() if line.strip()]
            if names:
                return {"gpu": names[0], "gpu_source": "nvidia-smi"}
        # Jetson boards have no nvidia-smi (L4T 32); the device tree names the module instead
        model = self._read("/proc/device-tree/model", "gpu")
        model = model.strip("\x00 \n") if model is not None else None
        if model and ("jetson" in model.lower() or "tegra" in model.lower()):
            self.reasons.pop("gpu", None)
            return {"gpu": "integrated GPU of %s" % model, "gpu_source": "device-tree model"}
        if model is not None:
            self.reasons["gpu"] = "no nvidia-smi, and the device-tree model %r is no Jetson" % model
        return {"gpu": None, "gpu_source": None}

    def _tensorrt(self):
        if self.find_spec("tensorrt") is not None:
            version = self._python_version_of("tensorrt", "tensorrt_version")
            if version:
                return {"tensorrt_version": version, "tensorrt_source": "python tensorrt"}
        if self.which("dpkg-query") is None:
            self.reasons.setdefault("tensorrt_version", "no tensorrt module and no dpkg-query")
            return {"tensorrt_version": None, "tensorrt_source": None}
        for package in ("libnvinfer8", "tensorrt", "libnvinfer10"):
            out = self._command(["dpkg-query", "-W", "-f=${Version}", package], "tensorrt_version")
            if out and out.strip():
                self.reasons.pop("tensorrt_version", None)
                return {"tensorrt_version": out.strip(), "tensorrt_source": "dpkg " + package}
        self.reasons["tensorrt_version"] = ("no tensorrt module, and dpkg knows none of libnvinfer8, "
                                            "tensorrt, libnvinfer10")
        return {"tensorrt_version": None, "tensorrt_source": None}

    def _trtexec(self):
        if os.path.isfile(self._path(TRTEXEC_DEFAULT)):
            return {"trtexec": TRTEXEC_DEFAULT}
        found = self.which("trtexec")
        if found is None:
            self.reasons["trtexec"] = "not at %s nor on PATH" % TRTEXEC_DEFAULT
        return {"trtexec": found}

    def _tegrastats(self):
        found = self.which("tegrastats")
        if found is None:
            self.reasons["tegrastats"] = "tegrastats not on PATH"
        return {"tegrastats": found}

    def _frameworks(self):
        out = {}
        for module in ("torch", "onnxruntime"):
            out[module + "_version"] = self._python_version_of(module, module + "_version")
        return out

    def _setup(self):
        return {"setup_readings": setup_readings(self.root, self.run, self.which)}


def probe(root="/", **kwargs):
    """The device description as a dict (see Probe)."""
    return Probe(root=root, **kwargs).collect()


# ---------------------------------------------------------------------------------------------
# serve: requests and replies. The host (targets/session.py) writes one JSON object a line; each
# gets exactly one reply line. One process serves one engine; it never exits on a failed request.

#: exec: how much of the command's merged output comes back, and the cap on each `read` file
OUTPUT_TAIL_CHARS = 6000
READ_CAP_BYTES = 64 * 1024 * 1024
#: a failure reply's traceback tail
DETAIL_CHARS = 2000
#: seconds a stopped tegrastats gets to exit before it is killed
STOP_GRACE_S = 5

#: the fields each op takes besides "op"; any other field is a bad request (a typo is never ignored)
OPS = {
    "hello": (),
    "exec": ("argv", "timeout_s", "read", "tegrastats_ms"),
    "open": ("engine", "device", "precision", "batch", "item_shape", "pool", "check",
             "onnx", "providers", "threads", "model", "weights"),
    "measure": ("warmup_iters", "warmup_s", "min_iters", "min_time_s", "tegrastats_ms", "idle_s"),
    "close": (),
}


class AgentError(Exception):
    """A request that fails with a known status; the message is the reply's error line."""

    def __init__(self, message, status="run_failed"):
        Exception.__init__(self, message)
        self.status = status


def one_line(exc):
    """'ExceptionType: first line of its message'."""
    lines = str(exc).strip().splitlines()
    return "%s: %s" % (type(exc).__name__, lines[0][:500]) if lines else type(exc).__name__


def is_oom(exc):
    # ONNX Runtime's arenas say "Failed to allocate memory", torch and CUDA "out of memory"
    text = str(exc).lower()
    return isinstance(exc, MemoryError) or "out of memory" in text or "failed to allocate memory" in text


def failure_reply(exc):
    if isinstance(exc, AgentError):
        status, error = exc.status, str(exc)
    else:
        status, error = ("oom" if is_oom(exc) else "run_failed"), one_line(exc)
    detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return {"ok": False, "status": status, "error": error, "detail": detail[-DETAIL_CHARS:]}


@contextlib.contextmanager
def failing_as(status):
    """Any error in the block becomes an AgentError of `status` (an out-of-memory one stays oom);
    AgentErrors pass unchanged."""
    try:
        yield
    except AgentError:
        raise
    except Exception as exc:
        raise AgentError(one_line(exc), "oom" if is_oom(exc) else status) from exc


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


_KINDS = {
    "int": (_is_int, "an integer"),
    "number": (lambda v: _is_int(v) or isinstance(v, float), "a number"),
    "str": (lambda v: isinstance(v, str) and v != "", "a non-empty string"),
    "strings": (lambda v: isinstance(v, list) and bool(v) and all(isinstance(s, str) for s in v),
                "a non-empty list of strings"),
    "shape": (lambda v: isinstance(v, list) and bool(v) and all(_is_int(d) and d > 0 for d in v),
              "a non-empty list of positive integers"),
    "object": (lambda v: isinstance(v, dict), "an object"),
    "paths": (lambda v: isinstance(v, dict) and all(isinstance(p, str) for p in v.values()),
              "an object of name: path"),
}
_REQUIRED = object()


def field(request, name, kind, default=_REQUIRED, minimum=None, choices=None, where=None):
    """request[name] checked against `kind` (a key of _KINDS), `minimum` and `choices`; `default`
    when it is absent, or null where the default is None. AgentError naming the field otherwise."""
    where = where or request.get("op")
    if name not in request or (request[name] is None and default is None):
        if default is _REQUIRED:
            raise AgentError("%s: missing field %r" % (where, name))
        return default
    value = request[name]
    test, what = _KINDS[kind]
    if test(value) and (minimum is None or value >= minimum) and (choices is None or value in choices):
        return value
    if choices is not None:
        what = "one of " + ", ".join(choices)
    elif minimum is not None:
        what += " >= %s" % minimum
    raise AgentError("%s: %s must be %s, not %s" % (where, name, what, json.dumps(value)[:200]))


def must_exist(path, what):
    if not os.path.isfile(path):
        raise AgentError("open: %s file %s does not exist (cwd %s)" % (what, path, os.getcwd()))


def parse_request(line):
    """A request line (bytes) -> its dict, with a known op and only that op's fields."""
    try:
        request = json.loads(line.decode("utf-8"))
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise AgentError("bad request line (%s): %r" % (exc, line[:200])) from None
    if not isinstance(request, dict):
        raise AgentError("bad request: a request is a JSON object, not %s" % type(request).__name__)
    op = request.get("op")
    if not isinstance(op, str) or op not in OPS:
        raise AgentError("unknown op %s (known: %s)" % (json.dumps(op), ", ".join(sorted(OPS))))
    unknown = sorted(set(request) - set(OPS[op]) - {"op"})
    if unknown:
        raise AgentError("%s: unknown field %s (it takes: %s)"
                         % (op, ", ".join(unknown), ", ".join(OPS[op]) or "no fields"))
    return request


# ---------------------------------------------------------------------------------------------
# exec and tegrastats

def read_text(path, cap=READ_CAP_BYTES):
    """A file's first `cap` bytes as text (utf-8, undecodable bytes replaced); None if unreadable."""
    try:
        with open(path, "rb") as f:
            return f.read(cap).decode("utf-8", "replace")
    except (IOError, OSError):
        return None


def tail_text(f, chars):
    """The last `chars` characters of an open binary file."""
    f.seek(0, os.SEEK_END)
    f.seek(max(0, f.tell() - 4 * chars))  # utf-8: at most 4 bytes a character
    return f.read().decode("utf-8", "replace")[-chars:]


class Tegrastats(object):
    """`tegrastats --interval MS` running over a with-block; `.text` is what it printed, None when
    no interval was given or tegrastats is not on PATH. Its output goes to a temporary file, so a
    long window cannot fill a pipe and stall it."""

    def __init__(self, interval_ms, which=shutil.which):
        self.exe = which("tegrastats") if interval_ms else None
        self.interval_ms = interval_ms
        self.text = None
        self._proc = self._out = None

    def __enter__(self):
        if self.exe:
            self._out = tempfile.TemporaryFile()
            try:
                self._proc = subprocess.Popen([self.exe, "--interval", str(int(self.interval_ms))],
                                              stdin=subprocess.DEVNULL, stdout=self._out,
                                              stderr=subprocess.DEVNULL)
            except OSError as exc:
                sys.stderr.write("agent: tegrastats did not start: %s\n" % one_line(exc))
        return self

    def __exit__(self, *exc_info):
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._out.seek(0)
            self.text = self._out.read(READ_CAP_BYTES).decode("utf-8", "replace")
        if self._out is not None:
            self._out.close()
        return False


def wait_or_kill(proc, timeout_s):
    """(returncode, timed_out): the command's own code, or after timeout_s seconds the code of the
    kill, which takes its whole process group (a command's own children go too)."""
    try:
        return proc.wait(timeout=timeout_s), False
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            proc.kill()
        return proc.wait(), True


def run_exec(argv, timeout_s, read, tegrastats_ms, which=shutil.which):
    """Run argv (no shell, stdin empty, stdout and stderr merged) for at most timeout_s seconds,
    tegrastats around it when tegrastats_ms is given, then read the `read` files; the exec reply.
    rc is None, with "error" saying why, when argv could not start."""
    reply = {"ok": True, "rc": None, "timed_out": False, "elapsed_s": 0.0, "output_tail": "",
             "files": dict.fromkeys(read), "tegrastats": None}
    with tempfile.TemporaryFile() as out, Tegrastats(tegrastats_ms, which) as sampler:
        t0 = time.perf_counter()
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        except (OSError, ValueError) as exc:
            reply["error"] = one_line(exc)
            return reply
        reply["rc"], reply["timed_out"] = wait_or_kill(proc, timeout_s)
        reply["elapsed_s"] = time.perf_counter() - t0
        reply["output_tail"] = tail_text(out, OUTPUT_TAIL_CHARS)
    reply["tegrastats"] = sampler.text
    reply["files"] = dict((name, read_text(path)) for name, path in read.items())
    return reply


# ---------------------------------------------------------------------------------------------
# engines: numpy, onnxruntime, torch and torchvision are imported here only, when an engine opens

def import_library(name):
    """The module, or AgentError(skipped) saying this Python cannot import it."""
    try:
        return importlib.import_module(name)
    except Exception as exc:  # ImportError, or a library that fails to load (a missing .so: OSError)
        raise AgentError("%s is not importable by %s on the device (%s)" % (name, sys.executable, one_line(exc)),
                         "skipped")


def read_batches(np, request, name, batch, item_shape):
    """The raw float32 file of request[name] ({"path", "count"}) as `count` arrays of
    batch x item_shape."""
    spec = field(request, name, "object")
    where = "open %s" % name
    path = field(spec, "path", "str", where=where)
    count = field(spec, "count", "int", minimum=1, where=where)
    must_exist(path, name)
    data = np.fromfile(path, dtype=np.float32)
    shape = (count, batch) + tuple(item_shape)
    if data.size != int(np.prod(shape)):
        raise AgentError("open: %s file %s holds %d float32 values; count x batch x item_shape %s needs %d"
                         % (name, path, data.size, list(shape), int(np.prod(shape))))
    return list(data.reshape(shape))


def encode_array(a):
    """An array as the reply's {"shape", "dtype": "float32", "b64"} (raw bytes, native order)."""
    a = a.astype("float32")
    return {"shape": list(a.shape), "dtype": "float32", "b64": base64.b64encode(a.tobytes()).decode("ascii")}


def encode_outputs(np, outputs):
    """Per check batch, the model's outputs (a list of float32 arrays, in the host's order:
    edgebench.models.outputs) -> the reply's "outputs": one array of every batch's output for a
    one-output model, else a list of such arrays, one per output."""
    count = len(outputs[0])
    stacked = []
    for k in range(count):
        shapes = set(tuple(batch[k].shape) for batch in outputs)
        if len(shapes) > 1:
            raise AgentError("output %d has a shape that depends on the data (%s); a target runs models whose "
                             "outputs have fixed shapes" % (k, ", ".join(str(list(sh)) for sh in sorted(shapes))),
                             "run_failed")
        stacked.append(encode_array(np.stack([batch[k] for batch in outputs])))
    return stacked[0] if count == 1 else stacked


def flat_tensors(value, found=None):
    """A torch model's output (a tensor, or tuples, lists and dicts of them) -> its tensors in
    edgebench.models.outputs' order: dicts in their own order, sequences by index."""
    found = [] if found is None else found
    if isinstance(value, dict):
        for item in value.values():
            flat_tensors(item, found)
    elif isinstance(value, (tuple, list)):
        for item in value:
            flat_tensors(item, found)
    else:
        found.append(value)
    return found


class Engine(object):
    """One model and its inputs. The request's fields are checked when it is made; `open()` loads
    the model and runs the check batches; `run_once(x)` runs one prepared batch and returns when its
    result is ready; `close()` lets go. Subclasses give `_load()` (-> the reply's details),
    `_input(batch)` (a float32 array -> what run_once takes) and `_output(y)` (-> the model's
    outputs, a list of float32 arrays)."""

    library = ""
    PRECISIONS = ("fp32", "fp16")

    def __init__(self, request):
        self.device_asked = field(request, "device", "str", "auto", choices=("auto", "cpu", "cuda"))
        self.precision = field(request, "precision", "str", "fp32", choices=self.PRECISIONS)
        self.threads = field(request, "threads", "int", None, minimum=1)
        self.batch = field(request, "batch", "int", minimum=1)
        self.item_shape = field(request, "item_shape", "shape")
        self.request = request
        self.device = "cpu"
        self.pool = []

    def open(self):
        """Load the model, move the inputs once, run the check batches; the open reply."""
        np = import_library("numpy")
        pool = read_batches(np, self.request, "pool", self.batch, self.item_shape)
        checks = read_batches(np, self.request, "check", self.batch, self.item_shape)
        import_library(self.library)
        t0 = time.perf_counter()
        with failing_as("build_failed"):
            details = self._load()
        load_s = time.perf_counter() - t0
        self.pool = [self._input(x) for x in pool]
        checks = [self._input(x) for x in checks]
        t0 = time.perf_counter()
        first = self.run_once(checks[0])
        first_infer_s = time.perf_counter() - t0
        outputs = [self._output(first)] + [self._output(self.run_once(x)) for x in checks[1:]]
        return {"ok": True, "device": self.device, "load_s": load_s, "first_infer_s": first_infer_s,
                "outputs": encode_outputs(np, outputs), "details": details}

    def run_once(self, x):
        raise NotImplementedError

    def close(self):
        self.pool = []


class OnnxRuntimeEngine(Engine):
    """An ONNX Runtime session on the asked providers, or by default CUDA (where this build has it)
    then CPU; all graph optimisations, sequential execution, as the host's onnxruntime backend."""

    library = "onnxruntime"
    GPU_PROVIDERS = ("CUDAExecutionProvider", "TensorrtExecutionProvider")
    # int8: the host's QDQ model (calibrated there), which ONNX Runtime runs as it is
    PRECISIONS = ("fp32", "fp16", "int8")

    def __init__(self, request):
        Engine.__init__(self, request)
        self.onnx = field(request, "onnx", "str")
        self.providers = field(request, "providers", "strings", None)
        must_exist(self.onnx, "onnx")
        self.session = None

    def _provider_names(self, available):
        if self.providers is not None:
            missing = [p for p in self.providers if p not in available]
            if missing:
                raise AgentError("requested provider was %s, but available providers are %s"
                                 % (", ".join(missing), ", ".join(available)), "skipped")
            return list(self.providers)
        if self.device_asked != "cpu" and "CUDAExecutionProvider" in available:
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]
        if self.device_asked == "cuda":
            raise AgentError("device cuda asked for, but this onnxruntime's providers are %s "
                             "(onnxruntime-gpu has CUDAExecutionProvider)" % ", ".join(available), "skipped")
        return ["CPUExecutionProvider"]

    def _load(self):
        import numpy as np
        import onnxruntime as ort

        names = self._provider_names(ort.get_available_providers())
        fp16_trt = self.precision == "fp16" and "TensorrtExecutionProvider" in names
        providers = [(n, {"trt_fp16_enable": True}) if fp16_trt and n == "TensorrtExecutionProvider" else n
                     for n in names]
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        if self.threads:
            so.intra_op_num_threads = self.threads
        self.session = ort.InferenceSession(self.onnx, sess_options=so, providers=providers)
        used = self.session.get_providers()
        self.device = "cuda" if used[0] in self.GPU_PROVIDERS else "cpu"
        first = self.session.get_inputs()[0]
        self.input_name = first.name
        # an fp16 ONNX model takes half inputs; an fp32 one runs fp16 only through TensorRT
        self.input_dtype = np.float16 if first.type == "tensor(float16)" else np.float32
        if self.precision == "fp16" and self.input_dtype is np.float32 and not fp16_trt:
            raise AgentError("onnxruntime runs this fp32 ONNX model in fp32 on %s; fp16 needs an fp16 model "
                             "or the TensorrtExecutionProvider" % ", ".join(used), "skipped")
        return {"providers": used, "onnxruntime": ort.__version__}

    def _input(self, batch):
        return batch.astype(self.input_dtype)

    def run_once(self, x):
        return self.session.run(None, {self.input_name: x})

    def _output(self, y):
        return [a.astype("float32") for a in y]

    def close(self):
        Engine.close(self)
        self.session = None


def load_definition(path):
    """A model-definition file imported as a module of its own."""
    name = "edgebench_definition_" + re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0])
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_state_dict(torch, path):
    try:
        return torch.load(path, map_location="cpu", weights_only=True)  # tensors only, no pickled code
    except TypeError:  # torch < 1.13 has no weights_only (JetPack 4.6 ships 1.10)
        return torch.load(path, map_location="cpu")


def ieee_fp32(torch):
    """FP32 as IEEE FP32 on CUDA, as the host's pytorch backend runs it: no TF32 in cuDNN
    convolutions or matmuls (Ampere and later would use it by default; older torch and GPUs,
    such as a Nano's, have no such switch or no TF32)."""
    cudnn = getattr(torch.backends, "cudnn", None)
    if cudnn is not None and hasattr(cudnn, "allow_tf32"):
        cudnn.allow_tf32 = False
    matmul = getattr(getattr(torch.backends, "cuda", None), "matmul", None)
    if matmul is not None and hasattr(matmul, "allow_tf32"):
        matmul.allow_tf32 = False


class TorchEngine(Engine):
    """A torch module (a torchvision classifier, or a factory in a model-definition file) in eval
    mode, .half() for fp16, IEEE FP32 (no TF32) on CUDA; inputs moved to the device once, here; a
    CUDA call ends with a synchronize, so run_once returns when the result is ready."""

    library = "torch"

    def __init__(self, request):
        Engine.__init__(self, request)
        model = field(request, "model", "object")
        self.kind = field(model, "kind", "str", choices=("torchvision", "definition"), where="open model")
        if self.kind == "torchvision":
            self.name = field(model, "name", "str", where="open model")
        else:
            self.file = field(model, "file", "str", where="open model")
            self.factory = field(model, "factory", "str", where="open model")
            must_exist(self.file, "model definition")
        self.num_classes = field(model, "num_classes", "int", None, minimum=1, where="open model")
        self.weights = field(request, "weights", "str", None)
        if self.weights:
            must_exist(self.weights, "weights")
        self.model = None

    def _device(self, torch):
        if self.device_asked != "cpu" and torch.cuda.is_available():
            return "cuda"
        if self.device_asked == "cuda":
            raise AgentError("device cuda asked for, but torch %s here sees no CUDA device" % torch.__version__,
                             "skipped")
        return "cpu"

    def _build(self):
        kwargs = {} if self.num_classes is None else {"num_classes": self.num_classes}
        if self.kind == "torchvision":
            tv = import_library("torchvision")
            make = getattr(tv.models, self.name, None)
            if make is None:
                raise AgentError("torchvision %s has no model %r" % (tv.__version__, self.name))
            try:
                return make(weights=None, **kwargs)
            except TypeError:  # torchvision < 0.13
                return make(pretrained=False, **kwargs)
        make = getattr(load_definition(self.file), self.factory, None)
        if make is None:
            raise AgentError("%s defines no %r" % (self.file, self.factory))
        try:
            return make(**kwargs)
        except TypeError:
            if not kwargs:
                raise
            return make()

    def _load(self):
        import torch

        self.torch = torch
        if self.threads:
            torch.set_num_threads(self.threads)
        self.device = self._device(torch)
        if self.device == "cuda":
            ieee_fp32(torch)
        model = self._build()
        if self.weights:
            model.load_state_dict(load_state_dict(torch, self.weights), strict=True)
        model.eval().to(self.device)
        if self.precision == "fp16":
            model.half()
        self.model = model
        self.no_grad = getattr(torch, "inference_mode", torch.no_grad)
        torchvision = sys.modules.get("torchvision")
        return {"torch": torch.__version__, "torchvision": getattr(torchvision, "__version__", None)}

    def _input(self, batch):
        x = self.torch.from_numpy(batch).to(self.device)
        return x.half() if self.precision == "fp16" else x

    def run_once(self, x):
        with self.no_grad():
            y = self.model(x)
        if self.device == "cuda":
            self.torch.cuda.synchronize()
        return y

    def _output(self, y):
        return [t.detach().float().cpu().numpy() for t in flat_tensors(y)]

    def close(self):
        Engine.close(self)
        if self.model is not None:
            self.model = None
            if self.device == "cuda":
                self.torch.cuda.empty_cache()


ENGINES = {"onnxruntime": OnnxRuntimeEngine, "pytorch": TorchEngine}


# ---------------------------------------------------------------------------------------------
# the timed loop and the server

def warm_up(run_once, inputs, iters, seconds):
    """Call run_once over inputs in turn until both `iters` calls and `seconds` have passed."""
    n, start = 0, time.perf_counter()
    while n < iters or time.perf_counter() - start < seconds:
        run_once(inputs[n % len(inputs)])
        n += 1


def time_calls(run_once, inputs, min_iters, min_time_s):
    """Time run_once over inputs in turn until both min_iters calls and min_time_s seconds are
    reached; each call's time in ms."""
    samples, start = [], time.perf_counter()
    while len(samples) < min_iters or time.perf_counter() - start < min_time_s:
        x = inputs[len(samples) % len(inputs)]
        t0 = time.perf_counter()
        run_once(x)
        samples.append((time.perf_counter() - t0) * 1000.0)
    return samples


class Server(object):
    """Answers requests (see OPS) with one reply each, until EOF or close."""

    def __init__(self, which=shutil.which):
        self.which = which
        self.engine = None
        self.closing = False

    def serve(self, instream, outstream):
        """Read request lines from `instream`, write reply lines to `outstream` (binary streams);
        blank lines are skipped. Returns the exit status, 0."""
        try:
            while not self.closing:
                line = instream.readline()
                if not line:
                    break
                if line.strip():
                    outstream.write((json.dumps(self.handle(line)) + "\n").encode("ascii"))
                    outstream.flush()
        finally:
            self._close_engine()
        return 0

    def handle(self, line):
        """One request line -> its reply; never raises for a failed request."""
        try:
            request = parse_request(line)
            return getattr(self, "op_" + request["op"])(request)
        except Exception as exc:
            return failure_reply(exc)

    def op_hello(self, request):
        return {"ok": True, "agent_schema": AGENT_SCHEMA, "python_version": platform.python_version(),
                "pid": os.getpid()}

    def op_exec(self, request):
        argv = field(request, "argv", "strings")
        timeout_s = field(request, "timeout_s", "number", 600, minimum=0)
        read = field(request, "read", "paths", {})
        tegrastats_ms = field(request, "tegrastats_ms", "int", None, minimum=1)
        return run_exec(argv, timeout_s, read, tegrastats_ms, self.which)

    def op_open(self, request):
        if self.engine is not None:
            raise AgentError("open: an engine is already open; one serve process serves one engine")
        engine = ENGINES[field(request, "engine", "str", choices=sorted(ENGINES))](request)
        try:
            reply = engine.open()
        except Exception:
            engine.close()
            raise
        self.engine = engine
        return reply

    def op_measure(self, request):
        if self.engine is None:
            raise AgentError("measure: no engine is open; send open first")
        warmup_iters = field(request, "warmup_iters", "int", 10, minimum=0)
        warmup_s = field(request, "warmup_s", "number", 1.0, minimum=0)
        min_iters = field(request, "min_iters", "int", 100, minimum=1)
        min_time_s = field(request, "min_time_s", "number", 5.0, minimum=0)
        tegrastats_ms = field(request, "tegrastats_ms", "int", None, minimum=1)
        idle_s = field(request, "idle_s", "number", 0.0, minimum=0)
        idle = None
        if idle_s > 0 and tegrastats_ms:
            with Tegrastats(tegrastats_ms, self.which) as sampler:
                if sampler.exe:
                    time.sleep(idle_s)
            idle = sampler.text
        engine = self.engine
        warm_up(engine.run_once, engine.pool, warmup_iters, warmup_s)
        with Tegrastats(tegrastats_ms, self.which) as sampler:
            samples = time_calls(engine.run_once, engine.pool, min_iters, min_time_s)
        return {"ok": True, "samples_ms": samples, "tegrastats": sampler.text, "tegrastats_idle": idle,
                "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}

    def op_close(self, request):
        self._close_engine()
        self.closing = True
        return {"ok": True}

    def _close_engine(self):
        if self.engine is not None:
            engine, self.engine = self.engine, None
            engine.close()


def serve_stdio():
    """Serve on stdin/stdout. Replies go to a private copy of stdout; fd 1 itself then points at
    stderr, so whatever a library or a model file prints (from Python or C) cannot break a reply."""
    sys.stdout.flush()
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return Server().serve(sys.stdin.buffer, replies)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="agent.py", description="edgebench's device agent")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("probe", help="print the device description as one JSON object")
    sub.add_parser("serve", help="answer the host's requests: JSON lines on stdin, one reply line each on stdout")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve_stdio()
    if args.command != "probe":
        parser.print_usage(sys.stderr)
        return 2
    sys.stdout.write(json.dumps(probe(), sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
