"""Backend options are typed: one frozen dataclass per backend, unknown keys and values of the
wrong type refused with the valid ones named, all without the backends' libraries."""
import dataclasses
from typing import Literal, get_args

import pytest

from edgebench.backends import BACKENDS, BackendContext, create_backend
from edgebench.backends.options import BackendOptions, build_options
from edgebench.backends.registry import _import_class, check_options, entry
from edgebench.errors import InvalidConfigError


# ids that are not marker names: a test id "tensorrt" would be skipped as a tensorrt-marked test,
# and these need no library
_ID = "backend={}".format


def _cls(name):
    return _import_class(entry(name))  # the class itself, whether or not its library is installed


@dataclasses.dataclass(frozen=True)
class _Options(BackendOptions):
    flag: bool = False
    count: int | None = dataclasses.field(default=None, metadata={"min": 1})
    name: str | None = None
    mode: Literal["fast", "slow"] = "fast"
    level: Literal["low", "high"] | bool | None = None


def test_values_are_coerced_to_their_field_types():
    opts = build_options("demo", _Options, {"flag": 1, "count": 3, "name": "x", "mode": "slow", "level": 0})
    assert opts == _Options(flag=True, count=3, name="x", mode="slow", level=False)
    assert build_options("demo", _Options, {"level": "high", "count": None}).level == "high"
    assert build_options("demo", _Options) == _Options()
    given = _Options(count=2)
    assert build_options("demo", _Options, given) is given


@pytest.mark.parametrize("key, value, message", [
    ("flag", "maybe", "demo option flag must be a boolean (1/0, true/false), not 'maybe'; e.g. demo:flag=1"),
    ("flag", 2, "flag must be a boolean"),
    ("count", 0, "demo option count must be an integer >= 1, not 0; e.g. demo:count=1"),
    ("count", True, "count must be an integer >= 1, not True"),
    ("count", "2", "count must be an integer >= 1, not '2'"),
    ("count", 1.5, "count must be an integer >= 1, not 1.5"),
    ("name", 3, "name must be text, not 3"),
    ("mode", "medium", "demo option mode must be one of mode=fast, mode=slow, not 'medium'"),
    ("mode", None, "mode must be one of mode=fast, mode=slow, not None"),
    ("level", "mid", "level must be one of level=low, level=high or a boolean (1/0, true/false), not 'mid'"),
])
def test_a_value_of_the_wrong_type_is_a_one_line_error_naming_what_is_allowed(key, value, message):
    with pytest.raises(InvalidConfigError) as err:
        build_options("demo", _Options, {key: value})
    assert message in str(err.value) and "\n" not in str(err.value)


def test_unknown_keys_are_named_with_the_valid_ones():
    with pytest.raises(InvalidConfigError, match=r"demo has no option 'bogus', 'zz'; its options: flag, count, name, mode, level"):
        build_options("demo", _Options, {"zz": 1, "bogus": 1, "flag": 1})
    with pytest.raises(InvalidConfigError, match="its options: none"):
        build_options("bare", BackendOptions, {"x": 1})


def test_another_backends_options_object_is_refused():
    from edgebench.backends.onnxruntime_backend import OnnxRuntimeOptions

    with pytest.raises(InvalidConfigError, match="backend pytorch takes PyTorchOptions, not OnnxRuntimeOptions"):
        create_backend("pytorch", options=OnnxRuntimeOptions(threads=1))


@pytest.mark.parametrize("name", sorted(BACKENDS), ids=_ID)
def test_every_backend_declares_its_options_as_a_frozen_dataclass_with_defaults(name):
    cls = _cls(name)
    assert issubclass(cls.options_class, BackendOptions) and cls.options_class is not BackendOptions
    params = cls.options_class.__dataclass_params__
    assert params.frozen
    defaults = cls.options_class()  # every field has the backend's default
    assert check_options(name, {}) == defaults
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(defaults, dataclasses.fields(defaults)[0].name, None)


@pytest.mark.parametrize("spec, message", [
    ("onnxruntime:threads=x", "onnxruntime option threads must be an integer >= 0, not 'x'"),
    ("onnxruntime:provider=gpu", "onnxruntime option provider must be one of provider=cpu, provider=cuda, provider=tensorrt"),
    ("pytorch:cuda_graphs=maybe", "pytorch option cuda_graphs must be a boolean"),
    ("torch-compile:mode=max-autotune", "mode must be one of mode=default, mode=reduce-overhead, not 'max-autotune'"),
    ("tensorrt:workspace_bytes=big", "tensorrt option workspace_bytes must be an integer >= 1, not 'big'"),  # no tensorrt needed
    ("aot-inductor:max_batch=0", "aot-inductor option max_batch must be an integer >= 1, not 0"),
])
def test_backend_specs_with_bad_values_fail_before_anything_runs(spec, message):
    from edgebench.config import parse_backend_spec

    with pytest.raises(InvalidConfigError, match=message):
        parse_backend_spec(spec)


def test_a_bad_option_value_exits_2_with_one_line(capsys):
    from edgebench.cli.main import main

    assert main(["run", "--models", "test_cnn", "--backends", "pytorch,onnxruntime:threads=many"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "onnxruntime option threads must be an integer" in err[0]


def test_backends_read_typed_options_and_the_context_apart():
    bk = create_backend("pytorch", options={"threads": 2, "tf32": 1})
    assert bk.options.threads == 2 and bk.options.tf32 is True
    assert bk.context == BackendContext()
    ctx = BackendContext([3, 8, 8], {"model": "m"})
    assert ctx.item_shape == (3, 8, 8)
    assert create_backend("pytorch", context=ctx).context is ctx


def test_onnxruntime_provider_choices_are_its_providers():
    import typing

    from edgebench.backends.onnxruntime_backend import PROVIDERS, OnnxRuntimeOptions

    provider = typing.get_type_hints(OnnxRuntimeOptions)["provider"]
    (literal,) = (a for a in get_args(provider) if a is not type(None))
    assert get_args(literal) == tuple(PROVIDERS)
