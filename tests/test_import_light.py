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
heavy = [m for m in ('tensorrt', 'openvino', 'onnxruntime') if m in sys.modules]
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
heavy = [m for m in ('torch', 'torchvision') if m in sys.modules]
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
