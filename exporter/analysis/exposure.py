"""Zone and broker exposure: what would go offline, or under min ISR, if a group of brokers were lost now.

The simulation follows Kafka's clean leader election: the surviving ISR is the ISR minus the lost (and any
already dead) brokers; a leader that survives stays leader; a lost leader is replaced from the surviving ISR;
with an empty surviving ISR the partition goes offline, unless the cluster uses Eligible Leader Replicas
(KIP-966) and a surviving ELR member can take over (its ISR is then that one replica). Unclean election is
not modelled: where it is enabled it trades the offline partition for lost data, which the
unclean-leader-election finding reports on its own.

Groups: each rack is one group; a broker without a rack is a group of its own, named "broker-<id>" (a rack
really named so would share that group). Topics the policy excludes are not counted: an operator who keeps
RF-1 scratch topics on purpose still gets a rack-loss number that alerts can use.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from exporter.analysis.policy import is_excluded
from exporter.analysis.replication import effective_min_isr, is_unavailable, live_broker_ids
from exporter.config import PolicyConfig
from exporter.model import Broker, ClusterSnapshot, Partition


@dataclass(frozen=True)
class LossOutcome:
    """One partition after a loss: its leader and ISR (leader None: offline) and whether it is under min ISR
    (None when min ISR is unknown)."""

    leader: int | None
    isr: tuple[int, ...]
    under_min_isr: bool | None

    @property
    def offline(self) -> bool:
        return self.leader is None


def simulate_loss(
    p: Partition, lost: set[int], live: set[int], min_isr: int | None, elr_enabled: bool = False
) -> LossOutcome:
    """The state of partition `p` if the brokers in `lost` failed now (`live`: the brokers live before)."""
    return _after_loss(p, live - lost, live, min_isr, elr_enabled)


def _after_loss(p: Partition, alive: set[int], live: set[int], min_isr: int | None, elr_enabled: bool) -> LossOutcome:
    # `alive` (live minus lost) is passed in so a whole group's loss computes it once, not per partition.
    if is_unavailable(p, live):
        return LossOutcome(None, (), True)
    isr = tuple(r for r in p.isr if r in alive)
    leader: int | None
    if p.leader in alive:
        leader = p.leader
    elif isr:
        # Kafka's election takes the first replica, in assignment order, that is in the ISR.
        leader = next((r for r in p.replicas if r in isr), isr[0])
    else:
        # The controller turns to an eligible leader replica only when the ISR is empty.
        elr = tuple(r for r in p.elr or () if r in alive) if elr_enabled else ()
        leader = elr[0] if elr else None
        isr = elr[:1]
    if leader is None:
        return LossOutcome(None, (), True)
    return LossOutcome(leader, isr, None if min_isr is None else len(isr) < min_isr)


@dataclass(frozen=True)
class Exposure:
    group: str  # rack name, "broker-<id>" for a broker without a rack, or the broker id for single brokers
    brokers: tuple[int, ...]
    offline: tuple[tuple[str, int], ...]  # (topic, partition) that would be offline
    # (topic, partition) that would be under min ISR (offline ones included); None when the min ISR of some
    # counted topic is unknown, since a partial count would look safer than it is.
    under_min_isr: tuple[tuple[str, int], ...] | None


def rack_groups(brokers: Iterable[Broker]) -> dict[str, tuple[int, ...]]:
    groups: dict[str, list[int]] = {}
    for b in sorted(brokers, key=lambda b: b.id):
        groups.setdefault(b.rack if b.rack is not None else f"broker-{b.id}", []).append(b.id)
    return {g: tuple(ids) for g, ids in groups.items()}


class _LossModel:
    """The partitions counted, grouped by replica state, indexed by the brokers each state involves, with the
    outcome when nothing is lost.

    The outcome of a loss depends on a partition's (leader, ISR, ELR, replicas, min ISR) alone, and large
    clusters repeat a few such states over thousands of partitions: each loss simulates each state it touches
    once, and partitions are then handled as sets (in C), not one by one."""

    def __init__(self, snap: ClusterSnapshot, policy: PolicyConfig, live: set[int]) -> None:
        self.live = live
        self.elr = bool(snap.elr_enabled)
        self.names: list[tuple[str, int]] = []
        # Replica state -> (a partition in it, its min ISR, the indexes of the partitions in it).
        self.states: dict[tuple[object, ...], tuple[Partition, int | None, list[int]]] = {}
        self.by_broker: dict[int, set[tuple[object, ...]]] = {}
        self.min_isr_known = True
        for t in snap.topics or ():
            if is_excluded(t.name, policy):
                continue
            min_isr = effective_min_isr(snap, t.name)
            if min_isr is None and t.partitions:
                self.min_isr_known = False
            for p in t.partitions:
                key = (p.leader, p.isr, p.replicas, p.elr, min_isr)
                state = self.states.get(key)
                if state is None:
                    state = self.states[key] = (p, min_isr, [])
                    # Replicas outside the ISR and ELR cannot change the outcome of a loss, so are not indexed.
                    for b in {*p.isr, *(p.elr or ()), p.leader}:
                        if b is not None:
                            self.by_broker.setdefault(b, set()).add(key)
                state[2].append(len(self.names))
                self.names.append((t.name, p.partition))
        self.base_offline, self.base_under = self._outcomes(self.states, live)

    def _outcomes(self, keys: Iterable[tuple[object, ...]], alive: set[int]) -> tuple[set[int], set[int]]:
        """The partitions in the given states that would be offline, and under min ISR, with only `alive` left."""
        offline: set[int] = set()
        under: set[int] = set()
        for key in keys:
            p, min_isr, idx = self.states[key]
            out = _after_loss(p, alive, self.live, min_isr, self.elr)
            if out.offline:
                offline.update(idx)
            if out.under_min_isr:
                under.update(idx)
        return offline, under

    def _names(self, idx: set[int]) -> tuple[tuple[str, int], ...]:
        return tuple([self.names[i] for i in sorted(idx)])

    def exposure(self, group: str, lost: Iterable[int]) -> Exposure:
        lost_set = set(lost)
        keys = set().union(*(self.by_broker.get(b, ()) for b in lost_set))
        offline, under = self._outcomes(keys, self.live - lost_set)
        affected = set().union(*(self.states[k][2] for k in keys))
        offline |= self.base_offline - affected
        under |= self.base_under - affected
        return Exposure(
            group,
            tuple(sorted(lost_set)),
            self._names(offline),
            self._names(under) if self.min_isr_known else None,
        )


def loss_exposure(snap: ClusterSnapshot, policy: PolicyConfig, group: str, lost: Iterable[int]) -> Exposure | None:
    """Exposure to losing the brokers in `lost` at once; None when topics or live brokers were not read."""
    model = loss_model(snap, policy)
    return None if model is None else model.exposure(group, lost)


def loss_model(snap: ClusterSnapshot, policy: PolicyConfig) -> _LossModel | None:
    live = live_broker_ids(snap)
    if live is None or snap.topics is None:
        return None
    return _LossModel(snap, policy, live)


def _single_brokers(snap: ClusterSnapshot) -> dict[str, tuple[int, ...]]:
    return {str(b.id): (b.id,) for b in sorted(snap.brokers or (), key=lambda b: b.id)}


def all_exposure(snap: ClusterSnapshot, policy: PolicyConfig) -> tuple[list[Exposure], list[Exposure]]:
    """Exposure to losing each rack (every live broker in it at once) and each single live broker, sharing
    one pass over the partitions. Both empty when topics or live brokers were not read."""
    model = loss_model(snap, policy)
    if model is None:
        return [], []
    racks = [model.exposure(g, ids) for g, ids in rack_groups(snap.brokers or ()).items()]
    singles = [model.exposure(g, ids) for g, ids in _single_brokers(snap).items()]
    return racks, singles


def rack_exposure(snap: ClusterSnapshot, policy: PolicyConfig) -> list[Exposure]:
    """Exposure to losing each rack (every live broker in it) at once."""
    model = loss_model(snap, policy)
    return [] if model is None else [model.exposure(g, ids) for g, ids in rack_groups(snap.brokers or ()).items()]


def broker_exposure(snap: ClusterSnapshot, policy: PolicyConfig) -> list[Exposure]:
    """Exposure to losing each single live broker."""
    model = loss_model(snap, policy)
    return [] if model is None else [model.exposure(g, ids) for g, ids in _single_brokers(snap).items()]
