"""The plans on a real cluster, applied with Kafka's own tools: `plan replication-factor` leaves every topic at
the policy's replication factor, its replicas in distinct racks, and brokers evenly loaded; `plan drain` empties
brokers without a single failed acks=all write."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import Producer
from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

from harness.cluster import ZkCluster
from harness.story import fill
from harness.tools import LEADER_ELECTION_COMMAND, REASSIGN_PARTITIONS_COMMAND, run_tool
from tests.integration.scrape import cluster_config, one, running_exporter
from tests.integration.test_replication_safety import create_assigned

pytestmark = pytest.mark.cluster

RACKS = {1: "a", 2: "a", 3: "b", 4: "b", 5: "c"}
TOPICS = {"plan-rf1": 1, "plan-rf2": 2}  # the seed's auto-created RF-1 topics, and a half-way one
PARTITIONS = 10
PLAN = (sys.executable, "-m", "exporter", "plan")


def assignment(cluster: ZkCluster) -> dict[tuple[str, int], tuple[list[int], int]]:
    md = cluster.admin_client().list_topics(timeout=10)
    return {(t, p): (list(pm.replicas), pm.leader) for t in TOPICS for p, pm in md.topics[t].partitions.items()}


async def test_the_printed_plan_applied_with_kafkas_tool_reaches_the_policy(
    cluster_factory: Any, tmp_path: Path
) -> None:
    cluster: ZkCluster = cluster_factory("zookeeper", list(RACKS), RACKS)
    bs = cluster.bootstrap_servers
    admin = cluster.admin_client()
    for f in admin.create_topics([NewTopic(t, PARTITIONS, rf) for t, rf in TOPICS.items()]).values():
        f.result(60)
    p = Producer({"bootstrap.servers": bs, "linger.ms": 20})
    for t in TOPICS:
        for part in range(PARTITIONS):
            for _ in range(20):
                p.produce(t, b"y" * 1000, partition=part)
    assert p.flush(60) == 0
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"clusters": [{"name": "live", "bootstrap_servers": bs}]}))

    run = await asyncio.to_thread(
        subprocess.run,
        [*PLAN, "replication-factor", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    plan = json.loads(run.stdout)
    print(f"\n{run.stderr}")
    assert len(plan["partitions"]) == 2 * PARTITIONS
    before = await asyncio.to_thread(assignment, cluster)
    (tmp_path / "plan.json").write_text(run.stdout)
    reassign = ["--bootstrap-server", bs, "--reassignment-json-file", str(tmp_path / "plan.json")]
    run_tool(cluster.version, REASSIGN_PARTITIONS_COMMAND, [*reassign, "--execute"], timeout=120, check=True)
    deadline = time.monotonic() + 120
    while "in progress" in run_tool(cluster.version, REASSIGN_PARTITIONS_COMMAND, [*reassign, "--verify"], 120).stdout:
        assert time.monotonic() < deadline, "the reassignment did not complete"
        await asyncio.sleep(2)
    run_tool(
        cluster.version,
        LEADER_ELECTION_COMMAND,
        ["--bootstrap-server", bs, "--election-type", "PREFERRED", "--all-topic-partitions"],
        timeout=120,
        check=False,  # exits 1 when some partitions already had their preferred leader
    )
    after = await asyncio.to_thread(assignment, cluster)
    kept = sum(len(set(before[tp][0]) & set(after[tp][0])) for tp in after)
    moved_out = sum(len(set(before[tp][0]) - set(after[tp][0])) for tp in after)
    for tp, (replicas, leader) in after.items():
        assert len(replicas) == 3, (tp, replicas)
        assert {RACKS[b] for b in replicas} == {"a", "b", "c"}, (tp, replicas)
        assert leader == replicas[0], f"{tp}: the preferred leader leads after the election"
    load = Counter(b for replicas, _ in after.values() for b in replicas)
    leaders = Counter(leader for _, leader in after.values())
    print(
        f"replicas per broker {dict(sorted(load.items()))}, leaders {dict(sorted(leaders.items()))}; "
        f"existing replicas kept {kept}, moved out of a doubled rack {moved_out}"
    )
    # Rack c has one broker, so it holds a replica of every partition; brokers sharing a rack share evenly.
    assert abs(load[1] - load[2]) <= 1 and abs(load[3] - load[4]) <= 1 and load[5] == 2 * PARTITIONS
    assert max(leaders.values()) - min(leaders.values()) <= 1, leaders

    async with running_exporter(cluster_config(bs, 1.0)) as exp:
        s = await exp.wait_for(
            lambda s: all(one(s, "kafka_topic_replication_factor", topic=t) == 3 for t in TOPICS), 60, "RF 3"
        )
        for t in TOPICS:
            assert one(s, "kafka_topic_replication_factor_drift", topic=t) == 0
            assert (one(s, "kafka_topic_rack_collocated_partitions", topic=t) or 0) == 0


async def test_the_drain_plan_applied_step_by_step_never_fails_a_write(cluster_factory: Any, tmp_path: Path) -> None:
    """The seed's migration: brokers 1001-1003 (RF 3, min ISR 2) drained onto 0-2 with the printed steps, applied
    one by one with Kafka's tool, while a producer writes with acks=all the whole time."""
    cluster: ZkCluster = cluster_factory("zookeeper", [1001, 1002, 1003])
    bs = cluster.bootstrap_servers
    rotation = [[1001, 1002, 1003], [1002, 1003, 1001], [1003, 1001, 1002]]
    create_assigned(bs, {"drain-a": rotation, "drain-b": rotation}, {"min.insync.replicas": "2"})
    for t in ("drain-a", "drain-b"):
        await asyncio.to_thread(fill, bs, t, 3, 200_000)
    for b in (0, 1, 2):
        await asyncio.to_thread(cluster.add_broker, b)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"clusters": [{"name": "live", "bootstrap_servers": bs}]}))
    out = tmp_path / "steps"
    run = await asyncio.to_thread(
        subprocess.run,
        [
            *PLAN,
            "drain",
            "--config",
            str(config),
            "--from",
            "1001,1002,1003",
            "--to",
            "0,1,2",
            "--output-dir",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    print(f"\n{run.stderr}")
    steps = sorted(out.glob("drain-step-*.json"))
    assert len(steps) == 3
    # Each step copies one replica of each of the 6 partitions (200 kB each, plus record overhead), 2 per receiver.
    per_step = re.findall(r"bytes per receiving broker \{0: (\d+), 1: (\d+), 2: (\d+)\}", run.stderr)
    assert len(per_step) == 3 and all(400_000 <= int(n) < 420_000 for row in per_step for n in row), run.stderr

    stop = threading.Event()
    delivered, failed = Counter[str](), Counter[str]()

    def write() -> None:
        p = Producer({"bootstrap.servers": bs, "acks": "all", "linger.ms": 5, "message.timeout.ms": 60000})

        def report(err: Any, _msg: Any) -> None:
            (failed if err is not None else delivered)[str(err) if err else "ok"] += 1

        while not stop.is_set():
            for t in ("drain-a", "drain-b"):
                for part in range(3):
                    p.produce(t, b"w" * 200, partition=part, on_delivery=report)
            p.poll(0.02)
        p.flush(60)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        for step in steps:
            args = ["--bootstrap-server", bs, "--reassignment-json-file", str(step)]
            run_tool(cluster.version, REASSIGN_PARTITIONS_COMMAND, [*args, "--execute"], timeout=120, check=True)
            deadline = time.monotonic() + 120
            while (
                "in progress" in run_tool(cluster.version, REASSIGN_PARTITIONS_COMMAND, [*args, "--verify"], 120).stdout
            ):
                assert time.monotonic() < deadline, f"{step.name} did not complete"
                await asyncio.sleep(1)
    finally:
        stop.set()
        await asyncio.to_thread(writer.join, 90)
    md = cluster.admin_client().list_topics(timeout=10)
    left = {
        (t, p)
        for t in ("drain-a", "drain-b")
        for p, pm in md.topics[t].partitions.items()
        if set(pm.replicas) & {1001, 1002, 1003}
    }
    print(f"acks=all writes during the drain: {sum(delivered.values())} delivered, {dict(failed)} failed")
    assert not left, left
    assert sum(delivered.values()) > 0 and not failed, dict(failed)
