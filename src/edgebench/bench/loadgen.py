"""MLPerf LoadGen scenarios on an open backend: a query sample library over the model's fixed
input pool, a system under test whose worker thread runs the backend and completes each sample,
LoadGen's TestSettings (short durations unless compliant), its summary read back from a temporary
folder (never the working directory), the Server search for the highest arrival rate LoadGen calls
VALID under the latency bound, and LoadGen's accuracy mode over the check inputs, its accuracy log
decoded into the outputs the accuracy gate judges. mlperf_loadgen is imported only here, inside
functions."""
from __future__ import annotations

import copy
import queue
import re
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from edgebench.bench.harness import infer
from edgebench.bench.loadgen_summary import Summary, parse_summary
from edgebench.config import SCENARIOS, LoadGenConfig
from edgebench.models.outputs import as_list, pack

INSTALL = "pip install 'edgebench[loadgen]' (mlcommons-loadgen)"
#: MultiStream's samples per query, as MLPerf fixes it
MULTI_STREAM_SAMPLES = 8
#: short runs' minimum query counts: enough for LoadGen's early-stopping estimate (64 queries for
#: single-stream's p90, 662 for multi-stream's p99, and Server's check of its p99 bound, which
#: asked for 459 when every query was under the bound), so a short run can still be VALID
SHORT_QUERY_COUNT = {"single-stream": 100, "multi-stream": 700, "offline": 1, "server": 700}
#: a short run INVALID only for LoadGen's early stopping (a few queries over the bound) is run again
#: once with the queries LoadGen says it needs, when they take at most this long
MAX_LONGER_RUN_S = 30.0


def unavailable_reason() -> str | None:
    """Why LoadGen cannot run here, or None when mlperf_loadgen is importable."""
    from importlib.util import find_spec

    if find_spec("mlperf_loadgen") is None:
        return f"MLPerf LoadGen is not installed (module mlperf_loadgen); {INSTALL}"
    return None


class _SUT:
    """LoadGen's system under test: issue_queries hands samples to one worker thread, which runs
    the backend on each sample's pool item (run + synchronize) and completes it. With `respond`
    (accuracy mode) each completion carries the output as float32 bytes, which LoadGen writes to
    its accuracy log; `shape` is the output's shape."""

    def __init__(self, backend, pool: list, respond: bool = False):
        self.backend, self.pool, self.respond = backend, pool, respond
        self.shape: tuple | None = None
        self.todo: queue.Queue = queue.Queue()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._work, name="edgebench-loadgen-sut", daemon=True)
        self.thread.start()

    def issue_queries(self, samples) -> None:
        self.todo.put(list(samples))

    def flush_queries(self) -> None:
        pass

    def _work(self) -> None:
        import mlperf_loadgen as lg

        while True:
            samples = self.todo.get()
            if samples is None:
                return
            for s in samples:
                data = None
                if self.error is None:
                    try:
                        if self.respond:
                            # every output's values, in models.outputs' order, as the response's bytes
                            out = as_list(infer(self.backend, self.pool[s.index]))
                            data = np.ascontiguousarray(np.concatenate([np.ravel(o) for o in out]), dtype=np.float32)
                            self.shape = self.shape or tuple(np.shape(o) for o in out)
                        else:
                            self.backend.run(self.pool[s.index])
                            self.backend.synchronize()
                    except BaseException as exc:  # completed anyway, so LoadGen ends; raised after the test
                        self.error = exc
                # LoadGen copies the response's bytes during the call; `data` outlives it
                response = (lg.QuerySampleResponse(s.id, data.ctypes.data, data.nbytes) if data is not None
                            else lg.QuerySampleResponse(s.id, 0, 0))
                lg.QuerySamplesComplete([response])

    def close(self) -> None:
        self.todo.put(None)
        self.thread.join()


def estimate_latency_s(backend, pool: list, blocks: int = 3, per_block: int = 10) -> float:
    """LoadGen's expected latency and the Server search's first rate: after a short warm-up, the
    lowest of `blocks` medians of `per_block` synchronized runs. Other load only ever slows a run,
    and it comes in bursts: one median taken in a burst was 100x the latency LoadGen then saw,
    which set Server's first rate, and so its run of 700 queries, 100x too slow."""
    for i in range(10):
        backend.run(pool[i % len(pool)])
        backend.synchronize()
    medians = []
    for _ in range(blocks):
        values = []
        for i in range(per_block):
            t0 = time.perf_counter()
            backend.run(pool[i % len(pool)])
            backend.synchronize()
            values.append(time.perf_counter() - t0)
        medians.append(statistics.median(values))
    return max(min(medians), 1e-6)


def short_queries(scenario: str, cfg: LoadGenConfig) -> int:
    """A short run's minimum query count: the configured one, else the scenario's."""
    return cfg.min_query_count or SHORT_QUERY_COUNT[scenario]


