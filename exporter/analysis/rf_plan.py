"""`plan replication-factor`: a reassignment bringing every drifted topic to the replication factor the policy
wants, as a pure function of one snapshot. Never executes anything.

Rules, in order of precedence:
- replicas of a partition go to distinct racks where the racks allow it: a partition that is changed anyway
  and has two replicas in one rack has one of them (never the leader) moved to an unused rack;
- otherwise existing replicas are kept (a partition above its RF drops the replicas whose loss moves least: a
  second replica in an already-used rack first, then the most loaded broker; never the current leader);
- an added replica goes to a live broker in a rack the partition does not use yet, where the racks allow it;
- among those, to the broker holding the fewest replicas so far (counting the plan's own additions), then the
  lowest id: the output is deterministic for the same cluster;
- the preferred leader (the first replica) is the member of the final set that leads the fewest partitions so
  far, keeping the current one on a tie: leaders are balanced without moving data (a preferred leader election,
  or auto.leader.rebalance.enable, applies it).
Partitions being reassigned are left alone."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from exporter.analysis.placement import target_replicas
from exporter.analysis.policy import broker_count_for_cap, desired_replication_factor, is_excluded
from exporter.analysis.reassignment import source_size
from exporter.analysis.replication import reassignment_in_progress
from exporter.config import PolicyConfig
from exporter.model import ClusterSnapshot

TP = tuple[str, int]


@dataclass
class RfPlan:
    moves: dict[TP, list[int]] = field(default_factory=dict)  # new replica list per changed partition
    bytes_to: Counter[int] = field(default_factory=Counter)  # bytes each broker receives
    unknown_size: int = 0  # added replicas whose source size was not read
    leaders_before: Counter[int] = field(default_factory=Counter)  # preferred leaders per broker
    leaders_after: Counter[int] = field(default_factory=Counter)
    replicas_before: Counter[int] = field(default_factory=Counter)
    replicas_after: Counter[int] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)  # what could not be satisfied, and why

    def batches(self, size: int | None) -> list[dict[str, object]]:
        """The moves as documents for kafka-reassign-partitions --reassignment-json-file, `size` partitions each."""
        items = sorted(self.moves.items())
        step = size or max(1, len(items))
        return [
            {
                "version": 1,
                "partitions": [{"topic": t, "partition": p, "replicas": r} for (t, p), r in items[i : i + step]],
            }
            for i in range(0, len(items), step)
        ] or [{"version": 1, "partitions": []}]


def plan_replication_factor(snap: ClusterSnapshot, policy: PolicyConfig, topics: Sequence[str] = ()) -> RfPlan:
    """The plan for every drifted topic (only those whose whole name matches one of `topics`, when given)."""
    plan = RfPlan()
    brokers = sorted(snap.brokers or (), key=lambda b: b.id)
    rack = {b.id: (b.rack if b.rack else f"broker-{b.id}") for b in brokers}
    live = [b.id for b in brokers]
    cap = broker_count_for_cap(snap, policy)
    if not live or snap.topics is None or cap is None:
        plan.notes.append("the cluster's brokers and topics were not read: nothing planned")
        return plan
    load: Counter[int] = Counter({b: 0 for b in live})
    leads: Counter[int] = Counter({b: 0 for b in live})
    for t in snap.topics:
        for p in t.partitions:
            for r in target_replicas(p):
                load[r] += 1
            if p.replicas:
                leads[p.replicas[0]] += 1
    plan.replicas_before, plan.leaders_before = Counter(load), Counter(leads)
    racks_total = len(set(rack.values()))
    for t in sorted(snap.topics, key=lambda t: t.name):
        if is_excluded(t.name, policy) or (topics and not any(re.fullmatch(rx, t.name) for rx in topics)):
            continue
        want = desired_replication_factor(t.name, policy, cap)
        if want > len(live):
            plan.notes.append(f"{t.name}: RF {want} wanted but only {len(live)} brokers are live; planned {len(live)}")
            want = len(live)
        collocated = 0
        for p in t.partitions:
            if reassignment_in_progress(p):
                plan.notes.append(f"{t.name}-{p.partition}: being reassigned; left alone")
                continue
            current = list(p.replicas)
            if len(current) == want:
                continue
            new = _shrink(current, want, p.leader, rack, load) if len(current) > want else list(current)
            moved = _spread(new, p.leader, rack, live, load, racks=min(want, racks_total))
            for b in moved:
                size = source_size(snap, p.leader, current, (t.name, p.partition))
                if size is None:
                    plan.unknown_size += 1
                else:
                    plan.bytes_to[b] += size
            while len(new) < want:
                used = {rack[r] for r in new if r in rack}
                candidates = [b for b in live if b not in new]
                fresh = [b for b in candidates if rack[b] not in used]
                b = min(fresh or candidates, key=lambda b: (load[b], b))
                new.append(b)
                load[b] += 1
                size = source_size(snap, p.leader, current, (t.name, p.partition))
                if size is None:
                    plan.unknown_size += 1
                else:
                    plan.bytes_to[b] += size
            if len({rack[r] for r in new if r in rack}) < min(want, racks_total):
                collocated += 1
            leader = min(new, key=lambda b: (leads[b] - (b == current[0]), b != current[0], b))
            leads[current[0]] -= 1
            leads[leader] += 1
            new.remove(leader)
            plan.moves[(t.name, p.partition)] = [leader, *new]
        if collocated:
            plan.notes.append(f"{t.name}: {collocated} partitions keep two replicas in one rack")
        if want > racks_total and any(p.replicas and len(p.replicas) != want for p in t.partitions):
            plan.notes.append(f"{t.name}: RF {want} on {racks_total} racks: replicas share a rack (add racks to avoid)")
    plan.replicas_after, plan.leaders_after = load, leads
    return plan


def _shrink(current: list[int], want: int, leader: int | None, rack: dict[int, str], load: Counter[int]) -> list[int]:
    """Drop replicas down to `want`: a second replica in a used rack first, then the most loaded broker, never the
    leader."""
    kept = list(current)
    while len(kept) > want:
        per_rack = Counter(rack.get(r, f"broker-{r}") for r in kept)
        ranked = sorted(kept, key=lambda r: (r == leader, per_rack[rack.get(r, f"broker-{r}")] < 2, -load[r], -r))
        kept.remove(ranked[0])
        load[ranked[0]] -= 1
    return kept


def _spread(
    replicas: list[int], leader: int | None, rack: dict[int, str], live: list[int], load: Counter[int], *, racks: int
) -> list[int]:
    """Move replicas out of a rack the partition already uses while it spans fewer than `racks` racks (the
    racks allow more): a non-leader replica, on the most loaded broker, goes to the least loaded broker of an
    unused rack. In place; returns the brokers that receive a copy. Data moves, but the rack rule wins."""
    received: list[int] = []
    while len({rack[r] for r in replicas if r in rack}) < min(racks, len(replicas)):
        per_rack = Counter(rack.get(r) for r in replicas)
        dupes = sorted((r for r in replicas if per_rack[rack.get(r)] > 1 and r != leader), key=lambda r: (-load[r], r))
        used = set(per_rack)
        fresh = sorted((b for b in live if rack[b] not in used and b not in replicas), key=lambda b: (load[b], b))
        if not dupes or not fresh:
            break
        out, into = dupes[0], fresh[0]
        replicas[replicas.index(out)] = into
        load[out] -= 1
        load[into] += 1
        received.append(into)
    return received
