"""Issue 9 on real clusters: the exporter stays right while the cluster changes. A controller killed, a broker
frozen and thawed or restarted, one broker hung on a cluster of a few thousand partitions, a throttled
migration whose copies queue, and a cluster that cannot be reached at all. Each test prints the delays it
measured (run with -s to see them)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource  # type: ignore[attr-defined]

from exporter.model import ClusterSnapshot
from harness.cluster import Cluster, ZkCluster
from harness.monitoring import free_port
from harness.story import fill
from tests.integration.scrape import Exporter, Series, cluster_config, one, parse, running_exporter, values
from tests.integration.test_lag import commit_offsets, create_topics, produce
from tests.integration.test_migration import MB, create_assigned, reassign

pytestmark = pytest.mark.cluster
INTERVAL = 1.0
LIST = "list_partition_reassignments"


def registered(cluster: Cluster) -> set[int]:
    """Brokers a fresh client's Metadata lists (no client cache involved)."""
    admin = cluster.admin_client()
    return {int(b) for b in admin.list_topics(timeout=5).brokers}


def two_cycles(exp: Exporter) -> float:
    """Two collection cycles: interval plus the cycle's own duration, twice."""
    return 2 * (exp.runner.cfg.collection.interval_seconds + (exp.runner.health.last_duration or 0.0))


def read_again(snap: ClusterSnapshot | None, broker: int) -> bool:
    """This snapshot read the broker's own configs, log dirs and ApiVersions."""
    return (
        snap is not None
        and broker in snap.broker_configs
        and broker in snap.log_dirs
        and broker in snap.broker_versions
    )


async def wait_until(check: Callable[[], bool], timeout: float, what: str, step: float = 0.2) -> float:
    """Polls check() (in a thread: it may do I/O) until true; returns the time.monotonic() it became true."""
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(check):
        assert time.monotonic() < deadline, f"within {timeout:.0f}s: {what}"
        await asyncio.sleep(step)
    return time.monotonic()


def api_errors(snap: ClusterSnapshot | None, call: str) -> list[str]:
    return [e.message for e in (snap.errors if snap else ()) if e.call == call]


# --- 1. The controller is killed ----------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["zookeeper", "kraft"])
async def test_controller_routed_calls_follow_a_new_controller(mode: str, cluster_factory: Any, tmp_path: Path) -> None:
    cluster = cluster_factory(mode, [1, 2, 3])
    bs = cluster.bootstrap_servers
    extra: dict[str, Any] = {"zookeeper": {"connect": cluster.zk_connect}} if isinstance(cluster, ZkCluster) else {}
    async with running_exporter(cluster_config(bs, INTERVAL, **extra)) as exp:
        if isinstance(cluster, ZkCluster):
            s = await exp.wait_for(
                lambda s: one(s, "kafka_controller_id", source="zookeeper") is not None, 30, "the controller"
            )
            controller = int(one(s, "kafka_controller_id", source="zookeeper") or 0)
            # A plain ZooKeeper-mode 3.9 cluster: /controller holds "kraftControllerEpoch": -1, no migration.
            assert one(s, "kafka_controller_kraft_migration") == 0
        else:
            s = await exp.wait_for(
                lambda s: one(s, "kafka_controller_id", source="kraft_quorum") is not None, 30, "the quorum leader"
            )
            controller = int(one(s, "kafka_controller_id", source="kraft_quorum") or 0)
        a, b = [x for x in (1, 2, 3) if x != controller]
        # Data on the brokers that survive, to move between them once the controller is gone.
        create_assigned(bs, {"moves": [[a], [b]]})
        await asyncio.to_thread(fill, bs, "moves", 2, 4 * MB)
        await exp.next_cycles(2)
        assert not api_errors(exp.runner.last_snapshot, LIST)
        cluster.kill(controller)
        killed = time.monotonic()

        def new_controller() -> bool:
            md = cluster.admin_client().list_topics(timeout=5)
            return md.controller_id not in (-1, controller) and controller not in md.brokers

        # ZooKeeper: the controller is re-elected when the dead broker's session expires; KRaft: a new quorum
        # leader, and the dead broker fenced. From then on, what the exporter asks must reach the new one.
        elected = await wait_until(new_controller, 60, "a new controller elected")
        clean_at = None
        while clean_at is None:
            await exp.next_cycles(1, timeout=30)
            snap = exp.runner.last_snapshot
            after = snap is not None and snap.taken_at >= time.time() - (time.monotonic() - elected)
            if after and snap is not None and snap.reassignments_known and not api_errors(snap, LIST):
                clean_at = time.monotonic()
            assert time.monotonic() - elected < 60, api_errors(snap, LIST)
        delay = clean_at - elected
        print(
            f"{mode}: controller {controller} killed; new one visible after {elected - killed:.1f}s; "
            f"ListPartitionReassignments clean again {delay:.1f}s later"
        )
        assert delay <= two_cycles(exp) + 1, delay
        for _ in range(5):  # and it stays clean
            await exp.next_cycles(1)
            assert not api_errors(exp.runner.last_snapshot, LIST)
        # A reassignment started now is seen through the API (not a ZooKeeper fallback). Throttled by hand on the
        # live brokers only: the tool's --throttle would also try to configure the dead one.
        throttle(cluster, [a, b], ["moves"], 512 * 1024)
        reassign(cluster, tmp_path, {("moves", 0): [a, b], ("moves", 1): [b, a]})
        await exp.wait_for(lambda s: (one(s, "kafka_reassignment_partitions") or 0) > 0, 30, "the new move seen")
        assert not api_errors(exp.runner.last_snapshot, LIST)


