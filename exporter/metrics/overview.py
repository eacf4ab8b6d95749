"""Cluster overview findings -> samples: brokers, topics, partitions, under-replicated partitions, and what the
brokers' Kafka release lets the exporter read."""

from __future__ import annotations

from exporter.analysis.replication import is_under_replicated
from exporter.metrics.definitions import define
from exporter.metrics.render import Samples
from exporter.model import ClusterSnapshot

CLUSTER_INFO = define("kafka_cluster_info", "info", "The cluster id the brokers report.", ("cluster_id",))
BROKERS = define("kafka_brokers", "gauge", "Live brokers, as the cluster's metadata reports them.")
BROKER_INFO = define(
    "kafka_broker_info",
    "info",
    "One series per live broker: its advertised address and rack.",
    ("broker_id", "host", "port", "rack"),
)
TOPICS = define("kafka_topics", "gauge", "Topics in the cluster, internal ones included.")
TOPIC_PARTITIONS = define("kafka_topic_partitions", "gauge", "Partitions of each topic.", ("topic",))
TOPIC_UNDER_REPLICATED = define(
    "kafka_topic_under_replicated_partitions",
    "gauge",
    "Partitions of the topic whose in-sync replicas are fewer than their replicas, counted as Kafka's "
    "kafka-topics --under-replicated-partitions does: replicas a reassignment is still adding are not "
    "counted as missing.",
    ("topic",),
)

CAPABILITY = define(
    "kafka_cluster_capability_available",
    "gauge",
    "1 if the exporter can read this capability from the cluster, through the call `via` names (e.g. "
    "reassignments via zookeeper on brokers before Kafka 2.4, group_state via describe_groups before 2.6); 0 "
    "(via=\"\") where the brokers' release offers no source, so its series are absent. Decided from the brokers' "
    "ApiVersions: an unsupported call is never made. Capabilities: reassignments, finalized_features, "
    "group_state; in KRaft mode also fenced_brokers and quorum.",
    ("capability", "via"),
)


def overview_samples(snap: ClusterSnapshot) -> Samples:
    s = Samples()
    if snap.cluster_id:
        s.info(CLUSTER_INFO, cluster_id=snap.cluster_id)
    if snap.brokers is not None:
        s.add(BROKERS, len(snap.brokers))
        for b in snap.brokers:
            s.info(BROKER_INFO, broker_id=b.id, host=b.host, port=b.port, rack=b.rack)
    if snap.topics is not None:
        s.add(TOPICS, len(snap.topics))
        for t in snap.topics:
            s.add(TOPIC_PARTITIONS, len(t.partitions), topic=t.name)
            s.add(TOPIC_UNDER_REPLICATED, sum(1 for p in t.partitions if is_under_replicated(p)), topic=t.name)
    for name, via in sorted(snap.capabilities.items()):
        s.add(CAPABILITY, int(via is not None), capability=name, via=via or "")
    return s
