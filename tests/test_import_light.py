"""`import edgebench`, `edgebench --help` and `edgebench backends` need no TensorRT, OpenVINO
or GPU, and import none of the heavy optional libraries (Polygraphy's
test_no_extra_submodule_dependencies_required)."""
import subprocess
import sys

PROBE = r"""
import sys
import edgebench
assert 'torch' not in sys.modules, 'import edgebench pulled in torch'
from edgebench.cli.main import main
try:
    main(['--help'])
except SystemExit as e:
    assert e.code == 0
rc = main(['backends'])
assert rc == 0
heavy = [m for m in ('tensorrt', 'openvino', 'onnxruntime', 'ray', 'mlperf_loadgen') if m in sys.modules]
assert not heavy, heavy
print('LIGHT-OK')
"""


def _fresh(probe: str, marker: str) -> str:
    """Run `probe` in a fresh interpreter; its stdout, once it printed `marker`."""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert marker in out.stdout
    return out.stdout


def test_import_and_help_and_backends_are_light():
    assert "tensorrt" in _fresh(PROBE, "LIGHT-OK")  # the backends table names it, available or not


MODELS_PROBE = r"""
import sys
from edgebench.cli.main import main
assert main(['models']) == 0
assert main(['models', '--include-test', '--imagenet-heads']) == 0
assert main(['models', 'res*', '--num-classes', '7']) == 0
heavy = [m for m in ('torch', 'torchvision', 'ray') if m in sys.modules]
assert not heavy, heavy
print('MODELS-LIGHT-OK')
"""


def test_models_listing_builds_nothing_and_imports_no_torch():
    """`edgebench models` reads the built-ins' declared sizes: instant, no torch."""
    listed = _fresh(MODELS_PROBE, "MODELS-LIGHT-OK")
    assert "resnext50_32x4d" in listed and "test_cnn3d" in listed


def test_lazy_public_api():
    import edgebench

    assert callable(edgebench.benchmark)
    assert callable(edgebench.run_suite)
    import pytest

    with pytest.raises(AttributeError):
        edgebench.no_such_thing


RUN_PROBE = r"""
import sys
from edgebench.cli.main import main
assert main(['run', '--models', 'test_mlp', '--backends', 'pytorch', '--no-isolate', '--repetitions', '1',
             '--warmup-iters', '1', '--warmup-s', '0', '--min-iters', '2', '--min-time-s', '0', '--ci', 'off', '--pool-size', '2',
             '--out', sys.argv[1]]) == 0
assert 'ray' not in sys.modules, 'a local run imported ray'
print('RUN-NO-RAY-OK')
"""


def test_a_local_run_never_imports_ray(tmp_path):
    """The local run stays the default and needs no Ray: only --cluster and `fleet` import it."""
    out = subprocess.run([sys.executable, "-c", RUN_PROBE, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "RUN-NO-RAY-OK" in out.stdout


def test_cluster_commands_without_ray_say_how_to_install(tmp_path):
    """With ray not importable, `fleet` and `run --cluster` print one line with the install
    command and exit 3."""
    probe = ("import sys; sys.modules['ray'] = None\n"
             "import importlib.util as u; real = u.find_spec\n"
             "u.find_spec = lambda name, *a: None if name == 'ray' else real(name, *a)\n"
             "from edgebench.cli.main import main\n"
             "sys.exit(main(sys.argv[1:]))\n")
    for argv in (["fleet"], ["run", "--cluster", "auto", "--models", "test_mlp", "--out", str(tmp_path)]):
        out = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, timeout=120)
        assert out.returncode == 3, out.stderr
        assert out.stderr.strip().count("\n") == 0 and "pip install 'edgebench[cluster]'" in out.stderr
