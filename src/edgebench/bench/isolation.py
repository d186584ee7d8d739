"""Cell isolation: each (model, backend, precision, batch) cell lives in its own spawned worker
process, driven over a pipe (open, measure a round, finish), so a segfault, an OOM kill or a
hang in one cell becomes that cell's failure row and never costs another cell its row. The
parent keeps the arms of a model alive together and interleaves their timing rounds."""
from __future__ import annotations

import signal
import time
import traceback

from edgebench.bench import stages
from edgebench.bench.recorder import error_text, failure_status
from edgebench.results.record import Record, Status

#: seconds a worker that has sent its last reply gets to exit before it is killed
EXIT_GRACE_S = 30.0

#: what every worker imports first, imported once by the fork server the workers fork from (where
#: there is one: Linux), so a cell does not pay seconds of imports; nothing here starts a thread
#: or touches CUDA, so a fork of it is safe. (Not Inductor's compiler: on a CUDA machine its
#: import initialises CUDA, and a fork of the server could then use no GPU.)
PRELOAD = ["torch", "torchvision", "onnx", "edgebench.bench.cell"]


def _context():
    """Workers fork from a fork server that has PRELOAD imported, on Linux; elsewhere they are
    spawned (on macOS a fork of a process that imported torch is not safe)."""
    import multiprocessing as mp
    import sys

    if sys.platform.startswith("linux") and "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        return ctx
    return mp.get_context("spawn")


def _as_parent(spec: dict) -> None:
    """The parent's environment variables, working folder and import path as they are now (a
    fork server's children otherwise inherit the server's, from when it started)."""
    import os
    import sys

    if "environ" in spec:
        os.environ.clear()
        os.environ.update(spec["environ"])
        os.chdir(spec["cwd"])
        sys.path[:] = spec["sys_path"]


def _adopt(parent: Record, child: dict) -> Record:
    """The worker's record, keeping what only the parent knows (fingerprint, options, fallback)."""
    rec = Record.from_dict(child)
    rec.fingerprint = parent.fingerprint
    rec.options = parent.options
    if "fallback_from" in parent.details:
        rec.details.setdefault("fallback_from", parent.details["fallback_from"])
    return rec


def _model_cell(spec: dict):
    """The worker's model: built and loaded, or, in a later timing process that the first one
    handed its ONNX artifacts (bench.spread), nothing built at all."""
    from edgebench.bench.model_cell import ModelCell
    from edgebench.config import ModelOptions

    return ModelCell(spec["model"], ModelOptions(**spec["model_options"]), spec["batch_size"], spec["pool_size"],
                     spec["cache_dir"], spec.get("handoff"))


def _send_error(conn, exc: BaseException) -> None:
    """Report a failure to the parent, which records it; the worker then exits."""
    try:
        conn.send(("error", failure_status(exc, Status.RUN_FAILED), error_text(exc)[:400], traceback.format_exc()[-2000:]))
    except Exception:
        pass


def _started(spec: dict) -> None:
    """The worker's start on its stage clock: the spawn (a fresh interpreter, the spec unpickled)
    and the import of torch, which every cell needs."""
    _as_parent(spec)
    if "spawned_at" in spec:
        stages.CLOCK.absorb({"worker start": max(0.0, time.time() - spec["spawned_at"])})
    with stages.stage("import"):
        import torch  # noqa: F401


def _with_stages(rec: dict) -> dict:
    """A record to send to the parent, with this worker's seconds per stage so far."""
    rec["details"]["stage_s"] = {k: round(v, 4) for k, v in stages.CLOCK.snapshot().items()}
    return rec


