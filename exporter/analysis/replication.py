"""Partition replication states, with the definitions Kafka's own kafka-topics tool uses."""

from __future__ import annotations

from exporter.model import Partition


def reassignment_in_progress(p: Partition) -> bool:
    # As TopicCommand.isReassignmentInProgress: a reassignment that already finished may still be listed
    # for a moment, so it only counts while an adding or removing replica is still among the replicas.
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
