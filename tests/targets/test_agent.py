"""The device agent: its Python 3.6 floor (grammar and a version checker; the model definitions it
imports on the device too), its standard-library-only imports, a real probe on this machine (no
Jetson: the Jetson fields are null with reasons), and its parsers and probe steps on real-format
files from Jetson devices (fixtures/SOURCES.md)."""
from __future__ import annotations

import ast
import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgebench.targets import agent

AGENT = Path(agent.__file__)
PACKAGE = AGENT.parent.parent
#: what runs under the device's Python 3.6: the agent, and the model definitions it imports there
SHIPPED = [AGENT] + [PACKAGE / p for p in ("models/video/c3d.py", "models/video/autoencoder.py",
                                           "models/video/densenet3d.py", "models/testing.py")]
FIX = Path(__file__).parent / "fixtures"
JETSON_FIELDS = ("l4t", "jetpack", "power_mode", "jetson_clocks_show", "tensorrt_version", "trtexec")


def python36():
    """A working Python 3.6 interpreter on this machine (EDGEBENCH_TEST_PYTHON36, a pyenv one, or
    python3.6 on PATH), or None."""
    found = [os.environ.get("EDGEBENCH_TEST_PYTHON36")]
    found += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.6*/bin/python3.6")))
    found.append(shutil.which("python3.6"))  # may be a pyenv shim that names no installed 3.6
    for exe in filter(None, found):
        check = [exe, "-c", "import sys; sys.exit(sys.version_info[:2] != (3, 6))"]
        if subprocess.run(check, capture_output=True, timeout=30).returncode == 0:
            return exe
    return None


# ---- the Python 3.6 floor ------------------------------------------------------------------

@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_file_parses_with_python36_grammar(path):
    tree = ast.parse(path.read_text(), str(path), feature_version=(3, 6))  # SyntaxError for newer syntax
    # what the agent calls there (the agent's entry point, a model file's factory) is in the parsed tree
    defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    assert defined & {"main", "C3D", "ConvAutoencoder", "DenseNet3D", "tiny_cnn"}, sorted(defined)


def test_agent_parses_with_python36_grammar():
    tree = ast.parse(AGENT.read_text(), str(AGENT), feature_version=(3, 6))
    assert {"probe", "serve_stdio", "main"} <= {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}


def test_python36_grammar_check_catches_newer_syntax():
    with pytest.raises(SyntaxError):
        ast.parse("if (n := 1):\n    pass\n", feature_version=(3, 6))


