"""Issue 2 end to end: a real cluster -> the exporter -> /metrics, in ZooKeeper mode and KRaft mode."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import TopicCollection
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from harness.cluster import Cluster, ZkCluster
from harness.monitoring import free_port
from tests.integration.scrape import Exporter, Series, cluster_config, http_get, one, parse, running_exporter, values

pytestmark = pytest.mark.cluster

# How long the cluster takes to notice a dead broker (the harness sets both timeouts to 6 s), plus margin
# for a busy 2-core machine.
DETECTION_S = 6 + 10


def create_topics(admin: AdminClient, topics: list[tuple[str, int, int]]) -> None:
    futures = admin.create_topics([NewTopic(n, p, r) for n, p, r in topics])
    for f in futures.values():
        try:
            f.result(30)
        except Exception as e:
            if "TOPIC_ALREADY_EXISTS" not in str(e):
                raise


def admin_truth(admin: AdminClient) -> dict[str, Any]:
    """What the Admin API says, read with calls other than the ones the exporter uses (DescribeTopics)."""
    brokers = sorted(n.id for n in admin.describe_cluster(request_timeout=10).result().nodes)
    names = list(admin.list_topics(timeout=10).topics)
    described = admin.describe_topics(TopicCollection(names), request_timeout=10)
    partitions, urp = {}, {}
    for name, fut in described.items():
        td = fut.result()
        partitions[name] = len(td.partitions)
        urp[name] = sum(1 for p in td.partitions if len(p.isr) < len(p.replicas))
    return {"brokers": brokers, "partitions": partitions, "urp": urp}


def exported(s: Series) -> dict[str, Any]:
    return {
        "brokers": sorted(int(dict(k)["broker_id"]) for k in values(s, "kafka_broker_info")),
        "partitions": {dict(k)["topic"]: int(v) for k, v in values(s, "kafka_topic_partitions").items()},
        "urp": {dict(k)["topic"]: int(v) for k, v in values(s, "kafka_topic_under_replicated_partitions").items()},
    }


async def matches_admin_api(exp: Exporter, admin: AdminClient, attempts: int = 10) -> Series:
    return await exp.agrees_with(lambda: admin_truth(admin), exported, "the Admin API", attempts)


@pytest.mark.parametrize("mode", ["zookeeper", "kraft"])
async def test_metrics_match_admin_api(mode: str, request: pytest.FixtureRequest) -> None:
    cluster: Cluster = request.getfixturevalue("zk_cluster" if mode == "zookeeper" else "kraft_cluster")
    admin = cluster.admin_client()
    create_topics(admin, [("found-orders", 6, 3), ("found-clicks", 3, 1)])
    async with running_exporter(cluster_config(cluster.bootstrap_servers)) as exp:
        s = await matches_admin_api(exp, admin)
        assert one(s, "kafka_brokers") == len(cluster.running_ids) == 3
        assert one(s, "kafka_topic_partitions", topic="found-orders") == 6
        assert one(s, "kafka_topic_under_replicated_partitions", topic="found-clicks") == 0
        assert one(s, "kafka_topics") == len(exported(s)["partitions"])
        assert one(s, "kafka_exporter_source_up", source="metadata") == 1
        assert (one(s, "kafka_exporter_snapshot_age_seconds") or 99) < 5
        assert await exp.status("/ready") == 200


@pytest.mark.parametrize("mode", ["zookeeper", "kraft"])
async def test_killed_broker_is_seen_and_recovers(mode: str, cluster_factory: Any) -> None:
    cluster: Cluster = cluster_factory(mode, [1, 2, 3])
    admin = cluster.admin_client()
    create_topics(admin, [("kill-me", 6, 3)])
    interval = 1.0
    async with running_exporter(cluster_config(cluster.bootstrap_servers, interval)) as exp:
        healthy = await exp.wait_for(
            lambda s: (
                one(s, "kafka_brokers") == 3 and one(s, "kafka_topic_under_replicated_partitions", topic="kill-me") == 0
            ),
            60,
            "3 live brokers and no under-replicated partitions",
        )
        assert healthy
        cluster.kill(2)
        killed_at = time.monotonic()
        await exp.wait_for(
            lambda s: (
                one(s, "kafka_brokers") == 2
                and (one(s, "kafka_topic_under_replicated_partitions", topic="kill-me") or 0) == 6
            ),
            DETECTION_S + 2 * interval + 10,
            "live brokers dropped to 2 and all 6 partitions of an RF-3 topic became under-replicated",
        )
        print(f"{mode}: broker loss visible after {time.monotonic() - killed_at:.1f}s")
        await asyncio.to_thread(cluster.start_broker, 2)
        await exp.wait_for(
            lambda s: (
                one(s, "kafka_brokers") == 3 and one(s, "kafka_topic_under_replicated_partitions", topic="kill-me") == 0
            ),
            90,
            "broker 2 back and under-replicated partitions back to 0",
        )


def test_unreachable_cluster_keeps_serving_own_metrics(tmp_path: Path) -> None:
    dead = free_port()  # nothing listens here
    port = free_port()
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"web: {{listen_address: '127.0.0.1:{port}'}}\n"
        f"clusters:\n  - bootstrap_servers: '127.0.0.1:{dead}'\n"
        "    collection: {interval_seconds: 1, timeout_seconds: 3, request_timeout_seconds: 2}\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "exporter", "--config", str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        errors = 0.0
        while time.monotonic() < deadline:
            try:
                status, body = http_get(f"http://127.0.0.1:{port}/metrics")
            except OSError:
                time.sleep(0.3)
                continue
            assert status == 200
            s = parse(body)
            assert one(s, "kafka_brokers") is None, "no broker count may be invented for an unreachable cluster"
            errors = one(s, "kafka_exporter_collection_errors_total", source="metadata", call="metadata") or 0
            # A cycle may count two failures of Metadata (librdkafka's, then its deadline): wait for two cycles.
            if errors >= 2 and (one(s, "kafka_exporter_collection_cycles_total") or 0) >= 2:
                assert one(s, "kafka_exporter_source_up", source="metadata") == 0
                assert one(s, "kafka_exporter_last_success_timestamp_seconds") is None
                assert one(s, "kafka_exporter_cluster_reachable") == 0
                break
            time.sleep(0.5)
        assert errors >= 2, "failed cycles were not counted"
        status, body = http_get(f"http://127.0.0.1:{port}/ready")
        assert status == 503 and "no successful collection" in body
        assert http_get(f"http://127.0.0.1:{port}/healthz")[0] == 200
        assert proc.poll() is None, "the exporter died"
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out.decode()[-2000:]
    assert b"Traceback" not in out


async def test_zookeeper_outage_is_reported_and_kafka_metrics_keep_flowing(zk_cluster: ZkCluster) -> None:
    config = cluster_config(zk_cluster.bootstrap_servers, interval=1.0, zookeeper={"connect": zk_cluster.zk_connect})
    async with running_exporter(config) as exp:
        s = await exp.wait_for(
            lambda s: (
                one(s, "kafka_exporter_source_up", source="zookeeper") == 1
                and one(s, "kafka_controller_id", source="zookeeper") is not None
            ),
            30,
            "ZooKeeper read and the controller known",
        )
        await asyncio.to_thread(zk_cluster.stop_zookeeper)
        s = await exp.wait_for(
            lambda s: one(s, "kafka_exporter_source_up", source="zookeeper") == 0, 30, "ZooKeeper reported down"
        )
        # The brokers still answer Metadata: those metrics keep flowing, and nothing ZooKeeper said is made up.
        # (DescribeConfigs may fail meanwhile: a ZooKeeper-mode broker reads topic configs from ZooKeeper.)
        assert one(s, "kafka_brokers") == 3
        assert one(s, "kafka_topics") is not None
        assert one(s, "kafka_controller_id", source="zookeeper") is None
        assert one(s, "kafka_controller_id", source="metadata") is not None
        assert (one(s, "kafka_exporter_collection_errors_total", source="zookeeper", call="connect") or 0) >= 1
        await asyncio.to_thread(zk_cluster.start_zookeeper)
        await exp.wait_for(
            lambda s: (
                one(s, "kafka_exporter_source_up", source="zookeeper") == 1
                and one(s, "kafka_controller_id", source="zookeeper") is not None
            ),
            60,
            "ZooKeeper back",
        )
