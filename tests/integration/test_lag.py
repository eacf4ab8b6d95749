"""Issue 4 on real clusters: consumer lag against Kafka's own kafka-consumer-groups, lag in seconds against
record timestamps, and verdicts of groups that keep up, stop, stall or are rewound."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from harness.cluster import Cluster
from harness.tools import CONSUMER_GROUP_COMMAND, run_tool
from tests.integration.scrape import Exporter, Series, cluster_config, one, running_exporter, values

pytestmark = pytest.mark.cluster

INTERVAL = 1.0
WINDOW = 6.0  # verdict window: short, so a test sees verdicts within seconds
GroupRow = tuple[str, str, int]  # group, topic, partition


def create_topics(admin: AdminClient, topics: list[tuple[str, int, int]]) -> None:
    for f in admin.create_topics([NewTopic(n, p, r) for n, p, r in topics]).values():
        try:
            f.result(60)  # thousands of partitions on a busy 2-core machine
        except Exception as e:
            if "TOPIC_ALREADY_EXISTS" not in str(e):
                raise


def produce(bootstrap: str, counts: dict[str, tuple[int, int]]) -> None:
    """topic -> (messages, partitions), spread evenly."""
    p = Producer({"bootstrap.servers": bootstrap})
    for topic, (n, parts) in counts.items():
        for i in range(n):
            p.produce(topic, value=b"m%d" % i, partition=i % parts)
            if i % 100 == 0:
                p.poll(0)
    assert p.flush(60) == 0


def commit_offsets(admin: AdminClient, group: str, offsets: dict[tuple[str, int], int]) -> None:
    """Commits through the Admin API, retrying partitions the coordinator refused (a topic it does not know
    yet comes back as a per-partition error, not an exception)."""
    deadline = time.monotonic() + 30
    while True:
        tps = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        done = admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, tps)])[group].result(30)
        errors = [tp.error for tp in done.topic_partitions if tp.error is not None]
        if not errors:
            return
        assert time.monotonic() < deadline, f"committing {group}: {errors}"
        time.sleep(0.5)


def consumer(bootstrap: str, group: str, protocol: str = "classic", start: str = "earliest") -> Consumer:
    conf: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "group.protocol": protocol,
        "auto.offset.reset": start,
        "enable.auto.commit": False,
        "max.poll.interval.ms": 600_000,  # members that stop polling stay members for the whole test
    }
    if protocol == "classic":
        conf["session.timeout.ms"] = 6000
    return Consumer(conf)


def consume(c: Consumer, n: int, timeout: float = 60) -> int:
    got = 0
    deadline = time.monotonic() + timeout
    while got < n and time.monotonic() < deadline:
        for m in c.consume(num_messages=n - got, timeout=0.5):
            if m.error() is None:
                got += 1
    assert got == n, f"consumed {got} of {n}"
    return got


def tool_rows(cluster: Cluster, prefix: str) -> dict[GroupRow, tuple[int, int, int]]:
    """What `kafka-consumer-groups --describe --all-groups` prints: (CURRENT-OFFSET, LOG-END-OFFSET, LAG)
    for rows with a committed offset."""
    out = run_tool(
        cluster.version,
        CONSUMER_GROUP_COMMAND,
        ["--bootstrap-server", cluster.bootstrap_servers, "--describe", "--all-groups"],
        timeout=120,
        check=True,
    ).stdout
    rows = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 6 and f[0].startswith(prefix) and all(x.isdigit() for x in f[2:6]):
            rows[(f[0], f[1], int(f[2]))] = (int(f[3]), int(f[4]), int(f[5]))
    return rows


def by_partition(s: Series, name: str) -> dict[tuple[str, ...], int]:
    """Series of a per-partition metric keyed by ([group,] topic, partition)."""
    out = {}
    for k, v in values(s, name).items():
        d = dict(k)
        out[(*([d["group"]] if "group" in d else []), d["topic"], d["partition"])] = int(v)
    return out


def exported_rows(s: Series, prefix: str) -> dict[GroupRow, tuple[int, int, int]]:
    hw = by_partition(s, "kafka_partition_high_watermark")
    lag = by_partition(s, "kafka_consumer_group_lag")
    return {
        (g, t, int(p)): (committed, hw[(t, p)], lag[(g, t, p)])
        for (g, t, p), committed in by_partition(s, "kafka_consumer_group_committed_offset").items()
        if g.startswith(prefix)
    }


def verdicts(s: Series) -> dict[str, str]:
    return {dict(k)["group"]: dict(k)["verdict"] for k in values(s, "kafka_consumer_group_verdict")}


@pytest.mark.parametrize("mode", ["zookeeper", "kraft"])
async def test_lag_matches_kafka_consumer_groups_tool(mode: str, request: pytest.FixtureRequest) -> None:
    cluster: Cluster = request.getfixturevalue("zk_cluster" if mode == "zookeeper" else "kraft_cluster")
    bs, prefix = cluster.bootstrap_servers, f"lagtool-{mode}-"
    admin = cluster.admin_client()
    orders, clicks = prefix + "orders", prefix + "clicks"
    create_topics(admin, [(orders, 3, 2), (clicks, 2, 1)])
    produce(bs, {orders: (300, 3), clicks: (100, 2)})

    # A live member that consumed part; a group whose only member consumed part and left; a group committed
    # only through the Admin API; on Kafka 4, a KIP-848 consumer group. Producers are done: nothing moves.
    live = consumer(bs, prefix + "live")
    live.subscribe([orders, clicks])
    consume(live, 120)
    live.commit(asynchronous=False)
    stopped = consumer(bs, prefix + "stopped")
    stopped.subscribe([orders])
    consume(stopped, 50)
    stopped.commit(asynchronous=False)
    stopped.close()
    commit_offsets(admin, prefix + "admin", {(orders, 0): 7, (clicks, 1): 3})
    members = [live]
    if mode == "kraft":
        kip848 = consumer(bs, prefix + "kip848", protocol="consumer")
        kip848.subscribe([orders])
        consume(kip848, 200)
        kip848.commit(asynchronous=False)
        members.append(kip848)
    try:
        cfg = cluster_config(bs, INTERVAL, lag={"include_groups": [prefix + ".*"]})
        async with running_exporter(cfg) as exp:
            await exp.next_cycles(2)
            s = await exp.scrape()
            truth = await asyncio.to_thread(tool_rows, cluster, prefix)
            after = await exp.scrape()
    finally:
        for c in members:
            c.close()

    assert exported_rows(s, prefix) == exported_rows(after, prefix), "offsets moved while the tool ran"
    assert truth, "kafka-consumer-groups printed no rows"
    assert exported_rows(s, prefix) == truth
    assert one(s, "kafka_consumer_group_members", group=prefix + "live") == 1
    assert one(s, "kafka_consumer_group_members", group=prefix + "stopped") == 0
    # The groups' committed offsets all point at records that still exist.
    assert set(values(s, "kafka_consumer_group_topic_partitions_below_log_start").values()) == {0.0}
    info = {dict(k)["group"]: dict(k) for k in values(s, "kafka_consumer_group_info")}
    if mode == "kraft":
        assert info[prefix + "kip848"]["type"] == "consumer"  # DescribeGroups would call it Dead
        assert one(s, "kafka_consumer_group_members", group=prefix + "kip848") == 1
    # Requests grow with brokers (3 here), not with groups or partitions.
    for api in ("list_groups", "describe_groups", "offset_fetch"):
        assert 1 <= (one(s, "kafka_exporter_last_cycle_requests", source="kafka_admin", api=api) or 0) <= 3, api
    assert (one(s, "kafka_exporter_last_cycle_requests", source="metadata", api="list_offsets") or 0) <= 2 * 3


class SteadyProducer(threading.Thread):
    """Writes `rate` records a second, round-robin over the partitions, each stamped with its CreateTime."""

    def __init__(self, bootstrap: str, topic: str, partitions: int, rate: float) -> None:
        super().__init__(daemon=True)
        self.producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
        self.topic, self.partitions, self.rate = topic, partitions, rate
        self.done = threading.Event()

    def run(self) -> None:
        start, i = time.monotonic(), 0
        while not self.done.is_set():
            self.producer.produce(self.topic, value=b"x", partition=i % self.partitions)
            self.producer.poll(0)
            i += 1
            self.done.wait(max(0.0, start + i / self.rate - time.monotonic()))
        self.producer.flush(10)


class Polling(threading.Thread):
    """Keeps a member alive by polling. Commits what it consumed after every poll, or only once (then its
    committed offset freezes while it stays a member: a stalled consumer)."""

    def __init__(self, c: Consumer, topic: str, commit_once: bool = False) -> None:
        super().__init__(daemon=True)
        self.c, self.commit_once = c, commit_once
        c.subscribe([topic])  # before the thread polls: librdkafka consumers are not for concurrent calls
        self.committed = threading.Event()
        self.done = threading.Event()

    def run(self) -> None:
        try:
            while not self.done.is_set():
                msgs = self.c.consume(num_messages=100, timeout=0.2)
                if msgs and not (self.commit_once and self.committed.is_set()):
                    self.c.commit(asynchronous=False)
                    self.committed.set()
        finally:
            self.c.close()


@contextmanager
def threads(*ts: Any) -> Iterator[None]:
    for t in ts:
        t.start()
    try:
        yield
    finally:
        for t in ts:
            t.done.set()
        for t in ts:
            t.join(20)


def record_time(bootstrap: str, topic: str, partition: int, offset: int) -> float:
    """CreateTime (seconds) of the record at the offset."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader-not-committing", "enable.auto.commit": False})
    try:
        c.assign([TopicPartition(topic, partition, offset)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            m = c.poll(1)
            if m is not None and m.error() is None:
                assert m.offset() == offset
                return float(m.timestamp()[1]) / 1000
        raise AssertionError(f"no record at {topic}-{partition}@{offset}")
    finally:
        c.close()


async def consistent_scrape(exp: Exporter) -> tuple[Series, Any]:
    """A scrape and the snapshot it was rendered from (no cycle completed in between)."""
    while True:
        before = exp.runner.health.cycles
        s = await exp.scrape()
        snap = exp.runner.last_snapshot
        if exp.runner.health.cycles == before and snap is not None:
            return s, snap


async def test_lag_seconds_and_verdicts(kraft_cluster: Cluster) -> None:
    cluster, prefix = kraft_cluster, "lagv-"
    bs, topic, parts, rate = cluster.bootstrap_servers, "lagv-steady", 2, 20.0
    admin = cluster.admin_client()
    create_topics(admin, [(topic, parts, 2)])
    lag_cfg = {
        "include_groups": [prefix + ".*"],
        "verdict_window_seconds": WINDOW,
        "history_seconds": 300,
        "history_samples": 600,
    }
    rewound = prefix + "rewound"

    def commit_through_admin(offset: int) -> None:
        commit_offsets(admin, rewound, {(topic, p): offset for p in range(parts)})

    producer = SteadyProducer(bs, topic, parts, rate)
    keeps_up = Polling(consumer(bs, prefix + "ok", protocol="consumer"), topic)  # KIP-848
    stalled = Polling(consumer(bs, prefix + "stalled"), topic, commit_once=True)
    collection = {"interval_seconds": INTERVAL, "timeout_seconds": 8, "request_timeout_seconds": 4, "jitter_seconds": 0}
    async with running_exporter(cluster_config(bs, INTERVAL, lag=lag_cfg, collection=collection)) as exp:
        with threads(producer, keeps_up, stalled):
            # High watermarks are sampled for partitions groups commit to: wait until the history of the topic
            # has begun, so it reaches back to the records the stopped consumer will stop at.
            await exp.wait_for(
                lambda s: len([k for k in by_partition(s, "kafka_partition_high_watermark") if k[0] == topic]) == parts,
                30,
                "high watermarks of the topic sampled",
            )
            await exp.next_cycles(2)
            await asyncio.to_thread(commit_through_admin, 20)
            # A consumer that reads from the end, commits manually record by record, then stops.
            stopper = consumer(bs, prefix + "stopped", start="latest")
            stopper.subscribe([topic])
            for _ in range(30):
                await asyncio.to_thread(consume, stopper, 1)
                stopper.commit(asynchronous=False)
            stopper.close()
            expected = {prefix + "ok": "ok", prefix + "stalled": "stalled", prefix + "stopped": "stopped"}
            s = await exp.wait_for(
                lambda s: all(verdicts(s).get(g) == v for g, v in expected.items()),
                WINDOW + 30,
                f"verdicts {expected}",
            )
            assert one(s, "kafka_consumer_group_members", group=prefix + "stalled") == 1
            assert one(s, "kafka_consumer_group_members", group=prefix + "stopped") == 0
            assert verdicts(s).get(rewound) == "stopped"  # committed once through the Admin API, then left

            # Lag in seconds of the stopped group, against the CreateTime of the record at its committed offset.
            s, snap = await consistent_scrape(exp)
            for p in range(parts):
                labels = {"group": prefix + "stopped", "topic": topic, "partition": str(p)}
                committed = int(one(s, "kafka_consumer_group_committed_offset", **labels) or -1)
                reported = one(s, "kafka_consumer_group_lag_seconds", **labels)
                truth = snap.taken_at - await asyncio.to_thread(record_time, bs, topic, p, committed)
                print(f"partition {p}: lag seconds reported {reported}, truth {truth:.2f}")
                assert reported is not None and abs(reported - truth) <= INTERVAL + 1
                # The stopped group has been behind for about a whole window: the verdict saw no commit over the
                # window, and the record at its committed offset was written up to one collection interval after
                # its last commit (seen in CI: 5.96 s for a 6 s window).
                assert truth > WINDOW - INTERVAL
            topic_seconds = one(s, "kafka_consumer_group_topic_lag_seconds", group=prefix + "stopped", topic=topic)
            assert topic_seconds == max(
                one(s, "kafka_consumer_group_lag_seconds", group=prefix + "stopped", topic=topic, partition=str(p)) or 0
                for p in range(parts)
            )

            # Reset to earlier offsets: rewound for a window, while the others keep their verdicts.
            await asyncio.to_thread(commit_through_admin, 5)
            s = await exp.wait_for(
                lambda s: verdicts(s).get(rewound) == "rewound", 10, "the group reset to earlier offsets is rewound"
            )
            assert all(verdicts(s).get(g) == v for g, v in expected.items()), verdicts(s)


async def test_a_dead_coordinator_costs_only_its_groups(kraft_cluster: Cluster) -> None:
    cluster, prefix = kraft_cluster, "lagk-"
    bs, topic = cluster.bootstrap_servers, "lagk-t"
    admin = cluster.admin_client()
    create_topics(admin, [(topic, 2, 3)])
    produce(bs, {topic: (20, 2)})
    groups = [f"{prefix}{i:02d}" for i in range(40)]  # enough to land on every coordinator
    for g in groups:
        commit_offsets(admin, g, {(topic, 0): 3, (topic, 1): 4})
    expected_lag: dict[tuple[str, ...], int] = {(g, topic, str(p)): 10 - (3 + p) for g in groups for p in (0, 1)}

    def lags(s: Series) -> dict[tuple[str, ...], int]:
        return {k: v for k, v in by_partition(s, "kafka_consumer_group_lag").items() if k[0].startswith(prefix)}

    def coordinators(s: Series) -> dict[str, int]:
        return {dict(k)["group"]: int(dict(k)["coordinator"]) for k in values(s, "kafka_consumer_group_info")}

    def list_groups_errors(s: Series) -> float:
        return one(s, "kafka_exporter_collection_errors_total", source="kafka_admin", call="list_groups") or 0

    async with running_exporter(cluster_config(bs, INTERVAL, lag={"include_groups": [prefix + ".*"]})) as exp:
        s = await exp.wait_for(lambda s: lags(s) == expected_lag, 30, "every group's lag")
        by_coordinator = coordinators(s)
        victim = max(set(by_coordinator.values()), key=list(by_coordinator.values()).count)
        survivors = {g for g, b in by_coordinator.items() if b != victim}
        assert survivors, f"every group is coordinated by broker {victim}"
        errors_before = list_groups_errors(s)
        cluster.kill(victim)
        s = await exp.wait_for(
            lambda s: list_groups_errors(s) > errors_before, 30, "the dead coordinator's ListGroups recorded as failed"
        )
        # The other coordinators' groups are still there; whatever lag is shown is right, never a made-up 0.
        assert survivors <= set(coordinators(s)), "groups of live coordinators went missing"
        wrong = {k: (v, expected_lag[k]) for k, v in lags(s).items() if expected_lag[k] != v}
        assert not wrong, f"(shown, true) lag: {wrong}"
        # Once the group coordinator partitions have moved, every group is back with its lag.
        await exp.wait_for(
            lambda s: lags(s) == expected_lag and victim not in coordinators(s).values(),
            60,
            "all groups back on the remaining coordinators",
        )
