"""A realistic run to render: the 11-model suite on an NVIDIA H200 (batch 1, PyTorch eager FP32
vs torch-compile FP16 with fallback to FP32), rebuilt as Records from the committed Table 1 of
docs/results/2026-11-26-h200-b1-random-a12d714: each cell's p50, GPU p50, cold start, energy,
memory and parity as measured, its samples drawn around that p50 (the store of that run is not
committed), as many as the default timing takes (>= 100 iterations and >= 5 s), and a synthetic
per-layer profile per cell. Two fp16 cells failed the accuracy gate, as in the run."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from edgebench.bench.validity import timing_warnings
from edgebench.results.latency import LatencyStats
from edgebench.results.record import (
    Accuracy, ColdStart, Contention, Energy, Latency, Memory, ModelFacts, Record, Status,
)
from edgebench.results.run import Run, RunStatus

SOURCE = Path(__file__).resolve().parents[3] / "docs/results/2026-11-26-h200-b1-random-a12d714/table1.json"
QUERIES = 100  # inferences a profile covers
TIMING = {"warmup_iters": 10, "warmup_s": 1.0, "min_iters": 100, "min_time_s": 5.0, "quick": False}
KERNELS = ("sm90_xmma_fprop_implicit_gemm_f16f16_f16f32_f32_nhwckrsc_nhwc_tilesize128x128x64",
           "triton_poi_fused__native_batch_norm_legit_no_training_relu_{i}", "triton_per_fused_mean_{i}",
           "cutlass_80_tensorop_h16816gemm_relu_64x64_64x4_nn_align8", "void at::native::vectorized_elementwise_kernel",
           "triton_poi_fused_add_relu_{i}", "Memcpy HtoD (Pageable -> Device)", "Memcpy DtoH (Device -> Pinned)",
           "void cudnn::engines_precompiled::nchwToNhwcKernel", "triton_red_fused_convolution_max_pool2d_{i}")
OPS = ("aten::convolution", "aten::batch_norm", "aten::mean", "aten::addmm", "aten::relu", "aten::add", "Memcpy",
       "Memcpy", "aten::convolution", "aten::max_pool2d")


def samples(p50_ms: float, spread: float, rng, max_samples: int | None) -> np.ndarray:
    """Per-iteration latencies (ms) with median p50_ms: log-normal with `spread`, and 1% slow
    outliers in 300 (1.2x to 2.5x), as many as the default timing's >= 100 iterations and >= 5 s take."""
    n = max(TIMING["min_iters"], math.ceil(1e3 * TIMING["min_time_s"] / p50_ms))
    n = min(n, max_samples) if max_samples else n
    v = np.exp(rng.normal(0.0, spread, n))
    slow = rng.random(n) < 0.003
    v[slow] *= rng.uniform(1.2, 2.5, int(slow.sum()))
    return v * p50_ms / np.median(v)


def layer_profile(total_ms: float, rng, layers: int = 40) -> dict:
    """A profile of QUERIES inferences taking `total_ms` in all, over `layers` kernels."""
    shares = np.sort(rng.pareto(1.2, layers) + 0.05)[::-1]
    shares = 100.0 * shares / shares.sum()
    rows = []
    for i, pct in enumerate(shares):
        k = i % len(KERNELS)
        total = total_ms * pct / 100
        rows.append({"layer": KERNELS[k].format(i=i), "op_type": OPS[k], "total_ms": total, "average_ms": total / QUERIES,
                     "median_ms": 0.98 * total / QUERIES, "percentage": float(pct)})
    return {"source": "torch.profiler (CUDA kernels)", "queries": QUERIES, "layers": rows}