def worker_main(conn, spec: dict) -> None:
    """Runs in the spawned process: builds the model and the backend cell, then serves commands."""
    from edgebench.bench.cell import BackendCell
    from edgebench.config import TimingConfig

    _thread_only_tqdm_lock()
    try:
        _started(spec)
        cell = _model_cell(spec)
        bc = BackendCell(cell, spec["backend"], spec["run_id"], spec["device"], spec["precision"],
                         TimingConfig(**spec["timing"]), spec["env"], spec["options"], profile=spec["profile"])
        bc.check_against(spec.get("check_reference"), spec.get("makes_reference", False))
        bc.runs_check = spec.get("runs_check", True)
        bc.open()
        handoff = cell.handoff() if bc.alive else None  # None for a module cell: it exported nothing
        conn.send(("opened", bc.alive, _with_stages(bc.rec.to_dict()), bc.outputs, cell.check_info(), handoff))
        while True:
            cmd, payload = conn.recv()
            if cmd == "measure":
                taken = len(bc.values)
                bc.measure(TimingConfig(**payload))
                conn.send(("measured", bc.alive, _with_stages(bc.rec.to_dict()), bc.values[taken:]))
            elif cmd == "finish":
                conn.send(("record", _with_stages(bc.finish(payload).to_dict())))
                return
            elif cmd == "scenario":  # a LoadGen scenario cell on the open backend (bench.scenario_cells)
                from edgebench.bench.loadgen import run_scenario
                from edgebench.config import LoadGenConfig

                scenario, loadgen, gate = payload
                conn.send(("scenario", run_scenario(bc, scenario, LoadGenConfig(**loadgen), gate).to_dict()))
            elif cmd == "close":
                bc.close()
                return
    except BaseException as exc:  # report, then exit: the parent records the failure
        _send_error(conn, exc)


def reference_main(conn, spec: dict) -> None:
    """Runs in a spawned process: the pristine model's FP32 CPU outputs on the check batches."""
    _thread_only_tqdm_lock()
    try:
        _started(spec)
        outputs = _model_cell(spec).reference_outputs()
        conn.send(("reference", outputs, stages.CLOCK.snapshot()))
    except BaseException as exc:
        _send_error(conn, exc)


def reference_in_worker(spec: dict, timeout_s: float) -> list | None:
    """The model's reference outputs computed in a worker of their own (bench.engine.Reference),
    for when the baseline cell gave none: a reference model that crashes or hangs costs the gate
    its verdict ("not judged", with this error), never a cell its row."""
    worker = WorkerArm(spec, Record("", spec["model"], "pytorch", "fp32", spec["batch_size"], "cpu"), timeout_s,
                        target=reference_main)
    reply = worker.start()
    worker._stop()
    if reply is not None:
        stages.CLOCK.absorb(reply[2])
    if reply is None:
        raise RuntimeError(f"its worker {worker.rec.error}" if worker.rec.status == Status.CRASHED
                           else worker.rec.error)
    return reply[1]


def _thread_only_tqdm_lock() -> None:
    """tqdm's default lock includes a named POSIX semaphore (multiprocessing.RLock), and
    torch.export opens tqdm bars; a worker killed for a crash or a timeout would leave it to
    the resource tracker, which warns about it at exit. A worker shows no bars across
    processes, so a thread lock is all it needs."""
    import threading

    try:
        from tqdm import tqdm
    except ImportError:
        return
    tqdm.set_lock(threading.RLock())