def queries_needed(s: Summary) -> int | None:
    """The queries LoadGen's early stopping says a run needed in all, when that is why it is
    INVALID: "Need to process at least 662 queries" (a too-short SingleStream or MultiStream run),
    or "Processed 700 queries." and "Would need to run at least 138 more queries" (Server, when a
    few queries missed the bound); None otherwise."""
    if s.early_stopping_met is not False:
        return None
    processed = more = total = None
    for reason in s.reasons:
        if m := re.match(r"(?:Only processed|Processed) ([0-9]+) queries", reason):
            processed = int(m.group(1))
        elif m := re.match(r"Would need to run at least ([0-9]+) more queries", reason):
            more = int(m.group(1))
        elif m := re.match(r"Need to process at least ([0-9]+) queries", reason):
            total = int(m.group(1))
    if total is not None:
        return total
    return processed + more if processed is not None and more is not None else None


def _longer_run(s: Summary, scenario: str, cfg: LoadGenConfig, per_query_s: float) -> int | None:
    """The minimum query count to run again with, when a short run failed only LoadGen's early
    stopping (its latency bound was met) and the queries it asks for take at most
    MAX_LONGER_RUN_S; None when not."""
    need = queries_needed(s)
    if cfg.compliant or need is None or s.constraints_met is False:
        return None
    queries = max(int(need * 1.2), short_queries(scenario, cfg))
    return queries if queries * per_query_s <= MAX_LONGER_RUN_S else None


def observed_latency_s(scenario: str, s: Summary) -> float | None:
    """One sample's time as a run's summary shows it: SingleStream's (and Server's) mean latency,
    MultiStream's per sample of its 8, Offline's 1 / samples per second; None where the summary
    lacks it."""
    mean_ms = s.latencies_ms.get("mean")
    if scenario == "offline":
        return 1.0 / s.samples_per_s if s.samples_per_s else None
    if mean_ms is None:
        return None
    return mean_ms / 1e3 / (MULTI_STREAM_SAMPLES if scenario == "multi-stream" else 1)


def settings(lg, scenario: str, cfg: LoadGenConfig, expected_s: float, server_qps: float | None = None,
             min_queries: int | None = None):
    """LoadGen's TestSettings for one run: PerformanceOnly; LoadGen's own (MLPerf) minimums when
    compliant, else min_duration_s and `min_queries` (default: the scenario's short query count)."""
    t = lg.TestSettings()
    t.scenario = getattr(lg.TestScenario, SCENARIOS[scenario])
    t.mode = lg.TestMode.PerformanceOnly
    if not cfg.compliant:
        t.min_duration_ms = int(cfg.min_duration_s * 1e3)
        t.min_query_count = min_queries or short_queries(scenario, cfg)
    t.single_stream_expected_latency_ns = int(expected_s * 1e9)
    t.multi_stream_expected_latency_ns = int(expected_s * MULTI_STREAM_SAMPLES * 1e9)
    t.multi_stream_samples_per_query = MULTI_STREAM_SAMPLES
    # above one sample's rate, so the one query LoadGen makes outlasts the minimum duration
    t.offline_expected_qps = 4.0 / expected_s
    t.server_target_latency_ns = max(1, int(cfg.server_latency_ms * 1e6))
    if server_qps is not None:
        t.server_target_qps = server_qps
    return t


def _start(backend, pool: list, scenario: str, cfg: LoadGenConfig, expected_s: float, server_qps: float | None,
           accuracy: bool, min_queries: int | None = None) -> tuple:
    """One LoadGen test over a QSL of `pool`'s samples: (the summary's text, the accuracy log's
    entries or None, the SUT's output shape). Its logs are written to a temporary folder, removed
    afterwards."""
    import json

    import mlperf_loadgen as lg

    sut_impl = _SUT(backend, pool, respond=accuracy)
    sut = lg.ConstructSUT(sut_impl.issue_queries, sut_impl.flush_queries)
    qsl = lg.ConstructQSL(len(pool), len(pool), lambda _: None, lambda _: None)
    test = settings(lg, scenario, cfg, expected_s, server_qps, min_queries)
    if accuracy:
        test.mode = lg.TestMode.AccuracyOnly
    entries = None
    try:
        with tempfile.TemporaryDirectory(prefix="edgebench-loadgen-") as tmp:
            out = lg.LogOutputSettings()
            out.outdir = tmp
            out.copy_summary_to_stdout = False
            log = lg.LogSettings()
            log.log_output = out
            log.enable_trace = False
            lg.StartTestWithLogSettings(sut, qsl, test, log)
            text = (Path(tmp) / "mlperf_log_summary.txt").read_text()
            if accuracy:
                entries = json.loads((Path(tmp) / "mlperf_log_accuracy.json").read_text())
    finally:
        sut_impl.close()
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)
    if sut_impl.error is not None:
        raise sut_impl.error
    return text, entries, sut_impl.shape


