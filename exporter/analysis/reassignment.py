"""Partition reassignments: what moves, how far each adding replica has got, the recent copy rate, ETA,
stalls, partitions the controller is not acting on, and replication throttles. Pure functions of snapshots
and a bounded history the runner keeps between cycles."""

from __future__ import annotations

from collections import defaultdict
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


def source_size(snap: ClusterSnapshot, leader: int | None, replicas: list[int], tp: TP) -> int | None:
    """Size of the data an added replica copies: the leader's replica (else any replica's that was read)."""
    for b in [leader, *replicas]:
        if b is not None and (size := replica_bytes(snap, b, tp)) is not None:
            return size
    return None


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
class Progress:
    """What one receiving broker copied between two cycles."""

    t: float
    receiver: int
    bytes: int  # growth of its adding replicas' sizes
    completed: int  # adding replicas that joined the ISR (or stopped being added) since the previous cycle


@dataclass(frozen=True)
class ReassignmentHistory:
    first_seen: dict[TP, float] = field(default_factory=dict)
    # Last readable size of each adding replica: a frozen broker's growth is measured from it once readable.
    last_bytes: dict[Replica, int] = field(default_factory=dict)
    # Adding replicas outside the ISR at the last cycle.
    pending: frozenset[Replica] = frozenset()
    # Since when each receiving broker has had replicas to copy.
    receiving_since: dict[int, float] = field(default_factory=dict)
    progress: tuple[Progress, ...] = ()  # within the stall window
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
    """Add this cycle's progress per receiving broker and drop what the stall window no longer needs. A cycle
    that could not see reassignments at all leaves the history unchanged rather than ending every
    reassignment."""
    if snap.topics is None or not snap.reassignments_known:
        return history
    now = snap.taken_at
    moving = moving_partitions(snap)
    first_seen = {(m.topic, m.partition): history.first_seen.get((m.topic, m.partition), now) for m in moving}
    grown: dict[int, int] = defaultdict(int)
    completed: dict[int, int] = defaultdict(int)
    last_bytes: dict[Replica, int] = {}
    pending: set[Replica] = set()
    adding: set[Replica] = set()
    for m in moving:
        for r in m.adding:
            key = (m.topic, m.partition, r.broker)
            adding.add(key)
            before = history.last_bytes.get(key)
            if r.bytes is not None:
                last_bytes[key] = r.bytes
                if before is not None and r.bytes > before:
                    grown[r.broker] += r.bytes - before
            elif before is not None:
                last_bytes[key] = before
            if not r.in_isr:
                pending.add(key)
            elif key in history.pending:
                completed[r.broker] += 1
    for key in history.pending - adding:
        completed[key[2]] += 1  # no longer being added: copied (or the move was cancelled)
    fresh = tuple(Progress(now, b, grown.get(b, 0), completed.get(b, 0)) for b in sorted(set(grown) | set(completed)))
    horizon = now - cfg.stall_window_seconds
    progress = (*(p for p in history.progress if p.t > horizon), *fresh)
    receiving_since = {b: history.receiving_since.get(b, now) for b in {key[2] for key in pending}}
    pending_cycles = {tp: history.pending_cycles.get(tp, 0) + 1 for tp in pending_controller(snap)}
    return ReassignmentHistory(first_seen, last_bytes, frozenset(pending), receiving_since, progress, pending_cycles)


@dataclass(frozen=True)
class Stall:
    topic: str
    partition: int
    broker: int  # the receiving broker that is behind
    progress_bytes: int  # what that broker copied over the window, all its adding replicas together


def _copied(history: ReassignmentHistory, since: float, receiver: int | None = None) -> tuple[int, int]:
    """Bytes copied and replicas completed after `since`, by one receiver (None: all)."""
    got = [p for p in history.progress if p.t > since and receiver in (None, p.receiver)]
    return sum(p.bytes for p in got), sum(p.completed for p in got)


