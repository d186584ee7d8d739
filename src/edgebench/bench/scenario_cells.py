"""The suite's LoadGen cells (`run --scenario`): per model and backend, one opened backend (in an
isolated worker process, or in this process with --no-isolate) serves one cell per scenario:
LoadGen's performance run, then its accuracy mode over the check inputs, whose accuracy log the
accuracy gate and the task accuracy read (bench.loadgen.run_scenario). Each cell is its own record with
its own fingerprint, so `--resume` skips the scenarios already stored; a worker that crashes or
times out costs its scenario's row, and the next scenario gets a fresh worker. Without LoadGen
every scenario cell is a skipped row with the reason."""
from __future__ import annotations

import copy
from dataclasses import asdict

from edgebench.config import LoadGenConfig, SuiteConfig, backend_cells
from edgebench.results.record import Record, Status


class LocalScenarioArm:
    """A backend's scenario cells in this process, on one BackendCell opened at the first one."""

    def __init__(self, bc):
        self.bc, self.opened = bc, False

    def run(self, scenario: str, cfg: LoadGenConfig, gate: bool) -> Record:
        if not self.opened:
            self.opened = True
            self.bc.open()
        if not self.bc.alive:  # it could not open: its record says why, for every scenario
            return copy.deepcopy(self.bc.rec)
        from edgebench.bench.loadgen import run_scenario

        return run_scenario(self.bc, scenario, cfg, gate)

    def close(self) -> None:
        self.bc.close()


class IsolatedScenarioArm:
    """A backend's scenario cells in a spawned worker (bench.isolation.WorkerArm), each with the
    cell timeout from its start. A worker that cannot open its backend gives its failure to every
    scenario; one that crashes or times out in a scenario gives that scenario its row, and the
    next scenario starts a fresh worker."""

    def __init__(self, spec: dict, base: Record, timeout_s: float):
        self.spec, self.base, self.timeout_s = spec, base, timeout_s
        self.worker = None
        self.failed: Record | None = None

    def run(self, scenario: str, cfg: LoadGenConfig, gate: bool) -> Record:
        from edgebench.bench.isolation import WorkerArm

        if self.failed is not None:
            return copy.deepcopy(self.failed)
        if self.worker is None:
            worker = WorkerArm(self.spec, copy.deepcopy(self.base), self.timeout_s)
            if not worker.open():
                self.failed = worker.rec
                return copy.deepcopy(worker.rec)
            self.worker = worker
        rec = self.worker.scenario(scenario, asdict(cfg), gate)
        if rec is None:
            rec, self.worker = copy.deepcopy(self.worker.rec), None
            rec.timing = {}
        return rec

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()
            self.worker = None


def scenario_records(cfg: SuiteConfig, session, store, fingerprint):
    """Yield one model's scenario records in backend x scenario order. `session.scenario_arm(name,
    precision, options)` gives a backend's arm (LocalScenarioArm or IsolatedScenarioArm), or
    (None, why) when the model cannot be built; `fingerprint(name, precision, options, scenario)`
    is the suite's cell fingerprint."""
    from edgebench.bench.engine import ResumedArm
    from edgebench.bench.loadgen import unavailable_reason

    missing = unavailable_reason()
    for i, (name, precision, options) in enumerate(backend_cells(cfg.backends, cfg.precision)):
        todo = []
        for scenario in cfg.loadgen.scenarios:
            fp = fingerprint(name, precision, options, scenario)
            old = store.find_ok(fp) if cfg.resume else None
            if old is not None:
                yield ResumedArm(old, session.run_id).rec
                continue
            todo.append((scenario, fp))
        if not todo:
            continue
        arm, why = (None, missing) if missing else session.scenario_arm(name, precision, options)
        # the baseline (pytorch FP32 first) is the reference itself: task accuracy only, no gate
        gate = not (i == 0 and name == "pytorch" and precision == "fp32")
        try:
            for scenario, fp in todo:
                if arm is None:
                    rec = session.failed(name, precision, options, Status.SKIPPED if missing else Status.RUN_FAILED,
                                         why).rec
                    rec = copy.deepcopy(rec)
                else:
                    rec = arm.run(scenario, cfg.loadgen, gate)
                rec.loadgen.scenario = scenario
                rec.options = options
                rec.fingerprint = fp
                yield rec
        finally:
            if arm is not None:
                arm.close()
