"""Where a suite's cells run. An executor opens a run (the environment it measures in, the config
it needs) and gives each model a session, which makes the model's arms (bench.engine.Arm), its
LoadGen scenario arms and its reference outputs. Two live here: in this process, and one spawned
worker per cell (the default). A remote target's executor is targets.executor.TargetExecutor;
the caller (edgebench.api, a fleet node) passes it in, so bench/ never imports targets/."""
from __future__ import annotations

from dataclasses import asdict

from edgebench.bench import environment
from edgebench.bench.engine import FailedArm
from edgebench.bench.recorder import error_text, failure_status, new_record
from edgebench.results.record import Status


class LocalSession:
    """One model's cells in this process: one ModelCell (built, exported and its inputs made
    once) shared by every backend's cell."""

    def __init__(self, cfg, model: str, run_id: str, env: dict):
        self.cfg, self.model, self.run_id, self.env = cfg, model, run_id, env
        self._cell = None
        self._error = ""
        self._status = Status.RUN_FAILED  # a model that cannot be built: its cells' status, as an isolated worker's

    def cell(self):
        """The model's ModelCell, or None when it cannot be built (why: self._error)."""
        if self._cell is None and not self._error:
            from edgebench.bench.model_cell import ModelCell

            cfg = self.cfg
            try:
                self._cell = ModelCell(self.model, cfg.model_options, cfg.batch_size, cfg.pool_size, cfg.cache_dir)
            except Exception as exc:  # a factory that raises, a checkpoint that does not fit: rows, not a lost run
                self._error, self._status = error_text(exc), failure_status(exc, Status.RUN_FAILED)
        return self._cell

    def failed(self, name: str, precision: str, options: dict, status: Status | None = None,
               error: str = "") -> FailedArm:
        """A cell that cannot run, recorded under its own backend, precision and options (by
        default with the status of why its model could not be built)."""
        cfg = self.cfg
        status = status or self._status
        return FailedArm(new_record(self.run_id, self.model, name, precision, cfg.batch_size, cfg.device,
                                    options=options, device_name=environment.device_name(self.env, cfg.device),
                                    timing=cfg.timing.to_dict(), status=status,
                                    error=error or self._error or "model build failed"))

    def skipped(self, name: str, precision: str, options: dict) -> FailedArm | None:
        """The row of a cell whose precision this device does not run fast, made without building
        the model or starting a worker; None for any other cell."""
        from edgebench.system import slow_precision

        why = slow_precision(self.cfg.device, precision)
        return self.failed(name, precision, options, Status.SKIPPED, why) if why else None

    def arm(self, name: str, precision: str, options: dict):
        """The cell's arm: its skipped row, or the arm where this session runs cells (`_arm`)."""
        return self.skipped(name, precision, options) or self._arm(name, precision, options)

    def _arm(self, name: str, precision: str, options: dict):
        from edgebench.bench.cell import BackendCell

        cell = self.cell()
        if cell is None:
            return self.failed(name, precision, options)
        return BackendCell(cell, name, self.run_id, self.cfg.device, precision, self.cfg.timing, self.env,
                           _backend_options(options), profile=self.cfg.profile, options=options)

    def scenario_arm(self, name: str, precision: str, options: dict):
        """(a LoadGen scenario arm, "") or (None, why the model cannot be built)."""
        from edgebench.bench.cell import BackendCell
        from edgebench.bench.scenario_cells import LocalScenarioArm

        cell = self.cell()
        if cell is None:
            return None, self._error
        return LocalScenarioArm(BackendCell(cell, name, self.run_id, self.cfg.device, precision, self.cfg.timing,
                                            self.env, _backend_options(options), options=options)), ""

    def reference(self) -> list | None:
        cell = self.cell()
        if cell is None:
            raise RuntimeError(self._error)
        return cell.reference_outputs()

    def close(self) -> None:
        self._cell = None


class IsolatedSession(LocalSession):
    """One model's cells, each in its own spawned worker (bench.isolation); the reference, when
    the baseline gives none, in a worker of its own."""

    def _spec(self, name: str, precision: str, options: dict) -> tuple:
        cfg = self.cfg
        base = new_record(self.run_id, self.model, name, precision, cfg.batch_size, cfg.device, options=options,
                          device_name=environment.device_name(self.env, cfg.device), timing=cfg.timing.to_dict())
        spec = {
            "model": self.model, "model_options": asdict(cfg.model_options), "batch_size": cfg.batch_size,
            "pool_size": cfg.pool_size, "cache_dir": cfg.cache_dir, "backend": name, "run_id": self.run_id,
            "device": cfg.device, "precision": precision, "timing": asdict(cfg.timing), "env": self.env,
            "options": _backend_options(options), "profile": cfg.profile,
        }
        return base, spec

    def _arm(self, name: str, precision: str, options: dict):
        """A worker arm, or, with timing.processes > 1, one per process that the rounds take turns in."""
        from edgebench.bench.isolation import WorkerArm

        arms = [WorkerArm(spec, base, self.cfg.cell_timeout_s)
                for base, spec in (self._spec(name, precision, options) for _ in range(self.cfg.timing.processes))]
        if len(arms) == 1:
            return arms[0]
        from edgebench.bench.spread import SpreadArm

        return SpreadArm(arms)

    def scenario_arm(self, name: str, precision: str, options: dict):
        from edgebench.bench.scenario_cells import IsolatedScenarioArm

        base, spec = self._spec(name, precision, options)
        return IsolatedScenarioArm(spec, base, self.cfg.cell_timeout_s), ""

    def reference(self) -> list | None:
        from edgebench.bench.isolation import reference_in_worker

        _, spec = self._spec("pytorch", "fp32", {})
        return reference_in_worker(spec, self.cfg.cell_timeout_s)


class LocalExecutor:
    """Cells in this process (`run --no-isolate`)."""

    session_class = LocalSession

    def open(self, cfg) -> tuple:
        """(the config to run, the run's environment)."""
        return cfg, environment.capture()

    def session(self, cfg, model: str, run_id: str, env: dict):
        return self.session_class(cfg, model, run_id, env)

    def close(self) -> None:
        pass


class IsolatedExecutor(LocalExecutor):
    """Each cell in its own spawned worker: a crash, an OOM kill or a hang costs only that cell."""

    session_class = IsolatedSession


def _backend_options(options: dict) -> dict:
    """What the backend itself takes: the suite's own `fallback` option left out."""
    return {k: v for k, v in options.items() if k != "fallback"}