class WorkerArm:
    """The parent's handle on one isolated cell; the same open/measure/finish interface as
    bench.cell.BackendCell. `timeout_s` bounds the cell's whole life (open, rounds, finish)."""

    resumed, cold_rounds = False, False

    def __init__(self, spec: dict, base: Record, timeout_s: float, target=worker_main):
        self.spec, self.rec, self.timeout_s, self.target = spec, base, timeout_s, target
        self.outputs = None
        self.check_info = (None, "", None, None)
        self.handoff = None  # what a later timing process of this cell needs to build nothing (bench.spread)
        self.values: list[float] = []  # the worker's host samples, round by round (the stop-when-known rule)
        self.proc = self.conn = None
        self.deadline = None
        self._stage_s = None  # the worker's seconds per stage, as last reported

    def _seen(self, rec: dict) -> dict:
        self._stage_s = rec.get("details", {}).get("stage_s")
        return rec

    @property
    def alive(self) -> bool:
        return self.proc is not None

    def check_against(self, reference: list | None, makes_reference: bool = False) -> None:
        """bench.cell.BackendCell.check_against, in the worker."""
        self.spec.update(check_reference=reference, makes_reference=makes_reference)

    def _fail(self, status: Status, error: str) -> None:
        self.rec.status, self.rec.error = status, error
        self._stop(graceful=False)

    def _stop(self, graceful: bool = True) -> None:
        """End the worker. A healthy one is let go (its end of the pipe sees EOF and it returns)
        and given EXIT_GRACE_S to exit on its own: killing it while it runs its exit handlers
        leaves the named semaphores it made (tqdm's lock, taken by torch.export) registered with
        the shared resource tracker, which then warns of "leaked semaphore objects" at exit."""
        if self.proc is None:
            return
        stages.CLOCK.absorb(self._stage_s)  # the worker's time, into this run's breakdown
        self._stage_s = None
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        if graceful:
            self.proc.join(EXIT_GRACE_S)
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)
        self.proc = None

    def _call(self, message):
        """Send a command (None: just wait) and return the reply, or record the failure."""
        try:
            if message is not None:
                self.conn.send(message)
            remaining = self.deadline - time.monotonic()
            if remaining <= 0 or not self.conn.poll(remaining):
                self._fail(Status.TIMEOUT, f"cell exceeded its {self.timeout_s:g} s limit (--cell-timeout)")
                return None
            reply = self.conn.recv()
        except (EOFError, OSError, BrokenPipeError):
            self.proc.join(5)
            code = self.proc.exitcode
            if code is not None and code < 0:
                sig = signal.Signals(-code).name
                hint = " (killed: out of memory, or by hand)" if sig == "SIGKILL" else ""
                self._fail(Status.CRASHED, f"worker crashed with signal {-code} ({sig}){hint}")
            else:
                self._fail(Status.CRASHED, f"worker exited with code {code} without a result")
            return None
        if reply[0] == "error":
            _, kind, text, _tb = reply
            self._fail(kind, text)
            return None
        return reply

    def start(self):
        """Spawn the worker and wait for its first reply (None: it failed; self.rec says how)."""
        import os
        import sys

        ctx = _context()
        self.conn, child = ctx.Pipe()
        self.spec.update(environ=dict(os.environ), cwd=os.getcwd(), sys_path=list(sys.path), spawned_at=time.time())
        self.proc = ctx.Process(target=self.target, args=(child, self.spec), daemon=True)
        self.deadline = time.monotonic() + self.timeout_s
        self.proc.start()
        child.close()
        return self._call(None)

    def open(self) -> bool:
        reply = self.start()
        if reply is None:
            return False
        _, alive, rec, self.outputs, self.check_info, self.handoff = reply
        self.rec = _adopt(self.rec, self._seen(rec))
        if not alive:
            self._stop()
        return alive

    def measure(self, timing) -> None:
        if self.alive:
            from dataclasses import asdict

            reply = self._call(("measure", asdict(timing)))
            if reply is not None:
                _, alive, rec, values = reply
                self.values += values
                self._seen(rec)
                if not alive:
                    self.rec = _adopt(self.rec, rec)
                    self._stop()

    def scenario(self, scenario: str, loadgen: dict, gate: bool) -> Record | None:
        """One LoadGen scenario cell on the worker's open backend (bench.loadgen.run_scenario),
        allowed `timeout_s` from now; None when the worker failed (self.rec says how)."""
        if not self.alive:
            return None
        self.deadline = time.monotonic() + self.timeout_s
        reply = self._call(("scenario", (scenario, loadgen, gate)))
        return None if reply is None else _adopt(self.rec, reply[1])

    def close(self) -> None:
        """Let the worker close its backend and exit."""
        if self.alive:
            try:
                self.conn.send(("close", None))
            except OSError:
                pass
            self._stop()

    def finish(self, check_overhead: bool = False) -> Record:
        if self.alive:
            reply = self._call(("finish", check_overhead))
            if reply is not None:
                self.rec = _adopt(self.rec, self._seen(reply[1]))
            self._stop()
        return self.rec
