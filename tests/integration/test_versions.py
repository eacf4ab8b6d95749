"""The version matrix (issue 11): the same compact scenario on every Kafka release the README claims, each
compared with that release's own command-line tools. ZooKeeper mode for 2.1.1 (the seed's), 2.8.2, 3.6.2 and
3.9.1, KRaft for 4.1.1: brokers and racks, replication factor (and its drift from the policy), partition states
with a broker down, lag and group state, the controller, a throttled reassignment in flight; and on a healthy
cluster no failed call at all (what a release cannot answer is a capability, not an error)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

from harness.cluster import Cluster, ZkCluster
from harness.jars import RELEASES, KafkaVersion
from harness.tools import (
    CONSUMER_GROUP_COMMAND,
    METADATA_QUORUM_COMMAND,
    REASSIGN_PARTITIONS_COMMAND,
    TOPIC_COMMAND,
    run_tool,
)
from tests.integration.scrape import Series, cluster_config, one, running_exporter, values
from tests.integration.test_lag import commit_offsets, consume, consumer, exported_rows

pytestmark = pytest.mark.cluster

RACKS = {1: "a", 2: "b", 3: "c"}
# Explicit assignments, so which partitions a lost broker 3 takes down is known.
TOPICS: dict[str, list[list[int]]] = {
    "v-rf1": [[1], [2], [3]],
    "v-rf2": [[2, 3], [1, 2]],
    "v-rf3": [[1, 2, 3], [2, 3, 1]],
    "v-move": [[1]],  # reassigned to [2] under a throttle
}
MOVE_BYTES = 2_000_000  # at THROTTLE bytes/s the copy takes ~60 s: in flight for the whole comparison
THROTTLE = 30_000
GROUPS = ("v-active", "v-idle")
MATRIX: list[tuple[KafkaVersion, str]] = [
    ("1.1", "zookeeper"),
    ("2.1", "zookeeper"),
    ("2.8", "zookeeper"),
    ("3.6", "zookeeper"),
    ("3.9", "zookeeper"),
    ("4", "kraft"),
]


def where(c: Cluster, tool: str) -> list[str]:
    """How the release's tool reaches the cluster: kafka-topics needs ZooKeeper before 2.2, and
    kafka-reassign-partitions before 2.5."""
    if (
        isinstance(c, ZkCluster)
        and c.version in ("1.1", "2.1")
        and tool in (TOPIC_COMMAND, REASSIGN_PARTITIONS_COMMAND)
    ):
        return ["--zookeeper", c.zk_connect]
    return ["--bootstrap-server", c.bootstrap_servers]


def cli(c: Cluster, tool: str, *args: str) -> str:
    return run_tool(c.version, tool, [*where(c, tool), *args], timeout=90, check=True).stdout


def fields(line: str) -> dict[str, str]:
    """`Topic: t\tPartition: 0\tLeader: 1 ...` (2.1 prints `Topic:t`) as a dict."""
    return {k: v.strip() for k, v in re.findall(r"(\w+):\s*([^\t]*)", line)}


def described(c: Cluster, *flags: str) -> list[dict[str, str]]:
    """The partition lines of `kafka-topics --describe [flags]` for the test's topics."""
    out = cli(c, TOPIC_COMMAND, "--describe", *flags)
    rows = [fields(line) for line in out.splitlines() if "Partition:" in line]
    return [r for r in rows if r.get("Topic", "").startswith("v-")]


def per_topic(rows: list[dict[str, str]]) -> dict[str, int]:
    return dict(Counter(r["Topic"] for r in rows))


def exported_per_topic(s: Series, name: str) -> dict[str, int]:
    return {t: int(v) for k, v in values(s, name).items() if (t := dict(k)["topic"]).startswith("v-") and v}


def lag_rows_cli(c: Cluster) -> dict[tuple[str, str, int], tuple[int, int, int]]:
    """(CURRENT-OFFSET, LOG-END-OFFSET, LAG) per (group, topic, partition) from `kafka-consumer-groups --describe
    --group G` (one group per call: --all-groups came in 2.2; 2.1 prints no GROUP column)."""
    rows = {}
    for group in GROUPS:
        header: list[str] = []
        for line in cli(c, CONSUMER_GROUP_COMMAND, "--describe", "--group", group).splitlines():
            f = line.split()
            if "LAG" in f and "TOPIC" in f:
                header = f
            elif header and len(f) >= len(header) - 3:
                row = dict(zip(header, f, strict=False))
                if all(row.get(k, "").isdigit() for k in ("PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG")):
                    key = (group, row["TOPIC"], int(row["PARTITION"]))
                    rows[key] = (int(row["CURRENT-OFFSET"]), int(row["LOG-END-OFFSET"]), int(row["LAG"]))
    return rows


