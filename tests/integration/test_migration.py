"""Issue 5 on real clusters: the seed's migration (old brokers 1001-1003 drained to new brokers 0-2 in three
steps), stalled reassignments (a frozen receiving broker, and a copy that crawls), a reassignment the
controller ignores until it changes, and the KRaft controller moving when the active one dies."""

from __future__ import annotations

import asyncio
import functools
import json
import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import TopicCollection
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource  # type: ignore[attr-defined]
from kafka.admin import KafkaAdminClient
from kafka.admin import NewTopic as KNewTopic
from kazoo.client import KazooClient

from harness.cluster import Cluster, KraftCluster, ZkCluster
from harness.story import fill
from harness.tools import REASSIGN_PARTITIONS_COMMAND, run_tool
from tests.integration.scrape import Series, cluster_config, one, running_exporter, values

pytestmark = pytest.mark.cluster

MB = 1024 * 1024
Plan = dict[tuple[str, int], list[int]]


def create_assigned(bootstrap: str, topics: dict[str, list[list[int]]]) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","))
    try:
        admin.create_topics([KNewTopic(n, replica_assignments=dict(enumerate(a))) for n, a in topics.items()])
    finally:
        admin.close()


def reassign(cluster: Cluster, tmp: Path, plan: Plan, throttle: int | None = None, action: str = "--execute") -> str:
    """Kafka's own reassignment tool from the same jars, as an operator would run it."""
    f = tmp / f"plan-{time.monotonic_ns()}.json"
    f.write_text(
        json.dumps(
            {"version": 1, "partitions": [{"topic": t, "partition": p, "replicas": r} for (t, p), r in plan.items()]}
        )
    )
    args = ["--bootstrap-server", cluster.bootstrap_servers, "--reassignment-json-file", str(f), action]
    if throttle is not None:
        args += ["--throttle", str(throttle)]
    return run_tool(cluster.version, REASSIGN_PARTITIONS_COMMAND, args, timeout=120, check=True).stdout


def replicas_per_broker(s: Series) -> dict[int, int]:
    return {int(dict(k)["broker_id"]): int(v) for k, v in values(s, "kafka_broker_replicas").items()}


def step_done(s: Series, expected: dict[int, int]) -> bool:
    return one(s, "kafka_reassignment_partitions") == 0 and replicas_per_broker(s) == expected


def stalled(s: Series) -> set[tuple[str, int, int]]:
    return {
        (dict(k)["topic"], int(dict(k)["partition"]), int(dict(k)["broker_id"]))
        for k in values(s, "kafka_partition_reassignment_stalled")
    }


async def test_seed_migration_in_three_steps(cluster_factory: Any, tmp_path: Path) -> None:
    cluster: ZkCluster = cluster_factory("zookeeper", [1001, 1002, 1003])
    bs = cluster.bootstrap_servers
    topics = ["prices", "trades", "badges"]
    create_assigned(bs, {t: [[1001, 1002, 1003], [1002, 1003, 1001]] for t in topics})
    for t in topics:
        await asyncio.to_thread(fill, bs, t, 2, MB)
    for new in (0, 1, 2):
        await asyncio.to_thread(cluster.add_broker, new)
    parts = [(t, p) for t in topics for p in (0, 1)]
    config = cluster_config(bs, interval=1.0, zookeeper={"connect": cluster.zk_connect})
    async with running_exporter(config) as exp:
        await exp.wait_for(lambda s: one(s, "kafka_brokers") == 6, 60, "all six brokers live")
        for step, target in enumerate(([0, 1003, 1002], [0, 1, 1003], [0, 1, 2]), 1):
            # ~6 MB to copy per step at 1 MB/s: long enough to watch, as the seed's team did in ZooKeeper.
            reassign(cluster, tmp_path, dict.fromkeys(parts, target), throttle=MB)
            s = await exp.wait_for(
                lambda s: (one(s, "kafka_reassignment_partitions") or 0) > 0, 30, f"step {step}: partitions moving"
            )
            moving = {(dict(k)["topic"], int(dict(k)["partition"])) for k in values(s, "kafka_partition_reassigning")}
            assert moving <= set(parts) and moving, moving
            expected = {b: (len(parts) if b in target else 0) for b in (1001, 1002, 1003, 0, 1, 2)}
            # Brokers apply the final replica list a moment after the API reports the move done: wait for both.
            s = await exp.wait_for(
                functools.partial(step_done, expected=expected),
                120,
                f"step {step}: reassignment done, replicas per broker {expected}",
            )
            # The tool leaves its throttle in place until --verify: exactly the "left behind" case.
            assert (one(s, "kafka_replication_throttles_left_behind") or 0) > 0
            out = reassign(cluster, tmp_path, dict.fromkeys(parts, target), action="--verify")
            assert "Clearing broker-level throttles" in out or "throttle" in out.lower(), out
            await exp.wait_for(
                lambda s: one(s, "kafka_replication_throttles_left_behind") == 0, 30, "throttles cleared by --verify"
            )
        s = await exp.scrape()
        assert all(replicas_per_broker(s)[b] == 0 for b in (1001, 1002, 1003)), replicas_per_broker(s)
        assert one(s, "kafka_reassignment_remaining_bytes") == 0
        assert one(s, "kafka_reassignment_stalled_partitions") == 0
        assert not values(s, "kafka_partition_reassigning")


