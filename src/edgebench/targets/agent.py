"""The device agent: copied to a remote device and run there as `python3 agent.py probe`, it prints
one JSON object describing the device (L4T, power mode, CPU, memory, GPU, TensorRT, torch).

It must run on a Jetson Nano's JetPack 4.6, which ships Python 3.6: standard library only, no
3.7+ syntax or APIs (tests/targets/test_agent.py proves both), and no import of edgebench.
Every probe step is guarded: what cannot be found is null, with a short reason under "reasons".
"""
import argparse
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys

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
            "agent_schema": 1,
            "python_version": platform.python_version(),
            "python_executable": self.python,
            "system": platform.system(),
            "machine": platform.machine(),
            "cpu_count": os.cpu_count(),
        }
        steps = (self._cpu, self._memory, self._l4t, self._power_mode, self._jetson_clocks,
                 self._gpu, self._tensorrt, self._trtexec, self._tegrastats, self._frameworks)
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


def probe(root="/", **kwargs):
    """The device description as a dict (see Probe)."""
    return Probe(root=root, **kwargs).collect()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="agent.py", description="edgebench's device agent")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("probe", help="print the device description as one JSON object")
    args = parser.parse_args(argv)
    if args.command != "probe":
        parser.print_usage(sys.stderr)
        return 2
    sys.stdout.write(json.dumps(probe(), sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
