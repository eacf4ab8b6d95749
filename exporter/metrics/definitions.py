"""The metric table: every metric the exporter can expose, declared once.

Code adds samples only through these definitions (so a typo in a name or a label is an error, not a new
series), and the README's metric reference is generated from `ALL`, so docs and code cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MetricType = Literal["gauge", "counter", "info"]


@dataclass(frozen=True)
class MetricDef:
    name: str  # the exposed name: counters end in _total, info metrics in _info
    type: MetricType
    help: str
    labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Prometheus naming conventions, enforced where the name is written.
        if self.type == "counter" and not self.name.endswith("_total"):
            raise ValueError(f"counter {self.name} must end in _total")
        if self.type != "counter" and self.name.endswith("_total"):
            raise ValueError(f"only counters may end in _total: {self.name}")
        if (self.type == "info") != self.name.endswith("_info"):
            raise ValueError(f"info metrics, and only they, end in _info: {self.name}")


ALL: list[MetricDef] = []


def define(name: str, type: MetricType, help: str, labels: tuple[str, ...] = ()) -> MetricDef:
    d = MetricDef(name, type, help, labels)
    if any(existing.name == name for existing in ALL):
        raise ValueError(f"metric {name} defined twice")
    ALL.append(d)
    return d


# --- The exporter's own health -------------------------------------------------------------------------
BUILD_INFO = define(
    "kafka_exporter_build_info",
    "info",
    "Version of the exporter and of the Kafka client libraries it uses.",
    ("version", "python_version", "confluent_kafka_version", "librdkafka_version", "kafka_python_version"),
)
CYCLES = define(
    "kafka_exporter_collection_cycles_total",
    "counter",
    "Collection cycles run against this cluster. Collection runs in the background on its own interval, "
    "never at scrape time.",
)
CYCLE_DURATION = define(
    "kafka_exporter_last_cycle_duration_seconds", "gauge", "Wall-clock duration of the last collection cycle."
)
LAST_SUCCESS = define(
    "kafka_exporter_last_success_timestamp_seconds",
    "gauge",
    "When the last collection cycle that reached the cluster started (Unix time). Absent until one succeeds.",
)
SNAPSHOT_AGE = define(
    "kafka_exporter_snapshot_age_seconds",
    "gauge",
    "Age, at scrape time, of the cluster data served: now minus the start of the last successful cycle. "
    "Grows while the cluster is unreachable.",
)
SOURCE_UP = define(
    "kafka_exporter_source_up",
    "gauge",
    "1 if every call to this source succeeded in the last cycle, 0 if any failed, skipped or unexpected errors "
    "included (see kafka_exporter_collection_errors_total for which). source: admin (Metadata through "
    "librdkafka), kafka_api (every other Kafka request, through kafka-python), zookeeper.",
    ("source",),
)
CLUSTER_REACHABLE = define(
    "kafka_exporter_cluster_reachable",
    "gauge",
    "1 if the last cycle read the cluster's Metadata (brokers, topics, partitions) from some broker, 0 if no "
    "broker answered: then the cluster's series are absent and kafka_exporter_snapshot_age_seconds grows.",
)
CONCERN_SUCCESS = define(
    "kafka_exporter_concern_success",
    "gauge",
    "1 if the concern's analysis and metrics were computed in the last cycle, 0 if it failed (a bug: logged "
    "with its trace): then only that concern's series are absent.",
    ("concern",),
)
CONCERN_DURATION = define(
    "kafka_exporter_concern_duration_seconds",
    "gauge",
    "Time the last cycle spent computing the concern's analysis and metrics.",
    ("concern",),
)
CONCERN_ERRORS = define(
    "kafka_exporter_concern_errors_total", "counter", "Cycles in which the concern failed.", ("concern",)
)
ERRORS = define(
    "kafka_exporter_collection_errors_total",
    "counter",
    "Failed calls to Kafka or ZooKeeper during collection, by source and call.",
    ("source", "call"),
)
REQUESTS = define(
    "kafka_exporter_requests_total", "counter", "Requests the exporter sent, by source and API.", ("source", "api")
)
LAST_CYCLE_REQUESTS = define(
    "kafka_exporter_last_cycle_requests",
    "gauge",
    "Requests sent in the last cycle, by source and API.",
    ("source", "api"),
)

# --- Cluster facts ---------------------------------------------------------------------------------------
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
