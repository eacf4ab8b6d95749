"""Placement: leaders and replicas per broker, non-preferred leaders, replicas sharing a rack."""

from __future__ import annotations

from dataclasses import dataclass

from exporter.analysis.replication import reassignment_in_progress
from exporter.model import ClusterSnapshot, Partition


@dataclass(frozen=True)
class BrokerLoad:
    broker: int
    leaders: int
    # Every replica assigned to the broker, including ones a reassignment is still adding or removing
    # (they use its disk and network until the move ends), so a drained broker reads 0 only when done.
    replicas: int
    live: bool


def broker_load(snap: ClusterSnapshot) -> list[BrokerLoad]:
    """Leaders and replicas per broker: every live broker (0 when it holds nothing) and every broker that
    holds a replica. Empty when topics or brokers were not read."""
    if snap.topics is None or snap.brokers is None:
        return []
    live = {b.id for b in snap.brokers}
    leaders = dict.fromkeys(live, 0)
    replicas = dict.fromkeys(live, 0)
    for t in snap.topics:
        for p in t.partitions:
            if p.leader is not None:
                leaders[p.leader] = leaders.get(p.leader, 0) + 1
            for r in set(p.replicas):
                replicas[r] = replicas.get(r, 0) + 1
    ids = sorted(set(leaders) | set(replicas))
    return [BrokerLoad(b, leaders.get(b, 0), replicas.get(b, 0), b in live) for b in ids]


def is_non_preferred_leader(p: Partition) -> bool:
    """A leader that is not the preferred replica (the first in the assignment). Leaderless partitions are
    offline, not imbalanced, so they do not count here."""
    return p.leader is not None and bool(p.replicas) and p.leader != p.replicas[0]


def target_replicas(p: Partition) -> tuple[int, ...]:
    """The assignment the partition converges to: replicas a running reassignment removes are left out."""
    if reassignment_in_progress(p):
        removing = set(p.removing)
        return tuple(r for r in p.replicas if r not in removing)
    return p.replicas


def is_rack_collocated(p: Partition, racks: dict[int, str], cluster_racks: int) -> bool | None:
    """Two or more replicas share a rack although the cluster has racks enough to give each its own: the
    target replicas span fewer than min(replicas, racks in the cluster) racks. (With RF 4 on 3 racks, two
    replicas in one rack is unavoidable and not counted.) None when a replica's broker has no known rack."""
    reps = target_replicas(p)
    if not reps or any(r not in racks for r in reps):
        return None
    return len({racks[r] for r in reps}) < min(len(reps), cluster_racks)


@dataclass(frozen=True)
class TopicPlacement:
    topic: str
    non_preferred_leader: tuple[int, ...]
    # None when racks are not configured for any of the topic's partitions (nothing to judge).
    rack_collocated: tuple[int, ...] | None


def topic_placement(snap: ClusterSnapshot) -> list[TopicPlacement]:
    if snap.topics is None:
        return []
    brokers = snap.brokers or ()
    # Racks of live brokers only: metadata does not say where a dead broker lives.
    racks = {b.id: b.rack for b in brokers if b.rack is not None}
    cluster_racks = len(set(racks.values()))
    out = []
    for t in snap.topics:
        collocated: list[int] = []
        judged = False
        for p in t.partitions:
            c = is_rack_collocated(p, racks, cluster_racks)
            judged = judged or c is not None
            if c:
                collocated.append(p.partition)
        out.append(
            TopicPlacement(
                topic=t.name,
                non_preferred_leader=tuple(p.partition for p in t.partitions if is_non_preferred_leader(p)),
                rack_collocated=tuple(collocated) if judged else None,
            )
        )
    return out
