"""Plain, frozen snapshots of one cluster at one point in time. No behaviour, no I/O.

Sources fill these in; analysis reads them. Anything a source could not read is absent (None or empty)
and the reason is in `ClusterSnapshot.errors`, so analysis never mistakes "unknown" for "healthy".
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Broker:
    id: int
    host: str
    port: int
    rack: str | None = None


@dataclass(frozen=True)
class Partition:
    topic: str
    partition: int
    leader: int | None  # None: no leader (offline)
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    # Replicas a reassignment is still adding/removing (empty when not reassigning or when unknown).
    adding: tuple[int, ...] = ()
    removing: tuple[int, ...] = ()
    # KRaft Eligible Leader Replicas (KIP-966): None where the cluster does not report them.
    elr: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Topic:
    name: str
    internal: bool
    partitions: tuple[Partition, ...]


@dataclass(frozen=True)
class ConfigValue:
    value: str | None
    # True when the value is the broker's built-in default (no override anywhere).
    is_default: bool
    # Where the value comes from, as the Admin API names it (e.g. DYNAMIC_TOPIC_CONFIG, STATIC_BROKER_CONFIG).
    source: str = ""


@dataclass(frozen=True)
class LogDir:
    broker: int
    path: str
    error: str | None  # None: online; else the error the broker reports (an offline log dir)
    total_bytes: int | None  # None where the broker does not report it (before Kafka 3.3)
    usable_bytes: int | None
    # Size in bytes of each replica in this dir, by (topic, partition).
    replica_bytes: dict[tuple[str, int], int] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceError:
    """One failed read in a cycle: which source, which call, and what it said."""

    source: str  # "admin", "zookeeper", "kafka_api"
    call: str  # e.g. "describe_cluster"
    message: str


@dataclass(frozen=True)
class ClusterSnapshot:
    taken_at: float  # wall-clock seconds since the epoch, when collection of this snapshot began
    cluster_id: str | None = None
    # "zookeeper" or "kraft"; None when not known.
    mode: str | None = None
    # Broker ids and addresses as the cluster reports them (live brokers). None: not read this cycle.
    brokers: tuple[Broker, ...] | None = None
    # KRaft: brokers registered with the controller but fenced (not serving). None: not known.
    fenced_brokers: tuple[int, ...] | None = None
    # KRaft: whether Eligible Leader Replicas are enabled (then min.insync.replicas is cluster-level only).
    elr_enabled: bool | None = None
    # Topic metadata. None: not read this cycle.
    topics: tuple[Topic, ...] | None = None
    # Reassignment state came from a source that knows it (ListPartitionReassignments or ZooKeeper);
    # False means Partition.adding/removing are empty because they are unknown, not because nothing moves.
    reassignments_known: bool = False
    # Configs as DescribeConfigs returns them, defaults included; a topic or broker missing here was not read.
    topic_configs: dict[str, dict[str, ConfigValue]] = field(default_factory=dict)
    broker_configs: dict[int, dict[str, ConfigValue]] = field(default_factory=dict)
    # Log directories per broker (DescribeLogDirs). A broker missing here was not read.
    log_dirs: dict[int, tuple[LogDir, ...]] = field(default_factory=dict)
    errors: tuple[SourceError, ...] = ()
    # Requests made to Kafka/ZooKeeper in this cycle, by (source, api).
    requests: dict[tuple[str, str], int] = field(default_factory=dict)