def suite_run(max_samples: int | None = None) -> tuple[list[Record], Run]:
    """(records, run) of the realistic suite; `max_samples` caps each cell's samples (faster tests)."""
    table = json.loads(SOURCE.read_text())
    rng = np.random.default_rng(0)
    run_id = table["run_id"]
    records = []

    def cell(row, backend, precision, p50, dev_p50, cold_s, energy, spread, **kw):
        s = samples(p50, spread, rng, max_samples)
        rec = Record(run_id, row["model"], backend, precision, 1, "cuda", task=row["task"], device_name="NVIDIA H200",
                     model_facts=ModelFacts(params=row["params"], flops=row["flops"], weights="random-init(seed=0)"),
                     cold_start=ColdStart(export_s=None if backend == "pytorch" else 0.9 * cold_s / 10,
                                          prepare_s=0.02, load_s=0.9 * cold_s, first_infer_s=cold_s * 0.01,
                                          build_s=None if backend == "pytorch" else 0.8 * cold_s),
                     latency=Latency(host=LatencyStats.from_values(s / 1e3), samples_ms=[round(float(x), 5) for x in s],
                                     device=LatencyStats.from_values(dev_p50 * np.exp(rng.normal(0, 0.004, len(s))) / 1e3)
                                     if dev_p50 else None),
                     memory=Memory(gpu_peak_allocated_mb=row["post_gpu_mem_peak_mb"] * (0.8 if backend == "pytorch" else 1),
                                   gpu_peak_reserved_mb=row["post_gpu_mem_peak_mb"] * 1.2,
                                   host_rss_peak_mb=row["post_rss_mb"] * (0.95 if backend == "pytorch" else 1)),
                     energy=Energy(per_item_mj=energy, items_per_joule=1e3 / energy if energy else None, idle_power_w=75.3,
                                   source=row["energy_source"]),
                     contention=Contention(False, float(rng.uniform(0, 8)), float(rng.uniform(0, 5))),
                     timing=dict(TIMING), **kw)
        rec.details["layer_profile"] = layer_profile(p50 * QUERIES, rng)
        records.append(rec)
        return rec

    for row in table["rows"]:
        cell(row, "pytorch", "fp32", row["pre_p50_ms"], row["pre_device_p50_ms"], row["pre_cold_start_s"],
             row["pre_energy_mj"], 0.12 if row["model"] == "conv_autoencoder" else 0.05)  # eager on a tiny model: noisy
        if row["note"]:  # the fp16 cell the accuracy gate turned down, then its fp32 fallback
            reason = row["note"].split("(", 1)[1].rstrip(")")
            bad = cell(row, "torch-compile", "fp16", row["post_p50_ms"] * 0.6, row["post_device_p50_ms"] * 0.6,
                       row["post_cold_start_s"], row["post_energy_mj"] * 0.6, 0.03, status=Status.ACCURACY_FAILED,
                       accuracy=Accuracy(max_abs_diff=0.2, top1_agreement=0.938, cosine_similarity=0.989, gate="failed",
                                         gate_reason=reason))
            bad.options = {"fallback": "fp32"}
        post = cell(row, "torch-compile", row["post_precision"], row["post_p50_ms"], row["post_device_p50_ms"],
                    row["post_cold_start_s"], row["post_energy_mj"], 0.03,
                    accuracy=Accuracy(max_abs_diff=row["max_abs_diff"], top1_agreement=row["top1_agreement"],
                                      cosine_similarity=0.99999, gate=row["post_gate"]))
        post.options = {"fallback": "fp32"}
        if row["note"]:
            post.details["fallback_from"] = "fp16"
    for rec in records:  # what the harness warns of, from the same figures
        rec.warnings = timing_warnings(rec.latency)
    config = {"device": "cuda", "timing": dict(TIMING), "batch_size": 1,
              "models": [r["model"] for r in table["rows"]], "backends": ["pytorch", "torch-compile@fp16:fallback=fp32"]}
    run = Run(run_id, "2026-11-26T12:11:33+00:00", "pytorch@fp32", config, table["environment"], RunStatus.FINISHED,
              finished_at="2026-11-26T12:58:02+00:00", edgebench_version="0.1.0", git_commit="a12d714")
    return records, run