def stalls(history: ReassignmentHistory, snap: ClusterSnapshot, cfg: ReassignmentConfig) -> list[Stall]:
    """Stalls judged the way Kafka copies: a receiving broker fetches its adding replicas with one fetcher per
    leader and, under a throttle, in turns, so some replicas wait at 0 bytes while others copy. A receiving
    broker is stalled when, over a whole stall window, its adding replicas together grew by less than
    min_progress_bytes_per_second x window and none joined the ISR; every adding replica of it outside the ISR
    is then reported, naming it. A broker whose sizes cannot be read (frozen, unreachable) copies nothing.
    Nothing is judged before a broker has been watched with replicas to copy for a whole window.

    Leaders are not judged: on a real throttled migration, one leader's replicas got nothing for a whole window
    while their receiver copied from the other leaders (its fetchers likely share one throttle quota)."""
    now = snap.taken_at
    start = now - cfg.stall_window_seconds
    floor = cfg.min_progress_bytes_per_second * cfg.stall_window_seconds
    waiting: dict[int, list[Moving]] = defaultdict(list)
    for m in moving_partitions(snap):
        for r in m.adding:
            if not r.in_isr:
                waiting[r.broker].append(m)
    out: list[Stall] = []
    for receiver, items in sorted(waiting.items()):
        if history.receiving_since.get(receiver, now) > start:
            continue  # not watched for a whole window yet
        copied, done = _copied(history, start, receiver)
        if done == 0 and copied < floor:
            out.extend(Stall(m.topic, m.partition, receiver, copied) for m in items)
    return out


def _rate(
    history: ReassignmentHistory, now: float, window: float, since: float | None, receiver: int | None
) -> float | None:
    if since is None or now <= since:
        return None  # a single sample: no rate yet
    span = min(window, now - since)
    copied, _ = _copied(history, now - span, receiver)
    return copied / span


def copy_rate(history: ReassignmentHistory, snap: ClusterSnapshot, cfg: ReassignmentConfig) -> float | None:
    """Bytes per second all adding replicas copied over the stall window (over what history there is, if
    shorter). None before a second sample."""
    since = min(history.receiving_since.values(), default=None)
    return _rate(history, snap.taken_at, cfg.stall_window_seconds, since, None)


def broker_copy_rates(history: ReassignmentHistory, snap: ClusterSnapshot, cfg: ReassignmentConfig) -> dict[int, float]:
    """Copy rate of each receiving broker over the stall window (or what history there is)."""
    out = {}
    for b, since in history.receiving_since.items():
        rate = _rate(history, snap.taken_at, cfg.stall_window_seconds, since, b)
        if rate is not None:
            out[b] = rate
    return out


# Cycles a partition of /admin/reassign_partitions must go without the controller acting on it before it is
# reported: one cycle may simply fall between the znode's creation and the controller's reaction.
PENDING_CYCLES = 2


@dataclass(frozen=True)
class Summary:
    """Everything the reassignment metrics show, for one snapshot and the history that includes it."""

    moving: list[Moving]
    remaining_bytes: int | None  # all moves together; None when some adding replica's size is unknown
    rate: float | None  # bytes/s over the stall window; None while nothing moves or before a second sample
    eta_seconds: float | None  # remaining bytes at that rate; None without both, or at rate 0
    longest_running_seconds: float | None  # since the exporter first saw the oldest move; None while none
    broker_rates: dict[int, float]
    stalls: list[Stall]
    pending_controller: list[TP] | None  # ZooKeeper mode: ignored for PENDING_CYCLES; None without ZooKeeper


def summary(history: ReassignmentHistory, snap: ClusterSnapshot, cfg: ReassignmentConfig) -> Summary | None:
    """None when this cycle could not see reassignments (topics or ListPartitionReassignments unread)."""
    if snap.topics is None or not snap.reassignments_known:
        return None
    moving = moving_partitions(snap)
    remaining: int | None = 0
    for m in moving:
        left = m.remaining_bytes
        remaining = None if left is None or remaining is None else remaining + left
    rate = copy_rate(history, snap, cfg) if moving else None
    eta = remaining / rate if rate and remaining is not None else None
    longest = None
    if moving:
        started = min(history.first_seen.get((m.topic, m.partition), snap.taken_at) for m in moving)
        longest = snap.taken_at - started
    pending = None
    if snap.zk is not None:
        pending = sorted(tp for tp, n in history.pending_cycles.items() if n >= PENDING_CYCLES)
    rates, found = broker_copy_rates(history, snap, cfg), stalls(history, snap, cfg)
    return Summary(moving, remaining, rate, eta, longest, rates, found, pending)


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
