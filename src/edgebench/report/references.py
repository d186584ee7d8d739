"""Published reference results and the gap to them. Where a run's device matches a reference's
device class and one of its models, Table 1 and the report show our figure beside the published
one, their ratio, and the setup differences that stand between them (precision, power mode,
batch, timing scope, software). Each reference names its exact setup and its source; a value is
copied from the source as published, never adjusted."""
from __future__ import annotations

from dataclasses import dataclass

#: what a reference's value is: a latency in ms (lower is faster) or a throughput (higher is faster)
P90_MS, MEAN_MS, ITEMS_PER_S = "p90 latency (ms)", "latency (ms)", "items/s"


@dataclass(frozen=True)
class DeviceClass:
    name: str
    #: the run's device text (board, GPU, target, device name; lower case) holds one of these...
    match: tuple[str, ...]
    #: ...and none of these
    exclude: tuple[str, ...] = ()

    def matches(self, text: str) -> bool:
        text = text.lower()
        return any(m in text for m in self.match) and not any(x in text for x in self.exclude)


NANO = DeviceClass("Jetson Nano", ("jetson nano", "jetson-nano", "tegra210"), ("orin",))
XAVIER_NX = DeviceClass("Jetson Xavier NX", ("xavier nx",))
AGX_XAVIER = DeviceClass("Jetson AGX Xavier", ("agx xavier", "jetson xavier", "jetson-xavier"), ("xavier nx", " nx"))
ORIN_NX = DeviceClass("Jetson Orin NX", ("orin nx",))
AGX_ORIN = DeviceClass("Jetson AGX Orin", ("agx orin",))


@dataclass(frozen=True)
class Reference:
    source: str  # who published it, where
    url: str
    device: DeviceClass
    system: str  # the exact system as the source names it
    model: str  # edgebench's model name
    runtime: str  # "optimised" (compared with the post-opt cell) or "pytorch" (with the baseline)
    metric: str
    value: float
    precision: str
    batch: str
    power_mode: str
    timing_scope: str
    software: str
    notes: str = ""


_MLPERF_SCOPE_SS = ("MLPerf LoadGen SingleStream: one query of one image at a time, p90 of query latency over "
                    ">= 600 s, preprocessed images staged in memory")
_MLPERF_SCOPE_OFF = "MLPerf LoadGen Offline: all queries at once, batch chosen by the submitter, samples per second"
_MLPERF_POWER = "not stated (the submission's power-limited variant is filed separately as MaxQ)"
_T2T_SCOPE = ("torch2trt's benchmark: input already on the GPU, host wall-clock per call with a CUDA "
              "synchronize, no copies")


def _mlperf(version: str, system_dir: str, device: DeviceClass, system: str, software: str, ss_ns: int,
            offline: float, notes: str) -> tuple[Reference, Reference]:
    base = f"https://github.com/mlcommons/inference_results_{version}/tree/main/closed/NVIDIA/results/{system_dir}/resnet50"
    src = f"MLPerf Inference {version} closed, NVIDIA"
    return (Reference(src, base + "/SingleStream/performance/run_1/mlperf_log_summary.txt", device, system, "resnet50",
                      "optimised", P90_MS, ss_ns / 1e6, "int8", "1", _MLPERF_POWER, _MLPERF_SCOPE_SS, software),
            Reference(src, base + "/Offline/performance/run_1/mlperf_log_summary.txt", device, system, "resnet50",
                      "optimised", ITEMS_PER_S, offline, "int8", "Offline (submitter's batch)", _MLPERF_POWER,
                      _MLPERF_SCOPE_OFF, software, notes))


_DLA = "GPU and both DLAs used in Offline (the system description's hw_notes)"

#: torch2trt's Jetson tables (NVIDIA-AI-IOT/torch2trt docs/benchmarks/jetson_nano.md and
#: jetson_xavier.md, commit 4e820ae): model -> (PyTorch latency ms, TensorRT latency ms), batch 1,
#: fp16 (torch2trt's fp16_mode), 224x224; the paper's models only
_T2T = {
    NANO: ("jetson_nano.md", "Jetson Nano", {"alexnet": (22.1, 14.7), "squeezenet1_1": (14.0, 4.34),
                                             "resnet50": (81.7, 29.8), "densenet121": (84.5, 24.8)}),
    AGX_XAVIER: ("jetson_xavier.md", "Jetson Xavier (as torch2trt's page names it)",
                 {"alexnet": (4.96, 2.02), "squeezenet1_1": (8.01, 1.02), "resnet50": (17.9, 3.37),
                  "densenet121": (47.5, 13.0), "vgg19": (18.7, 8.61), "mobilenet_v2": (15.4, 1.67),
                  "shufflenet_v2_x1_0": (20.4, 2.43)}),
}


