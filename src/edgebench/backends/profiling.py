"""What a runtime's own per-layer profiler reports, as plain data (RuntimeProfile), and the torch
profiler run that the torch-based backends share. A backend only runs its runtime's profiler and
reads what it reports; when and how often it runs, and the stored shape, are the harness's
(bench.profile)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from edgebench.profilers import TORCH_CPU, TORCH_CUDA


@dataclass(frozen=True)
class LayerTimes:
    """One layer, op or kernel as the profiler reports it: its total time over the profiled
    queries (ms) and, where the profiler reports each query apart, its time in each one."""

    layer: str
    op_type: str | None
    total_ms: float
    per_query_ms: tuple[float, ...] | None = None


def per_query_layers(queries: list[dict]) -> tuple[LayerTimes, ...]:
    """LayerTimes from each query's executed layers ({name: (op type, ms)}), in the order they
    first ran. A layer that ran in some queries only (OpenVINO's CPU plugin skips a reorder now
    and then) took 0 ms in the others, so every layer has a time for every query."""
    types: dict[str, str | None] = {}
    for q in queries:
        for name, (op, _) in q.items():
            types.setdefault(name, op)
    return tuple(LayerTimes(name, op, sum(q[name][1] for q in queries if name in q),
                            tuple(q[name][1] if name in q else 0.0 for q in queries))
                 for name, op in types.items())


@dataclass(frozen=True)
class RuntimeProfile:
    """`queries` inferences under the profiler; `layers` in the order the profiler gave them."""

    source: str
    queries: int
    layers: tuple[LayerTimes, ...]


def torch_profile(call: Callable[[], object], queries: int, device: str, outside: str) -> RuntimeProfile:
    """`call` (a backend's own inference call on a device-resident input) `queries` times under
    torch.profiler. On the CPU: each op's self time (its time less the ops it calls), grouped by
    op and input shapes, so that two convolutions of different shapes stay two rows; each query
    is wrapped in a range named `outside`, whose self time is the time spent in no op (Python
    between ops in eager, kernels Inductor generated inline), so the rows add up to the queries'
    whole time. On CUDA: each kernel's and copy's device time (what the GPU spent), grouped by
    name, kernels replayed from a CUDA graph included; not the device-side spans the profiler
    gives each range (`outside`, torch.compile's regions), which would count their kernels twice."""
    import torch
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile, record_function

    cuda = device == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    if cuda:
        torch.cuda.synchronize()  # nothing of the warm-up is left running into the profile
    with profile(activities=activities, record_shapes=not cuda) as prof:
        for _ in range(queries):
            with record_function(outside):
                call()
            if cuda:
                torch.cuda.synchronize()
    layers = []
    for evt in prof.key_averages(group_by_input_shape=not cuda):
        if cuda:
            if (evt.device_type != DeviceType.CUDA or getattr(evt, "is_user_annotation", False)
                    or evt.self_device_time_total <= 0):
                continue
            total_us = evt.self_device_time_total
        else:
            if evt.self_cpu_time_total <= 0:
                continue
            total_us = evt.self_cpu_time_total
        name = evt.key
        shapes = [s for s in (evt.input_shapes or []) if s]
        layer = f"{name} {shapes}" if shapes else name
        layers.append(LayerTimes(layer, None if name == outside else name, total_us / 1e3))
    return RuntimeProfile(TORCH_CUDA if cuda else TORCH_CPU, queries, tuple(layers))
