"""Model statistics at the benchmark input: trainable parameters, FLOPs and MACs."""
from __future__ import annotations


def trainable_params(module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def count_flops(module, example) -> int:
    """FLOPs of one forward pass on `example` (torch.utils.flop_counter: 2 per multiply-add,
    convolutions and matrix products only)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from edgebench.models.inputs import call

    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        call(module, example)
    return int(counter.get_total_flops())
