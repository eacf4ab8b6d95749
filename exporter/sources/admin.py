"""The Kafka Admin API through confluent-kafka (librdkafka): Metadata (brokers, controller, topics, partitions).

Admin *requests* that librdkafka routes to a particular broker or the controller (DescribeConfigs, ListOffsets,
DescribeCluster) go through kafka-python instead: librdkafka 2.16 aborted the process (assertion
`eonce->refcnt > 0`) when such a broker was killed while a request waited on it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from exporter.model import Broker, Partition, Topic
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
