"""Plain, frozen snapshots of one cluster at one point in time. No behaviour, no I/O.

Sources fill these in; analysis reads them. Anything a source could not read is absent (None or empty)
and the reason is in `ClusterSnapshot.errors`, so analysis never mistakes "unknown" for "healthy".
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Broker:
    id: int
    host: str
    port: int
    rack: str | None = None


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class Topic:
    name: str
    internal: bool
    partitions: tuple[Partition, ...]


@dataclass(frozen=True, slots=True)
class ConfigValue:
    value: str | None
    # True when the value is the broker's built-in default (no override anywhere).
    is_default: bool
    # Where the value comes from, as the Admin API names it (e.g. DYNAMIC_TOPIC_CONFIG, STATIC_BROKER_CONFIG).
    source: str = ""


@dataclass(frozen=True, slots=True)
class LogDir:
    broker: int
    path: str
    error: str | None  # None: online; else the error the broker reports (an offline log dir)
    total_bytes: int | None  # None where the broker does not report it (before Kafka 3.3)
    usable_bytes: int | None
    # Size in bytes of each replica in this dir, by (topic, partition).
    replica_bytes: dict[tuple[str, int], int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ZkState:
    """What ZooKeeper says about a ZooKeeper-mode cluster (read with kazoo)."""

    controller_id: int | None  # broker id in /controller; None when the znode is absent (no controller)
    controller_epoch: int | None  # /controller_epoch
    # /controller was written by a KRaft controller (a ZooKeeper-to-KRaft migration is in progress).
    kraft_controller: bool
    registered_brokers: tuple[int, ...]  # children of /brokers/ids
    # /admin/reassign_partitions: (topic, partition) -> target replicas; empty when the znode is absent.
    reassign_request: dict[tuple[str, int], tuple[int, ...]] = field(default_factory=dict)
    # adding/removing replicas from /brokers/topics/<t>, read only for topics the API could not answer for.
    topic_reassignments: dict[tuple[str, int], tuple[tuple[int, ...], tuple[int, ...]]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class QuorumReplica:
    id: int
    log_end_offset: int
    last_caught_up_ms: int | None  # epoch ms when it last caught up with the leader; None if unknown


@dataclass(frozen=True, slots=True)
class Quorum:
    """The KRaft metadata quorum (DescribeQuorum): the leader is the active controller."""

    leader_id: int | None  # None: no leader (no active controller)
    leader_epoch: int
    high_watermark: int
    voters: tuple[QuorumReplica, ...]
    observers: tuple[QuorumReplica, ...]


@dataclass(frozen=True, slots=True)
class ConsumerGroup:
    """A group that commits offsets (classic consumer groups, KIP-848 consumer groups, streams groups)."""

    group_id: str
    coordinator: int  # broker whose ListGroups named it (the group coordinator)
    state: str  # as the coordinator reports it: Stable, Empty, PreparingRebalance, Reconciling, ...
    type: str = "classic"  # classic, consumer (KIP-848) or streams; "classic" where the broker predates types
    # Members now; None when the group could not be described this cycle.
    members: int | None = None
    # Committed offsets by (topic, partition), topic filters applied; None when never read.
    offsets: dict[tuple[str, int], int] | None = None
    # True when this cycle could not read the group (its coordinator did not answer): it is listed, with the
    # offsets, as last read (at most lag.verdict_window_seconds ago). While its coordinator is unreachable no
    # consumer can commit either, so those offsets are the ones that count; the state is "Unknown" when the
    # group itself could not be listed.
    stale: bool = False


@dataclass(frozen=True, slots=True)
class BrokerVersion:
    # kafka-python's inference of the release from the ApiVersions answer (no API reports the real one).
    inferred: str
    # (api key, min version, max version) for every API the broker supports.
    api_versions: tuple[tuple[int, int, int], ...]


@dataclass(frozen=True, slots=True)
class Metadata:
    """One Metadata answer: what the cycle builds on."""

    cluster_id: str | None
    controller_id: int | None  # ZooKeeper mode: the controller; KRaft: a random live broker (not the controller)
    brokers: tuple[Broker, ...]
    topics: tuple[Topic, ...]


@dataclass(frozen=True, slots=True)
class ProbeWrite:
    """One probe write this cycle: a record produced with acks=all to one probe partition, then read back."""

    partition: int
    # The broker that led the partition when it was written (this cycle's Metadata); the partition's preferred
    # leader when it had no leader.
    broker: int
    error: str | None  # None: acknowledged by the leader after every in-sync replica had it
    ack_seconds: float | None  # produce() to acknowledgement
    end_to_end_seconds: float | None  # produce() to read back by a consumer; None: not read back in time


@dataclass(frozen=True, slots=True)
class SourceError:
    """One failed read in a cycle: which source, which call, and what it said."""

    source: str  # a role of exporter/sources/__init__.py: metadata, kafka_admin, zookeeper
    call: str  # e.g. "describe_cluster"
    message: str


@dataclass(frozen=True, slots=True)
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
    # The broker id the Metadata answer names as controller. Meaningful in ZooKeeper mode only: in KRaft mode
    # brokers answer with a random live broker, never the active controller.
    metadata_controller_id: int | None = None
    # KRaft: the metadata quorum. None: not read (or not a KRaft cluster).
    quorum: Quorum | None = None
    # Finalized feature levels (metadata.version, eligible.leader.replicas.version, ...). None: not read.
    features: dict[str, int] | None = None
    # ZooKeeper's view (ZooKeeper-mode clusters with `zookeeper` configured). None: not read this cycle.
    zk: ZkState | None = None
    # Configs as DescribeConfigs returns them, defaults included; a topic or broker missing here was not read.
    topic_configs: dict[str, dict[str, ConfigValue]] = field(default_factory=dict)
    broker_configs: dict[int, dict[str, ConfigValue]] = field(default_factory=dict)
    # ApiVersions of each live broker. A broker missing here was not read.
    broker_versions: dict[int, BrokerVersion] = field(default_factory=dict)
    # Log directories per broker (DescribeLogDirs). A broker missing here was not read.
    log_dirs: dict[int, tuple[LogDir, ...]] = field(default_factory=dict)
    # Consumer groups that commit offsets, after the lag filters. None: not read this cycle (or lag disabled).
    groups: tuple[ConsumerGroup, ...] | None = None
    # Every broker answered ListGroups, so a group missing from `groups` is gone (not just unreadable).
    groups_complete: bool = False
    # High watermark and log-start offset of the partitions groups commit to; a partition missing was not read.
    end_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    start_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    # Wall-clock time the end offsets were read (the sample time of lag in seconds); None: not read.
    end_offsets_at: float | None = None
    # The write probe's writes this cycle, one per probe partition. None: not probed (concern off, or failed).
    probe: tuple[ProbeWrite, ...] | None = None
    # What the brokers can answer (sources.capabilities): capability -> the call that provides it, None where no
    # source can. Empty until the brokers' ApiVersions are known.
    capabilities: dict[str, str | None] = field(default_factory=dict)
    errors: tuple[SourceError, ...] = ()
    # Requests made to Kafka/ZooKeeper in this cycle, by (source, api).
    requests: dict[tuple[str, str], int] = field(default_factory=dict)