def _torch2trt() -> list[Reference]:
    out = []
    for device, (page, system, models) in _T2T.items():
        url = f"https://github.com/NVIDIA-AI-IOT/torch2trt/blob/master/docs/benchmarks/{page}"
        for model, (torch_ms, trt_ms) in models.items():
            for runtime, value, software in (("pytorch", torch_ms, "PyTorch (version not stated)"),
                                             ("optimised", trt_ms, "TensorRT through torch2trt (version not stated)")):
                out.append(Reference("torch2trt benchmarks (NVIDIA-AI-IOT)", url, device, system, model, runtime, MEAN_MS,
                                     value, "fp16", "1", "not stated", _T2T_SCOPE, software))
    return out


REFERENCES: tuple[Reference, ...] = (
    *_mlperf("v1.1", "AGX_Xavier_TRT", AGX_XAVIER, "NVIDIA Jetson AGX Xavier 32GB (TensorRT)",
             "JetPack 4.6, TensorRT 8.0.1, CUDA 10.2", 1834100, 2039.11, _DLA),
    *_mlperf("v1.1", "Xavier_NX_TRT", XAVIER_NX, "NVIDIA Jetson Xavier NX (TensorRT)",
             "JetPack 4.6, TensorRT 8.0.1, CUDA 10.2", 2437492, 1245.1, _DLA),
    *_mlperf("v3.1", "Orin_TRT", AGX_ORIN, "NVIDIA Jetson AGX Orin Developer Kit 64G (TensorRT)",
             "JetPack 5.1.1, TensorRT 8.5.2, CUDA 11.4", 640258, 6423.63, _DLA),
    *_mlperf("v3.1", "Orin_NX_TRT", ORIN_NX, "NVIDIA Orin NX 16G (TensorRT)",
             "JetPack 5.1.1, TensorRT 8.5.2, CUDA 11.4", 1082300, 2640.51, _DLA),
    *_torch2trt(),
)


@dataclass
class Gap:
    """Our figure beside a published one: speed = how fast ours is relative to it (above 1:
    faster than published), and the setup differences between the two."""

    reference: Reference
    cell: str  # ours: "resnet50 / tensorrt fp16"
    ours: float
    speed: float
    differences: list[str]


def device_text(env: dict, device_name: str = "") -> str:
    """What a run says its device is, for matching device classes."""
    fp = env.get("setup") or {}
    return " ".join(str(v) for v in (fp.get("board"), env.get("gpu"), env.get("target"), env.get("l4t_board"),
                                     device_name) if v)


def gaps(table) -> list[Gap]:
    """Each reference that matches the run's device class and a model of its Table 1 (a
    report.table1.Table1), against the cell it is comparable with."""
    from edgebench.results.setup import timing_scope

    env, cfg = table.run.env, table.run.config
    text = device_text(env, table.device_name)
    refs = [r for r in REFERENCES if r.device.matches(text)]
    if not refs:
        return []
    by_key = {(r.model, r.backend, r.precision): r for r in table.records if r.ok and r.latency.host is not None}
    mode = (env.get("setup") or {}).get("power_mode") or env.get("power_mode") or "not recorded"
    out = []
    for row in table.rows:
        for ref in (r for r in refs if r.model == row.model):
            key = (row.model, row.post_backend, row.post_precision) if ref.runtime == "optimised" else \
                (row.model, row.pre_backend, "fp32")
            rec = by_key.get(key)
            if rec is None:
                continue
            stats = rec.latency.host
            if ref.metric == ITEMS_PER_S:
                ours, speed = stats.throughput_items_per_s, stats.throughput_items_per_s / ref.value
            else:
                ours = stats.p90_ms if ref.metric == P90_MS else stats.p50_ms
                speed = ref.value / ours
            diff = []
            if rec.precision != ref.precision:
                diff.append(f"precision {rec.precision} here, {ref.precision} published")
            if str(rec.batch_size) != ref.batch:
                diff.append(f"batch {rec.batch_size} here, {ref.batch} published")
            diff.append(f"power mode {mode} here, {ref.power_mode} published")
            diff.append(f"timing: {timing_scope(cfg, env)} here; {ref.timing_scope} published")
            diff.append(f"runtime {rec.backend} here; {ref.software} published")
            if ref.notes:
                diff.append(ref.notes)
            out.append(Gap(ref, f"{rec.model} / {rec.backend} {rec.precision}", ours, speed, diff))
    return out


def gap_lines(table) -> list[str]:
    """The gaps as markdown list items (without the dash)."""
    return [f"{g.cell}: {g.ours:,.3f} {_unit(g.reference.metric)} against {g.reference.value:,.3f} published for "
            f"{g.reference.system} ({g.reference.source}, {g.reference.url}): {g.speed:.2f}x the published speed. "
            f"Differences: {'; '.join(g.differences)}" for g in gaps(table)]


def _unit(metric: str) -> str:
    return {P90_MS: "ms p90", MEAN_MS: "ms p50", ITEMS_PER_S: "items/s"}[metric]


__all__ = ["AGX_ORIN", "AGX_XAVIER", "NANO", "ORIN_NX", "REFERENCES", "XAVIER_NX", "DeviceClass", "Gap",
           "Reference", "device_text", "gap_lines", "gaps"]
