"""One Ray cluster per test session: a head (no CPU: it only schedules) and two one-CPU worker nodes."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import pytest

OBJECT_STORE_BYTES = 120 * 1024**2  # per node: the test corpora are small, and the machine is shared


@dataclass
class RayTestCluster:
    """A ``ray.cluster_utils.Cluster`` and its worker nodes."""

    cluster: Any
    workers: list = field(default_factory=list)

    @property
    def address(self) -> str:
        return self.cluster.address

    def add_worker(self) -> None:
        self.workers.append(self.cluster.add_node(num_cpus=1, object_store_memory=OBJECT_STORE_BYTES))

    def kill_worker(self) -> None:
        """Kill a worker node's raylet and workers at once, as a lost machine does."""
        self.cluster.remove_node(self.workers.pop(0), allow_graceful=False)


@pytest.fixture(scope="session")
def ray_cluster():
    """A real multi-node Ray cluster on this machine, with this process connected to it."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    test_cluster = RayTestCluster(
        Cluster(
            initialize_head=True,
            head_node_args={"num_cpus": 0, "object_store_memory": OBJECT_STORE_BYTES, "include_dashboard": False},
        )
    )
    for _ in range(2):
        test_cluster.add_worker()
    test_cluster.cluster.wait_for_nodes()
    ray.init(address=test_cluster.address, logging_level="WARNING", log_to_driver=False)
    try:
        yield test_cluster
    finally:
        ray.shutdown()
        test_cluster.cluster.shutdown()
