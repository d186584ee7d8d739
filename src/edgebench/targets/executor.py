"""A remote target as an executor of the one engine (bench.engine): `open` connects, deploys the
agent and probes the device (its probe is the run's environment, its defaults the config's); each
model's session makes the model's arms on the device (targets.arms) from the model built on the
host. Once the target is lost, the rest of the run is recorded at once as target_lost rows, with
one reconnect try per model, so `run --resume` can take over."""
from __future__ import annotations

from edgebench.bench.executors import LocalSession
from edgebench.config import backend_cells
from edgebench.results.record import Status


def make_arm(hold, cell, backend: str, run_id: str, precision: str, timing, options: dict):
    """The arm for one backend on a target: the agent's engines, trtexec, or a skipped row."""
    from edgebench.targets.arms import AgentArm, UnsupportedArm
    from edgebench.targets.trtexec_arm import TrtexecArm

    cls = {"pytorch": AgentArm, "onnxruntime": AgentArm, "tensorrt": TrtexecArm}.get(backend, UnsupportedArm)
    return cls(hold, cell, backend, run_id, precision, timing, options)


class TargetSession(LocalSession):
    """One model's cells on the target; the model is built on the host only if the target is
    there to run them."""

    def __init__(self, cfg, model: str, run_id: str, env: dict, hold):
        super().__init__(cfg, model, run_id, env)
        self.hold = hold
        hold.try_reconnect()

    def arm(self, name: str, precision: str, options: dict):
        if self.hold.lost:
            return self.failed(name, precision, options, Status.TARGET_LOST, self.hold.lost)
        cell = self.cell()
        if cell is None:
            return self.failed(name, precision, options)
        return make_arm(self.hold, cell, name, self.run_id, precision, self.cfg.timing, options)

    def scenario_arm(self, name: str, precision: str, options: dict):  # SuiteConfig refuses --scenario with a target
        return None, f"LoadGen scenarios do not run on target {self.hold.name}"


class TargetExecutor:
    """The cells of a run on remote target `name` (`edgebench targets add`)."""

    def __init__(self, name: str):
        self.name = name
        self.hold = None

    def open(self, cfg) -> tuple:
        from edgebench.targets.remote import TargetHold

        self.hold = TargetHold.open(self.name, cfg.device, cfg.cache_dir)
        cfg = self.hold.configure(cfg)
        backend_cells(cfg.backends, cfg.precision)  # the target's default pair, parsed as given ones were
        return cfg, self.hold.env

    def session(self, cfg, model: str, run_id: str, env: dict) -> TargetSession:
        return TargetSession(cfg, model, run_id, env, self.hold)

    def close(self) -> None:
        pass


def executor_for(cfg):
    """The executor a config names (its target's), or None for the suite's own default."""
    return TargetExecutor(cfg.target) if cfg.target is not None else None
