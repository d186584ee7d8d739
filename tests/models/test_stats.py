import torch
from torch import nn

from edgebench.models import build_model, get_spec
from edgebench.models.stats import count_flops, trainable_params


def test_trainable_params_counts_only_trainable():
    m = nn.Linear(10, 4)
    assert trainable_params(m) == 44
    m.bias.requires_grad_(False)
    assert trainable_params(m) == 40


def test_flops_of_a_linear_layer_is_two_per_multiply_add():
    assert count_flops(nn.Linear(10, 4), torch.randn(1, 10)) == 2 * 10 * 4


def test_flops_scale_with_input():
    m = build_model(get_spec("test_cnn")).module
    assert count_flops(m, torch.randn(2, 3, 32, 32)) == 2 * count_flops(m, torch.randn(1, 3, 32, 32))
