"""Configuration: backend specs parsed in one place, `--precision auto` expanded, and the model
options and the suite's configuration validated when they are made."""
from dataclasses import FrozenInstanceError, replace

import pytest

from edgebench.config import (
    ModelOptions,
    SuiteConfig,
    baseline_is_reference,
    check_batch_size,
    expand_auto,
    parse_backend_spec,
    resolve_device,
)
from edgebench.errors import InvalidConfigError, UnknownBackendError


def test_backend_spec_parsing():
    assert parse_backend_spec("onnxruntime") == ("onnxruntime", "fp32", {})
    assert parse_backend_spec("torch-compile@fp16:mode=default") == ("torch-compile", "fp16", {"mode": "default"})
    assert parse_backend_spec("pytorch:cuda_graphs=1+host_io=on", "bf16") == (
        "pytorch", "bf16", {"cuda_graphs": 1, "host_io": True})
    with pytest.raises(InvalidConfigError, match="pytorch has no option 'x'"):
        parse_backend_spec("pytorch:x=on")
    with pytest.raises(InvalidConfigError, match="int7"):
        parse_backend_spec("pytorch@int7")
    with pytest.raises(InvalidConfigError, match="key=value"):
        parse_backend_spec("pytorch:oops")
    with pytest.raises(UnknownBackendError):
        parse_backend_spec("nope@fp16")


def test_expand_auto_precisions():
    got = expand_auto(["pytorch", "onnxruntime", "openvino:threads=1", "onnxruntime@fp16"], "cpu")
    assert got == ["pytorch", "onnxruntime@fp32", "onnxruntime@int8", "openvino@fp32:threads=1",
                   "openvino@int8:threads=1", "openvino@bf16:threads=1", "onnxruntime@fp16"]


def test_model_options_are_frozen_and_validated():
    opts = ModelOptions(num_classes=3)
    with pytest.raises(FrozenInstanceError):
        opts.num_classes = 4
    assert replace(opts, seed=1).num_classes == 3
    with pytest.raises(InvalidConfigError, match="--check-size must be an integer >= 1"):
        ModelOptions(check_size=0)
    with pytest.raises(InvalidConfigError, match="--calibration-size"):
        replace(opts, calibration_size=-1)


def test_suite_config_is_frozen_and_checked_when_made_and_when_resolved():
    for bad, match in ((dict(batch_size=0), "batch size"), (dict(models=[]), "no models"),
                       (dict(device="tpu"), "device must be cpu, cuda or auto"), (dict(precision="int7"), "int7")):
        with pytest.raises(InvalidConfigError, match=match):
            SuiteConfig(**bad)
    cfg = SuiteConfig(models=["test_cnn"], backends=["pytorch", "onnxruntime"], device="cpu")
    with pytest.raises(FrozenInstanceError):
        cfg.batch_size = 2
    with pytest.raises(InvalidConfigError, match="batch size"):
        replace(cfg, batch_size=0)
    with pytest.raises(InvalidConfigError, match="listed twice"):
        SuiteConfig(models=["test_cnn"], backends=["pytorch", "pytorch"], device="cpu").resolved()
    got = SuiteConfig(models=["test_cnn"], backends=["pytorch", "onnxruntime"], device="cpu").resolved()
    assert got.backends == ["pytorch", "onnxruntime"] and str(got.db).endswith("edgebench.sqlite")


def test_check_batch_size_and_device():
    check_batch_size(1)
    for bad in (0, -1, 1.5, "2"):
        with pytest.raises(InvalidConfigError, match="--batch-size 1 or more"):
            check_batch_size(bad)
    assert resolve_device("cpu") == "cpu" and resolve_device("auto") in ("cpu", "cuda")


def test_baseline_is_reference_only_for_plain_fp32_pytorch():
    def base(spec):
        return baseline_is_reference(SuiteConfig(models=["test_cnn"], backends=[spec, "onnxruntime"], device="cpu"))

    assert base("pytorch") and base("pytorch:threads=1")
    assert not base("pytorch@bf16") and not base("onnxruntime")
