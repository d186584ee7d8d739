"""`run --target NAME --dry-run`: every command a run would send to the device, from the target's
stored probe, with nothing exported, copied or run. Paths of files made on the host show their
content hash as a placeholder (it is known only once the model is exported)."""
from __future__ import annotations

import json
import math
import shlex

from edgebench.targets import remote
from edgebench.targets.arms import IDLE_S, TEGRASTATS_MS, WORKSPACE_MIB


def plan_lines(cfg) -> list[str]:
    """The dry run of a suite config with a target, one line a command."""
    from edgebench.bench.engine import split_timing
    from edgebench.config import backend_cells
    from edgebench.models import get_spec
    from edgebench.targets import registry, trtexec
    from edgebench.targets.session import AGENT_FILE
    from edgebench.targets.ssh import remote_file_path

    cfg = cfg.resolved()
    target = registry.get_target(cfg.target)
    conn = target.connection()
    probe = target.probe or {}
    env = remote.target_env(target.name, target.url, probe)
    opset = min(cfg.model_options.opset, remote.target_opset(probe.get("tensorrt_version")))
    backends = cfg.backends or ["pytorch", "tensorrt" if env.get("trtexec") else "onnxruntime"]
    agent = remote_file_path(AGENT_FILE)
    python = target.python
    lines = [
        f"# dry run on target {target.name} ({target.url}), from its probe of {target.probed_at or 'never'}: nothing is run",
        f"# each device command below runs as: {shlex.join(conn.argv(['COMMAND']))}",
        "# host: build each model, export it to ONNX at opset "
        f"{opset}, write its inputs as raw float32 files; copy each file the device lacks to "
        ".cache/edgebench/files/<sha256>/<name> (one `test -f` listing, then one upload each):",
        f"$ {conn.upload_command(AGENT_FILE)}",
        f"$ {shlex.join([python, agent, 'probe'])}",
        "# pytorch and onnxruntime: the agent's serve process, one per cell, fed the JSON requests shown (>);",
        "# tensorrt: the commands shown run through that process's exec request, without a shell",
    ]
    tegrastats = TEGRASTATS_MS if env.get("tegrastats") else None
    rounds = split_timing(cfg.timing, cfg.repetitions)  # the model's cells take turns, round by round
    for model in cfg.models:
        spec = None if model.endswith(".onnx") else get_spec(model, cfg.model_options.input_shape)
        shape = tuple(spec.input_shape) if spec else ("<from the ONNX file>",)
        stem = model.rsplit("/", 1)[-1].replace(":", "-").removesuffix(".onnx")
        onnx = f".cache/edgebench/files/<sha256 of {stem}.onnx>/{stem}.onnx"
        for name, precision, _ in backend_cells(backends, cfg.precision):
            lines.append(f"## {model} / {name} {precision}")
            if name in ("pytorch", "onnxruntime"):
                lines.append(f"$ {shlex.join([python, agent, 'serve'])}")
                source = {"onnx": onnx} if name == "onnxruntime" else {
                    "model": "<torchvision name or shipped definition>", "weights": f"<state dict of {stem}>"}
                lines.append("> " + json.dumps({"op": "open", "engine": name, "device": cfg.device, "precision": precision,
                                                "batch": cfg.batch_size, **source}))
                for r, t in enumerate(rounds):
                    lines.append("> " + json.dumps({"op": "measure", "warmup_iters": t.warmup_iters, "warmup_s": t.warmup_s,
                                                    "min_iters": t.min_iters, "min_time_s": t.min_time_s,
                                                    "tegrastats_ms": tegrastats,
                                                    "idle_s": IDLE_S if r == 0 and tegrastats else 0.0}))
                lines.append("> " + json.dumps({"op": "close"}))
            elif name == "tensorrt":
                tool, version = env.get("trtexec"), probe.get("tensorrt_version")
                if not tool or not version or spec is None:
                    lines.append("# skipped: " + ("no trtexec on the target" if not tool else
                                                  "no TensorRT version in the probe" if not version else
                                                  "the input shape is read from the ONNX file at run time"))
                    continue
                engine = f".cache/edgebench/engines/<key of {stem} {precision} TensorRT {version}>.engine"
                work = ".cache/edgebench/runs/<cell>"
                max_batch = max(cfg.batch_size, remote.PARITY_BATCH)
                lines.append(f"$ {shlex.join(['mkdir', '-p', '.cache/edgebench/engines', work])}")
                lines.append("$ " + shlex.join(trtexec.build_argv(
                    tool, onnx, engine, sample_shape=shape, trt_version=version, precision=precision,
                    opt_batch=cfg.batch_size, max_batch=max_batch, workspace_mib=WORKSPACE_MIB))
                    + "   # unless the engine is on the device already")
                chunks = math.ceil(cfg.model_options.check_size / remote.PARITY_BATCH)
                lines.append("$ " + shlex.join(trtexec.parity_argv(
                    tool, engine, ".cache/edgebench/files/<sha256>/parity-<i>.bin", f"{work}/parity-<i>.json",
                    sample_shape=shape, batch=remote.PARITY_BATCH)) + f"   # for i in 0..{chunks - 1}")
                if tegrastats:
                    lines.append(f"$ sleep {IDLE_S:g}   # with tegrastats --interval {tegrastats}: the idle baseline")
                for r, t in enumerate(rounds):
                    lines.append("$ " + shlex.join(trtexec.timing_argv(
                        tool, engine, f"{work}/times.json", sample_shape=shape, batch=cfg.batch_size,
                        warmup_ms=int(round(t.warmup_s * 1e3)), duration_s=t.min_time_s, iterations=t.min_iters,
                        trt_version=version))
                        + f"   # round {r + 1}" + (f", with tegrastats --interval {tegrastats}" if tegrastats else ""))
                lines.append("$ " + shlex.join(trtexec.profile_argv(
                    tool, engine, f"{work}/profile.json", f"{work}/layers.json", sample_shape=shape,
                    trt_version=version, batch=cfg.batch_size)))
                lines.append(f"$ {shlex.join(['rm', '-rf', work])}")
            else:
                lines.append(f"# skipped: {name} does not run on a target")
    return lines
