"""`edgebench run --cluster`: one Ray task per (device, model), holding the device's resource
exclusively and running the ordinary suite for that model on its node; the host stores each
task's rows as they arrive into one store, one edgebench run per device, and renders Table 1 and
Figure 4 per device. A node lost mid-task costs that task one retry, then `node_lost` rows,
which `--resume` measures again; Ctrl-C keeps every stored row."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from edgebench.bench.lifecycle import RunRecorder, check_writable, new_run_id
from edgebench.bench.recorder import new_record
from edgebench.cluster.connect import alive_devices, check_devices, connect, offered, resource, task_options
from edgebench.config import SuiteConfig, model_cells
from edgebench.errors import InvalidConfigError
from edgebench.results.record import Record, Status
from edgebench.results.run import RunStatus

#: seconds between checks that each busy device is still offered by an alive node
LIVENESS_PERIOD_S = 1.0


@dataclass
class DeviceProgress:
    """One device's cells: done (rows stored), running (the task holding the device) and left,
    with an estimate from the seconds per finished task so far."""

    device: str
    total: int
    per_task: int
    tasks_left: int
    done: int = 0
    started: float = field(default_factory=time.monotonic)
    tasks_done: int = 0

    def line(self) -> str:
        running = self.per_task if self.tasks_left else 0
        left = max(self.total - self.done - running, 0)
        text = f"{self.device}: {self.done}/{self.total} cells done, {running} running, {left} left"
        if self.tasks_done and self.tasks_left:
            secs = (time.monotonic() - self.started) / self.tasks_done * self.tasks_left
            text += f", about {secs:.0f} s to go"
        return text


@dataclass
class FleetResult:
    """Each device's run id, its stored rows, its Table 1 and report files, and how the whole run
    ended (all by device)."""

    run_ids: dict
    records: dict
    outputs: dict
    status: RunStatus
    tables: dict = field(default_factory=dict)


def run_fleet(config: SuiteConfig, address: str | None, devices: list[str] | None = None, on_line=None) -> FleetResult:
    """Run `config`'s models x backends on each device of the cluster at `address` (all it offers
    when `devices` is None); rows go to config's store on this machine as they arrive, Table 1 and
    Figure 4 to OUT/<device>/. `on_line(text)` gets a progress line per finished task."""
    from edgebench.models import get_spec
    from edgebench.results.store import Store, validate

    ray = connect(address)
    devices = list(devices) if devices else sorted(alive_devices(ray))
    if not devices:
        check_devices(ray, ["<any>"])
    check_devices(ray, devices)
    if len(set(devices)) != len(devices):
        raise InvalidConfigError(f"device listed twice in {devices}")
    for m in config.models:  # fail fast on names here, before any node is busy
        if not m.endswith(".onnx"):
            get_spec(m, config.model_options.input_shape)
    db = config.db or config.out_dir / "edgebench.sqlite"
    validate(db)
    check_writable(config.out_dir)
    # without --backends, the default pair as this host resolves it (a node resolves its own)
    cells = model_cells(config if config.backends else replace(config, backends=config.resolved().backends))
    targets = _target_names()
    say = on_line or (lambda text: None)

    from edgebench.cluster.node import run_model

    task = ray.remote(run_model)
    run_ids = {d: f"{new_run_id()}-{d}" for d in devices}
    runs: dict = {}  # device -> its RunRecorder, begun at its first result (or its first lost task)
    progress = {d: DeviceProgress(d, len(config.models) * len(cells), len(cells), len(config.models)) for d in devices}
    status = RunStatus.INTERRUPTED
    pending: dict = {}  # ref -> (device, model)
    with Store(db) as store:
        def run_of(device: str, env: dict) -> RunRecorder:
            """The device's run, begun now if need be; an environment learnt later fills in one
            begun without it (its first task was lost)."""
            if device not in runs:
                cfg_dict = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()}
                cfg_dict.update(cluster=address or "auto", fleet_device=device)
                runs[device] = RunRecorder(store, run_ids[device], _baseline(cells), cfg_dict,
                                           {**env, "fleet_device": device} if env else {})
            elif env:
                runs[device].set_env({**env, "fleet_device": device})
            return runs[device]

        def keep(device: str, env: dict, rows: list[Record]) -> None:
            run = run_of(device, env)
            for rec in rows:
                rec.details = {**rec.details, "fleet_device": device}
                run.keep(rec)
            p = progress[device]
            p.done += len(rows)
            p.tasks_done += 1
            p.tasks_left -= 1
            say(p.line())

        def failed(device: str, model: str, status: Status, reason: str) -> None:
            """A row per cell of `model` that a task ended without: node_lost or run_failed."""
            rows = []
            for name, precision, scenario in cells:
                rec = new_record(run_ids[device], model, name, precision, config.batch_size, config.device,
                                 status=status, error=reason)
                rec.loadgen.scenario = scenario
                rows.append(rec)
            keep(device, {}, rows)

        def lost(device: str, model: str, reason: str) -> None:
            failed(device, model, Status.NODE_LOST, reason)

        nodes = offered(ray)
        try:
            for device in devices:
                earlier = _earlier_ok(store, device) if config.resume else []
                target = device if device in targets else None
                for model in config.models:
                    rows = [r.to_dict() for r in earlier if r.model == model]
                    ref = task.options(**task_options(device, nodes), max_retries=1,
                                       retry_exceptions=False).remote(config, model, rows, target)
                    pending[ref] = (device, model)
            next_check = time.monotonic() + LIVENESS_PERIOD_S
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=LIVENESS_PERIOD_S)
                for ref in ready:
                    device, model = pending.pop(ref)
                    try:
                        out = ray.get(ref)
                    except Exception as exc:  # noqa: BLE001 - every way a task ends is a row
                        if _node_failure(ray, exc):
                            lost(device, model, f"node offering {resource(device)} lost during the task "
                                                f"(after one retry): {_first_line(exc)}")
                        else:
                            failed(device, model, Status.RUN_FAILED, _first_line(exc))
                        continue
                    keep(device, out["env"], [Record.from_dict(d) for d in out["records"]])
                if pending and time.monotonic() >= next_check:
                    next_check = time.monotonic() + LIVENESS_PERIOD_S
                    alive = alive_devices(ray)
                    for ref, (device, model) in list(pending.items()):
                        if device not in alive:  # its retry would wait forever for a resource no node offers
                            ray.cancel(ref, force=True)
                            del pending[ref]
                            lost(device, model, f"no alive node offers {resource(device)} any more "
                                                "(its node was lost); run again with --resume once it is back")
            status = RunStatus.FINISHED
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)
            outputs, tables = {}, {}
            for device in sorted(runs):  # each device's run ended, Table 1 and Figure 4 in OUT/<device>/
                table, files = runs[device].finish(status, Path(config.out_dir) / device)
                if runs[device].records:
                    tables[device], outputs[device] = table, files
    records = {d: (runs[d].records if d in runs else []) for d in devices}
    return FleetResult({d: run_ids[d] for d in devices if d in runs}, records, outputs, status, tables)


def _baseline(cells: list[tuple[str, str, str]]) -> str:
    return "@".join(cells[0][:2])


def _target_names() -> set[str]:
    """The remote targets registered here (`edgebench targets add`): a device of that name is
    driven by its node through the remote-target path."""
    from edgebench.targets.registry import load_targets

    try:
        return set(load_targets())
    except Exception:  # noqa: BLE001 - an unreadable targets file only means no device is a target
        return set()


def _earlier_ok(store, device: str) -> list[Record]:
    """The ok rows this store holds from earlier fleet runs on `device`."""
    out = []
    for run in store.runs():
        if run.config.get("fleet_device") == device:
            out += [r for r in store.records(run.run_id) if r.ok]
    return out


def _node_failure(ray, exc: BaseException) -> bool:
    """Whether a task's failure is its node's or worker's death rather than an error in edgebench."""
    system = (ray.exceptions.NodeDiedError, ray.exceptions.WorkerCrashedError, ray.exceptions.ActorDiedError,
              ray.exceptions.ObjectLostError, ray.exceptions.LocalRayletDiedError, ray.exceptions.TaskCancelledError)
    cause, seen = exc, set()
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, system):
            return True
        seen.add(id(cause))
        cause = getattr(cause, "cause", None) or cause.__cause__
    return False


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    return (lines[-1] if lines else type(exc).__name__)[:300]
