"""`plan drain --from OLD --to NEW`: the seed's migration as a plan. A sequence of reassignment files for Kafka's
tool; in each step every partition keeps at least min.insync.replicas replicas on brokers that already hold its
data, so a failure in the middle of a step never leaves fewer in-sync copies than acks=all needs; at the end
nothing is on the drained brokers and preferred leaders are spread over the brokers that remain. Pure; never
executes anything.

Per step a partition replaces at most RF - min.insync.replicas of its replicas on drained brokers (at least one:
a topic whose RF is not above its min ISR is moved one replica per step, and said so). Followers move before the
leader. A replacement goes to a target broker not yet holding the partition, in a rack the partition's final
replicas do not use yet where the racks allow it, the least loaded first, then the lowest id."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from exporter.analysis.placement import target_replicas
from exporter.analysis.reassignment import source_size
from exporter.analysis.replication import effective_min_isr, reassignment_in_progress
from exporter.config import PolicyConfig
from exporter.model import ClusterSnapshot

TP = tuple[str, int]


@dataclass
class DrainStep:
    moves: dict[TP, list[int]] = field(default_factory=dict)
    bytes_to: Counter[int] = field(default_factory=Counter)

    def document(self) -> dict[str, object]:
        parts = [{"topic": t, "partition": p, "replicas": r} for (t, p), r in sorted(self.moves.items())]
        return {"version": 1, "partitions": parts}

    def seconds_at(self, throttle: int) -> float:
        """How long the copy takes with follower.replication.throttled.rate = `throttle` on each receiver."""
        return max(self.bytes_to.values(), default=0) / throttle


@dataclass
class DrainPlan:
    steps: list[DrainStep] = field(default_factory=list)
    unknown_size: int = 0
    leaders_after: Counter[int] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)


def plan_drain(snap: ClusterSnapshot, policy: PolicyConfig, drained: set[int], targets: list[int]) -> DrainPlan:
    """The steps moving every replica off `drained` onto `targets` (live brokers)."""
    del policy  # every topic is drained, the policy's exclusions included: a drain that skips one is no drain
    plan = DrainPlan()
    live = {b.id: b for b in snap.brokers or ()}
    rack = {b: (live[b].rack or f"broker-{b}") for b in live}
    missing = [b for b in targets if b not in live]
    if missing or snap.topics is None or not targets:
        plan.notes.append(f"target brokers {missing} are not live" if missing else "the cluster was not read")
        return plan
    load: Counter[int] = Counter({b: 0 for b in targets})
    for t in snap.topics:
        for p in t.partitions:
            for r in target_replicas(p):
                if r in load:
                    load[r] += 1
    step_load: defaultdict[int, Counter[int]] = defaultdict(Counter)  # copies each receiver gets, per step
    finals: dict[TP, tuple[list[tuple[int, int]], int]] = {}  # (old, new) swaps in order, replicas replaced per step
    for t in sorted(snap.topics, key=lambda t: t.name):
        min_isr = effective_min_isr(snap, t.name)
        if min_isr is None and any(set(p.replicas) & drained for p in t.partitions):
            plan.notes.append(f"{t.name}: min.insync.replicas was not read: planned one replica per step")
        for p in t.partitions:
            if not set(p.replicas) & drained:
                continue
            if reassignment_in_progress(p):
                plan.notes.append(f"{t.name}-{p.partition}: being reassigned; left alone (run the plan again after)")
                continue
            final = list(p.replicas)
            per_step = 1 if min_isr is None else max(1, len(p.replicas) - min_isr)
            # Followers first: the leader's replica is replaced last.
            order = sorted((r for r in p.replicas if r in drained), key=lambda r: (r == p.leader, r))
            swaps: list[tuple[int, int]] = []
            for old in order:
                used = {rack[r] for r in final if r != old and r in rack}
                free = [b for b in targets if b not in final]
                if not free:
                    plan.notes.append(f"{t.name}-{p.partition}: not enough target brokers for RF {len(final)}")
                    break
                # Spread each step's copies over the receivers too (the throttle is per broker).
                in_step = step_load[len(swaps) // per_step]
                new = min(free, key=lambda b: (rack[b] in used, in_step[b], load[b], b))
                final[final.index(old)] = new
                load[new] += 1
                in_step[new] += 1
                swaps.append((old, new))
            if min_isr is not None and len(p.replicas) <= min_isr:
                plan.notes.append(
                    f"{t.name}-{p.partition}: RF {len(p.replicas)} is not above min ISR {min_isr}: moved one replica "
                    "per step, and acks=all writes fail if a broker holding it fails meanwhile"
                )
            finals[(t.name, p.partition)] = (swaps, per_step)
    steps = max((math.ceil(len(s) / n) for s, n in finals.values()), default=0)
    plan.steps = [DrainStep() for _ in range(steps)]
    leads: Counter[int] = Counter({b: 0 for b in targets})
    for (topic, partition), (swaps, per_step) in sorted(finals.items()):
        p = next(p for t in snap.topics if t.name == topic for p in t.partitions if p.partition == partition)
        current = list(p.replicas)
        for k in range(0, len(swaps), per_step):
            step = plan.steps[k // per_step]
            for old, new in swaps[k : k + per_step]:
                current[current.index(old)] = new
                size = source_size(snap, p.leader, list(p.replicas), (topic, partition))
                if size is None:
                    plan.unknown_size += 1
                else:
                    step.bytes_to[new] += size
            step.moves[(topic, partition)] = list(current)
        # The last step names the preferred leader: the final replica leading the fewest partitions so far.
        last = plan.steps[(len(swaps) - 1) // per_step].moves[(topic, partition)]
        leader = min(last, key=lambda b: (leads[b], b))
        leads[leader] += 1
        last.remove(leader)
        last.insert(0, leader)
    plan.leaders_after = leads
    return plan
