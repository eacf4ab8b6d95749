"""`plan drain`: the seed's five-to-five migration (here three to three) as steps that never leave a partition
with fewer than min.insync.replicas replicas on brokers that hold its data."""

from __future__ import annotations

from collections import Counter

from exporter.analysis.drain_plan import plan_drain
from exporter.config import PolicyConfig
from exporter.model import LogDir
from tests.unit.snapshots import brokers, part, snapshot, topic, topic_of

OLD, NEW = [1001, 1002, 1003], [0, 1, 2]


def test_the_seeds_migration_in_three_steps_keeping_two_data_holders_each() -> None:
    assignment = [[1001, 1002, 1003], [1002, 1003, 1001], [1003, 1001, 1002]]
    topics = [topic_of(name, assignment) for name in ("prices", "trades")]
    dirs = {b: [LogDir(b, "/d", None, None, None, {(t.name, i): 100 for t in topics for i in range(3)})] for b in OLD}
    snap = snapshot(brokers(OLD + NEW), topics, min_isr=2, log_dirs=dirs)
    plan = plan_drain(snap, PolicyConfig(), set(OLD), NEW)
    assert len(plan.steps) == 3 and not plan.notes
    holders = {(t.name, p.partition): set(p.replicas) for t in topics for p in t.partitions}
    for step in plan.steps:
        assert set(step.moves) == set(holders)
        for tp, replicas in step.moves.items():
            assert len(replicas) == 3 and len(set(replicas)) == 3
            assert len(set(replicas) & holders[tp]) >= 2, "min ISR replicas stay on brokers holding the data"
            holders[tp] = set(replicas)
        assert sum(step.bytes_to.values()) == 6 * 100  # one replica of each of the 6 partitions copied
    last = plan.steps[-1].moves
    assert all(set(r) == set(NEW) for r in last.values()), "nothing left on the drained brokers"
    leaders = Counter(r[0] for r in last.values())
    assert sorted(leaders.values()) == [2, 2, 2], leaders
    assert plan.steps[0].seconds_at(100) == 2.0  # 200 bytes to the busiest receiver at 100 B/s
    assert plan_drain(snap, PolicyConfig(), set(OLD), NEW).steps[1].moves == plan.steps[1].moves, "deterministic"


def test_followers_move_before_the_leader_and_racks_stay_distinct() -> None:
    racks = {1001: "a", 1002: "b", 1003: "c", 0: "a", 1: "b", 2: "c"}
    t = topic("t", part("t", 0, [1001, 1002, 1003], leader=1001))
    snap = snapshot(brokers(racks), [t], min_isr=2)
    plan = plan_drain(snap, PolicyConfig(), set(OLD), NEW)
    first = plan.steps[0].moves[("t", 0)]
    assert 1001 in first, "the leader's replica is replaced last"
    final = plan.steps[-1].moves[("t", 0)]
    assert {racks[b] for b in final} == {"a", "b", "c"}


def test_rf_not_above_min_isr_moves_one_replica_per_step_and_says_so() -> None:
    snap = snapshot(brokers(OLD + NEW), [topic_of("tight", [[1001, 1002]])], min_isr=2)
    plan = plan_drain(snap, PolicyConfig(), {1001, 1002}, NEW)
    assert len(plan.steps) == 2
    assert any("RF 2 is not above min ISR 2" in n for n in plan.notes)
    bad = plan_drain(snap, PolicyConfig(), {1001}, [7])
    assert bad.steps == [] and bad.notes == ["target brokers [7] are not live"]


def test_unknown_min_isr_is_planned_as_carefully_as_possible() -> None:
    snap = snapshot(brokers(OLD + NEW), [topic_of("unread", [[1001, 1002, 1003]])])  # no topic configs read
    plan = plan_drain(snap, PolicyConfig(), set(OLD), NEW)
    assert len(plan.steps) == 3, "one replica per step, as if min ISR were RF - 1"
    assert plan.notes == ["unread: min.insync.replicas was not read: planned one replica per step"]