def throttle(cluster: Cluster, brokers: list[int], topics: list[str], rate: int) -> None:
    """What kafka-reassign-partitions --throttle sets, on the given brokers and topics only."""

    def entry(name: str, value: str) -> ConfigEntry:
        return ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET)

    resources = [
        ConfigResource(
            "broker",
            str(b),
            incremental_configs=[
                entry("leader.replication.throttled.rate", str(rate)),
                entry("follower.replication.throttled.rate", str(rate)),
            ],
        )
        for b in brokers
    ] + [
        ConfigResource(
            "topic",
            t,
            incremental_configs=[
                entry("leader.replication.throttled.replicas", "*"),
                entry("follower.replication.throttled.replicas", "*"),
            ],
        )
        for t in topics
    ]
    admin = cluster.admin_client()
    for r in resources:  # librdkafka takes one broker resource per call
        for f in admin.incremental_alter_configs([r]).values():
            f.result(30)


# --- 2. A broker drops out and registers again ------------------------------------------------------------
@pytest.mark.parametrize("mode", ["zookeeper", "kraft"])
async def test_a_returning_broker_is_read_again_and_no_group_leaves(mode: str, request: pytest.FixtureRequest) -> None:
    cluster: Cluster = request.getfixturevalue(f"{'zk' if mode == 'zookeeper' else 'kraft'}_cluster")
    bs, topic, prefix = cluster.bootstrap_servers, "chg-groups", "chg-"
    admin = cluster.admin_client()
    create_topics(admin, [(topic, 3, 3)])
    produce(bs, {topic: (30, 3)})
    groups = {f"{prefix}{i:02d}" for i in range(30)}
    for g in groups:
        commit_offsets(admin, g, {(topic, p): 2 for p in range(3)})
    cfg = cluster_config(bs, INTERVAL, lag={"include_groups": [prefix + ".*"]})

    def listed(s: Series) -> set[str]:
        return {dict(k)["group"] for k in values(s, "kafka_consumer_group_info")}

    async with running_exporter(cfg) as exp:
        s = await exp.wait_for(lambda s: listed(s) == groups, 30, "every group listed")
        coordinators = [int(dict(k)["coordinator"]) for k in values(s, "kafka_consumer_group_info")]
        victim = max(set(coordinators), key=coordinators.count)
        watching = True
        seen_counts: list[float] = []

        async def watch() -> None:
            while watching:
                s = await exp.scrape()
                missing = groups - listed(s)
                snap = exp.runner.last_snapshot
                assert not missing, (
                    f"{len(missing)} groups left /metrics (kafka_brokers {one(s, 'kafka_brokers')}, "
                    f"kafka_consumer_groups {one(s, 'kafka_consumer_groups')}); last cycle's errors: "
                    f"{snap.errors if snap else None}"
                )
                seen_counts.append(one(s, "kafka_consumer_groups") or 0)
                await asyncio.sleep(0.5)

        watcher = asyncio.create_task(watch())
        try:
            for fault in ("freeze 15 s", "restart"):
                if fault == "restart":
                    cluster.stop_broker(victim)
                    await wait_until(lambda: victim not in registered(cluster), 60, "the broker deregistered")
                    await asyncio.sleep(5)
                    cluster.start_broker(victim, wait=False)
                else:
                    cluster.freeze(victim)
                    frozen = time.monotonic()
                    await wait_until(lambda: victim not in registered(cluster), 60, "the broker's session expired")
                    await asyncio.sleep(max(0.0, 15 - (time.monotonic() - frozen)))
                    cluster.thaw(victim)
                back = await wait_until(lambda: victim in registered(cluster), 120, "the broker registered again")
                read_at = None
                while read_at is None:
                    await exp.next_cycles(1, timeout=30)
                    snap = exp.runner.last_snapshot
                    started_after = snap is not None and snap.taken_at >= time.time() - (time.monotonic() - back)
                    if started_after and read_again(snap, victim):
                        read_at = time.monotonic()
                    assert time.monotonic() - back < 60, f"broker {victim} never read again: {snap and snap.errors}"
                print(
                    f"{mode}: {fault} of broker {victim}: configs, log dirs, versions read again "
                    f"{read_at - back:.1f}s after it registered"
                )
                assert read_at - back <= two_cycles(exp) + 1
                assert watcher.done() is False or watcher.exception() is None
            await asyncio.sleep(3)
        finally:
            watching = False
            await watcher
        assert set(seen_counts) == {float(len(groups))}, sorted(set(seen_counts))


