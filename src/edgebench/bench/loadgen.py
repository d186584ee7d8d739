"""MLPerf LoadGen scenarios on an open backend: a query sample library over the model's fixed
input pool, a system under test whose worker thread runs the backend and completes each sample,
LoadGen's TestSettings (PerformanceOnly; short durations unless compliant), its summary read back
from a temporary folder (never the working directory), and the Server search for the highest
arrival rate LoadGen calls VALID under the latency bound. mlperf_loadgen is imported only here,
inside functions."""
from __future__ import annotations

import queue
import re
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from edgebench.config import SCENARIOS, LoadGenConfig

INSTALL = "pip install 'edgebench[loadgen]' (mlcommons-loadgen)"
#: MultiStream's samples per query, as MLPerf fixes it
MULTI_STREAM_SAMPLES = 8
#: short runs' minimum query counts: enough for LoadGen's early-stopping estimate (64 queries for
#: single-stream's p90, 662 for multi-stream's p99, and Server's check of its p99 bound, which
#: asked for 459 when every query was under the bound), so a short run can still be VALID
SHORT_QUERY_COUNT = {"single-stream": 100, "multi-stream": 700, "offline": 1, "server": 700}


def unavailable_reason() -> str | None:
    """Why LoadGen cannot run here, or None when mlperf_loadgen is importable."""
    from importlib.util import find_spec

    if find_spec("mlperf_loadgen") is None:
        return f"MLPerf LoadGen is not installed (module mlperf_loadgen); {INSTALL}"
    return None


@dataclass
class Summary:
    """What edgebench reads from mlperf_log_summary.txt."""

    result: str = ""  # VALID or INVALID
    reasons: list = field(default_factory=list)
    percentile: float | None = None  # the scenario's headline percentile (90 or 99)
    percentile_ms: float | None = None  # its latency
    samples_per_s: float | None = None  # Offline "Samples per second", Server "Completed samples per second"
    scheduled_qps: float | None = None  # Server
    early_stopping_ms: dict = field(default_factory=dict)  # percentile -> LoadGen's early-stopping estimate, ms
    latencies_ms: dict = field(default_factory=dict)  # "Additional Stats": "p50", "p90", ... "mean", "max" in ms
    text: str = ""


_NUMBER = r"([0-9]+(?:\.[0-9]+)?)"


def parse_summary(text: str) -> Summary:
    """LoadGen's summary text -> Summary: the verdict, the `... satisfied : NO` lines and the
    recommendations as reasons (with the early-stopping bullets when early stopping failed), the
    headline figure, the early-stopping estimates and the additional latency statistics."""
    s = Summary(text=text)
    section = ""
    early: list[str] = []
    failed_checks: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("==="):
            continue
        if line in ("Recommendations:", "Early Stopping Result:"):
            section = line
            continue
        if line.startswith("*"):
            bullet = line.lstrip("* ").strip()
            if section == "Recommendations:":
                s.reasons.append(bullet)
            elif section == "Early Stopping Result:":
                early.append(bullet)
                m = re.match(rf"Early stopping {_NUMBER}th percentile estimate: {_NUMBER}", bullet)
                if m:
                    s.early_stopping_ms[float(m.group(1))] = float(m.group(2)) / 1e6
            continue
        if section and not raw.startswith(" "):
            section = ""
        if ":" not in line:
            if section == "Early Stopping Result:" and early:
                early[-1] += " " + line  # a bullet continued on the next line
            continue
        key, _, value = (part.strip() for part in line.partition(":"))
        if key == "Result is":
            s.result = value
        elif key.endswith("satisfied") and value.upper() == "NO":
            failed_checks.append(f"{key}: NO")
        elif m := re.fullmatch(rf"{_NUMBER}th percentile latency \(ns\)", key):
            s.percentile, s.percentile_ms = float(m.group(1)), float(value) / 1e6
        elif key in ("Samples per second", "Completed samples per second"):
            s.samples_per_s = float(value)
        elif key == "Scheduled samples per second":
            s.scheduled_qps = float(value)
        elif m := re.fullmatch(rf"{_NUMBER} percentile latency \(ns\)", key):
            s.latencies_ms[f"p{float(m.group(1)):g}"] = float(value) / 1e6
        elif key in ("Min latency (ns)", "Max latency (ns)", "Mean latency (ns)"):
            s.latencies_ms[key.split()[0].lower()] = float(value) / 1e6
    if any(c.startswith("Early stopping") for c in failed_checks):
        s.reasons += early
    s.reasons = failed_checks + s.reasons
    return s


