"""What runs on a node of the fleet, as Ray tasks: the device's facts, and one model's cells
through the ordinary suite (isolation, rounds, fallback, resume) into a temporary store there,
handed back as plain data for the host's store."""
from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from pathlib import Path

#: what `edgebench fleet` shows of a node's environment (bench.environment.capture)
FACTS = ("host", "cpu", "cpu_logical", "gpu", "torch", "onnxruntime", "openvino", "tensorrt", "python")


def _own_threads() -> None:
    """Ray sets OMP_NUM_THREADS=1 in its workers (a task's CPU count) unless `ray start` ran with
    it set; a benchmark takes the threads the machine would give `edgebench run`, so the value is
    dropped, unless the node was started with EDGEBENCH_KEEP_OMP_NUM_THREADS=1 to keep its own."""
    if os.environ.get("OMP_NUM_THREADS") and not os.environ.get("EDGEBENCH_KEEP_OMP_NUM_THREADS"):
        os.environ.pop("OMP_NUM_THREADS")


def device_facts() -> dict:
    """The node's environment in brief: CPU, GPU, torch / onnxruntime / openvino / tensorrt,
    Python and Ray versions."""
    import ray

    from edgebench.bench.environment import capture

    _own_threads()
    env = capture()
    facts = {k: env.get(k) for k in FACTS}
    facts["ray"] = ray.__version__
    return facts


def run_model(cfg, model: str, earlier: list[dict], target: str | None = None) -> dict:
    """Run `cfg`'s backends for one model on this node, as `edgebench run` would (or on the remote
    target `target` this node drives), into a temporary store; `earlier` are this device's ok rows
    of earlier runs (Record.to_dict()), put in that store first so that the suite's own
    fingerprint check decides what `--resume` reuses. Returns the rows (Record.to_dict()), the
    run's environment and status."""
    from edgebench.bench.suite import run_suite
    from edgebench.targets.executor import executor_for
    from edgebench.results.record import Record
    from edgebench.results.store import Store

    _own_threads()
    with tempfile.TemporaryDirectory(prefix="edgebench-fleet-") as tmp:
        out = Path(tmp)
        db = out / "edgebench.sqlite"
        if earlier:
            with Store(db) as store:
                for row in earlier:
                    store.add(Record.from_dict(row))
        cell_cfg = replace(cfg, models=[model], out_dir=out / "out", db=db, resume=bool(earlier) and cfg.resume,
                           target=target if target is not None else cfg.target)
        result = run_suite(cell_cfg, progress=False, executor=executor_for(cell_cfg))
        with Store(db, readonly=True) as store:
            env = store.run(result.run_id).env
    return {"records": [r.to_dict() for r in result.records], "env": env, "status": str(result.status)}
