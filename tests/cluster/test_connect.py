"""What a task asks Ray for: needs no cluster (the node list is data)."""
from edgebench.cluster.connect import DeviceNode, task_options


def test_a_gpu_nodes_task_asks_for_its_gpus_so_ray_leaves_them_visible():
    nodes = [DeviceNode("orin", "10.0.0.2", "n1", True, gpus=1.0), DeviceNode("x86", "10.0.0.3", "n2", True),
             DeviceNode("h100", "10.0.0.4", "n3", False, gpus=8.0), DeviceNode("h100", "10.0.0.5", "n4", True, gpus=2.0)]
    assert task_options("orin", nodes) == {"resources": {"edgebench:orin": 1}, "num_cpus": 0, "num_gpus": 1.0}
    assert task_options("x86", nodes)["num_gpus"] == 0.0
    assert task_options("h100", nodes)["num_gpus"] == 2.0  # the alive node's, not the dead one's
