"""`edgebench fleet`: the devices a Ray cluster offers, the node of each, and what it has."""
from __future__ import annotations

from dataclasses import dataclass, field

from edgebench.cluster.connect import connect, offered, task_options

#: seconds a device's facts may take to come back (a busy device answers once its cell is done)
FACTS_TIMEOUT_S = 60.0


@dataclass
class FleetDevice:
    """One device of the fleet: where it is, whether its node is alive, and its facts
    (node.FACTS, plus `ray`); `note` says why facts are missing."""

    device: str
    node_ip: str
    node_id: str
    alive: bool
    facts: dict = field(default_factory=dict)
    note: str = ""


def list_fleet(address: str | None, timeout_s: float = FACTS_TIMEOUT_S) -> list[FleetDevice]:
    """Every device the cluster at `address` offers, each alive one's facts from a task pinned
    to its resource."""
    from edgebench.cluster.node import device_facts

    ray = connect(address)
    nodes = offered(ray)
    out = [FleetDevice(d.device, d.node_ip, d.node_id, d.alive) for d in nodes]
    remote = ray.remote(device_facts)
    refs = {}
    for dev in out:
        if dev.alive and dev.device not in refs:
            refs[dev.device] = remote.options(**task_options(dev.device, nodes)).remote()
    ready, _ = ray.wait(list(refs.values()), num_returns=len(refs), timeout=timeout_s)
    for dev in out:
        ref = refs.get(dev.device)
        if ref is None:
            dev.note = "node not alive"
        elif ref not in ready:
            dev.note = f"busy: no answer in {timeout_s:.0f} s"
        else:
            try:
                dev.facts = ray.get(ref)
            except Exception as exc:  # a node without edgebench importable, a crash: shown, not fatal
                dev.note = (str(exc).strip().splitlines() or [type(exc).__name__])[-1][:120]
    for ref in refs.values():
        if ref not in ready:
            ray.cancel(ref, force=True)
    return out


def render_fleet(devices: list[FleetDevice]) -> str:
    """The fleet as a plain-text table, one line per device and node."""
    if not devices:
        return ("no node of the cluster offers a device; start one with "
                "`ray start --address HEAD:6379 --resources '{\"edgebench:NAME\": 1}'`")
    head = ("device", "node", "alive", "cpu", "gpu", "torch", "onnxruntime", "openvino", "python", "ray")
    rows = []
    for d in devices:
        f = d.facts
        cpu = f"{f.get('cpu')} ({f.get('cpu_logical')} threads)" if f else d.note
        rows.append((d.device, f"{d.node_ip} {d.node_id[:8]}", "yes" if d.alive else "no", cpu,
                     *(str(f.get(k, "")) for k in ("gpu", "torch", "onnxruntime", "openvino", "python", "ray"))))
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in (head, *rows))
