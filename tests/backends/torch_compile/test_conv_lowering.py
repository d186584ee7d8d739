"""Convolutions lowered to im2col + matmul: same outputs as the convolution, chosen per layer."""
import numpy as np
import pytest
import torch
from torch import nn

from edgebench.backends.torch_compile.conv_lowering import Im2colConv, eligible, lower_convs


@pytest.mark.parametrize("conv, shape", [
    (nn.Conv2d(3, 8, 11, stride=4, padding=2), (2, 3, 64, 60)),  # AlexNet's first layer, shrunk
    (nn.Conv2d(4, 6, (1, 3), padding=(0, 1), bias=False), (1, 4, 5, 7)),
    (nn.Conv3d(5, 7, 3, padding=1, bias=False), (1, 5, 4, 9, 10)),
    (nn.Conv3d(4, 6, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)), (2, 4, 3, 8, 8)),
])
def test_im2col_form_matches_the_convolution(conv, shape):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref, got = conv(x), Im2colConv(conv)(x)
    assert got.shape == ref.shape
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-5)
    fmt = torch.channels_last if x.dim() == 4 else torch.channels_last_3d
    assert got.is_contiguous(memory_format=fmt)  # the matmul's rows are output positions: NHWC/NDHWC


@pytest.mark.parametrize("conv", [nn.Conv2d(4, 4, 3, groups=2), nn.Conv2d(3, 4, 3, dilation=2),
                                  nn.Conv2d(3, 4, 3, padding="same"), nn.Conv2d(3, 4, 3, padding_mode="reflect"),
                                  nn.ConvTranspose2d(3, 4, 3)])
def test_grouped_dilated_and_other_convolutions_are_left_alone(conv):
    assert not eligible(conv)
    with pytest.raises(ValueError, match="cannot be lowered"):
        Im2colConv(conv)


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv3d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv3d(6, 6, 3, groups=2),
                         nn.Conv3d(6, 4, (1, 3, 3), stride=(1, 2, 2))).eval()


def test_lower_all_replaces_every_eligible_layer_and_keeps_outputs():
    net, x = _net(), torch.randn(1, 3, 4, 12, 12)
    with torch.no_grad():
        ref = net(x)
        decisions = lower_convs(net, x, "all")
        got = net(x)
    assert [d["layer"] for d in decisions] == ["0", "3"] and all(d["lowered"] for d in decisions)
    assert isinstance(net[0], Im2colConv) and isinstance(net[2], nn.Conv3d) and isinstance(net[3], Im2colConv)
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-5)


def test_lower_auto_times_both_forms_and_swaps_only_winners():
    net, x = _net(), torch.randn(1, 3, 4, 12, 12)
    with torch.no_grad():
        ref = net(x)
        decisions = lower_convs(net, x, "auto", iters=5)
        got = net(x)
    assert len(decisions) == 2
    for d in decisions:
        assert d["native_us"] > 0 and d["im2col_us"] > 0
        assert d["lowered"] == (d["im2col_us"] < 0.9 * d["native_us"])
        assert isinstance(net.get_submodule(d["layer"]), Im2colConv) == d["lowered"]
    torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-5)
    assert lower_convs(net, x, "off") == []
    with pytest.raises(ValueError, match="not one of"):
        lower_convs(net, x, "fastest")


