"""torch-compile's INT8 and FP8 layers (backends/torch_compile/low_precision.py), computed for real
on the CPU (torch._int_mm and torch._scaled_mm run there too): the quantised layers match the float
ones within their precision, BatchNorm folds first, and every layer that stays in floating point
says why."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from edgebench.backends.torch_compile import low_precision as lp


def _net():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),  # stem: reduction 27, stays
        nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.Conv2d(64, 64, 3, padding=1, groups=64), nn.ReLU(),  # depthwise, stays
        nn.Conv2d(64, 32, 1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 16)).eval()


def _batches(n=4, size=16):
    g = torch.Generator().manual_seed(1)
    return [(torch.randn(4, 3, size, size, generator=g),) for _ in range(n)]


@pytest.mark.parametrize("kind", lp.KINDS)
@torch.no_grad()
def test_quantised_layers_match_the_float_layers_within_their_precision(kind):
    torch.manual_seed(0)
    conv = nn.Conv2d(32, 48, 3, stride=2, padding=1).eval()
    x = torch.randn(2, 32, 12, 12).contiguous(memory_format=torch.channels_last)
    ref = conv(x)
    low = lp.LowPrecisionConv(conv, float(x.abs().max()) / lp.QMAX[kind], kind, out_dtype=torch.float32)
    got = low(x)
    assert got.shape == ref.shape and got.is_contiguous(memory_format=torch.channels_last)
    rel = float((got - ref).norm() / ref.norm())
    assert rel < (0.02 if kind == "int8" else 0.06), rel
    assert low.weight.dtype == lp.storage_dtype(kind) and low.weight_scale.shape == (48,)

    lin = nn.Linear(64, 32).eval()
    v = torch.randn(24, 64)
    out = lp.LowPrecisionLinear(lin, float(v.abs().max()) / lp.QMAX[kind], kind, torch.float32)(v)
    assert float((out - lin(v)).norm() / lin(v).norm()) < 0.06
    one = lp.LowPrecisionConv(nn.Conv2d(32, 16, 1), 0.05, kind, torch.float32)  # 1x1: a reshape, no gather
    assert one(x).shape == (2, 16, 12, 12)


@torch.no_grad()
def test_int8_products_are_exact_integer_arithmetic():
    """The INT8 product is int32 accumulation of the quantised values: on integers already on the
    grid (scale 1), the layer computes the convolution exactly."""
    conv = nn.Conv2d(16, 8, 3, padding=1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.randint(-3, 4, conv.weight.shape).float())
        conv.weight[:, 0, 0, 0] = 127.0  # every channel's max |w| is 127: its weight scale is 1
    x = torch.randint(-5, 6, (1, 16, 6, 6)).float()
    got = lp.LowPrecisionConv(conv, 1.0, "int8", torch.float32)(x)
    assert torch.equal(got, conv(x))


@torch.no_grad()
def test_batchnorm_folds_and_each_layer_that_stays_says_why():
    net = _net()
    ref = net(_batches()[0][0])
    folded, count, why = lp.fold_batchnorm(net)
    assert count == 2 and why == ""
    assert torch.allclose(folded(_batches()[0][0]), ref, atol=1e-5)
    rows = lp.quantize(folded, _batches(), "int8", rows=4, out_dtype=torch.float32)
    by = {r["layer"]: r for r in rows}
    assert [r["choice"] for r in rows] == ["fp16", "int8", "fp16", "int8", "fp16"]
    assert "reduction 27" in by["0"]["reason"] and "grouped convolution (groups 64)" in by["6"]["reason"]
    assert "needs more than 16" in rows[-1]["reason"]  # the head at batch 4
    assert isinstance(folded.get_submodule("3"), lp.LowPrecisionConv)
    x = _batches(1)[0][0]
    assert float((folded(x) - ref).norm() / ref.norm()) < 0.05  # the whole model, INT8 where it could be


def test_a_model_that_does_not_trace_keeps_its_batchnorm_and_says_so():
    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn = nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8)

        def forward(self, x):
            if x.sum() > 0:  # data-dependent control flow: torch.fx cannot trace it
                return self.bn(self.conv(x))
            return self.conv(x)

    module, count, why = lp.fold_batchnorm(Branchy().eval())
    assert count == 0 and "does not trace" in why and isinstance(module, Branchy)


def test_shapes_the_products_refuse_stay_in_floating_point():
    assert lp.why_not(nn.Conv2d(64, 56, 1), "int8") == ""
    assert "output width 56 not a multiple of 16" in lp.why_not(nn.Conv2d(64, 56, 1), "fp8")
    assert "not a multiple of 8" in lp.why_not(nn.Conv2d(64, 60, 1), "int8")
    # the fused kernel masks any width: only the torch products need the alignment
    assert lp.why_not(nn.Conv2d(40, 24, 1), "fp8", aligned=False) == lp.why_not(nn.Conv2d(3, 60, 7), "int8", aligned=False) == ""
    assert "too short" in lp.why_not(nn.Conv2d(3, 64, 3), "int8", aligned=False)
    assert "dilated" in lp.why_not(nn.Conv2d(64, 64, 3, dilation=2), "int8")
    assert "not a convolution" in lp.why_not(nn.Conv1d(64, 64, 3), "int8")
    with pytest.raises(ValueError, match="one of int8, fp8"):
        lp.LowPrecisionLinear(nn.Linear(64, 64), 1.0, "int4")


#: a model with layers the products serve (64-channel convolutions) and a stem they do not
CONV_MODEL = '''
import torch
from torch import nn
INPUT_SHAPE = (3, 16, 16)
def make(num_classes=4):
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
                         nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes))
'''


def test_torch_compile_int8_calibrates_on_task_inputs_and_is_gated(tmp_path):
    """`torch-compile@int8` end to end (on the CPU, where the same INT8 products run): the cell gets
    the task's calibration inputs, folds BatchNorm, quantises what it can, and the accuracy gate
    judges it; FP8 on a CPU is a skipped row that says why."""
    from edgebench.results import Status
    from tests.conftest import small_suite

    path = tmp_path / "convs.py"
    path.write_text(CONV_MODEL)
    base, int8, fp8 = small_suite(tmp_path, [f"{path}:make"], ["pytorch", "torch-compile@int8", "torch-compile@fp8"],
                                  check_size=16, calibration_size=8)
    assert int8.status in (Status.OK, Status.ACCURACY_FAILED), int8.error
    assert int8.accuracy.gate in ("passed", "failed") and int8.accuracy.cosine_similarity > 0.99
    low = int8.details["low_precision"]
    assert low["kind"] == "int8" and low["quantised"] == 1 and low["kept_fp16"] == 2
    assert low["calibration"].startswith("8 scikit-image sample photos") and int8.details["batchnorm_folded"] == 2
    assert fp8.status == Status.SKIPPED and "no FP8" in fp8.error


@torch.no_grad()
def test_timed_layers_keep_the_low_precision_form_only_where_it_is_faster():
    """With an example batch, each convolution is timed in both forms (wall-clock on the CPU, a
    CUDA graph on a GPU) and keeps INT8 only where its gather and product beat the float layer."""
    net, _, _ = lp.fold_batchnorm(_net())
    rows = lp.quantize(net, _batches(), "int8", rows=4, out_dtype=torch.float32, example=_batches(1)[0])
    timed = [r for r in rows if "low_us" in r]
    assert [r["layer"] for r in timed] == ["3", "8"]  # the two convolutions the product serves
    for r in timed:
        faster = r["low_us"] <= r["float_us"] * (1 - lp.MIN_GAIN)
        assert (r["choice"] == "int8") == faster, r
        assert faster or r["reason"].startswith("not faster here: int8 gather + product")
        assert isinstance(net.get_submodule(r["layer"]), lp.LowPrecisionConv) == faster


def test_layers_timed_at_an_earlier_build_are_chosen_again_without_timing(monkeypatch):
    """`known` (the backend's cached plan): each layer's stored timings decide, nothing is timed."""
    def no_timing(*args):
        raise AssertionError("a layer with known timings was timed again")

    monkeypatch.setattr(lp, "_timings_us", no_timing)
    net, _, _ = lp.fold_batchnorm(_net())
    rows = lp.quantize(net, _batches(), "int8", rows=4, out_dtype=torch.float32, example=_batches(1)[0],
                       known={"3": [10.0, 5.0], "8": [10.0, 9.5]})
    by = {r["layer"]: r for r in rows}
    assert by["3"]["choice"] == "int8" and (by["3"]["float_us"], by["3"]["low_us"]) == (10.0, 5.0)
    assert by["8"]["choice"] == "fp16" and by["8"]["reason"].startswith("not faster here")
    assert isinstance(net.get_submodule("3"), lp.LowPrecisionConv) and isinstance(net.get_submodule("8"), nn.Conv2d)


def test_a_model_with_no_layer_in_low_precision_is_a_skipped_row_not_an_fp16_model_named_int8(tmp_path):
    """Where every layer stays FP16 (here: too small for the products), the int8 cell would time the
    FP16 model under INT8's name, and `--precision auto` could pick it: it is skipped, saying why."""
    from edgebench.results import Status
    from tests.conftest import small_suite

    path = tmp_path / "small.py"
    path.write_text("from torch import nn\nINPUT_SHAPE = (3, 8, 8)\ndef make(num_classes=2):\n"
                    "    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(288, num_classes))\n")
    (rec,) = small_suite(tmp_path, [f"{path}:make"], ["torch-compile@int8"], check_size=8, calibration_size=8)
    assert rec.status == Status.SKIPPED and "none of the model's 2 convolution and linear layers runs in int8" in rec.error
    assert "use --precision fp16" in rec.error


def test_layers_with_a_forward_of_their_own_stay_and_an_unfoldable_model_is_returned_as_given():
    """A Conv2d subclass that pads in its own forward computes more than its attributes say: taken
    alone it is not quantised. A model whose BatchNorms cannot be folded comes back as the module
    it was, not as a traced copy."""
    class SamePad(nn.Conv2d):
        def forward(self, x):
            return super().forward(nn.functional.pad(x, [1, 1, 1, 1]))

    assert "forward of its own" in lp.why_not(SamePad(32, 32, 3), "int8")
    net = nn.Sequential(SamePad(32, 32, 3), nn.ReLU()).eval()  # no BatchNorm to fold
    module, count, why = lp.fold_batchnorm(net)
    assert module is net and count == 0


class _StaticSamePadding(nn.Conv2d):
    """EfficientNet ports' convolution: a ZeroPad2d child, then F.conv2d on the layer's weights."""

    def __init__(self, cin, cout, k, stride=1, groups=1):
        super().__init__(cin, cout, k, stride, groups=groups, bias=False)
        pad = max(k - stride, 0)
        self.static_padding = nn.ZeroPad2d((pad // 2, pad - pad // 2, pad // 2, pad - pad // 2)) if pad else nn.Identity()

    def forward(self, x):
        x = self.static_padding(x)
        return nn.functional.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


@torch.no_grad()
def test_a_convolution_computed_in_its_own_forward_is_traced_into_a_plain_one_and_folded():
    """In a model that traces, the subclass's padding stays a separate step and its F.conv2d call
    becomes a plain Conv2d holding the same weights: its BatchNorm folds into it and the INT8
    product serves it (EfficientNet-Lite's 1x1 convolutions were all left in FP16 before)."""
    torch.manual_seed(0)
    net = nn.Sequential(_StaticSamePadding(3, 32, 3, 2), nn.BatchNorm2d(32), nn.ReLU6(),
                        _StaticSamePadding(32, 32, 3, groups=32), nn.BatchNorm2d(32), nn.ReLU6(),
                        _StaticSamePadding(32, 64, 1), nn.BatchNorm2d(64),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 8)).eval()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    x = _batches(1)[0][0]
    ref = net(x)
    folded, count, why = lp.fold_batchnorm(net)
    assert (count, why) == (3, "")
    assert type(folded.get_submodule("6.conv")) is nn.Conv2d and folded.get_submodule("6.conv").kernel_size == (1, 1)
    assert torch.allclose(folded(x), ref, atol=1e-5)
    rows = lp.quantize(folded, _batches(), "int8", rows=4, out_dtype=torch.float32)
    by = {r["layer"]: r for r in rows}
    assert by["6.conv"]["choice"] == "int8" and "grouped" in by["3.conv"]["reason"] and "reduction 27" in by["0.conv"]["reason"]
    assert float((folded(x) - ref).norm() / ref.norm()) < 0.05


def test_a_fused_gpu_product_that_fails_here_is_not_used_and_says_why():
    """gpu_path tries the fused product once: where it cannot run (here the Triton kernel on a CPU
    with no GPU driver, as a kernel broken on some GPU would), torch's products are used and the
    reason is kept; a device without Hopper's FP8 scaling asks for no fused path at all."""
    path, why = lp.gpu_path("int8", "cpu", (9, 0))
    assert path == "" and why.startswith("triton-int8 failed here") and why.endswith("torch's products used")
    assert lp.gpu_path("fp8", "cpu", (8, 9)) == ("", "")
