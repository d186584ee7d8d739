"""What the agent's probe found on a target, as typed data: each fact a value or None (and the
probe's reason for a None), checked once when the agent's JSON is read. The run's environment
(results.run, in the keys a local run's environment uses) is made from it here."""
from __future__ import annotations

from dataclasses import dataclass, field

from edgebench.errors import TargetOutputError

#: fact -> its JSON type in the agent's probe (agent.py `probe`)
_STR = ("python_version", "python_executable", "system", "machine", "cpu_model", "l4t", "jetpack", "gpu",
        "tensorrt_version", "trtexec", "tegrastats", "torch_version", "onnxruntime_version")
_INT = ("cpu_count", "memory_total_kib")


@dataclass(frozen=True)
class TargetProbe:
    """A target as its agent described it. None: not found (`reason(name)` says why)."""

    python_version: str | None = None
    python_executable: str | None = None
    system: str | None = None
    machine: str | None = None
    cpu_model: str | None = None
    cpu_count: int | None = None
    memory_total_kib: int | None = None
    l4t: str | None = None
    jetpack: str | None = None
    power_mode: str | None = None  # nvpmodel's mode name
    power_mode_id: int | None = None
    gpu: str | None = None
    tensorrt_version: str | None = None
    trtexec: str | None = None
    tegrastats: str | None = None
    torch_version: str | None = None
    onnxruntime_version: str | None = None
    reasons: dict = field(default_factory=dict)
    #: the agent's whole answer, as stored in the targets file and printed by `targets probe --json`
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, d: dict | None, source: str = "the probe") -> "TargetProbe":
        """Read the agent's probe JSON; a fact of the wrong type is refused (TargetOutputError)."""
        d = d or {}
        if not isinstance(d, dict):
            raise TargetOutputError(f"{source}: not a JSON object")
        values: dict = {}
        for name in _STR + _INT:
            value = d.get(name)
            want = str if name in _STR else int
            if value is not None and (not isinstance(value, want) or isinstance(value, bool)):
                raise TargetOutputError(f"{source}: {name} is {value!r}, not a {want.__name__}")
            values[name] = value or None
        mode = d.get("power_mode")
        if isinstance(mode, dict):
            values["power_mode"] = str(mode["name"]) if mode.get("name") is not None else None
            values["power_mode_id"] = mode.get("id") if isinstance(mode.get("id"), int) else None
        reasons = d.get("reasons") or {}
        if not isinstance(reasons, dict):
            raise TargetOutputError(f"{source}: reasons is not an object")
        return cls(**values, reasons={str(k): str(v) for k, v in reasons.items()}, raw=dict(d))

    @property
    def has_gpu(self) -> bool:
        return self.gpu is not None

    def reason(self, name: str) -> str:
        """Why `name` was not found, as the probe said."""
        return self.reasons.get(name, "the probe gave no reason")

    def run_env(self, name: str, url: str) -> dict:
        """The run's environment, in the keys (and the "absent"/"none" words) a local run's uses
        (bench.environment.capture), plus what only a target has."""
        return {
            "target": name,
            "target_address": url,
            "host": name,
            "os": (self.system or "?") + (f" L4T {self.l4t}" if self.l4t else ""),
            "machine": self.machine,
            "python": self.python_version,
            "cpu": self.cpu_model or "unknown",
            "cpu_logical": self.cpu_count,
            "memory_total_mib": round(self.memory_total_kib / 1024) if self.memory_total_kib else None,
            "jetson": self.l4t is not None,
            "l4t": self.l4t,
            "jetpack": self.jetpack,
            "power_mode": self.power_mode,
            "gpu": self.gpu or "none",
            "torch": self.torch_version or "absent",
            "onnxruntime": self.onnxruntime_version or "absent",
            "tensorrt": self.tensorrt_version or "absent",
            "trtexec": self.trtexec,
            "tegrastats": self.tegrastats,
            "probe_reasons": dict(self.reasons),
            **_setup(self.raw.get("setup_readings")),
        }


def _setup(readings) -> dict:
    """The target's setup fingerprint and its warnings (results.setup), from the raw readings its
    agent sent back as text; nothing for an agent that sent none."""
    if not isinstance(readings, dict):
        return {}
    from edgebench.results import setup

    files = readings.get("files") if isinstance(readings.get("files"), dict) else {}
    commands = readings.get("commands") if isinstance(readings.get("commands"), dict) else {}
    clean = {"files": {str(k): v for k, v in files.items() if isinstance(v, str)},
             "commands": {str(k): v for k, v in commands.items() if v is None or isinstance(v, str)}}
    fp = setup.fingerprint(clean)
    return {"setup": fp, "setup_warnings": setup.warnings(fp)}

