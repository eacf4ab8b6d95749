"""Issue 3 on real 5-broker clusters (racks a, a, b, b, c), ZooKeeper mode and KRaft: replication-factor
drift of auto-created topics, min-ISR states that agree with real acks=all writes and with Kafka's own
kafka-topics, and the predicted cost of losing a whole rack compared with what losing it really does."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, Producer, TopicCollection
from confluent_kafka.admin import AdminClient, ConfigResource  # type: ignore[attr-defined]
from kafka.admin import KafkaAdminClient
from kafka.admin import NewTopic as KNewTopic

from harness.cluster import Cluster
from harness.tools import TOPIC_COMMAND, run_tool
from tests.integration.scrape import Exporter, Series, cluster_config, one, running_exporter, values

pytestmark = pytest.mark.cluster

RACKS = {1: "a", 2: "a", 3: "b", 4: "b", 5: "c"}
RACK_A = (1, 2)
STATE_FLAGS = {
    "under_replicated": "--under-replicated-partitions",
    "under_min_isr": "--under-min-isr-partitions",
    "at_min_isr": "--at-min-isr-partitions",
    "offline": "--unavailable-partitions",
}
Partitions = set[tuple[str, int]]


def produce_one(bootstrap: str, topic: str, acks: str = "all", partition: int = -1) -> KafkaError | None:
    """Write one record (to `partition`, -1: any) with retries off, so a refused write fails at once with Kafka's
    own error."""
    p = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": acks,
            "retries": 0,
            "enable.idempotence": False,
            "message.timeout.ms": 20000,
        }
    )
    result: list[KafkaError | None] = []
    p.produce(topic, b"x", partition=partition, on_delivery=lambda err, _msg: result.append(err))
    p.flush(30)
    assert result, f"no delivery report for {topic}"
    return result[0]


def create_assigned(bootstrap: str, topics: dict[str, list[list[int]]], configs: dict[str, str]) -> None:
    kadmin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","))
    try:
        kadmin.create_topics(
            [
                KNewTopic(name, replica_assignments=dict(enumerate(parts)), topic_configs=configs)
                for name, parts in topics.items()
            ]
        )
    finally:
        kadmin.close()


def kafka_topics_lists(cluster: Cluster, flag: str) -> Partitions:
    """The partitions kafka-topics --describe <flag> prints (one run per flag: combined flags print the union)."""
    r = run_tool(cluster.version, TOPIC_COMMAND, ["--bootstrap-server", cluster.bootstrap_servers, "--describe", flag])
    assert r.returncode == 0, r.stderr[-2000:]
    return {(m[1], int(m[2])) for m in re.finditer(r"Topic: (\S+)\s+Partition: (\d+)", r.stdout)}


def exporter_flags(s: Series, state: str) -> Partitions:
    return {
        (dict(k)["topic"], int(dict(k)["partition"])) for k, v in values(s, f"kafka_partition_{state}").items() if v
    }


def assignment(admin: AdminClient) -> dict[tuple[str, int], tuple[tuple[int, ...], tuple[int, ...], int | None]]:
    """(topic, partition) -> (replicas, isr, leader) from DescribeTopics, a call the exporter does not use."""
    names = list(admin.list_topics(timeout=10).topics)
    out = {}
    for name, fut in admin.describe_topics(TopicCollection(names), request_timeout=10).items():
        for p in fut.result().partitions:
            leader = p.leader.id if p.leader is not None else None
            out[(name, p.id)] = (tuple(r.id for r in p.replicas), tuple(r.id for r in p.isr), leader)
    return out


def min_isr_of(admin: AdminClient, topics: list[str]) -> dict[str, int]:
    res = [ConfigResource("topic", t) for t in topics]
    return {r.name: int(f.result()["min.insync.replicas"].value) for r, f in admin.describe_configs(res).items()}


def brute_force_rack_loss(
    parts: dict[tuple[str, int], tuple[tuple[int, ...], tuple[int, ...], int | None]],
    min_isr: dict[str, int],
    lost: set[int],
) -> tuple[Partitions, Partitions]:
    """Independent of the exporter: a partition goes offline when no ISR member survives (a clean election
    needs one), and is under min ISR when offline or fewer ISR members than min ISR survive."""
    offline, under = set(), set()
    for (topic, p), (_replicas, isr, leader) in parts.items():
        surviving = [r for r in isr if r not in lost]
        if leader is None or not surviving:
            offline.add((topic, p))
            under.add((topic, p))
        elif len(surviving) < min_isr[topic]:
            under.add((topic, p))
    return offline, under


async def compare_with_kafka_topics(exp: Exporter, cluster: Cluster, admin: AdminClient, label: str) -> None:
    """For each state flag, kafka-topics and the exporter list exactly the same partitions, compared at a
    moment when Admin API reads before and after agree (the cluster was not changing)."""
    for attempt in range(8):
        before = await asyncio.to_thread(assignment, admin)
        await exp.next_cycles(1)
        s = await exp.scrape()
        tool = {
            state: await asyncio.to_thread(kafka_topics_lists, cluster, flag) for state, flag in STATE_FLAGS.items()
        }
        after = await asyncio.to_thread(assignment, admin)
        if before != after:
            await asyncio.sleep(1)
            continue
        ours = {state: exporter_flags(s, state) for state in STATE_FLAGS}
        if ours == tool:
            return
        if attempt >= 3:  # settled and still different: a real disagreement
            raise AssertionError(f"{label}: exporter {ours} != kafka-topics {tool}")
        await asyncio.sleep(2)
    raise AssertionError(f"{label}: the cluster never held still long enough to compare")


@pytest.mark.parametrize("mode", ["zookeeper", "kraft"])
async def test_replication_safety_on_five_brokers(mode: str, cluster_factory: Any, tmp_path: Path) -> None:
    cluster: Cluster = cluster_factory(
        mode, list(RACKS), RACKS, {"auto.create.topics.enable": "true", "default.replication.factor": "1"}
    )
    bootstrap = cluster.bootstrap_servers
    admin = cluster.admin_client()
    config = cluster_config(bootstrap, interval=1.0)
    async with running_exporter(config) as exp:
        # 1. The seed's failure: producing to a topic that does not exist creates it with one replica.
        assert produce_one(bootstrap, "autocreated", acks="1") is None
        seen = time.monotonic()
        s = await exp.wait_for(
            lambda s: (
                one(s, "kafka_topic_replication_factor", topic="autocreated") == 1
                and one(s, "kafka_topic_replication_factor_drift", topic="autocreated") == -2
            ),
            30,
            "the auto-created RF-1 topic reported 2 replicas below the desired 3",
        )
        print(f"{mode}: RF drift of the auto-created topic visible {time.monotonic() - seen:.1f}s after the write")
        assert one(s, "kafka_topic_desired_replication_factor", topic="autocreated") == 3
        cfg_file = tmp_path / "check.yaml"
        cfg_file.write_text(f"clusters:\n  - bootstrap_servers: '{bootstrap}'\n")
        check = subprocess.run(
            [sys.executable, "-m", "exporter", "check", "--config", str(cfg_file)],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert check.returncode == 1, check.stdout + check.stderr
        assert re.search(r"replication_factor\S*\s+topic autocreated", check.stdout), check.stdout
        assert "auto.create.topics.enable" in check.stdout  # the broker setting that caused it

        # 2. Topics the team sized on purpose: RF 3 and RF 4, both min ISR 2, both on rack a's brokers.
        # confluent-kafka 2.16 refuses explicit replica assignments locally ("a default partition count and
        # a replica assignment are mutually exclusive" whatever the arguments), so kafka-python creates them.
        create_assigned(
            bootstrap,
            {
                "rf3": [[1, 2, 5]],
                "rf4": [[1, 2, 3, 4]],
                "spread": [[3, 1, 5], [4, 2, 5]],
                "rack-a-only": [[2, 1]],  # losing rack a takes it offline
            },
            {"min.insync.replicas": "2"},
        )
        for t in ("rf3", "rf4", "spread", "rack-a-only"):
            assert produce_one(bootstrap, t) is None
        await compare_with_kafka_topics(exp, cluster, admin, "healthy")

        # 3. Predicted cost of losing rack a, read from the exporter before anything fails ...
        s = await exp.scrape()
        parts = await asyncio.to_thread(assignment, admin)
        mins = min_isr_of(admin, sorted({t for t, _ in parts}))
        offline, under = brute_force_rack_loss(parts, mins, set(RACK_A))
        assert one(s, "kafka_rack_loss_offline_partitions", rack="a") == len(offline)
        assert one(s, "kafka_rack_loss_under_min_isr_partitions", rack="a") == len(under)
        assert ("rack-a-only", 0) in offline and ("rf3", 0) in under and ("rf4", 0) not in under

        # 4. ... one broker of rack a down: rf3 is one failure away (at min ISR) and still writable.
        await asyncio.to_thread(cluster.stop_broker, 1)
        s = await exp.wait_for(
            lambda s: one(s, "kafka_partition_at_min_isr", topic="rf3", partition="0") == 1, 60, "rf3 at min ISR"
        )
        assert one(s, "kafka_partition_under_min_isr", topic="rf3", partition="0") is None
        assert produce_one(bootstrap, "rf3") is None
        await compare_with_kafka_topics(exp, cluster, admin, "broker 1 down")

        # 5. ... the whole rack down: rf3 refuses acks=all writes, rf4 (RF above min ISR + 1) still takes them.
        await asyncio.to_thread(cluster.stop_broker, 2)
        s = await exp.wait_for(
            lambda s: one(s, "kafka_partition_under_min_isr", topic="rf3", partition="0") == 1,
            60,
            "rf3 under min ISR",
        )
        err = produce_one(bootstrap, "rf3")
        assert err is not None and err.code() == KafkaError.NOT_ENOUGH_REPLICAS, err
        assert produce_one(bootstrap, "rf4") is None
        assert one(s, "kafka_partition_under_min_isr", topic="rf4", partition="0") is None
        assert one(s, "kafka_partition_at_min_isr", topic="rf4", partition="0") == 1
        await compare_with_kafka_topics(exp, cluster, admin, "rack a down")

        # 6. What losing rack a really did equals the prediction made before.
        s = await exp.scrape()
        observed_offline = sum(values(s, "kafka_topic_offline_partitions").values())
        observed_under = sum(values(s, "kafka_topic_under_min_isr_partitions").values())
        assert (observed_offline, observed_under) == (len(offline), len(under))
        assert exporter_flags(s, "offline") == offline
        assert exporter_flags(s, "under_min_isr") == under
        assert one(s, "kafka_brokers") == 3