async def test_stalls_name_the_broker_that_is_behind(cluster_factory: Any, tmp_path: Path) -> None:
    cluster: ZkCluster = cluster_factory("zookeeper", [1, 2, 3, 4])
    bs = cluster.bootstrap_servers
    create_assigned(bs, {"big": [[1, 2, 3]]})
    await asyncio.to_thread(fill, bs, "big", 1, 24 * MB)
    window = 6.0
    config = cluster_config(
        bs,
        interval=1.0,
        zookeeper={"connect": cluster.zk_connect},
        reassignment={"stall_window_seconds": window, "min_progress_bytes_per_second": 256 * 1024},
    )
    timeout = config.collection.timeout_seconds
    async with running_exporter(config) as exp:
        # 1. A frozen receiving broker (SIGSTOP): no progress, named, and collection keeps its deadline.
        reassign(cluster, tmp_path, {("big", 0): [1, 2, 4]}, throttle=2 * MB)
        await exp.wait_for(
            lambda s: (
                (one(s, "kafka_partition_reassignment_replica_bytes", topic="big", partition="0", broker_id="4") or 0)
                > 0
            ),
            30,
            "broker 4 has started copying",
        )
        cluster.freeze(4)
        frozen_at = time.monotonic()
        durations: list[float] = []
        try:
            while True:
                await exp.next_cycles(1, timeout=timeout + 10)
                assert exp.runner.health.last_duration is not None
                durations.append(exp.runner.health.last_duration)
                s = await exp.scrape()
                if ("big", 0, 4) in stalled(s):
                    break
                assert time.monotonic() - frozen_at < window + 4 * timeout, "stall never reported"
            print(f"frozen broker reported stalled after {time.monotonic() - frozen_at:.1f}s (window {window}s)")
            assert max(durations) <= timeout + 1, durations
        finally:
            cluster.thaw(4)
        await exp.wait_for(
            lambda s: one(s, "kafka_reassignment_partitions") == 0, 120, "the move completes after SIGCONT"
        )
        s = await exp.wait_for(lambda s: not stalled(s), 10, "the stall clears")
        assert one(s, "kafka_reassignment_stalled_partitions") == 0

        # 2. The seed's case: the broker stays up but its copy crawls far below the threshold.
        reassign(cluster, tmp_path, {("big", 0): [1, 2, 3]}, throttle=32 * 1024)
        s = await exp.wait_for(lambda s: ("big", 0, 3) in stalled(s), window + 30, "the crawling copy reported stalled")
        assert one(s, "kafka_partition_reassignment_replica_in_isr", topic="big", partition="0", broker_id="3") == 0
        reassign(cluster, tmp_path, {("big", 0): [1, 2, 3]}, action="--cancel")


def slow_b_replicas(admin: Any) -> list[int]:
    td = admin.describe_topics(TopicCollection(["slow-b"]))["slow-b"].result(10)
    return [r.id for r in td.partitions[0].replicas]


