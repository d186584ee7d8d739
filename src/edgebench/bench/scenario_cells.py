"""The suite's LoadGen cells (`run --scenario`): per model, each backend opened once in this
process on the model's one ModelCell, then one cell per scenario run through LoadGen
(bench.loadgen), each its own record with its own fingerprint, so `--resume` skips the
scenarios already stored. Without LoadGen every scenario cell is a skipped row with the reason."""
from __future__ import annotations

import copy

from edgebench.bench.cell import BackendCell, attach_accuracy, error_text
from edgebench.config import SuiteConfig, parse_backend_spec
from edgebench.results.record import Record, Status


def scenario_records(cfg: SuiteConfig, model: str, run_id: str, env: dict, store, cell, fingerprint,
                     cell_error: str = "model build failed"):
    """Yield one model's scenario records in backend x scenario order. `cell` is the model's
    ModelCell (None: it could not be built, its error in `cell_error`); `fingerprint(name,
    precision, options, scenario)` is the suite's cell fingerprint."""
    from edgebench.bench import environment
    from edgebench.bench.loadgen import measure, unavailable_reason

    missing = unavailable_reason()
    for i, spec in enumerate(cfg.backends):
        default = "fp32" if i == 0 or cfg.precision == "auto" else cfg.precision
        name, precision, options = parse_backend_spec(spec, default)
        backend_options = {k: v for k, v in options.items() if k != "fallback"}
        todo = []
        for scenario in cfg.loadgen.scenarios:
            fp = fingerprint(name, precision, options, scenario)
            old = store.find_ok(fp) if cfg.resume else None
            if old is not None:
                old.details = {**old.details, "resumed_from": old.run_id}
                old.run_id = run_id
                yield old
                continue
            todo.append((scenario, fp))
        if not todo:
            continue
        bc = None
        if cell is not None and missing is None:
            bc = BackendCell(cell, name, run_id, cfg.device, precision, cfg.timing, env, backend_options)
            bc.open()
        for scenario, fp in todo:
            if bc is None:
                rec = Record(run_id, model, name, precision, cfg.batch_size, cfg.device,
                             Status.SKIPPED if missing else Status.RUN_FAILED,
                             missing or cell_error, device_name=environment.device_name(env, cfg.device))
            else:
                rec = copy.deepcopy(bc.rec)
                if bc.alive:
                    try:
                        measure(bc.bk, cell.pool_for(cfg.device), scenario, cfg.loadgen, rec)
                        rec.status = Status.OK
                        ref = None if i == 0 and name == "pytorch" and precision == "fp32" else cell.reference_outputs()
                        attach_accuracy(rec, cell.check_info(), bc.outputs, ref, gate=ref is not None)
                    except Exception as exc:
                        rec.status, rec.error = Status.RUN_FAILED, error_text(exc)
            rec.loadgen.scenario = scenario
            rec.timing = {}
            if options:
                rec.details["options"] = options
            rec.fingerprint = fp
            yield rec
        if bc is not None:
            bc.close()
