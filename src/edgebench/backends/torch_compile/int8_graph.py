"""INT8 (and FP8 e4m3) convolutions fused as TensorRT fuses them: each convolution with the residual
add and ReLU after it becomes one int8_conv kernel, and the activations between two such kernels
stay int8 (fp8). The text below says int8; `kind="fp8"` stores and multiplies in e4m3 instead.

On the model's torch.fx graph (BatchNorm already folded into the convolutions):
1. each plain Conv2d the fused kernel serves (low_precision.why_not: any width; not grouped, not a
   reduction under 32) starts a group; the add its output alone feeds (a residual branch's, of the
   same shape) and a ReLU after that join it;
2. calibration runs the float graph on the task's inputs and records the largest |value| of each
   group's input, output and residual branch (symmetric per-tensor scales, max / 127);
3. with a benchmark batch (on CUDA), each group's fused kernel is timed on its real shapes in each
   of its tile shapes (int8_conv.tiles), against the float convolution alone, and kept in its
   fastest tile only where that is faster (the float time leaves out the add and ReLU the fused
   kernel includes, so a kept layer is faster than its float form);
4. a group's output is stored int8 where every reader is another group (as its input or as its
   residual), else in the float dtype; an input that comes in float is quantised while loaded;
5. the group's nodes are replaced by one call of its Int8ConvFused module.

What does not trace, or a GPU whose fused kernel fails its probe, keeps low_precision's per-layer
INT8 path. Importing this module imports Triton (int8_conv): only the torch-compile backend does,
on CUDA, and the tests under Triton's interpreter."""
from __future__ import annotations

import operator
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import fx, nn

from edgebench.backends.torch_compile.conv_lowering import set_layer, time_layer_s
from edgebench.backends.torch_compile.int8_conv import ACTIVATIONS, Int8ConvFused, reference, tiles
from edgebench.backends.torch_compile.low_precision import QMAX, functional_convs_as_modules, quantize_tensor, why_not

#: what the fused path is called in a layer's row and the backend's details
PATH = "triton-fused-conv"
_ADDS = (operator.add, operator.iadd, torch.add)
_RELUS = (torch.relu, torch.relu_, F.relu)
_RELU6S = (F.relu6,)


@dataclass(eq=False)
class Group:
    """One convolution and what joins it; nodes of the traced graph."""
    conv: fx.Node
    #: the convolution's input node, as traced (rewriting other groups later rewires the graph's edges)
    x: fx.Node
    add: fx.Node | None = None
    residual: fx.Node | None = None
    relu: fx.Node | None = None
    #: what `relu` computes: 1 ReLU, 2 ReLU6 (int8_conv.ACTIVATIONS)
    act: int = 0
    x_int8: bool = False
    y_int8: bool = False

    @property
    def tail(self) -> fx.Node:
        return self.relu or self.add or self.conv

    @property
    def name(self) -> str:
        return str(self.conv.target)

    def fused(self) -> str:
        return "+".join(["bias", *(["residual add"] if self.add is not None else []),
                         *([ACTIVATIONS[self.act]] if self.relu is not None else [])])


def traced(module: nn.Module) -> tuple[fx.GraphModule | None, str]:
    """(module as a torch.fx GraphModule, "") or (None, why it does not trace). Convolutions a
    Conv2d subclass computes in its own forward become plain ones (as fold_batchnorm makes them
    where there are BatchNorms to fold)."""
    if isinstance(module, fx.GraphModule):
        return module, ""
    try:
        gm = fx.symbolic_trace(module)
    except Exception as exc:  # noqa: BLE001 - any tracing failure keeps the per-layer path
        return None, f"the model does not trace with torch.fx ({type(exc).__name__})"
    functional_convs_as_modules(gm, module)
    return gm, ""


def _activation(node: fx.Node, modules: dict) -> int:
    """1 where `node` is a ReLU, 2 a ReLU6, else 0."""
    if node.op == "call_module":
        return {nn.ReLU: 1, nn.ReLU6: 2}.get(type(modules.get(node.target)), 0)
    if node.op == "call_function" and len(node.args) == 1 and set(node.kwargs) <= {"inplace"}:
        return 1 if node.target in _RELUS else 2 if node.target in _RELU6S else 0
    return int(node.op == "call_method" and node.target in ("relu", "relu_") and len(node.args) == 1)


