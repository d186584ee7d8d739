"""Reaching a Ray cluster and reading which devices its nodes offer: a device is the custom
resource `edgebench:<device>` a node was started with."""
from __future__ import annotations

import socket
from dataclasses import dataclass
from importlib.util import find_spec

from edgebench.errors import DependencyError, UserError

RESOURCE_PREFIX = "edgebench:"
INSTALL = "pip install 'edgebench[cluster]'"
#: seconds to wait for the cluster's port before calling it unreachable
CONNECT_TIMEOUT_S = 5.0


class ClusterConnectError(DependencyError):
    """Ray is missing, or the cluster at the address cannot be reached. Exit code 3."""


class UnknownDeviceError(UserError):
    """A device no node of the cluster offers. Exit code 2."""


def resource(device: str) -> str:
    """The Ray custom resource a node offering `device` was started with."""
    return RESOURCE_PREFIX + device


def import_ray():
    """The ray module, or ClusterConnectError with the install command."""
    if find_spec("ray") is None:
        raise ClusterConnectError(f"the cluster needs Ray, which is not installed here; {INSTALL}")
    import ray

    return ray


def _host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of `ray://HOST:PORT` or `HOST:PORT`; None for `auto` (Ray finds the local one)."""
    if address == "auto":
        return None
    rest = address.split("://", 1)[1] if "://" in address else address
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit():
        raise UserError(f"cluster address {address!r} is not ray://HOST:PORT, HOST:PORT or auto; "
                        "e.g. --cluster ray://head:10001 or --cluster head:6379")
    return host.strip("[]"), int(port)


def connect(address: str | None):
    """ray.init(address) on an existing cluster (never starts one); the ray module. `address`:
    `ray://HOST:10001` (Ray Client), `HOST:6379` (the head's GCS), `auto` or None (RAY_ADDRESS,
    else the cluster started on this machine)."""
    ray = import_ray()
    address = address or "auto"
    hp = _host_port(address)
    if hp is not None:  # Ray's own connect retries for a long while: a closed port is refused at once
        try:
            socket.create_connection(hp, timeout=CONNECT_TIMEOUT_S).close()
        except OSError as exc:
            raise ClusterConnectError(f"no Ray cluster answers at {address} ({exc.strerror or exc}); start one with "
                                      "`ray start --head` there, or pass --cluster with its address") from exc
    if ray.is_initialized():
        return ray
    try:
        ray.init(address=address, logging_level="ERROR", log_to_driver=False, configure_logging=True)
    except (ConnectionError, RuntimeError, TimeoutError) as exc:
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ClusterConnectError(f"cannot connect to the Ray cluster at {address} ({why}); start one with "
                                  "`ray start --head`, or pass --cluster with its address") from exc
    return ray


@dataclass
class DeviceNode:
    """One device a node offers: the device, the node's address and id, whether it is alive."""

    device: str
    node_ip: str
    node_id: str
    alive: bool
    gpus: float = 0.0  # the node's GPU resource


def offered(ray) -> list[DeviceNode]:
    """Every (device, node) the cluster knows, alive or not, by device then node."""
    out = []
    for node in ray.nodes():
        resources = node.get("Resources", {})
        for key in resources:
            if key.startswith(RESOURCE_PREFIX):
                out.append(DeviceNode(key[len(RESOURCE_PREFIX):], node.get("NodeManagerAddress", "?"),
                                      node.get("NodeID", "?"), bool(node.get("Alive")),
                                      float(resources.get("GPU", 0.0))))
    return sorted(out, key=lambda d: (d.device, not d.alive, d.node_ip))


def task_options(device: str, nodes: list[DeviceNode]) -> dict:
    """Ray options for a task that holds `device`: its resource, no CPU slot (the device is the
    unit), and every GPU of the node that offers it. Ray hides the GPUs from a task that asks
    for none (it sets CUDA_VISIBLE_DEVICES to empty), so a GPU node's cells would silently run on
    its CPU; asking for them keeps them visible, and the task holds the device whole anyway."""
    gpus = max((n.gpus for n in nodes if n.device == device and n.alive), default=0.0)
    return {"resources": {resource(device): 1}, "num_cpus": 0, "num_gpus": gpus}


def alive_devices(ray) -> set[str]:
    """The devices some alive node offers."""
    return {d.device for d in offered(ray) if d.alive}


def check_devices(ray, devices: list[str]) -> None:
    """Raise UnknownDeviceError for a device no alive node offers, listing those offered."""
    have = alive_devices(ray)
    missing = [d for d in devices if d not in have]
    if missing:
        listed = ", ".join(sorted(have)) or "none"
        raise UnknownDeviceError(f"no node of the cluster offers device {', '.join(missing)}; it offers: {listed} "
                                 f"(a node offers one with `ray start --resources '{{\"{resource(missing[0])}\": 1}}'`)")
