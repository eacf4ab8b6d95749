"""Partition replication states, with the definitions Kafka's own kafka-topics tool uses."""

from __future__ import annotations

from dataclasses import dataclass

from exporter.model import ClusterSnapshot, ConfigValue, Partition, Topic


def reassignment_in_progress(p: Partition) -> bool:
    # As TopicCommand.isReassignmentInProgress: a reassignment that already finished may still be listed
    # for a moment, so it only counts while an adding or removing replica is still among the replicas.
    if not p.adding and not p.removing:
        return False  # nearly every partition, every cycle: no sets built
    changing = set(p.adding) | set(p.removing)
    return any(r in changing for r in p.replicas)


def replication_factor(p: Partition) -> int:
    """The partition's replication factor, not counting replicas a reassignment is still adding."""
    if reassignment_in_progress(p):
        return len(p.replicas) - len(p.adding)
    return len(p.replicas)


def is_under_replicated(p: Partition) -> bool:
    return replication_factor(p) - len(p.isr) > 0


def has_leader(p: Partition) -> bool:
    return p.leader is not None


def is_unavailable(p: Partition, live_brokers: set[int]) -> bool:
    """No leader, or a leader that is not a live broker (kafka-topics --unavailable-partitions)."""
    return p.leader is None or p.leader not in live_brokers


def is_under_min_isr(p: Partition, min_isr: int) -> bool:
    return p.leader is None or len(p.isr) < min_isr


def is_at_min_isr(p: Partition, min_isr: int) -> bool:
    # Kafka's definition: ISR size equals min ISR, whatever the RF (an RF-1, min-ISR-1 topic always is).
    return len(p.isr) == min_isr


# --- Snapshot facts the predicates above need ---------------------------------------------------------------
MIN_ISR_KEY = "min.insync.replicas"
UNCLEAN_KEY = "unclean.leader.election.enable"


def live_broker_ids(snap: ClusterSnapshot) -> set[int] | None:
    """Ids of the live brokers, or None when the broker list was not read this cycle."""
    return None if snap.brokers is None else {b.id for b in snap.brokers}


def _config_int(configs: dict[str, ConfigValue] | None, key: str) -> int | None:
    cv = None if configs is None else configs.get(key)
    if cv is None or cv.value is None:
        return None
    try:
        return int(cv.value.strip())
    except ValueError:
        return None


def effective_min_isr(snap: ClusterSnapshot, topic: str) -> int | None:
    """The min.insync.replicas Kafka applies to the topic; None when it was not read.

    DescribeConfigs on a topic returns its effective value: the topic override, else the inherited default.
    That holds with Eligible Leader Replicas too (KRaft, KIP-966): ELR removes broker-level overrides so the
    default is cluster-wide, but a topic-level value still applies (the controller uses the topic's effective
    min ISR), and DescribeConfigs then reports the cluster-level default as the inherited value."""
    return _config_int(snap.topic_configs.get(topic), MIN_ISR_KEY)


def unclean_leader_election(snap: ClusterSnapshot, topic: str) -> bool | None:
    """Whether the topic allows unclean leader election (effective value); None when not read."""
    configs = snap.topic_configs.get(topic)
    cv = None if configs is None else configs.get(UNCLEAN_KEY)
    if cv is None or cv.value is None:
        return None
    return cv.value.strip().lower() == "true"


@dataclass(frozen=True)
class TopicStates:
    """Partition indexes of one topic in each of Kafka's states. None: the state cannot be told this cycle
    (min ISR or the live brokers were not read), never an empty tuple standing in for "unknown"."""

    topic: str
    partitions: int
    min_isr: int | None
    under_replicated: tuple[int, ...]
    under_min_isr: tuple[int, ...] | None
    at_min_isr: tuple[int, ...] | None
    offline: tuple[int, ...] | None


def topic_states(snap: ClusterSnapshot, topic: Topic) -> TopicStates:
    live = live_broker_ids(snap)
    min_isr = effective_min_isr(snap, topic.name)
    parts = topic.partitions
    return TopicStates(
        topic=topic.name,
        partitions=len(parts),
        min_isr=min_isr,
        under_replicated=tuple(p.partition for p in parts if is_under_replicated(p)),
        under_min_isr=None if min_isr is None else tuple(p.partition for p in parts if is_under_min_isr(p, min_isr)),
        at_min_isr=None if min_isr is None else tuple(p.partition for p in parts if is_at_min_isr(p, min_isr)),
        offline=None if live is None else tuple(p.partition for p in parts if is_unavailable(p, live)),
    )


def all_topic_states(snap: ClusterSnapshot) -> list[TopicStates]:
    """Partition states of every topic (exclusions do not apply: these are Kafka's facts, as kafka-topics
    reports them)."""
    return [topic_states(snap, t) for t in snap.topics or ()]