def run_once(backend, pool: list, scenario: str, cfg: LoadGenConfig, expected_s: float,
             server_qps: float | None = None, min_queries: int | None = None) -> Summary:
    """One LoadGen performance test (PerformanceOnly), its summary parsed."""
    return parse_summary(_start(backend, pool, scenario, cfg, expected_s, server_qps, accuracy=False,
                                min_queries=min_queries)[0])


def decode_accuracy_log(entries: list, count: int, shape: tuple) -> tuple[list, int]:
    """LoadGen's accuracy log (mlperf_log_accuracy.json: one entry per completed sample, its
    qsl_idx and the response's bytes in hex) -> (the output of each of the QSL's `count` samples
    in index order: a float32 array of `shape`, or for a `shape` of several shapes (a model of
    several outputs, their values one after the other) a tuple of arrays of those shapes; how
    many entries repeated a sample). MultiStream
    fills its last query of 8 by repeating samples; a repeat is kept once, as MLPerf's accuracy
    scripts do. A sample missing from the log is an error."""
    outputs: dict = {}
    repeats = 0
    for e in entries:
        idx = int(e["qsl_idx"])
        if idx in outputs:
            repeats += 1
            continue
        outputs[idx] = _unpacked(np.frombuffer(bytes.fromhex(e["data"]), dtype="<f4"), shape)
    missing = [i for i in range(count) if i not in outputs]
    if missing:
        raise RuntimeError(f"LoadGen's accuracy log has no output for {len(missing)} of {count} samples "
                           f"(first: {missing[0]})")
    return [outputs[i] for i in range(count)], repeats


def _unpacked(values: np.ndarray, shape: tuple):
    if not shape or not isinstance(shape[0], tuple):
        return values.reshape(shape)
    sizes = [int(np.prod(s)) for s in shape]
    parts = np.split(values, np.cumsum(sizes)[:-1])
    return pack(p.reshape(s) for p, s in zip(parts, shape))


def accuracy_outputs(backend, batches: list, scenario: str, cfg: LoadGenConfig, rec) -> list:
    """LoadGen's accuracy mode (AccuracyOnly) in `scenario` over a QSL of the check batches (the
    task inputs, labelled with --data): every sample once, its output written by LoadGen to its
    accuracy log, which is read back as the outputs the accuracy gate and the task accuracy use.
    Server's arrivals come at the rate the performance run kept, or one sample's own rate when that
    is higher; details["loadgen_accuracy"] says how it ran."""
    expected = rec.details.get("loadgen_expected_latency_ms", 1.0) / 1e3
    qps = None
    if scenario == "server":
        rates = [t["qps"] for t in rec.details.get("loadgen_server_rates") or []]
        # arrivals at the kept rate, or one sample's own rate if that is higher: accuracy mode
        # measures no latency, and a slow rate only makes it long
        qps = max(rec.loadgen.server_qps or (min(rates) if rates else 0.0), 1.0 / expected)
    _, entries, shape = _start(backend, batches, scenario, cfg, expected, qps, accuracy=True)
    outputs, repeats = decode_accuracy_log(entries, len(batches), shape)
    rec.details["loadgen_accuracy"] = {"mode": "AccuracyOnly", "samples": len(batches), "log_entries": len(entries),
                                       "repeated": repeats, **({"server_qps": round(qps, 3)} if qps else {})}
    return outputs


def server_search(backend, pool: list, cfg: LoadGenConfig, expected_s: float) -> tuple[Summary, list]:
    """The highest arrival rate LoadGen calls VALID under the latency bound, in at most
    cfg.server_steps runs: from half the rate one sample at a time could sustain, doubling while
    VALID (or jumping to half the rate the run's mean latency allows, when that is higher; halving
    while INVALID) until the verdict changes, then bisecting. A rate whose short run met the bound
    but failed only LoadGen's early stopping (a few queries over it) is run once more with the
    queries LoadGen asks for, so that outliers are not mistaken for a rate too high. Returns the kept run
    (the fastest VALID one, else the last) and every rate tried with its verdict."""
    rate = 0.5 / expected_s
    lo = hi = None
    best: Summary | None = None
    last: Summary | None = None
    tried = []
    queries = None  # the short query count, unless a rate is being run again for longer
    for _ in range(cfg.server_steps):
        s = run_once(backend, pool, "server", cfg, expected_s, rate, queries)
        valid = s.valid
        tried.append({"qps": round(rate, 3), "result": s.result, "reasons": s.reasons,
                      **({"min_queries": queries} if queries else {})})
        last = s
        if not valid and queries is None:
            # met the bound but too few queries to prove it: the same rate once more, for longer
            queries = _longer_run(s, "server", cfg, 1.0 / rate)
            if queries is not None:
                continue
        queries = None
        if valid:
            lo, best = rate, s
        else:
            hi = rate
        if lo is not None and hi is not None:
            rate = (lo + hi) / 2
        elif valid:
            # doubling, or straight to half the rate this run's own latency allows when the
            # first estimate was far too slow
            seen = observed_latency_s("server", s)
            rate = max(rate * 2, 0.5 / seen) if seen else rate * 2
        else:
            rate = rate / 2
    return best or last, tried