def test_shipped_files_compile_under_a_real_python36(tmp_path):
    exe = python36()
    if exe is None:
        pytest.skip("no Python 3.6 here (set EDGEBENCH_TEST_PYTHON36 to one)")
    code = "import py_compile, sys\nfor p in sys.argv[1:]: py_compile.compile(p, cfile=p + 'c', doraise=True)\n"
    copies = []
    for path in SHIPPED:  # compiled as copies: no .pyc next to the sources
        copies.append(tmp_path / path.name)
        shutil.copy(path, copies[-1])
    proc = subprocess.run([exe, "-c", code, *map(str, copies)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def _vermin():
    pytest.importorskip("vermin", reason="vermin checks the agent's version floor: pip install -e '.[test]'")
    exe = Path(sys.executable).with_name("vermin")
    return str(exe) if exe.exists() else shutil.which("vermin")


def _vermin_violations(path):
    # "3.6-": the file must need Python 3.6 or older; --violations lists only what breaks that;
    # --eval-annotations: 3.6 evaluates annotations at definition time, so `tuple[int]` breaks it
    return subprocess.run([_vermin(), "--target=3.6-", "--violations", "--eval-annotations", "--no-tips", "-q",
                           str(path)], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_vermin_finds_no_feature_newer_than_python36(path):
    proc = _vermin_violations(path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_vermin_check_catches_a_37_api(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import subprocess\nsubprocess.run(['true'], capture_output=True)\n")
    proc = _vermin_violations(bad)
    assert proc.returncode != 0 and "capture_output" in proc.stdout


def test_vermin_check_catches_a_39_annotation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f(pool: tuple[int, int]):\n    return pool\n")
    proc = _vermin_violations(bad)
    assert proc.returncode != 0 and "tuple" in proc.stdout


# ---- standard library only at import time -----------------------------------------------------

#: what an engine imports when it opens (present on the device where that engine is used)
ENGINE_LIBRARIES = {"numpy", "onnxruntime", "torch", "torchvision"}


def _imported(nodes):
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "the agent runs as a lone file: no relative imports"
            names.add(node.module.split(".")[0])
    return names


def _run_at_import(tree):
    """Every node that runs when the module is imported: all but function bodies."""
    stack = list(ast.iter_child_nodes(tree))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            stack.extend(ast.iter_child_nodes(node))


def test_agent_imports_only_the_standard_library_at_import_time():
    tree = ast.parse(AGENT.read_text())
    at_import, anywhere = _imported(_run_at_import(tree)), _imported(ast.walk(tree))
    assert at_import and anywhere > at_import, "the walk is broken"
    assert sorted(n for n in at_import if n not in sys.stdlib_module_names) == []
    assert sorted(anywhere - set(sys.stdlib_module_names) - ENGINE_LIBRARIES) == []
    assert "edgebench" not in anywhere


# ---- a real probe here -----------------------------------------------------------------------

def test_probe_runs_as_a_script_and_prints_one_json_object():
    proc = subprocess.run([sys.executable, str(AGENT), "probe"], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["python_version"] == ".".join(map(str, sys.version_info[:3]))
    assert out["cpu_count"] >= 1 and out["memory_total_kib"] > 0 and out["machine"]
    if not Path("/etc/nv_tegra_release").exists():
        for field in JETSON_FIELDS:
            if out[field] is None:
                assert out["reasons"][field], field
        assert out["l4t"] is None and "nv_tegra_release" in out["reasons"]["l4t"]
        assert out["power_mode"] is None and "nvpmodel" in out["reasons"]["power_mode"]
    if shutil.which("tegrastats") is None:
        assert out["tegrastats"] is None and out["reasons"]["tegrastats"] == "tegrastats not on PATH"
    # torch is asked for in a child interpreter; this machine has it
    import importlib.util
    if importlib.util.find_spec("torch") is not None:
        import torch
        assert out["torch_version"] == torch.__version__


def test_unknown_command_exits_2():
    proc = subprocess.run([sys.executable, str(AGENT), "bench"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stdout == ""


# ---- parsers on real-format device files -----------------------------------------------------

def test_parse_nv_tegra_release_nano_jetpack46():
    text = (FIX / "nv_tegra_release_nano_r32_6_1.txt").read_text()
    assert agent.parse_nv_tegra_release(text) == {"l4t": "32.6.1", "board": "t210ref"}


def test_parse_nv_tegra_release_revision_without_minor():
    text = (FIX / "nv_tegra_release_r32_5_no_minor.txt").read_text()
    assert agent.parse_nv_tegra_release(text) == {"l4t": "32.5.0", "board": "t186ref"}


def test_parse_nv_tegra_release_rejects_other_text():
    assert agent.parse_nv_tegra_release("jetson-custom-build\n") is None
    assert agent.parse_nv_tegra_release("") is None


@pytest.mark.parametrize("name, expected", [("nvpmodel_q_nano_maxn.txt", {"name": "MAXN", "id": 0}),
                                            ("nvpmodel_q_nano_5w.txt", {"name": "5W", "id": 1})])
def test_parse_nvpmodel(name, expected):
    assert agent.parse_nvpmodel((FIX / name).read_text()) == expected


def test_parse_nvpmodel_without_id_line_or_mode():
    assert agent.parse_nvpmodel("NV Power Mode: MAXN\n") == {"name": "MAXN", "id": None}
    assert agent.parse_nvpmodel("NVPM ERROR: failed to read PARAM\n") is None


def test_parse_meminfo_and_cpuinfo():
    assert agent.parse_meminfo("MemTotal:        4059272 kB\nMemFree: 1 kB\n") == 4059272
    assert agent.parse_meminfo("MemFree: 1 kB\n") is None
    assert agent.parse_cpuinfo("processor\t: 0\nmodel name\t: ARMv8 Processor rev 1 (v8l)\n") == \
        "ARMv8 Processor rev 1 (v8l)"
    assert agent.parse_cpuinfo("processor\t: 0\nBogoMIPS\t: 38.40\n") is None


# ---- the probe with a Jetson's files and commands ----------------------------------------------

def _jetson_root(tmp_path):
    (tmp_path / "etc").mkdir()
    shutil.copy(FIX / "nv_tegra_release_nano_r32_6_1.txt", tmp_path / "etc" / "nv_tegra_release")
    (tmp_path / "proc" / "device-tree").mkdir(parents=True)
    # the device-tree model is NUL-terminated
    (tmp_path / "proc" / "device-tree" / "model").write_bytes(b"NVIDIA Jetson Nano Developer Kit\x00")
    (tmp_path / "proc" / "meminfo").write_text("MemTotal:        4059272 kB\n")
    (tmp_path / "proc" / "cpuinfo").write_text("processor\t: 0\nmodel name\t: ARMv8 Processor rev 1 (v8l)\n")
    trtexec = tmp_path / "usr" / "src" / "tensorrt" / "bin" / "trtexec"
    trtexec.parent.mkdir(parents=True)
    trtexec.write_text("")
    return tmp_path


def _runner(outputs, calls):
    def run(argv):
        calls.append(list(argv))
        key = argv[0] if argv[0] != "dpkg-query" else "dpkg-query " + argv[-1]
        if key not in outputs:
            return None, "", "%s: No such file or directory" % argv[0]
        return outputs[key]
    return run


def test_probe_reads_a_jetson_nano(tmp_path):
    calls = []
    outputs = {"nvpmodel": (0, (FIX / "nvpmodel_q_nano_maxn.txt").read_text(), ""),
               "jetson_clocks": (0, "SOC family:tegra210  Machine:NVIDIA Jetson Nano Developer Kit\n", ""),
               "dpkg-query libnvinfer8": (0, "8.2.1-1+cuda10.2", "")}
    tools = {"nvpmodel", "jetson_clocks", "dpkg-query", "tegrastats"}
    out = agent.probe(root=str(_jetson_root(tmp_path)), run=_runner(outputs, calls),
                      which=lambda n: "/usr/bin/" + n if n in tools else None,
                      find_spec=lambda n: None, python="python3")
    assert out["l4t"] == "32.6.1" and out["l4t_board"] == "t210ref" and out["jetpack"] == "4.6"
    assert out["power_mode"] == {"name": "MAXN", "id": 0}
    assert out["jetson_clocks_show"] is True
    assert out["gpu"] == "integrated GPU of NVIDIA Jetson Nano Developer Kit"
    assert out["gpu_source"] == "device-tree model"
    assert out["tensorrt_version"] == "8.2.1-1+cuda10.2" and out["tensorrt_source"] == "dpkg libnvinfer8"
    assert out["trtexec"] == "/usr/src/tensorrt/bin/trtexec"
    assert out["tegrastats"] == "/usr/bin/tegrastats"
    assert out["memory_total_kib"] == 4059272 and out["cpu_model"] == "ARMv8 Processor rev 1 (v8l)"
    assert out["torch_version"] is None and "torch" in out["reasons"]["torch_version"]
    assert set(out["reasons"]) == {"torch_version", "onnxruntime_version"}
    assert ["nvpmodel", "-q"] in calls and ["jetson_clocks", "--show"] in calls
    json.dumps(out)


def test_probe_survives_failing_commands_and_runner_errors(tmp_path):
    def run(argv):
        if argv[0] == "nvpmodel":
            return None, "", "nvpmodel timed out after 20 s"
        raise RuntimeError("runner broke")
    out = agent.probe(root=str(tmp_path), run=run, which=lambda n: "/usr/bin/" + n,
                      find_spec=lambda n: object(), python="python3")
    assert out["power_mode"] is None and "timed out" in out["reasons"]["power_mode"]
    assert out["jetson_clocks_show"] is False and "runner broke" in out["reasons"]["jetson_clocks_show"]
    assert out["torch_version"] is None and "runner broke" in out["reasons"]["torch_version"]
    assert out["l4t"] is None and out["jetpack"] is None and out["reasons"]["jetpack"] == "no L4T release"
    assert out["cpu_model"] is None and "cpuinfo" in out["reasons"]["cpu_model"]


def test_unknown_l4t_gets_no_jetpack_guess(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "nv_tegra_release").write_text("# R36 (release), REVISION: 9.9, GCID: 1, BOARD: generic\n")
    out = agent.probe(root=str(tmp_path), run=lambda argv: (None, "", "absent"), which=lambda n: None,
                      find_spec=lambda n: None)
    assert out["l4t"] == "36.9.9" and out["jetpack"] is None
    assert "36.9.9" in out["reasons"]["jetpack"]


def test_run_command_never_raises():
    rc, out, reason = agent.run_command(["edgebench-no-such-command-xyz"])
    assert rc is None and "edgebench-no-such-command-xyz" in reason
    rc, out, reason = agent.run_command([sys.executable, "-c", "import time; time.sleep(5)"], timeout=0.5)
    assert rc is None and "timed out" in reason
    rc, out, reason = agent.run_command([sys.executable, "-c", "import sys; print('x'); sys.exit(3)"])
    assert rc == 3 and out == "x\n" and "exited 3" in reason


def test_torch_on_cuda_runs_ieee_fp32_as_the_host_backend_does():
    """The device's eager FP32 is compared with the host's PyTorch FP32: TF32 stays off (on an
    H200, TF32 convolutions put ResNet-50's logits 2e-2 away from the CPU's)."""
    import torch

    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    try:
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
        agent.ieee_fp32(torch)
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
