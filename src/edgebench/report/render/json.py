"""Table 1 as JSON (table1.json): the run's summary, its rows, its MLPerf LoadGen scenario cells
and its environment."""
from __future__ import annotations

import json
from dataclasses import asdict

from edgebench.report.table1 import Table1


def render_json(table: Table1) -> str:
    return json.dumps(
        {
            "run_id": table.run.run_id,
            "device_name": table.device_name,
            "batch_size": table.batch_size,
            "weights": table.weights,
            "mean_speedup": table.mean_speedup,
            "baseline": table.baseline,
            "run_status": table.status,
            "edgebench_version": table.run.edgebench_version,
            "git_commit": table.run.git_commit,
            "quick": table.quick,
            "interrupted": table.interrupted,
            "not_reached": table.not_reached,
            "failed_models": [{"model": m, "reason": why} for m, why in table.failed],
            "rows": [asdict(r) for r in table.rows],
            "scenarios": [asdict(r) for r in table.scenario_rows],
            "environment": table.run.env,
        },
        indent=2,
    )