def measure(backend, pool: list, scenario: str, cfg: LoadGenConfig, rec) -> None:
    """Run `scenario` on the open backend and fill rec.loadgen and rec.details (the summary text,
    the Server rates tried)."""
    expected = estimate_latency_s(backend, pool)
    tried = None
    if scenario == "server":
        s, tried = server_search(backend, pool, cfg, expected)
    else:
        # LoadGen pre-generates its queries from the expected latency (Offline: one query sized by
        # the expected rate); a run that ends before the minimum duration (the estimate was taken
        # on a busier or colder machine) is asked again with the latency that run observed, halved
        rate_s = expected
        queries = None
        for _ in range(4):
            s = run_once(backend, pool, scenario, cfg, rate_s, min_queries=queries)
            if s.min_duration_met is False:
                seen = observed_latency_s(scenario, s)
                rate_s = min(rate_s / 4, seen / 2) if seen else rate_s / 4
                continue
            if queries is None and not s.valid:  # too few queries for early stopping: once, longer
                per_query = (observed_latency_s(scenario, s) or rate_s) * (
                    MULTI_STREAM_SAMPLES if scenario == "multi-stream" else 1)
                queries = _longer_run(s, scenario, cfg, per_query)
                if queries is not None:
                    rec.details["loadgen_min_queries_used"] = queries
                    continue
            break
        rec.details["loadgen_expected_latency_used_ms"] = rate_s * 1e3
    lg = rec.loadgen
    lg.scenario, lg.result, lg.reasons, lg.compliant = scenario, s.result, s.reasons, cfg.compliant
    if scenario in ("single-stream", "multi-stream"):
        lg.p90_ms = s.percentile_ms if s.percentile == 90 else s.latencies_ms.get("p90")
        lg.p99_ms = s.percentile_ms if s.percentile == 99 else s.latencies_ms.get("p99")
        pct = 90.0 if scenario == "single-stream" else 99.0
        lg.early_stopping_ms = s.early_stopping_ms.get(pct)
        if cfg.target_fps:
            lg.frame_budget_ms = 1e3 / cfg.target_fps
            figure = lg.p90_ms if scenario == "single-stream" else lg.p99_ms
            lg.meets_frame_budget = None if figure is None else figure <= lg.frame_budget_ms
    else:
        lg.p90_ms, lg.p99_ms = s.latencies_ms.get("p90"), s.latencies_ms.get("p99")
        lg.samples_per_s = s.samples_per_s
    if scenario == "server":
        lg.server_qps = s.scheduled_qps
        lg.latency_bound_ms = cfg.server_latency_ms
        rec.details["loadgen_server_rates"] = tried
    rec.details["loadgen_summary"] = s.text
    rec.details["loadgen_expected_latency_ms"] = expected * 1e3
    if not cfg.compliant:
        rec.warnings.append(f"LoadGen {scenario}: short run (min {cfg.min_duration_s:g} s), not MLPerf's compliant "
                            "durations (--compliant)")


def run_scenario(bc, scenario: str, cfg: LoadGenConfig, gate: bool):
    """One scenario cell on an opened bench.cell.BackendCell: a copy of its record with LoadGen's
    verdict and figures, and the accuracy read from LoadGen's accuracy log, gated against the
    pristine model's FP32 outputs when `gate` (and the model has a module to give them). A
    failure is the cell's run_failed row."""
    from edgebench.bench.recorder import attach_accuracy, error_text
    from edgebench.results.record import Status

    rec = copy.deepcopy(bc.rec)
    rec.timing = {}
    cell = bc.cell
    try:
        measure(bc.bk, cell.pool_for(rec.device), scenario, cfg, rec)
        outputs = accuracy_outputs(bc.bk, cell.check_batches()[0], scenario, cfg, rec)
        rec.status = Status.OK
        ref = cell.reference_outputs() if gate else None
        attach_accuracy(rec, cell.check_info(), outputs, ref, gate=gate,
                        no_reference="the model has no PyTorch module (an ONNX file)")
        rec.details["accuracy_source"] = "LoadGen's accuracy log"
    except Exception as exc:
        rec.status, rec.error = Status.RUN_FAILED, error_text(exc)
    rec.loadgen.scenario = scenario
    return rec