class _SUT:
    """LoadGen's system under test: issue_queries hands samples to one worker thread, which runs
    the backend on each sample's pool item (run + synchronize) and completes it."""

    def __init__(self, backend, pool: list):
        self.backend, self.pool = backend, pool
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
                if self.error is None:
                    try:
                        self.backend.run(self.pool[s.index])
                        self.backend.synchronize()
                    except BaseException as exc:  # completed anyway, so LoadGen ends; raised after the test
                        self.error = exc
                lg.QuerySamplesComplete([lg.QuerySampleResponse(s.id, 0, 0)])

    def close(self) -> None:
        self.todo.put(None)
        self.thread.join()


def estimate_latency_s(backend, pool: list, iters: int = 30) -> float:
    """The median of a few synchronized runs after a short warm-up: LoadGen's expected latency
    and the Server search's first rate."""
    for i in range(10):
        backend.run(pool[i % len(pool)])
        backend.synchronize()
    values = []
    for i in range(iters):
        t0 = time.perf_counter()
        backend.run(pool[i % len(pool)])
        backend.synchronize()
        values.append(time.perf_counter() - t0)
    return max(statistics.median(values), 1e-6)


def settings(lg, scenario: str, cfg: LoadGenConfig, expected_s: float, server_qps: float | None = None):
    """LoadGen's TestSettings for one run: PerformanceOnly; LoadGen's own (MLPerf) minimums when
    compliant, else min_duration_s and the scenario's short query count."""
    t = lg.TestSettings()
    t.scenario = getattr(lg.TestScenario, SCENARIOS[scenario])
    t.mode = lg.TestMode.PerformanceOnly
    if not cfg.compliant:
        t.min_duration_ms = int(cfg.min_duration_s * 1e3)
        t.min_query_count = cfg.min_query_count or SHORT_QUERY_COUNT[scenario]
    t.single_stream_expected_latency_ns = int(expected_s * 1e9)
    t.multi_stream_expected_latency_ns = int(expected_s * MULTI_STREAM_SAMPLES * 1e9)
    t.multi_stream_samples_per_query = MULTI_STREAM_SAMPLES
    # above one sample's rate, so the one query LoadGen makes outlasts the minimum duration
    t.offline_expected_qps = 4.0 / expected_s
    t.server_target_latency_ns = max(1, int(cfg.server_latency_ms * 1e6))
    if server_qps is not None:
        t.server_target_qps = server_qps
    return t


def run_once(backend, pool: list, scenario: str, cfg: LoadGenConfig, expected_s: float,
             server_qps: float | None = None) -> Summary:
    """One LoadGen test; its logs are written to a temporary folder, removed afterwards."""
    import mlperf_loadgen as lg

    sut_impl = _SUT(backend, pool)
    sut = lg.ConstructSUT(sut_impl.issue_queries, sut_impl.flush_queries)
    qsl = lg.ConstructQSL(len(pool), len(pool), lambda _: None, lambda _: None)
    try:
        with tempfile.TemporaryDirectory(prefix="edgebench-loadgen-") as tmp:
            out = lg.LogOutputSettings()
            out.outdir = tmp
            out.copy_summary_to_stdout = False
            log = lg.LogSettings()
            log.log_output = out
            log.enable_trace = False
            lg.StartTestWithLogSettings(sut, qsl, settings(lg, scenario, cfg, expected_s, server_qps), log)
            text = (Path(tmp) / "mlperf_log_summary.txt").read_text()
    finally:
        sut_impl.close()
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)
    if sut_impl.error is not None:
        raise sut_impl.error
    return parse_summary(text)


def server_search(backend, pool: list, cfg: LoadGenConfig, expected_s: float) -> tuple[Summary, list]:
    """The highest arrival rate LoadGen calls VALID under the latency bound, in at most
    cfg.server_steps runs: from half the rate one sample at a time could sustain, doubling while
    VALID (halving while INVALID) until the verdict changes, then bisecting. Returns the kept run
    (the fastest VALID one, else the last) and every rate tried with its verdict."""
    rate = 0.5 / expected_s
    lo = hi = None
    best: Summary | None = None
    last: Summary | None = None
    tried = []
    for _ in range(cfg.server_steps):
        s = run_once(backend, pool, "server", cfg, expected_s, rate)
        valid = s.result == "VALID"
        tried.append({"qps": round(rate, 3), "result": s.result, "reasons": s.reasons})
        last = s
        if valid:
            lo, best = rate, s
        else:
            hi = rate
        if lo is not None and hi is not None:
            rate = (lo + hi) / 2
        else:
            rate = rate * 2 if valid else rate / 2
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
        # the expected rate); when a run ends before the minimum duration it asks for a lower
        # latency (a higher rate), so ask again, at most twice
        rate_s = expected
        for _ in range(3):
            s = run_once(backend, pool, scenario, cfg, rate_s)
            if "Min duration satisfied: NO" not in s.reasons:
                break
            rate_s /= 4
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