def group_state_cli(c: Cluster, group: str) -> str:
    """STATE from `kafka-consumer-groups --describe --group G --state`."""
    out = cli(c, CONSUMER_GROUP_COMMAND, "--describe", "--group", group, "--state")
    lines = [line for line in out.splitlines() if line.strip()]
    for i, line in enumerate(lines[:-1]):
        if "STATE" in line.split():
            col = line.index("STATE")
            return lines[i + 1][col:].split()[0]
    if "has no active members" in out:
        return "Empty"
    raise AssertionError(f"no STATE column in:\n{out}")


def controller_cli(c: Cluster) -> int:
    """The active controller as Kafka's own tools show it: /controller in ZooKeeper, the quorum leader in KRaft."""
    if isinstance(c, ZkCluster):
        out = run_tool(
            c.version, "org.apache.zookeeper.ZooKeeperMain", ["-server", c.zk_connect, "get", "/controller"], 60
        )
        found = re.search(r'"brokerid":(\d+)', out.stdout + out.stderr)
        assert found, f"no /controller in: {out.stdout}{out.stderr}"
        return int(found.group(1))
    out = run_tool(c.version, METADATA_QUORUM_COMMAND, [*where(c, ""), "describe", "--status"], 60, check=True)
    found = re.search(r"LeaderId:\s*(\d+)", out.stdout)
    assert found, out.stdout
    return int(found.group(1))


def start_move(c: Cluster, workdir: Path) -> None:
    plan = workdir / "move.json"
    plan.write_text(json.dumps({"version": 1, "partitions": [{"topic": "v-move", "partition": 0, "replicas": [2]}]}))
    cli(c, REASSIGN_PARTITIONS_COMMAND, "--reassignment-json-file", str(plan), "--execute", "--throttle", str(THROTTLE))


def move_in_progress_cli(c: Cluster, workdir: Path) -> bool:
    out = cli(c, REASSIGN_PARTITIONS_COMMAND, "--reassignment-json-file", str(workdir / "move.json"), "--verify")
    return "v-move-0 is still in progress" in out


