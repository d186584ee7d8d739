"""Stored runs with known samples, written through the real Store, for the comparison tests."""
from __future__ import annotations

from pathlib import Path

from edgebench.results import Record, Run, RunStatus, Status, Store
from edgebench.results.latency import LatencyStats
from edgebench.results.record import Contention, Latency

ENV = {"host": "bench-1", "cpu": "Test CPU", "gpu": "none", "python": "3.10.12", "torch": "2.3.0",
       "onnxruntime": "1.18.0", "openvino": "absent", "tensorrt": "absent"}


def samples(median_ms: float, n: int = 61, spread: float = 0.02) -> list[float]:
    """n samples evenly spread over median x (1 +- spread), interleaved so that no order is
    implied; their median is exactly `median_ms`."""
    import numpy as np

    values = median_ms * (1 + np.linspace(-spread, spread, n))
    return [float(v) for v in np.concatenate([values[0::2], values[1::2]])]


def cell(run_id: str, model: str, backend: str, median_ms: float | None, precision: str = "fp32", batch_size: int = 1,
         status: Status = Status.OK, values: list | None = None, contended: bool = False, **kw) -> Record:
    """An ok record timed at `values` (default: samples(median_ms)), or a failed one (status)."""
    lat = Latency()
    if status == Status.OK:
        values = samples(median_ms) if values is None else values
        lat = Latency(host=LatencyStats.from_values([v / 1e3 for v in values], batch_size), samples_ms=list(values))
    kw.setdefault("device_name", ENV["cpu"])
    return Record(run_id, model, backend, precision, batch_size, "cpu", status=status,
                  contention=Contention(contended=contended), latency=lat, **kw)


def write_run(path: Path, run_id: str, records: list[Record], env: dict | None = None,
              started_at: str = "2026-01-01T00:00:00", config: dict | None = None) -> None:
    """Store run `run_id` (finished) with `records` in the store at `path`."""
    with Store(path) as store:
        store.begin_run(Run(run_id, started_at, "pytorch@fp32", config or {"device": "cpu", "timing": {}},
                            {**ENV, **(env or {})}, edgebench_version="1.0", git_commit="abc1234"))
        for rec in records:
            rec.run_id = run_id
            store.add(rec)
        store.finish_run(run_id, started_at, RunStatus.FINISHED)


def two_runs(path: Path) -> tuple[str, str]:
    """Runs "a" (the baseline) and "b" in one store: b is faster on onnxruntime, slower on
    pytorch, unchanged on openvino, failed on tensorrt, measured test_mlp that a did not, and
    ran with another torch and under contention on pytorch."""
    write_run(path, "a", [
        cell("a", "test_cnn", "pytorch", 10.0),
        cell("a", "test_cnn", "onnxruntime", 5.0),
        cell("a", "test_cnn", "openvino", 4.0),
        cell("a", "test_cnn", "tensorrt", 2.0, precision="fp16"),
    ], started_at="2026-01-01T00:00:00")
    write_run(path, "b", [
        cell("b", "test_cnn", "pytorch", 12.0, contended=True),
        cell("b", "test_cnn", "onnxruntime", 4.0),
        cell("b", "test_cnn", "openvino", 4.0, values=samples(4.0, n=59)),
        cell("b", "test_cnn", "tensorrt", None, precision="fp16", status=Status.BUILD_FAILED, error="no engine"),
        cell("b", "test_mlp", "pytorch", 1.0),
    ], env={"torch": "2.4.0"}, started_at="2026-01-02T00:00:00")
    return "a", "b"


def snapshot(folder: Path) -> dict:
    """Every file under `folder` and its bytes: proof that nothing was written. Reading a WAL
    store read-only lets sqlite make its shared-memory index and an empty log beside it; those
    hold no data and are left out."""
    def kept(p: Path) -> bool:
        return p.is_file() and not p.name.endswith("-shm") and not (p.name.endswith("-wal") and not p.stat().st_size)

    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if kept(p)}
