"""The exporter's own health for one cluster -> samples."""

from __future__ import annotations

import platform
from collections import Counter
from dataclasses import dataclass, field
from importlib import metadata

import confluent_kafka

from exporter import __version__
from exporter.metrics.definitions import define
from exporter.metrics.render import Samples

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
    "included (see kafka_exporter_collection_errors_total for which), as of the last cycle that asked it. "
    "source: metadata (Metadata requests), kafka_admin (every other Kafka request), zookeeper.",
    ("source",),
)
CLUSTER_REACHABLE = define(
    "kafka_exporter_cluster_reachable",
    "gauge",
    "1 if the last cycle read the cluster's Metadata (brokers, topics, partitions) from some broker, 0 if no "
    "broker answered: then the cluster's series are absent and kafka_exporter_snapshot_age_seconds grows.",
)
AUTH_FAILED = define(
    "kafka_exporter_authentication_failed",
    "gauge",
    "1 if the source refused the exporter's credentials or certificate in the last cycle that asked it (wrong "
    "password, unknown user, untrusted certificate: the log names the cause), else 0. source: metadata (the "
    "Kafka cluster, as librdkafka reports it; kafka-python uses the same settings), zookeeper. While Kafka "
    "refuses them, cycles back off, doubling their interval up to 5 minutes.",
    ("source",),
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


@dataclass
class HealthState:
    """Counters that live across cycles (the snapshot itself only knows one cycle)."""

    cycles: int = 0
    last_duration: float | None = None
    last_success: float | None = None  # wall time the last successful cycle started
    errors: Counter[tuple[str, str]] = field(default_factory=Counter)
    requests: Counter[tuple[str, str]] = field(default_factory=Counter)
    last_requests: dict[tuple[str, str], int] = field(default_factory=dict)
    # Whether each source's calls all succeeded, as of the last cycle that asked it (a source a cycle did
    # not ask, e.g. librdkafka while kafka-python stands in for it, keeps its last state).
    sources_up: dict[str, bool] = field(default_factory=dict)
    auth_failed: dict[str, bool] = field(default_factory=dict)  # likewise: refused the credentials
    refused_cycles: int = 0  # consecutive cycles in which Kafka refused the credentials
    reachable: bool | None = None  # None before the first cycle
    # Per concern: whether the last cycle computed it, and how long that took.
    concerns: dict[str, tuple[bool, float]] = field(default_factory=dict)
    concern_errors: Counter[str] = field(default_factory=Counter)


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def build_info_labels() -> dict[str, str]:
    return {
        "version": __version__,
        "python_version": platform.python_version(),
        "confluent_kafka_version": _version("confluent-kafka"),
        "librdkafka_version": confluent_kafka.libversion()[0],
        "kafka_python_version": _version("kafka-python"),
    }


def health_samples(h: HealthState, build: dict[str, str]) -> Samples:
    s = Samples()
    s.info(BUILD_INFO, **build)
    s.add(CYCLES, h.cycles)
    s.add_known(CYCLE_DURATION, h.last_duration)
    s.add_known(LAST_SUCCESS, h.last_success)
    if h.reachable is not None:
        s.add(CLUSTER_REACHABLE, int(h.reachable))
    for src, up in sorted(h.sources_up.items()):
        s.add(SOURCE_UP, int(up), source=src)
    for src, failed in sorted(h.auth_failed.items()):
        s.add(AUTH_FAILED, int(failed), source=src)
    for name, (ok, seconds) in h.concerns.items():
        s.add(CONCERN_SUCCESS, int(ok), concern=name)
        s.add(CONCERN_DURATION, seconds, concern=name)
        s.add(CONCERN_ERRORS, h.concern_errors[name], concern=name)
    for (src, call), n in h.errors.items():
        s.add(ERRORS, n, source=src, call=call)
    for (src, api), n in h.requests.items():
        s.add(REQUESTS, n, source=src, api=api)
    for (src, api), n in h.last_requests.items():
        s.add(LAST_CYCLE_REQUESTS, n, source=src, api=api)
    return s
