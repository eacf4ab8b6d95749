"""Partition reassignments: what moves, how far each adding replica has got, the recent copy rate, ETA,
stalls, partitions the controller is not acting on, and replication throttles. Pure functions of snapshots
and a bounded history the runner keeps between cycles."""

from __future__ import annotations

from dataclasses import dataclass, field

from exporter.analysis.replication import reassignment_in_progress
from exporter.config import ReassignmentConfig
from exporter.model import ClusterSnapshot, Partition

TP = tuple[str, int]
Replica = tuple[str, int, int]  # topic, partition, broker


@dataclass(frozen=True)
class AddingReplica:
    broker: int
    bytes: int | None  # None: that broker's log dirs were not read this cycle
    in_isr: bool


@dataclass(frozen=True)
class Moving:
    topic: str
    partition: int
    replicas: tuple[int, ...]
    adding: tuple[AddingReplica, ...]
    removing: tuple[int, ...]
    leader_bytes: int | None

    @property
    def remaining_bytes(self) -> int | None:
        """What the adding replicas still have to copy; None when a needed size is unknown."""
        total = 0
        for r in self.adding:
            if r.in_isr:
                continue
            if r.bytes is None or self.leader_bytes is None:
                return None
            total += max(0, self.leader_bytes - r.bytes)
        return total


def replica_bytes(snap: ClusterSnapshot, broker: int, tp: TP) -> int | None:
    dirs = snap.log_dirs.get(broker)
    if dirs is None:
        return None
    # An online replica lives in one dir; while it moves between dirs of the same broker a second copy exists.
    sizes = [d.replica_bytes[tp] for d in dirs if d.error is None and tp in d.replica_bytes]
    return max(sizes) if sizes else 0


def _moving(snap: ClusterSnapshot, p: Partition) -> Moving:
    tp = (p.topic, p.partition)
    leader_bytes = replica_bytes(snap, p.leader, tp) if p.leader is not None else None
    adding = tuple(AddingReplica(b, replica_bytes(snap, b, tp), b in p.isr) for b in p.adding)
    return Moving(p.topic, p.partition, p.replicas, adding, p.removing, leader_bytes)


def moving_partitions(snap: ClusterSnapshot) -> list[Moving]:
    if snap.topics is None:
        return []
    return [_moving(snap, p) for t in snap.topics for p in t.partitions if reassignment_in_progress(p)]


@dataclass(frozen=True)
class Sample:
    t: float
    bytes: int | None
    in_isr: bool


@dataclass(frozen=True)
class ReassignmentHistory:
    first_seen: dict[TP, float] = field(default_factory=dict)
    samples: dict[Replica, tuple[Sample, ...]] = field(default_factory=dict)
    # Consecutive cycles a partition of /admin/reassign_partitions went without the controller acting on it.
    pending_cycles: dict[TP, int] = field(default_factory=dict)


def pending_controller(snap: ClusterSnapshot) -> set[TP]:
    """Partitions /admin/reassign_partitions asks to move that are neither moving nor already where asked."""
    if snap.zk is None or snap.topics is None or not snap.reassignments_known:
        return set()
    parts = {(p.topic, p.partition): p for t in snap.topics for p in t.partitions}
    out = set()
    for tp, target in snap.zk.reassign_request.items():
        p = parts.get(tp)
        if p is None or reassignment_in_progress(p):
            continue
        if tuple(p.replicas) != tuple(target):
            out.add(tp)
    return out