def _is_add(node: fx.Node) -> bool:
    return (node.op == "call_function" and node.target in _ADDS and len(node.args) == 2 and not node.kwargs
            and all(isinstance(a, fx.Node) for a in node.args))


def plan(gm: fx.GraphModule, kind: str = "int8") -> tuple[list[Group], list[dict]]:
    """(the groups, a row for each Conv2d that stays in floating point and why), for `kind`'s
    product ("int8" or "fp8")."""
    modules = dict(gm.named_modules())
    calls: dict[str, int] = {}
    for node in gm.graph.nodes:
        if node.op == "call_module":
            calls[node.target] = calls.get(node.target, 0) + 1
    groups, kept, claimed = [], [], set()
    for node in gm.graph.nodes:
        if node.op != "call_module" or not isinstance(modules.get(node.target), nn.Conv2d):
            continue
        reason = why_not(modules[node.target], kind, aligned=False)  # the kernel masks any width
        if not reason and (calls[node.target] > 1 or len(node.args) != 1 or node.kwargs
                           or not isinstance(node.args[0], fx.Node)):
            reason = "the layer is called more than once or with more than its input"
        if reason:
            kept.append({"layer": node.target, "choice": "fp16", "reason": reason})
            continue
        group, tail = Group(node, node.args[0]), node
        if len(tail.users) == 1:
            user = next(iter(tail.users))
            if _is_add(user) and user not in claimed and user.args[0] is not user.args[1]:
                group.add, group.residual = user, user.args[1] if user.args[0] is tail else user.args[0]
                claimed.add(user)
                tail = user
        if len(tail.users) == 1 and _activation(next(iter(tail.users)), modules):
            group.relu = next(iter(tail.users))
            group.act = _activation(group.relu, modules)
        groups.append(group)
    return groups, kept


class _Recorder(fx.Interpreter):
    """Runs the graph, keeping each wanted node's largest |value| and its shape."""

    def __init__(self, gm: fx.GraphModule, wanted):
        super().__init__(gm)
        self.amax = dict.fromkeys(wanted, 0.0)
        self.shapes: dict = {}

    def run_node(self, n):
        out = super().run_node(n)
        if n in self.amax and isinstance(out, torch.Tensor):
            self.amax[n] = max(self.amax[n], float(out.detach().abs().max()))
            self.shapes[n] = (tuple(out.shape), out.dim() == 4 and out.is_contiguous(memory_format=torch.channels_last))
        return out


def _record(gm: fx.GraphModule, groups: list[Group], batches) -> _Recorder:
    wanted = {n for g in groups for n in (g.x, g.conv, g.tail, g.residual) if n is not None}
    rec = _Recorder(gm, wanted)
    with torch.no_grad():
        for batch in batches:
            rec.run(*(batch if isinstance(batch, tuple) else (batch,)))
    return rec