# --- 3. One hung broker on a cluster of a few thousand partitions -----------------------------------------
FREEZE_S = 30  # several times the ZooKeeper session timeout (6 s), more than the cycle deadline (20 s)


@pytest.mark.parametrize("mode", ["zookeeper", "kraft"])
async def test_one_hung_broker_never_empties_the_exposition(mode: str, cluster_factory: Any) -> None:
    cluster: Cluster = cluster_factory(mode, [1, 2, 3])
    bs = cluster.bootstrap_servers
    admin = cluster.admin_client()
    topics = [f"big-{i:02d}" for i in range(40)]
    create_topics(admin, [(t, 50, 2) for t in topics])  # 2,000 partitions
    produce(bs, {t: (100, 50) for t in topics[:6]})
    groups = [f"hung-{i:03d}" for i in range(300)]
    for i, g in enumerate(groups):
        t = topics[i % 6]
        commit_offsets(admin, g, {(t, (i + k) % 50): 1 for k in range(3)})
    # The default timeouts (request 10 s, cycle 20 s), as a user would run it.
    collection = {"interval_seconds": 5, "timeout_seconds": 20, "request_timeout_seconds": 10}
    cfg = cluster_config(bs, lag={"include_groups": ["hung-.*"]}, collection=collection)
    async with running_exporter(cfg) as exp:
        s = await exp.wait_for(
            lambda s: (
                len(values(s, "kafka_consumer_group_info")) == len(groups)
                and len(values(s, "kafka_topic_partitions")) >= len(topics)
            ),
            120,
            "every topic and group",
        )
        snap = exp.runner.last_snapshot
        assert snap is not None and snap.topics is not None
        leaders = {(t.name, p.partition): p.leader for t in snap.topics for p in t.partitions}
        victim = 2
        lag_keys = {k for k in values(s, "kafka_consumer_group_lag")}
        kept = {k for k in lag_keys if leaders[(dict(k)["topic"], int(dict(k)["partition"]))] != victim}
        assert kept, "no group partition is led by the other brokers"
        cluster.freeze(victim)
        frozen = time.monotonic()
        scrapes, longest = 0, 0.0
        try:
            while time.monotonic() - frozen < FREEZE_S:
                s = await exp.scrape()
                scrapes += 1
                longest = max(longest, exp.runner.health.last_duration or 0.0)
                have_topics = {dict(k)["topic"] for k in values(s, "kafka_topic_partitions")}
                have_state = {dict(k)["topic"] for k in values(s, "kafka_topic_under_replicated_partitions")}
                missing_lag = kept - set(values(s, "kafka_consumer_group_lag"))
                at = f"{time.monotonic() - frozen:.0f}s after the freeze"
                assert set(topics) <= have_topics, f"{at}: topic series missing"
                assert set(topics) <= have_state, f"{at}: partition-state series missing"
                errors = exp.runner.last_snapshot.errors if exp.runner.last_snapshot else ()
                assert not missing_lag, (
                    f"{at}: {len(missing_lag)} lag series missing, e.g. {sorted(missing_lag)[:2]}; "
                    f"the cycle's errors: {[(e.call, e.message[:160]) for e in errors]}"
                )
                assert one(s, "kafka_consumer_groups") == len(groups), at
                await asyncio.sleep(2)
            print(f"{mode}: broker frozen {FREEZE_S} s: {scrapes} scrapes, all complete; longest cycle {longest:.1f}s")
        finally:
            cluster.thaw(victim)


