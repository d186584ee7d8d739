"""What to run: the model options, the suite's configuration and the one parser of backend specs
(NAME[@PRECISION][:KEY=VALUE+...]). Validation here is cheap and imports no heavy library."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from edgebench.backends.registry import default_post_backends, entry
from edgebench.errors import InvalidConfigError

PRECISIONS = ("fp32", "fp16", "bf16", "int8", "fp8")

PAPER_SUITE = (
    # image classification (2-class heads)
    "alexnet",
    "vgg19",
    "resnet50",
    "squeezenet1_1",
    "densenet121",
    "shufflenet_v2_x1_0",
    "mobilenet_v2",
    "resnext50_32x4d",
    # human action recognition (4 UCF50 classes, 3x8x64x64 clips)
    "c3d",
    "conv_autoencoder",
    "densenet3d",
)
BASELINE_BACKEND = "pytorch"


@dataclass(frozen=True)
class TimingConfig:
    """How long a cell is timed. By default until its median is known: a warm-up of >= 10
    iterations and >= 0.5 s, then >= 30 iterations and >= 1 s, then more interleaved rounds until
    the 95% interval of the median is within `ci_pct` % of it, or `max_time_s` seconds of samples
    are taken (the row then says how close it got). Where cells run isolated, their rounds take
    turns between `processes` worker processes (bench.spread). `fixed()` is the rule before that, pyperf's
    and LoadGen's practice: >= 100 iterations and >= 5 s after a warm-up of >= 10 iterations and
    1 s, however steady the cell. `quick_config()` is for smoke runs and every report says so."""

    warmup_iters: int = 10
    warmup_s: float = 0.5
    min_iters: int = 30
    min_time_s: float = 1.0
    max_iters: int = 1_000_000
    quick: bool = False
    #: stop once the 95% interval of the median is within this many % of it (None: the fixed rule)
    ci_pct: float | None = 1.0
    #: with ci_pct: at most this many seconds of timed samples per cell
    max_time_s: float = 10.0
    #: worker processes a cell's rounds take turns in (bench.spread), where cells run isolated
    processes: int = 2

    @classmethod
    def quick_config(cls) -> "TimingConfig":
        return cls(warmup_iters=2, warmup_s=0.1, min_iters=10, min_time_s=0.5, quick=True, ci_pct=None)

    @classmethod
    def fixed(cls) -> "TimingConfig":
        """The fixed rule (`--ci off`): >= 100 iterations and >= 5 s, however steady the cell."""
        return cls(warmup_iters=10, warmup_s=1.0, min_iters=100, min_time_s=5.0, ci_pct=None)

    def __post_init__(self):
        if self.min_iters < 1 or self.warmup_iters < 0 or self.min_time_s < 0 or self.warmup_s < 0:
            raise InvalidConfigError(
                f"timing needs min_iters >= 1 and non-negative warm-up and durations, got {asdict(self)}"
            )
        if self.max_iters < self.min_iters:
            raise InvalidConfigError(f"max_iters ({self.max_iters}) must be >= min_iters ({self.min_iters})")
        if not isinstance(self.processes, int) or self.processes < 1:
            raise InvalidConfigError(f"--processes must be an integer >= 1, got {self.processes!r}")
        if self.ci_pct is not None and not 0 < self.ci_pct < 100:
            raise InvalidConfigError(f"--ci must be above 0% and below 100%, got {self.ci_pct}%; e.g. --ci 1% (or off)")
        if self.ci_pct is not None and not self.max_time_s >= self.min_time_s:
            raise InvalidConfigError(f"--max-time ({self.max_time_s} s) must be at least the minimum time "
                                     f"({self.min_time_s} s)")

    def to_dict(self) -> dict:
        return asdict(self)


def resolve_device(device: str) -> str:
    if device == "auto":
        from edgebench.system import cuda_available

        return "cuda" if cuda_available() else "cpu"
    if device not in ("cpu", "cuda"):
        raise InvalidConfigError(f"device must be cpu, cuda or auto, not {device!r}")
    return device


def check_batch_size(batch_size: int) -> None:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidConfigError(f"batch size must be an integer >= 1, got {batch_size!r}; pass --batch-size 1 or more")


@dataclass(frozen=True)
class ModelOptions:
    num_classes: int | None = None
    weights: str | None = None
    pretrained: bool = False
    input_shape: tuple[int, ...] | None = None
    opset: int = 18
    seed: int = 0
    #: labelled task data (image folder or UCF50 root) for calibration and the accuracy gate;
    #: without it: scikit-image's photos (images) or synthetic videos (clips), no task accuracy
    data: str | None = None
    calibration_size: int = 32
    #: task inputs the accuracy gate compares backends on: top-1 agreement is judged only on
    #: decisive ones and needs at least 59 of them (bench.accuracy); about half of the photo crops
    #: are decisive for a trained ImageNet classifier, so 256 gives ~130 and allows one flip
    check_size: int = 256
    #: a folder of per-model checkpoints, DIR/<model>.pt (as `edgebench train` writes them)
    weights_dir: str | None = None
    #: (width, height): time a detector's or segmenter's whole pipeline on frames of that size
    #: (bench.pipeline); None: the network alone
    pipeline: tuple[int, int] | None = None

    def __post_init__(self):
        for name in ("calibration_size", "check_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                flag = name.replace("_", "-")
                raise InvalidConfigError(f"--{flag} must be an integer >= 1, got {getattr(self, name)!r}")

    def weights_for(self, model: str) -> str | None:
        if self.weights or not self.weights_dir:
            return self.weights
        candidate = Path(self.weights_dir) / f"{Path(model).stem}.pt"
        return str(candidate) if candidate.is_file() else None


def expand_auto(backends: list[str], device: str) -> list[str]:
    """`--precision auto`: every post-opt backend named without a precision becomes one variant
    per precision it offers on this device (its class's auto_precisions); the accuracy gate and
    Table 1 then keep the fastest variant that passes."""
    from edgebench.backends.registry import auto_precisions

    out = [backends[0]]
    for spec in backends[1:]:
        head, sep, opts = spec.partition(":")
        if "@" in head:
            out.append(spec)
            continue
        for p in auto_precisions(head, device):
            out.append(f"{head}@{p}{sep}{opts}")
    return out


def parse_backend_spec(spec: str, default_precision: str = "fp32") -> tuple[str, str, dict]:
    """NAME[@PRECISION][:KEY=VALUE[+KEY=VALUE...]] -> (name, precision, options), e.g.
    "onnxruntime", "torch-compile@fp16", "pytorch@fp16:cuda_graphs=1", "onnxruntime:threads=1"."""
    head, _, opts = spec.partition(":")
    name, _, precision = head.partition("@")
    entry(name)
    precision = precision or default_precision
    if precision not in PRECISIONS:
        raise InvalidConfigError(f"precision {precision!r} in backend {spec!r} is not one of {', '.join(PRECISIONS)}")
    options = {}
    for item in filter(None, opts.split("+")):
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise InvalidConfigError(f"backend option {item!r} in {spec!r} must look like key=value")
        options[key] = _option_value(value)
    from edgebench.backends.registry import check_options

    check_options(name, {k: v for k, v in options.items() if k != "fallback"})  # fallback is the suite's
    return name, precision, options



def backend_cells(backends, precision: str) -> list[tuple[str, str, dict]]:
    """(name, precision, options) of each of a run's backend specs, in order: the first (the
    baseline, the paper's pre-opt) at FP32 unless it names a precision, the others at `precision`
    unless they name one (with `auto` each spec names its variant, so the rest default to FP32)."""
    return [parse_backend_spec(spec, "fp32" if i == 0 or precision == "auto" else precision)
            for i, spec in enumerate(backends)]

def model_cells(cfg: "SuiteConfig") -> list[tuple[str, str, str]]:
    """(backend, precision, LoadGen scenario or "") of each cell of one model, in the order the
    suite runs them: what every count of a run's cells is made from (the progress bar, the CLI's
    lines, a fleet device's rows). `cfg` resolved, or with its backends named; a target's default
    pair, known only once it is probed, counts as its two cells."""
    backends = cfg.backends or [BASELINE_BACKEND, "<the target's optimiser>"]
    scenarios = cfg.loadgen.scenarios if cfg.loadgen is not None else ("",)
    if not cfg.backends:
        return [(name, "fp32", scenario) for name in backends for scenario in scenarios]
    return [(name, precision, scenario) for name, precision, _ in backend_cells(backends, cfg.precision)
            for scenario in scenarios]


def _option_value(text: str):
    low = text.lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    try:
        return int(text)
    except ValueError:
        return text


#: `--scenario` names -> LoadGen's TestScenario names
SCENARIOS = {"single-stream": "SingleStream", "multi-stream": "MultiStream", "offline": "Offline", "server": "Server"}


@dataclass(frozen=True)
class LoadGenConfig:
    """MLPerf LoadGen scenarios (bench.loadgen). Short runs by default (`min_duration_s`, and the
    scenario's short query count unless `min_query_count` is given); `compliant` keeps LoadGen's
    own MLPerf minimums (600 s and its query counts), and every report says which it was."""

    scenarios: tuple = ("single-stream",)
    #: Server: the latency bound on the 99th percentile, ms
    server_latency_ms: float = 15.0
    #: the frame budget 1000/F ms that p90 (single-stream) or p99 (multi-stream) must meet
    target_fps: float | None = None
    compliant: bool = False
    min_duration_s: float = 1.0
    min_query_count: int | None = None
    #: Server: at most this many LoadGen runs in the search for the highest VALID arrival rate
    server_steps: int = 6

    def __post_init__(self):
        object.__setattr__(self, "scenarios", tuple(self.scenarios))
        if not self.scenarios:
            raise InvalidConfigError("--scenario needs at least one of " + ", ".join(SCENARIOS))
        for s in self.scenarios:
            if s not in SCENARIOS:
                raise InvalidConfigError(f"scenario {s!r} is not one of {', '.join(SCENARIOS)}")
        if len(set(self.scenarios)) != len(self.scenarios):
            raise InvalidConfigError(f"scenario listed twice in {','.join(self.scenarios)}")
        if not self.server_latency_ms > 0:
            raise InvalidConfigError(f"--server-latency must be above 0 ms, got {self.server_latency_ms}")
        if self.target_fps is not None and not self.target_fps > 0:
            raise InvalidConfigError(f"--target-fps must be above 0, got {self.target_fps}")
        if not self.min_duration_s > 0 or (self.min_query_count is not None and self.min_query_count < 1):
            raise InvalidConfigError("LoadGen's minimum duration must be above 0 s and its minimum query count >= 1")
        if self.server_steps < 1:
            raise InvalidConfigError(f"server_steps must be >= 1, got {self.server_steps}")


@dataclass(frozen=True)
class SuiteConfig:
    models: list[str] = field(default_factory=lambda: list(PAPER_SUITE))
    backends: list[str] | None = None  # None: [pytorch, every optimiser installed here]
    batch_size: int = 1
    precision: str = "fp32"
    device: str = "auto"
    model_options: ModelOptions = field(default_factory=ModelOptions)
    timing: TimingConfig = field(default_factory=TimingConfig)
    pool_size: int = 8
    out_dir: Path = Path("results")
    db: Path | None = None  # default: out_dir / edgebench.sqlite
    cache_dir: Path | None = None
    check_overhead: bool = False
    #: timing rounds per cell, the model's backends interleaved round by round so that drift
    #: of the machine hits pre and post alike
    repetitions: int = 3
    #: each cell in its own spawned worker process (a crash or OOM costs only that cell)
    isolate: bool = True
    cell_timeout_s: float = 1800.0
    #: skip cells already stored ok with the same fingerprint (their rows join this run)
    resume: bool = False
    #: a remote target's name (`edgebench targets add`): the cells run there, through its agent
    target: str | None = None
    #: each cell's per-layer profile from its runtime's own profiler, taken after its timed
    #: rounds (bench.profile); a target's tensorrt cells carry trtexec's profile either way
    profile: bool = False
    #: MLPerf LoadGen scenarios instead of the harness's timed rounds: one cell per scenario
    loadgen: LoadGenConfig | None = None
    #: before each cell, wait until the device is cooler than this (degrees C; bench.soak.cool_before),
    #: at most cool_timeout_s
    cool_to_c: float | None = None
    cool_timeout_s: float = 600.0

    def __post_init__(self):
        """The checks that need no device probe or backend lookup (dataclasses.replace runs them
        again); resolved() does the rest."""
        check_batch_size(self.batch_size)
        if not self.models:
            raise InvalidConfigError("no models given; pass --models a,b or leave it out for the paper's suite")
        if self.device != "auto":
            resolve_device(self.device)
        if self.precision != "auto" and self.precision not in PRECISIONS:
            raise InvalidConfigError(f"precision must be one of {', '.join(PRECISIONS)} or auto, not {self.precision!r}")
        if self.target is not None and self.precision == "auto":
            raise InvalidConfigError("--precision auto is not offered with --target; name each backend's precision, "
                                     "e.g. --backends pytorch,tensorrt@fp16")
        if self.target is not None and self.loadgen is not None:
            raise InvalidConfigError(f"--scenario is refused for target {self.target}: LoadGen (mlcommons-loadgen) does "
                                     "not run in its Python 3.6 agent; run the scenarios on this machine, or measure "
                                     "the target without --scenario (trtexec's own timings)")

    def resolved(self) -> "SuiteConfig":
        """The device resolved, the backends listed (the default set, `auto` precisions expanded)
        and each spec parsed, the store's path filled in."""
        if self.target is not None:  # the device and the default backends are the target's (targets.remote)
            return replace(self, backends=list(self.backends) if self.backends else None,
                           db=self.db or self.out_dir / "edgebench.sqlite", timing=replace(self.timing, processes=1))
        device = resolve_device(self.device)
        backends = list(self.backends) if self.backends else [BASELINE_BACKEND, *default_post_backends(device)]
        if self.precision == "auto":
            backends = expand_auto(backends, device)
        for b in backends:
            _, _, options = parse_backend_spec(b, "fp32" if self.precision == "auto" else self.precision)
            if "fallback" in options and options["fallback"] not in ("fp32", "fp16", "bf16"):
                raise InvalidConfigError(f"fallback={options['fallback']!r} in backend {b!r}: use fp32, fp16 or bf16")
        if len(set(backends)) != len(backends):
            raise InvalidConfigError(f"backend listed twice in {backends}")
        # several timing processes need isolated cells (bench.spread); in this process there is one
        timing = self.timing if self.isolate else replace(self.timing, processes=1)
        return replace(self, backends=backends, device=device, db=self.db or self.out_dir / "edgebench.sqlite",
                       timing=timing)


def baseline_is_reference(cfg: SuiteConfig) -> bool:
    """Whether the baseline cell's outputs are the pristine model's FP32 outputs (plain eager
    PyTorch at FP32), so the other cells may be compared with them; otherwise every cell is
    compared with the pristine module run on the CPU (always on a remote target: the reference is
    the host's)."""
    if cfg.target is not None:
        return False
    name, precision, options = parse_backend_spec(cfg.backends[0], "fp32")
    return name == BASELINE_BACKEND and precision == "fp32" and not set(options) - {"threads"}
