"""The rolling-restart gate on a real cluster, through the command a restart script runs:
`kafka-cluster-exporter check --stop-broker ID`, compared with what Kafka then does to acks=all writes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cluster import ZkCluster
from tests.integration.test_replication_safety import create_assigned, produce_one

pytestmark = pytest.mark.cluster

GUARDED = "gate-rf3"  # RF 3, min ISR 2
RELAXED = "gate-rf3-min1"  # RF 3, min ISR 1: survives two losses


def gate(config: Path, broker: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exporter", "check", "--config", str(config), "--stop-broker", str(broker)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def isr_without(cluster: ZkCluster, broker: int) -> bool:
    md = cluster.admin_client().list_topics(GUARDED, timeout=10)
    return all(broker not in p.isrs for p in md.topics[GUARDED].partitions.values())


async def test_the_gate_says_what_stopping_a_broker_would_do(cluster_factory: Any, tmp_path: Path) -> None:
    cluster: ZkCluster = cluster_factory("zookeeper", [1, 2, 3])
    bs = cluster.bootstrap_servers
    assignment = [[1, 2, 3], [2, 3, 1], [3, 1, 2]]
    create_assigned(bs, {GUARDED: assignment}, {"min.insync.replicas": "2"})
    create_assigned(bs, {RELAXED: assignment}, {"min.insync.replicas": "1"})
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"clusters": [{"name": "live", "bootstrap_servers": bs}]}))

    healthy = await asyncio.to_thread(gate, config, 1)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "stopping broker 1 (brokers 1) now: SAFE" in healthy.stdout

    cluster.kill(2)
    deadline = time.monotonic() + 60
    while not await asyncio.to_thread(isr_without, cluster, 2):
        assert time.monotonic() < deadline, "broker 2 never left the ISRs"
        await asyncio.sleep(1)
    refused = await asyncio.to_thread(gate, config, 1)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    named = {
        (f[0], int(f[1]))
        for line in refused.stdout.splitlines()[1:]
        if (f := line.split()) and "min.insync.replicas" in line
    }
    # Every GUARDED partition is down to ISR {1, 3}: stopping 1 leaves one in-sync replica, under min ISR 2.
    assert named == {(GUARDED, p) for p in range(3)}, refused.stdout
    assert "NOT SAFE: 3 partitions would stop taking acks=all writes, 0 already do" in refused.stdout

    # What Kafka really does once broker 1 stops: exactly the named partitions refuse acks=all writes.
    await asyncio.to_thread(cluster.stop_broker, 1)
    for p in range(3):
        err = await asyncio.to_thread(produce_one, bs, GUARDED, "all", p)
        assert err is not None and err.name() in ("NOT_ENOUGH_REPLICAS", "NOT_ENOUGH_REPLICAS_AFTER_APPEND"), err
        assert await asyncio.to_thread(produce_one, bs, RELAXED, "all", p) is None
    # And the gate now says the cluster is already refusing writes, whatever is stopped next.
    after = await asyncio.to_thread(gate, config, 3)
    assert after.returncode == 1 and "already offline or under min.insync.replicas" in after.stdout