# --- 4. A throttled migration whose copies queue, then a frozen receiver -----------------------------------
async def test_queued_throttled_copies_are_not_stalls_and_a_frozen_receiver_is(
    cluster_factory: Any, tmp_path: Path
) -> None:
    # A replica fetch carries up to 1 MB per partition and 10 MB per response by default, so with the few MB per
    # partition a test can afford, one fetch copies whole partitions and a throttle only shows as bursts. Smaller
    # fetches give these partitions the proportions of production ones (GBs against 1 MB fetches): the throttle
    # holds, and a receiving broker copies a few partitions at a time while the others wait their turn.
    fetch = {"replica.fetch.max.bytes": 64 * 1024, "replica.fetch.response.max.bytes": 256 * 1024}
    cluster: ZkCluster = cluster_factory("zookeeper", [1, 2, 3, 4, 5], broker_config=fetch)
    bs = cluster.bootstrap_servers
    old = [[1, 2], [2, 3], [3, 1]]
    topics = {f"mig-{i}": [old[(i + p) % 3] for p in range(4)] for i in range(10)}  # 40 partitions on 1-3
    create_assigned(bs, topics)
    for t in topics:
        await asyncio.to_thread(fill, bs, t, 4, 768 * 1024)
    # Every partition gets a third replica, alternately on broker 4 and 5: 20 partitions (15 MB) each.
    plan = {}
    for i, (t, assignment) in enumerate(sorted(topics.items())):
        for p, replicas in enumerate(assignment):
            plan[(t, p)] = [*replicas, 4 if (i * 4 + p) % 2 == 0 else 5]
    window = 20.0
    cfg = cluster_config(
        bs,
        INTERVAL,
        zookeeper={"connect": cluster.zk_connect},
        reassignment={"stall_window_seconds": window, "min_progress_bytes_per_second": 10 * 1024},
    )

    def stalled(s: Series) -> set[tuple[str, str, str]]:
        return {
            (dict(k)["topic"], dict(k)["partition"], dict(k)["broker_id"])
            for k in values(s, "kafka_partition_reassignment_stalled")
        }

    async with running_exporter(cfg) as exp:
        await exp.wait_for(lambda s: one(s, "kafka_brokers") == 5, 30, "five brokers")
        reassign(cluster, tmp_path, plan, throttle=100 * 1024)  # ~150 s per receiver: seven stall windows
        print("migration: 40 partitions, 20 to each of brokers 4 and 5, throttled to 100 KiB/s")
        started = time.monotonic()
        await exp.wait_for(lambda s: (one(s, "kafka_reassignment_partitions") or 0) > 0, 30, "the move running")
        queued_seen = 0
        # Phase 1: three windows of healthy, queued copying: never a stall.
        while time.monotonic() - started < 3 * window + 5:
            s = await exp.scrape()
            assert not stalled(s), f"false stall at {time.monotonic() - started:.0f}s: {sorted(stalled(s))[:4]}"
            sizes = values(s, "kafka_partition_reassignment_replica_bytes")
            queued_seen = max(queued_seen, sum(1 for v in sizes.values() if v == 0))
            await asyncio.sleep(1)
        print(f"migration: up to {queued_seen} adding replicas waited at 0 bytes; no stall in {3 * window + 5:.0f}s")
        assert queued_seen >= 10, f"copies never queued ({queued_seen} replicas waiting at most): test too fast"
        # Phase 2: freeze the receiver with the most replicas still to copy.
        waiting: dict[str, int] = {}
        for k, v in values(s, "kafka_partition_reassignment_replica_in_isr").items():
            if v == 0:
                waiting[dict(k)["broker_id"]] = waiting.get(dict(k)["broker_id"], 0) + 1
        victim = max(waiting, key=waiting.__getitem__, default="")
        assert waiting.get(victim, 0) >= 5, f"too little left to copy before the freeze: {waiting}"
        cluster.freeze(int(victim))
        frozen = time.monotonic()
        try:
            s = await exp.wait_for(lambda s: bool(stalled(s)), window + 30, "the frozen receiver reported stalled")
            detected = time.monotonic() - frozen
            assert {b for _, _, b in stalled(s)} == {victim}, sorted(stalled(s))
            assert one(s, "kafka_broker_reassignment_stalled", broker_id=victim) == 1
            print(f"frozen receiver {victim} reported stalled after {detected:.1f}s (window {window:.0f}s)")
            assert detected <= window + two_cycles(exp) + 2
            await asyncio.sleep(5)
            s = await exp.scrape()
            assert {b for _, _, b in stalled(s)} == {victim}, sorted(stalled(s))
        finally:
            cluster.thaw(int(victim))
        thawed = time.monotonic()
        s = await exp.wait_for(lambda s: not stalled(s), 60, "the stall cleared after the thaw")
        cleared = time.monotonic() - thawed
        rate = one(s, "kafka_broker_reassignment_progress_bytes_per_second", broker_id=victim)
        print(f"thawed: stall cleared after {cleared:.1f}s; broker {victim} copying at {rate} B/s")
        assert rate is not None and rate > 0
        assert (one(s, "kafka_reassignment_progress_bytes_per_second") or 0) > 0
        # The rest of the move: still no stall.
        while (one(s, "kafka_reassignment_partitions") or 0) > 0 and time.monotonic() - thawed < 240:
            assert not stalled(s), sorted(stalled(s))[:4]
            await asyncio.sleep(1)
            s = await exp.scrape()