async def test_znode_reassignment_waits_for_a_controller_change(cluster_factory: Any) -> None:
    cluster: ZkCluster = cluster_factory("zookeeper", [1, 2, 3, 4])
    bs = cluster.bootstrap_servers
    create_assigned(bs, {"slow-a": [[1, 2, 3]], "slow-b": [[1, 2, 3]]})
    await asyncio.to_thread(fill, bs, "slow-a", 1, 16 * MB)
    admin = cluster.admin_client()
    # Throttle the copy to broker 4 so the first move is still running when the znode is overwritten.
    throttle = [
        ConfigResource(
            "broker",
            "4",
            incremental_configs=[
                ConfigEntry("follower.replication.throttled.rate", "65536", incremental_operation=AlterConfigOpType.SET)
            ],
        ),
        *[
            ConfigResource(
                "topic",
                t,
                incremental_configs=[
                    ConfigEntry(
                        "follower.replication.throttled.replicas", "*", incremental_operation=AlterConfigOpType.SET
                    )
                ],
            )
            for t in ("slow-a", "slow-b")
        ],
    ]
    for f in admin.incremental_alter_configs(throttle).values():
        f.result(30)
    zk = KazooClient(hosts=cluster.zk_connect)
    zk.start(timeout=10)
    config = cluster_config(bs, interval=1.0, zookeeper={"connect": cluster.zk_connect})
    try:
        async with running_exporter(config) as exp:
            s = await exp.wait_for(
                lambda s: one(s, "kafka_controller_id", source="zookeeper") is not None, 30, "controller"
            )
            changes_before = one(s, "kafka_controller_changes_total") or 0
            # The old way (before the API): create the znode. The controller acts on creation ...
            req: dict[str, Any] = {
                "version": 1,
                "partitions": [{"topic": "slow-a", "partition": 0, "replicas": [1, 2, 4]}],
            }
            zk.create("/admin/reassign_partitions", json.dumps(req).encode(), makepath=True)
            await exp.wait_for(
                lambda s: one(s, "kafka_partition_reassigning", topic="slow-a", partition="0") == 1, 30, "slow-a moving"
            )
            # ... but not on later writes to it: slow-b is asked for and ignored.
            req["partitions"].append({"topic": "slow-b", "partition": 0, "replicas": [1, 2, 4]})
            zk.set("/admin/reassign_partitions", json.dumps(req).encode())
            s = await exp.wait_for(
                lambda s: one(s, "kafka_partition_reassignment_pending_controller", topic="slow-b", partition="0") == 1,
                30,
                "slow-b flagged as needing a controller change",
            )
            assert one(s, "kafka_partition_reassigning", topic="slow-b", partition="0") is None
            # The seed's remedy: delete /controller to force an election; the new controller reads the znode.
            zk.delete("/controller")
            s = await exp.wait_for(
                lambda s: (
                    (one(s, "kafka_controller_changes_total") or 0) > changes_before
                    and one(s, "kafka_partition_reassignment_pending_controller", topic="slow-b", partition="0") is None
                ),
                60,
                "a new controller, and slow-b no longer pending",
            )
            assert one(s, "kafka_controller_active", source="zookeeper") == 1
            # slow-b holds no data, so once acted on it may finish within a cycle: ask Kafka where it lives.
            deadline = time.monotonic() + 30
            while sorted(slow_b_replicas(admin)) != [1, 2, 4]:
                assert time.monotonic() < deadline, f"slow-b never moved: {slow_b_replicas(admin)}"
                await asyncio.sleep(1)
    finally:
        zk.stop()
        zk.close()


async def test_kraft_controller_follows_the_quorum_leader(kraft_cluster: KraftCluster) -> None:
    def quorum_leader() -> int:
        k = KafkaAdminClient(bootstrap_servers=kraft_cluster.bootstrap_servers.split(","))
        try:
            return int(k.describe_metadata_quorum()["topics"][0]["partitions"][0]["leader_id"])
        finally:
            k.close()

    interval = 1.0
    async with running_exporter(cluster_config(kraft_cluster.bootstrap_servers, interval)) as exp:
        leader = await asyncio.to_thread(quorum_leader)
        s = await exp.wait_for(
            lambda s: one(s, "kafka_controller_id", source="kraft_quorum") == leader, 20, "the quorum leader reported"
        )
        assert one(s, "kafka_controller_id", source="metadata") is None  # never the random broker DescribeCluster names
        before = one(s, "kafka_controller_changes_total") or 0
        kraft_cluster.kill(leader)
        deadline = time.monotonic() + 60
        new = leader
        while new == leader or new < 0:
            assert time.monotonic() < deadline, "no new quorum leader"
            await asyncio.sleep(0.5)
            try:
                new = await asyncio.to_thread(quorum_leader)
            except Exception:
                continue
        elected = time.monotonic()
        s = await exp.wait_for(
            lambda s: one(s, "kafka_controller_id", source="kraft_quorum") == new,
            2 * interval + exp.runner.cfg.collection.timeout_seconds,
            f"the new quorum leader {new} reported within two cycles",
        )
        print(f"kraft: new controller {new} reported {time.monotonic() - elected:.1f}s after the election was visible")
        assert (one(s, "kafka_controller_changes_total") or 0) > before
