"""The Kafka Admin API through confluent-kafka (librdkafka): cluster, brokers, topics, partitions."""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from exporter.model import Broker, Partition, Topic
from exporter.sources.recorder import CycleRecorder

SOURCE = "admin"
# Kafka's internal topics (org.apache.kafka.common.internals.Topic).
INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state", "__share_group_state"})

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


def read_cluster(admin: AdminClient, rec: CycleRecorder) -> tuple[str | None, tuple[Broker, ...] | None]:
    def call() -> Any:
        return admin.describe_cluster(request_timeout=rec.timeout()).result(timeout=rec.timeout() + 1)

    desc = rec.call(SOURCE, "describe_cluster", call)
    if desc is None:
        return None, None
    brokers = tuple(sorted((Broker(n.id, n.host, n.port, n.rack) for n in desc.nodes), key=lambda b: b.id))
    return desc.cluster_id, brokers


def read_topics(admin: AdminClient, rec: CycleRecorder) -> tuple[Topic, ...] | None:
    md = rec.call(SOURCE, "metadata", lambda: admin.list_topics(timeout=rec.timeout()))
    if md is None:
        return None
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
    return tuple(sorted(topics, key=lambda t: t.name))
