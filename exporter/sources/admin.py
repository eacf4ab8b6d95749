"""The Kafka Admin API through confluent-kafka (librdkafka): cluster, brokers, topics, partitions."""

from __future__ import annotations

import functools
import logging
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, ResourceType  # type: ignore[attr-defined]

from exporter.model import Broker, ConfigValue, Partition, Topic
from exporter.sources.recorder import CycleRecorder

SOURCE = "admin"
# Kafka's internal topics (org.apache.kafka.common.internals.Topic).
INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state", "__share_group_state"})

# Topic configs analysis reads; keeping only these bounds memory at tens of thousands of topics.
TOPIC_CONFIG_KEYS = frozenset(
    {
        "min.insync.replicas",
        "unclean.leader.election.enable",
        "leader.replication.throttled.replicas",
        "follower.replication.throttled.replicas",
        "retention.ms",
        "cleanup.policy",
    }
)
# Topics per DescribeConfigs request: one request for all topics would be huge on big clusters.
TOPIC_CONFIG_BATCH = 500

log = logging.getLogger(__name__)


def admin_client(bootstrap_servers: str, client: dict[str, str]) -> AdminClient:
    conf: dict[str, Any] = {
        "bootstrap.servers": bootstrap_servers,
        "client.id": "kafka-cluster-exporter",
        # librdkafka logs every failed connection attempt; route it to Python logging so it obeys log_level.
        "logger": logging.getLogger("librdkafka"),
        **client,
    }
    try:
        return AdminClient(conf)
    except KafkaException as e:
        raise ValueError(f"invalid client setting: {e.args[0].str()}") from None


@dataclass(frozen=True)
class Metadata:
    cluster_id: str | None
    controller_id: int | None
    brokers: tuple[Broker, ...]  # racks not filled in: Metadata via librdkafka does not carry them
    topics: tuple[Topic, ...]


def read_metadata(admin: AdminClient, rec: CycleRecorder) -> Metadata | None:
    """One Metadata request (to any live broker): brokers, controller, topics and partitions.

    Read first on purpose: librdkafka sends DescribeCluster to the controller it has cached, and after that
    broker dies it waits on it until a Metadata response refreshes the cache (seen with librdkafka 2.16)."""
    md = rec.call(SOURCE, "metadata", lambda: admin.list_topics(timeout=rec.timeout()))
    if md is None:
        return None
    brokers = tuple(
        sorted((Broker(int(b.id), str(b.host), int(b.port)) for b in md.brokers.values()), key=lambda b: b.id)
    )
    topics = []
    for name, tmd in md.topics.items():
        if tmd.error is not None:
            # A topic that is being created or deleted; it will be read next cycle.
            log.debug("topic %s: %s", name, tmd.error)
            continue
        parts = tuple(
            Partition(
                topic=name,
                partition=pid,
                leader=pmd.leader if pmd.leader >= 0 else None,
                replicas=tuple(pmd.replicas),
                isr=tuple(pmd.isrs),
            )
            for pid, pmd in sorted(tmd.partitions.items())
        )
        topics.append(Topic(name=name, internal=name in INTERNAL_TOPICS, partitions=parts))
    controller = md.controller_id if md.controller_id is not None and md.controller_id >= 0 else None
    return Metadata(md.cluster_id, controller, brokers, tuple(sorted(topics, key=lambda t: t.name)))


def read_racks(admin: AdminClient, rec: CycleRecorder) -> dict[int, str | None] | None:
    """Each live broker's rack (DescribeCluster); None when the call failed."""

    def call() -> Any:
        return admin.describe_cluster(request_timeout=rec.timeout()).result(timeout=rec.timeout() + 1)

    desc = rec.call(SOURCE, "describe_cluster", call)
    if desc is None:
        return None
    return {n.id: n.rack for n in desc.nodes}


def _source_name(source: Any) -> str:
    try:
        return str(ConfigSource(source).name)
    except ValueError:
        return str(source)


def _config_values(entries: dict[str, Any], keep: frozenset[str] | None) -> dict[str, ConfigValue]:
    return {
        name: ConfigValue(e.value, bool(e.is_default), _source_name(e.source))
        for name, e in entries.items()
        if keep is None or name in keep
    }


def read_topic_configs(admin: AdminClient, rec: CycleRecorder, topics: list[str]) -> dict[str, dict[str, ConfigValue]]:
    """Effective topic configs (overrides and inherited defaults). Topics that failed are left out."""
    out: dict[str, dict[str, ConfigValue]] = {}
    for i in range(0, len(topics), TOPIC_CONFIG_BATCH):
        batch = [ConfigResource(ResourceType.TOPIC, t) for t in topics[i : i + TOPIC_CONFIG_BATCH]]

        def call(batch: list[ConfigResource] = batch) -> dict[str, dict[str, ConfigValue]]:
            futures = admin.describe_configs(batch, request_timeout=rec.timeout())
            got = {}
            for res, fut in futures.items():
                got[res.name] = _config_values(fut.result(timeout=rec.timeout() + 1), TOPIC_CONFIG_KEYS)
            return got

        result = rec.call(SOURCE, "describe_configs_topics", call)
        if result is not None:
            out.update(result)
    return out


def read_broker_configs(
    admin: AdminClient, rec: CycleRecorder, broker_ids: list[int]
) -> dict[int, dict[str, ConfigValue]]:
    """All configs of each live broker. librdkafka sends one request per broker (each must go to that
    broker), issued together so a slow broker costs one timeout, not one per broker."""

    def send(res: Any) -> Future[dict[str, Any]]:
        return admin.describe_configs([res], request_timeout=rec.timeout())[res]

    def wait(fut: Future[dict[str, Any]]) -> dict[str, Any]:
        return fut.result(timeout=rec.timeout() + 1)

    futures = {}
    for b in broker_ids:
        res = ConfigResource(ResourceType.BROKER, str(b))
        fut = rec.call(SOURCE, "describe_configs_broker", functools.partial(send, res))
        if fut is not None:
            futures[b] = fut
    out: dict[int, dict[str, ConfigValue]] = {}
    for b, fut in futures.items():
        entries = rec.call(SOURCE, "describe_configs_broker", functools.partial(wait, fut), requests=0)
        if entries is not None:
            out[b] = _config_values(entries, None)
    return out