def advance(history: ReassignmentHistory, snap: ClusterSnapshot, cfg: ReassignmentConfig) -> ReassignmentHistory:
    """Add this cycle's observations and drop what the stall window no longer needs. A cycle that could not
    see reassignments at all leaves the history unchanged rather than ending every reassignment."""
    if snap.topics is None or not snap.reassignments_known:
        return history
    now = snap.taken_at
    moving = moving_partitions(snap)
    first_seen = {(m.topic, m.partition): history.first_seen.get((m.topic, m.partition), now) for m in moving}
    samples: dict[Replica, tuple[Sample, ...]] = {}
    horizon = now - cfg.stall_window_seconds
    for m in moving:
        for r in m.adding:
            key = (m.topic, m.partition, r.broker)
            kept = [s for s in history.samples.get(key, ()) if s.t >= horizon]
            # Keep the newest readable sample older than the window too: it is the window's starting point (a
            # frozen broker reports no size, so its last readable one is what progress is measured from).
            older = [s for s in history.samples.get(key, ()) if s.t < horizon and s.bytes is not None]
            samples[key] = (*older[-1:], *kept, Sample(now, r.bytes, r.in_isr))
    pending = {tp: history.pending_cycles.get(tp, 0) + 1 for tp in pending_controller(snap)}
    return ReassignmentHistory(first_seen, samples, pending)


def _bytes_at_or_before(samples: tuple[Sample, ...], t: float) -> int | None:
    known = [s.bytes for s in samples if s.t <= t and s.bytes is not None]
    return known[-1] if known else None


@dataclass(frozen=True)
class Stall:
    topic: str
    partition: int
    broker: int
    progress_bytes: int  # copied over the window


def stalls(history: ReassignmentHistory, snap: ClusterSnapshot, cfg: ReassignmentConfig) -> list[Stall]:
    """Adding replicas outside the ISR that copied less than the configured rate over a full window. A
    broker whose size cannot be read (e.g. it is frozen) shows no progress, which is what it makes."""
    out = []
    now = snap.taken_at
    start = now - cfg.stall_window_seconds
    for m in moving_partitions(snap):
        for r in m.adding:
            if r.in_isr:
                continue
            samples = history.samples.get((m.topic, m.partition, r.broker), ())
            base = _bytes_at_or_before(samples, start)
            if base is None:
                continue  # not watched for a whole window yet
            in_window = [s.bytes for s in samples if s.t > start and s.bytes is not None]
            progress = max([base, *in_window]) - base
            if progress < cfg.min_progress_bytes_per_second * cfg.stall_window_seconds:
                out.append(Stall(m.topic, m.partition, r.broker, progress))
    return out


def copy_rate(history: ReassignmentHistory, snap: ClusterSnapshot, cfg: ReassignmentConfig) -> float | None:
    """Bytes per second all adding replicas copied over the window (over what history there is, if shorter).
    None with less than two samples of any replica."""
    total = 0.0
    seen = False
    for samples in history.samples.values():
        known = [s for s in samples if s.bytes is not None]
        if len(known) < 2:
            continue
        first, last = known[0], known[-1]
        if last.t <= first.t or last.t < snap.taken_at - cfg.stall_window_seconds:
            continue
        seen = True
        total += max(0, (last.bytes or 0) - (first.bytes or 0)) / (last.t - first.t)
    return total if seen else None


@dataclass(frozen=True)
class Throttles:
    brokers: dict[tuple[int, str], float]  # (broker, "leader"|"follower") -> bytes/s
    topics: set[tuple[str, str]]  # (topic, "leader"|"follower") with throttled replicas listed
    left_behind: int  # brokers and topics with throttles while nothing moves (0 while something does)


def throttles(snap: ClusterSnapshot) -> Throttles:
    brokers: dict[tuple[int, str], float] = {}
    for b, cfg in snap.broker_configs.items():
        for direction in ("leader", "follower"):
            cv = cfg.get(f"{direction}.replication.throttled.rate")
            if cv is not None and cv.value and not cv.is_default:
                brokers[(b, direction)] = float(cv.value)
    topics = set()
    for t, cfg in snap.topic_configs.items():
        for direction in ("leader", "follower"):
            cv = cfg.get(f"{direction}.replication.throttled.replicas")
            if cv is not None and cv.value and cv.value.strip():
                topics.add((t, direction))
    idle = snap.reassignments_known and not moving_partitions(snap)
    left = len({b for b, _ in brokers}) + len({t for t, _ in topics}) if idle else 0
    return Throttles(brokers, topics, left)
