"""The write probe, pure parts: the layout of the probe topic (one partition whose preferred leader is each live
broker, replicas in distinct racks where they allow) and the changes that bring the topic to it as brokers come
and go; and the probe's writes judged per broker."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from exporter.model import Broker, Partition, ProbeWrite


@dataclass(frozen=True)
class Changes:
    """What to ask Kafka for, by partition index: a topic to create, partitions to add, replica sets to move,
    preferred leaders to elect. Empty when the topic has its layout."""

    create: dict[int, tuple[int, ...]] = field(default_factory=dict)
    add: dict[int, tuple[int, ...]] = field(default_factory=dict)
    reassign: dict[int, tuple[int, ...]] = field(default_factory=dict)
    elect: tuple[int, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.create or self.add or self.reassign or self.elect)


def changes(brokers: Sequence[Broker], partitions: Sequence[Partition] | None, gone: Iterable[int], rf: int) -> Changes:
    """The changes that give every live broker a probe partition it prefers to lead, each with at least `rf`
    replicas (capped at the live brokers) on distinct racks where they allow. `partitions` is None when the topic
    does not exist. A replica on a broker in `gone` (absent long enough to be retired) is replaced, and a
    partition that preferred it is given to a live broker that has none; a replica on a broker absent for less
    stays (it is restarting). A partition being reassigned is left alone. Partitions are never removed (Kafka
    cannot), so a broker may prefer more than one."""
    live = sorted(b.id for b in brokers)
    if not live:
        return Changes()
    racks = {b.id: b.rack for b in brokers}
    rf = max(1, min(rf, len(live)))
    load: Counter[int] = Counter()
    if partitions is None:
        create: dict[int, tuple[int, ...]] = {}
        load.update(live)  # every broker leads one
        for i, b in enumerate(live):
            create[i] = _replicas(b, (), rf, live=live, racks=racks, load=load)
        return Changes(create=create)

    gone_set = set(gone)
    current = {p.partition: p for p in partitions}
    for p in partitions:
        load.update(r for r in p.replicas if r not in gone_set)
    preferred = {p.partition: p.replicas[0] for p in partitions if p.replicas}
    lacking = [b for b in live if b not in preferred.values()]
    reassign: dict[int, tuple[int, ...]] = {}
    for p in sorted(partitions, key=lambda p: p.partition):
        if p.adding or p.removing or not p.replicas:
            continue
        kept = tuple(r for r in p.replicas if r not in gone_set)
        # Never shrunk: while a broker restarts there are fewer live brokers than replicas.
        if len(kept) == len(p.replicas) and len(kept) >= rf:
            continue
        first = kept[0] if kept and kept[0] == p.replicas[0] else (lacking.pop(0) if lacking else None)
        if first is None:
            first = next((r for r in kept if r in live), live[0])
        rest = tuple(r for r in kept if r != first)[: rf - 1]
        load.subtract(r for r in kept if r not in rest and r != first)
        if first not in kept:
            load[first] += 1
        new = _replicas(first, rest, rf, live=live, racks=racks, load=load)
        if new != p.replicas:
            reassign[p.partition] = new
            preferred[p.partition] = new[0]
    add: dict[int, tuple[int, ...]] = {}
    next_index = max(current, default=-1) + 1
    load.update(lacking)
    for b in lacking:
        add[next_index] = _replicas(b, (), rf, live=live, racks=racks, load=load)
        next_index += 1
    elect = tuple(
        p.partition
        for p in sorted(partitions, key=lambda p: p.partition)
        if p.partition not in reassign
        and p.replicas
        and p.leader != p.replicas[0]
        and p.replicas[0] in live
        and p.replicas[0] in p.isr
    )
    return Changes(add=add, reassign=reassign, elect=elect)


def _replicas(
    first: int, kept: tuple[int, ...], rf: int, *, live: list[int], racks: dict[int, str | None], load: Counter[int]
) -> tuple[int, ...]:
    """`first`, then `kept`, then followers up to `rf`: brokers in racks not used yet first (distinct racks win
    over balance, as in Kafka's rack-aware assignment), then the least loaded, then the nearest after `first`
    in id order (so a new layout spreads deterministically)."""
    chosen = [first, *kept]
    start = live.index(first) if first in live else 0
    while len(chosen) < rf:
        used = {racks.get(r) for r in chosen if racks.get(r) is not None}
        ranked = sorted(
            (racks.get(b) in used, load[b], (i - start) % len(live), b) for i, b in enumerate(live) if b not in chosen
        )
        if not ranked:
            break
        pick = ranked[0][3]
        chosen.append(pick)
        load[pick] += 1
    return tuple(chosen)


@dataclass(frozen=True)
class BrokerProbe:
    """A broker's probe writes this cycle (usually one; more while it leads partitions of absent brokers)."""

    broker: int
    writes: int
    failed: int
    unread: int  # acknowledged but not read back in time
    ack_seconds: float | None  # the slowest acknowledgement
    end_to_end_seconds: float | None  # the slowest read back; None unless every acknowledged write was read back
    errors: tuple[str, ...]


def per_broker(writes: Iterable[ProbeWrite]) -> tuple[BrokerProbe, ...]:
    by: dict[int, list[ProbeWrite]] = {}
    for w in writes:
        by.setdefault(w.broker, []).append(w)
    out = []
    for b, ws in sorted(by.items()):
        acked = [w for w in ws if w.error is None]
        acks = [w.ack_seconds for w in acked if w.ack_seconds is not None]
        e2e = [w.end_to_end_seconds for w in acked if w.end_to_end_seconds is not None]
        out.append(
            BrokerProbe(
                broker=b,
                writes=len(ws),
                failed=len(ws) - len(acked),
                unread=len(acked) - len(e2e),
                ack_seconds=max(acks) if acks else None,
                end_to_end_seconds=max(e2e) if acked and len(e2e) == len(acked) else None,
                errors=tuple(sorted({w.error for w in ws if w.error is not None})),
            )
        )
    return tuple(out)


@dataclass
class ProbeHistory:
    """Probe writes and failures per broker since the exporter started (the counters)."""

    writes: Counter[int] = field(default_factory=Counter)
    failures: Counter[int] = field(default_factory=Counter)


def advance(history: ProbeHistory, writes: Iterable[ProbeWrite] | None) -> ProbeHistory:
    if writes is None:
        return history
    out = ProbeHistory(Counter(history.writes), Counter(history.failures))
    for b in per_broker(writes):
        out.writes[b.broker] += b.writes
        out.failures[b.broker] += b.failed
    return out