def test_torch_compile_with_im2col_matches_pytorch(tiny_loaded):
    import copy

    from edgebench.backends import BackendContext, create_backend
    from edgebench.bench.harness import infer
    from edgebench.errors import InvalidConfigError

    x = np.random.default_rng(3).standard_normal((2, 3, 32, 32), dtype=np.float32)
    context = BackendContext((3, 32, 32), {"model": "test_cnn", "weights_sha256": tiny_loaded.weights_sha256})
    bk = create_backend("torch-compile", device="cpu", options={"im2col": 1}, context=context)
    with bk.prepare(copy.deepcopy(tiny_loaded.module), 2).load():
        assert bk.details["im2col"] == "all" and bk.details["im2col_lowered"] >= 1
        with torch.inference_mode():
            ref = tiny_loaded.module(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(infer(bk, x), ref, rtol=1e-4, atol=1e-5)
    with pytest.raises(InvalidConfigError, match="im2col=auto"):
        create_backend("torch-compile", device="cpu", options={"im2col": "fast"}, context=context).prepare(tiny_loaded.module)


def test_im2col_defaults_to_per_layer_timing_on_cuda_only():
    from edgebench.backends import BackendContext, create_backend

    def mode(device, context=None, **opts):
        bk = create_backend("torch-compile", device=device, options=opts, context=context)
        return bk._im2col_mode()

    shape = BackendContext(item_shape=(3, 32, 32))
    assert mode("cuda", shape) == "auto" and mode("cpu", shape) == "off"
    assert mode("cuda") == "off"  # no input shape to time the layers on
    assert mode("cuda", shape, im2col=0) == "off" and mode("cpu", shape, im2col=True) == "all"


def test_lower_auto_times_the_layers_of_a_model_of_several_inputs():
    """A batch of several inputs is a tuple: each layer is timed on an input made like the layer's
    own weights (device and dtype), not like the batch (a tuple has neither)."""
    class TwoIn(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2d(3, 8, 3), nn.Conv2d(1, 8, 3)

        def forward(self, image, depth):
            return self.a(image) + self.b(depth)

    module = TwoIn().eval()
    rows = lower_convs(module, (torch.randn(1, 3, 10, 10), torch.randn(1, 1, 10, 10)), "auto", iters=3)
    assert [r["layer"] for r in rows] == ["a", "b"] and [r["input_shape"] for r in rows] == [[1, 3, 10, 10], [1, 1, 10, 10]]


class _SamePadding(nn.Conv2d):
    """A convolution subclass with a forward of its own, as EfficientNet ports write TensorFlow's
    "same" padding: it pads, then convolves with padding 0."""

    def forward(self, x):
        return super().forward(nn.functional.pad(x, [1, 1, 1, 1]))


def test_a_convolution_with_its_own_forward_is_left_alone():
    """Its forward does more than its attributes say (here, padding): a lowered form built from the
    attributes would compute another function. On an H100, EfficientNet-Lite0's FP16 torch-compile
    cell failed its gate (cosine 0.963) because such layers were lowered."""
    conv = _SamePadding(8, 8, 3).eval()
    assert not eligible(conv)
    net = nn.Sequential(conv).eval()
    x = torch.randn(1, 8, 6, 6)
    ref = net(x)
    assert lower_convs(net, x, "all") == [] and torch.equal(net(x), ref)


def test_each_layer_form_runs_for_a_warm_up_time_before_it_is_timed():
    """As trtexec warms up before it times (--warmUp, 200 ms by default): a GPU left idle between
    layers runs its first calls at idle clocks, so each form is called for WARM_S before the
    timed calls, not only a fixed three times."""
    import time

    from edgebench.backends.torch_compile.conv_lowering import WARM_S, time_layer_s

    calls = []

    def layer(x):
        calls.append(time.perf_counter())
        time.sleep(0.001)
        return x

    time_layer_s(layer, torch.zeros(1), 5)
    # the warm-up: the calls before the 5 timed ones span at least WARM_S
    assert calls[-6] - calls[0] >= WARM_S * 0.95 and len(calls) >= 5 + int(WARM_S / 0.0015)


def test_a_timed_replay_runs_a_short_layer_many_times_so_the_launch_is_not_timed():
    """Events around one replay of one call time the graph's launch too (on an H100 every layer
    of ResNet-50 at batch 1 timed at 11 to 16 us in both forms, the whole model 0.37 ms): a short
    layer is recorded enough times to fill REPLAY_S, a long one once, never more than the cap."""
    from edgebench.backends.torch_compile.conv_lowering import MAX_CALLS_PER_REPLAY, REPLAY_S, calls_per_replay

    assert calls_per_replay(11e-6) == 19 and calls_per_replay(REPLAY_S / 2) == 2
    assert calls_per_replay(400e-6) == 1 and calls_per_replay(REPLAY_S) == 1
    assert calls_per_replay(0.0) == calls_per_replay(1e-7) == MAX_CALLS_PER_REPLAY


@pytest.mark.needs_cuda
def test_on_a_gpu_a_tiny_layer_times_below_one_replays_launch():
    from edgebench.backends.torch_compile.conv_lowering import _captured, _replay_s, time_layer_s

    x = torch.zeros(16, device="cuda")
    one_replay = _replay_s(_captured(lambda v: v + 1, x, 1), 20)
    assert time_layer_s(lambda v: v + 1, x, 20) < one_replay / 2