def fuse_convs(module: nn.Module, calibration, out_dtype=torch.float16, example: tuple | None = None,
               kind: str = "int8", known: dict | None = None):
    """(the module, traced and rewritten; one row per Conv2d; "") or (module unchanged, [], why the
    fused path is not used). `calibration`: batches (tuples of tensors on the module's device, in
    out_dtype); `example`: a benchmark batch for the per-layer timing (CUDA), or None; `kind`:
    "int8", or "fp8" (e4m3: sm_89 and newer), the product and the stored activations' dtype;
    `known`: layer name -> (float us, fused us or None where it failed, its tile) from an earlier
    build here: not timed again."""
    gm, why = traced(module)
    if gm is None:
        return module, [], why
    groups, kept = plan(gm, kind)
    rows = {r["layer"]: r for r in kept}
    calib = _record(gm, groups, calibration)
    alive = []
    for g in groups:
        row = rows[g.name] = {"layer": g.name, "choice": kind, "reason": "", "gpu_path": PATH, "fused": g.fused()}
        if g.add is not None and calib.shapes.get(g.residual, (None,))[0] != calib.shapes.get(g.conv, (None,))[0]:
            g.add = g.residual = g.relu = None  # a broadcasting add: the convolution alone
            g.act = 0
            row["fused"] = g.fused()
        if calib.amax[g.x] == 0.0:
            row.update(choice="fp16", reason="its input was zero on every calibration input")
            continue
        alive.append(g)
    groups = alive
    modules = dict(gm.named_modules())
    if example is not None:
        groups = _timed(gm, groups, modules, example, rows, out_dtype, kind, known or {})
    by_tail = {g.tail: g for g in groups}
    by_conv = {g.conv: g for g in groups}
    by_add = {g.add: g for g in groups if g.add is not None}
    for g in groups:  # stored in the kind's dtype where every reader is a group
        users = list(g.tail.users)
        g.y_int8 = bool(users) and calib.amax[g.tail] > 0 and all(
            (u in by_conv and by_conv[u].x is g.tail) or (u in by_add and by_add[u].residual is g.tail) for u in users)
    for g in groups:
        src = by_tail.get(g.x)
        g.x_int8 = src is not None and src.y_int8
    new_nodes: dict = {}
    for g in groups:
        res_src = by_tail.get(g.residual)
        r_int8 = res_src is not None and res_src.y_int8
        conv = modules[g.name]
        fused = Int8ConvFused(conv, _scale(calib.amax[g.x], kind), x_int8=g.x_int8, relu=g.act,
                              y_scale=_scale(calib.amax[g.tail], kind) if g.y_int8 else None,
                              r_scale=_scale(calib.amax[res_src.tail], kind) if r_int8 else 1.0,
                              out_dtype=out_dtype, kind=kind, tile=rows[g.name].get("tile", ())).to(conv.weight.device)
        set_layer(gm, g.name, fused)
        rows[g.name].update(input=kind if g.x_int8 else "float", output=kind if g.y_int8 else "float",
                            **({"residual": kind if r_int8 else "float"} if g.residual is not None else {}))
        x = new_nodes.get(g.x, g.x)
        args = (x,) if g.residual is None else (x, new_nodes.get(g.residual, g.residual))
        with gm.graph.inserting_before(g.tail):
            new = gm.graph.call_module(g.name, args)
        tail = g.tail
        tail.replace_all_uses_with(new)
        new_nodes[tail] = new
        for node in (g.relu, g.add, g.conv):
            if node is not None:
                gm.graph.erase_node(node)
    gm.graph.lint()
    gm.recompile()
    order = [n.target for n in gm.graph.nodes if n.op == "call_module" and n.target in rows]
    return gm, [rows[name] for name in dict.fromkeys(order)] + [r for name, r in rows.items() if name not in order], ""


def _scale(amax: float, kind: str) -> float:
    return max(amax, 1e-12) / QMAX[kind]


def _stored_random(shape, device, kind: str):
    """Random values in the kind's dtype, channels-last: what a timed layer reads."""
    return quantize_tensor(torch.randn(shape, device=device) * 64, 1.0, kind).contiguous(memory_format=torch.channels_last)