# --- 5. A cluster that cannot be reached -------------------------------------------------------------------
def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as r:
        return str(r.read().decode())


def test_an_unreachable_cluster_is_reported_quietly_and_sigterm_is_quick(tmp_path: Path) -> None:
    port, closed = free_port(), free_port()
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"web: {{listen_address: '127.0.0.1:{port}'}}\n"
        "clusters:\n"
        "  - name: nxdomain\n"
        "    bootstrap_servers: 'no-such-broker.invalid:9092'\n"
        "    collection: {interval_seconds: 2, timeout_seconds: 8, request_timeout_seconds: 4}\n"
        "  - name: closed\n"
        f"    bootstrap_servers: '127.0.0.1:{closed}'\n"
        "    collection: {interval_seconds: 2, timeout_seconds: 8, request_timeout_seconds: 4}\n"
    )
    log = tmp_path / "log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "exporter", "--config", str(cfg)], stdout=out, stderr=out)
    try:
        watched = 40.0
        time.sleep(watched)
        for name in ("nxdomain", "closed"):
            s = parse(get(f"http://127.0.0.1:{port}/metrics?cluster={name}"))
            assert one(s, "kafka_exporter_cluster_reachable") == 0, name
            assert one(s, "kafka_exporter_source_up", source="metadata") == 0, name
            assert one(s, "kafka_exporter_source_up", source="kafka_admin") == 0, name
            assert one(s, "kafka_brokers") is None
            cycles = one(s, "kafka_exporter_collection_cycles_total") or 0
            print(f"{name}: {cycles:.0f} cycles in {watched:.0f}s")
            assert cycles >= 5
        assert proc.poll() is None
    finally:
        sent = time.monotonic()
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(30)
        took = time.monotonic() - sent
    lines = [line for line in log.read_text().splitlines() if " WARNING " in line or " ERROR " in line]
    print(
        f"unreachable clusters: {len(lines)} warning/error lines in {watched:.0f}s; SIGTERM ended the process "
        f"in {took:.2f}s\n" + "\n".join(lines)
    )
    assert len(lines) <= 8, lines  # per cluster: unreachable, and each source down, once
    assert took <= 2.0