def setup_cluster(c: Cluster) -> Any:
    """Topics with data, a consumer that stays a member of v-active (Stable), and offsets committed for v-idle
    (Empty). Each step names itself when it fails: they run in a thread, whose frames a failure does not show."""
    active = consumer(c.bootstrap_servers, "v-active")

    def topics() -> None:
        admin = c.admin_client()
        futures = admin.create_topics([NewTopic(t, len(a), replica_assignment=a) for t, a in TOPICS.items()])
        for f in futures.values():
            f.result(60)  # the first CreateTopics of a fresh cluster waits for its controller

    def data() -> None:
        p = Producer({"bootstrap.servers": c.bootstrap_servers, "linger.ms": 50})
        for topic, assignment in TOPICS.items():
            for part in range(len(assignment)):
                for i in range(20):
                    p.produce(topic, value=b"m%d" % i, partition=part)
        chunk = b"x" * 10_000
        for _ in range(MOVE_BYTES // len(chunk)):
            p.produce("v-move", value=chunk, partition=0)
            p.poll(0)
        assert p.flush(60) == 0

    def groups() -> None:
        # The member joins first: its FindCoordinator waits out __consumer_offsets being created and loaded.
        active.subscribe(["v-rf2"])
        consume(active, 15)
        active.commit(asynchronous=False)
        commit_offsets(c.admin_client(), "v-idle", {("v-rf3", 0): 5, ("v-rf3", 1): 12, ("v-rf1", 2): 3})

    for step in (topics, data, groups):
        started = time.monotonic()
        try:
            step()
        except Exception as e:
            active.close()
            raise AssertionError(
                f"setup step {step.__name__} failed after {time.monotonic() - started:.0f}s: {e!r}"
            ) from e
    return active  # stays a member (it is never closed before the cluster stops): the group is Stable


@pytest.mark.parametrize(("version", "mode"), MATRIX, ids=[RELEASES[v] for v, _ in MATRIX])
async def test_release_matches_its_own_tools(
    version: KafkaVersion, mode: str, cluster_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="exporter")
    c: Cluster
    if mode == "zookeeper":
        c = zk = cluster_factory("zookeeper", [1, 2, 3], RACKS, version=version)
        extra: dict[str, Any] = {"zookeeper": {"connect": zk.zk_connect}}
    else:
        c = cluster_factory("kraft", [1, 2, 3], RACKS)
        extra = {}
    active = await asyncio.to_thread(setup_cluster, c)
    policy = {"replication_factor": 3, "min_insync_replicas": 2}
    cfg = cluster_config(c.bootstrap_servers, 1.0, policy=policy, **extra)
    workdir = Path(tempfile.mkdtemp(prefix="versions-"))
    started = time.monotonic()
    try:
        async with running_exporter(cfg) as exp:
            # Healthy: brokers with their racks, RF and its drift, lag and group state, the controller.
            s = await exp.wait_for(lambda s: one(s, "kafka_brokers") == 3, 60, "3 brokers")
            racks = {int(dict(k)["broker_id"]): dict(k)["rack"] for k in values(s, "kafka_broker_info")}
            assert racks == RACKS
            rf_cli = {r["Topic"]: len(r["Replicas"].split(",")) for r in described(c)}
            assert exported_per_topic(s, "kafka_topic_replication_factor") == rf_cli
            drift = exported_per_topic(s, "kafka_topic_replication_factor_drift")
            assert drift == {t: rf - 3 for t, rf in rf_cli.items() if rf != 3}
            await exp.agrees_with(
                lambda: lag_rows_cli(c), lambda s: exported_rows(s, "v-"), "kafka-consumer-groups (offsets, lag)"
            )
            states = {dict(k)["group"]: dict(k)["state"] for k in values(s, "kafka_consumer_group_info")}
            cli_states = {g: group_state_cli(c, g) for g in GROUPS}
            assert cli_states == {"v-active": "Stable", "v-idle": "Empty"}
            assert {g: states.get(g) for g in cli_states} == cli_states
            source = "zookeeper" if mode == "zookeeper" else "kraft_quorum"
            assert one(s, "kafka_controller_id", source=source) == controller_cli(c)

            # A throttled reassignment in flight, as the release's kafka-reassign-partitions --verify sees it.
            await asyncio.to_thread(start_move, c, workdir)
            s = await exp.wait_for(
                lambda s: one(s, "kafka_partition_reassigning", topic="v-move", partition="0") == 1,
                30,
                "the throttled move of v-move-0 to broker 2 seen",
            )
            assert await asyncio.to_thread(move_in_progress_cli, c, workdir)
            assert one(s, "kafka_reassignment_partitions") == 1
            assert (
                one(s, "kafka_partition_reassignment_replica_in_isr", topic="v-move", partition="0", broker_id="2") == 0
            )
            assert one(s, "kafka_replication_throttles_left_behind") == 0
            healthy = await exp.scrape()

            # No failed call on a healthy cluster of any release; what it cannot answer is a capability.
            assert {dict(k)["source"]: v for k, v in values(healthy, "kafka_exporter_source_up").items()} == {
                "metadata": 1,
                "kafka_admin": 1,
                **({"zookeeper": 1} if mode == "zookeeper" else {}),
            }
            errors = {dict(k)["call"]: v for k, v in values(healthy, "kafka_exporter_collection_errors_total").items()}
            assert not any(errors.values()), errors
            caps = {
                dict(k)["capability"]: dict(k)["via"] for k in values(healthy, "kafka_cluster_capability_available")
            }
            assert caps["reassignments"] == (
                "zookeeper" if version in ("1.1", "2.1") else "list_partition_reassignments"
            )
            assert caps["group_state"] == ("describe_groups" if version in ("1.1", "2.1") else "list_groups")

            # The log: one line saying what this release lacks (none for a release that lacks nothing), and no
            # warning at all while the cluster is healthy.
            said = [r.getMessage() for r in caplog.records if r.name.startswith("exporter")]
            about_caps = [m for m in said if "not available" in m or "reading " in m]
            assert len(about_caps) == (1 if version in ("1.1", "2.1") else 0), about_caps
            assert not [r for r in caplog.records if r.name.startswith("exporter") and r.levelno >= logging.WARNING]

            # Broker 3 lost: under-replicated and offline partitions as kafka-topics counts them.
            c.kill(3)
            await exp.wait_for(
                lambda s: exported_per_topic(s, "kafka_topic_offline_partitions") == {"v-rf1": 1},
                60,
                "v-rf1's partition on broker 3 offline",
            )
            await exp.agrees_with(
                lambda: (
                    per_topic(described(c, "--under-replicated-partitions")),
                    per_topic(described(c, "--unavailable-partitions")),
                ),
                lambda s: (
                    exported_per_topic(s, "kafka_topic_under_replicated_partitions"),
                    exported_per_topic(s, "kafka_topic_offline_partitions"),
                ),
                "kafka-topics (under-replicated, unavailable with broker 3 down)",
                attempts=20,
            )
            print(
                f"\n{RELEASES[version]} ({mode}): matched the release's tools in {time.monotonic() - started:.0f}s; "
                f"capabilities {caps}; errors on the healthy cluster {sum(errors.values()):.0f}"
            )
    finally:
        active.close()