def _timed(gm, groups: list[Group], modules: dict, example: tuple, rows: dict, out_dtype, kind: str,
           known: dict) -> list[Group]:
    """The groups whose fused kernel (the kind's dtype in and out, its residual too), timed on the
    example's shapes in each of its tile shapes (int8_conv.tiles), is faster in its best one than
    the float convolution alone (or as `known` says); the rows say both times and that tile (and,
    where timed now, every tile's time: `tiles_us`)."""
    shapes = _record(gm, groups, [example]).shapes
    timings: dict = {}
    kept = []
    for g in groups:
        conv = modules[g.name]
        (shape, channels_last), (out_shape, _) = shapes[g.x], shapes[g.conv]
        key = (repr(conv), shape, g.fused())
        if g.name in known:
            t_float, t_low, *tile = known[g.name]  # an entry without a tile: tile()'s
            timings[key] = (t_float, t_low, list(tile[0]) if tile else [], "" if t_low is not None else "at an earlier build", [])
        elif key not in timings:
            x = torch.randn(shape, device=conv.weight.device, dtype=conv.weight.dtype)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            t_float = round(time_layer_s(conv, x, 20) * 1e6, 2)
            timings[key] = (t_float, *_best_tile(conv, g, shape, out_shape, x.device, out_dtype, kind))
        t_float, t_low, tile, failed, timed = timings[key]
        rows[g.name].update(float_us=t_float, low_us=t_low, tile=tile, **({"tiles_us": timed} if len(timed) > 1 else {}),
                            **({"tiles_failed": failed} if failed else {}))
        if t_low is None:
            rows[g.name].update(choice="fp16", reason=f"the fused {kind} kernel failed here in every tile shape ({failed})")
            continue
        if t_low >= t_float:
            rows[g.name].update(choice="fp16", reason=f"not faster here: fused {kind} {t_low:.1f} us against {t_float:.1f} us "
                                                      f"for the {str(out_dtype).split('.')[-1]} convolution alone")
            continue
        kept.append(g)
    return kept


def _best_tile(conv: nn.Conv2d, g: Group, shape, out_shape, device, out_dtype, kind: str):
    """(us, tile, "", every tile's [tile, us]) of the fastest of the fused kernel's tile shapes for
    this layer on its shapes, reading and writing the kind's dtype; a shape that fails (more shared
    memory than this GPU has) is skipped and named in the third item; us None and tile [] where all
    fail."""
    fused = Int8ConvFused(conv, 1 / 32, x_int8=True, relu=g.act, y_scale=1 / 32, r_scale=1 / 32,
                          out_dtype=out_dtype, kind=kind).to(device)
    q = _stored_random(shape, device, kind)
    r = None if g.residual is None else _stored_random(out_shape, device, kind)
    timed, failed = [], []
    rows = out_shape[0] * out_shape[2] * out_shape[3]  # output positions: the product's rows
    for candidate in tiles(rows, conv.out_channels, fused.weight.shape[1], shape[1]):
        fused.tile = list(candidate)
        try:
            timed.append([list(candidate), round(time_layer_s(partial(fused, residual=r), q, 20) * 1e6, 2)])
        except Exception as exc:  # noqa: BLE001 - e.g. Triton's OutOfResources: that shape is not for this GPU
            failed.append(f"{list(candidate)}: {type(exc).__name__}")
    best = min(timed, key=lambda pair: pair[1]) if timed else ([], None)
    return best[1], best[0], "; ".join(failed), timed


def probe(device, kind: str = "int8") -> str:
    """"" where the fused kernel runs on `device` in `kind` and agrees with the float convolution
    (relative error < 2% for INT8, 5% for FP8's 3-bit mantissa; input, output and residual stored,
    ReLU), else why it is not used."""
    def stored(t, scale):  # the kind's dtype, channels-last, on the device
        return quantize_tensor(t, scale, kind).to(device).contiguous(memory_format=torch.channels_last)

    try:
        gen = torch.Generator().manual_seed(0)
        conv = nn.Conv2d(32, 32, 3, padding=1)
        with torch.no_grad():
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * 0.05)
            x = torch.randn(2, 32, 8, 8, generator=gen).relu()
            r = torch.randn(2, 32, 8, 8, generator=gen)
            ref = reference(conv, x, r, relu=True)
            xs, rs, ys = (float(t.abs().max()) / QMAX[kind] for t in (x, r, ref))
            fused = Int8ConvFused(conv, xs, x_int8=True, relu=True, y_scale=ys, r_scale=rs, kind=kind).to(device)
            got = fused(stored(x, xs), stored(r, rs)).float().cpu() * ys
        err = float((got - ref).norm() / ref.norm())
    except Exception as exc:  # noqa: BLE001 - any failure of the kernel keeps the per-layer path
        text = str(exc).strip().splitlines()
        return f"{PATH} failed here ({type(exc).__name__}: {text[0][:160] if text else ''})"
    if err < (0.02 if kind == "int8" else 0.05):
        return ""
    return f"{PATH} ({kind}) disagreed with the float convolution (relative error {err:.3g})"
