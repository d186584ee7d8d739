"""`run --target NAME --dry-run`: every command a run would send to the device, from the target's
stored probe, with nothing exported, copied or run. The lines come from the arms themselves
(targets.arms, targets.trtexec_arm: their request and argv builders), given a stand-in for the
device hold and for each model's cell; paths of files made on the host show their content hash as
a placeholder (it is known only once the model is exported)."""
from __future__ import annotations

import shlex
from dataclasses import dataclass

from edgebench.results.record import ModelFacts
from edgebench.targets import remote


@dataclass
class PlanCell:
    """What an arm reads of a model's cell, from its spec alone (nothing built)."""

    name: str
    item_shape: tuple
    batch_size: int
    check_items: int
    task: str = ""
    loaded = None

    @property
    def stem(self) -> str:
        return self.name.rsplit("/", 1)[-1].replace(":", "-").removesuffix(".onnx")

    def facts(self) -> ModelFacts:
        return ModelFacts(input_shape=list(self.item_shape))


class PlanHold:
    """What an arm reads of its hold on the device, from the target's stored probe."""

    lost = ""

    def __init__(self, target, device: str):
        from edgebench.targets.probe import TargetProbe

        self.target, self.name = target, target.name
        self.probe = TargetProbe.from_dict(target.probe, f"the stored probe of {target.name}")
        self.env = self.probe.run_env(target.name, target.url)
        self.device = device
        self.default_device = "cpu" if device == "cpu" or not self.probe.has_gpu else "cuda"
        from edgebench.targets.ssh import remote_file_path
        from edgebench.targets.session import AGENT_FILE

        self.agent_path = remote_file_path(AGENT_FILE)

    def summary(self) -> dict:
        return {"target": self.name}


def plan_lines(cfg) -> list[str]:
    """The dry run of a suite config with a target, one line a command."""
    from edgebench.bench.engine import split_timing
    from edgebench.config import backend_cells
    from edgebench.models import get_spec
    from edgebench.targets import registry
    from edgebench.targets.executor import make_arm
    from edgebench.targets.session import AGENT_FILE

    cfg = cfg.resolved()
    target = registry.get_target(cfg.target)
    conn = target.connection()
    hold = PlanHold(target, cfg.device)
    opset = min(cfg.model_options.opset, remote.target_opset(hold.probe.tensorrt_version))
    backends = cfg.backends or ["pytorch", "tensorrt" if hold.probe.trtexec else "onnxruntime"]
    lines = [
        f"# dry run on target {target.name} ({target.url}), from its probe of {target.probed_at or 'never'}: nothing is run",
        f"# each device command below runs as: {shlex.join(conn.argv(['COMMAND']))}",
        "# host: build each model, export it to ONNX at opset "
        f"{opset}, write its inputs as raw float32 files; copy each file the device lacks to "
        ".cache/edgebench/files/<sha256>/<name> (one `test -f` listing, then one upload each):",
        f"$ {conn.upload_command(AGENT_FILE)}",
        f"$ {shlex.join([target.python, hold.agent_path, 'probe'])}",
        "# pytorch and onnxruntime: the agent's serve process, one per cell, fed the JSON requests shown (>);",
        "# tensorrt: the commands shown run through that process's exec request, without a shell",
    ]
    rounds = split_timing(cfg.timing, cfg.repetitions)  # the model's cells take turns, round by round
    for model in cfg.models:
        if model.endswith(".onnx"):
            lines.append(f"## {model}: its input shape is read from the ONNX file at run time; run it to see its commands")
            continue
        spec = get_spec(model, cfg.model_options.input_shape)
        remote.one_input(model, spec.input_shape)
        cell = PlanCell(model, tuple(spec.input_shape), cfg.batch_size, cfg.model_options.check_size, spec.task)
        for name, precision, options in backend_cells(backends, cfg.precision):
            lines.append(f"## {model} / {name} {precision}")
            arm = make_arm(hold, cell, name, "dry-run", precision, cfg.timing, options)
            lines += arm.plan(rounds)
    return lines
