"""`plan replication-factor`: the seed's script (bring 150 topics to the decided RF, leaders spread), as a plan."""

from __future__ import annotations

from collections import Counter

from exporter.analysis.rf_plan import plan_replication_factor
from exporter.config import PolicyConfig, TopicPolicy
from exporter.model import LogDir
from tests.unit.snapshots import SEED_RACKS, brokers, part, round_robin, snapshot, topic, topic_of


def racks_of(replicas: list[int]) -> set[str | None]:
    return {SEED_RACKS[b] for b in replicas}


def test_the_seeds_rf1_and_rf2_topics_reach_rf3_in_distinct_racks_keeping_their_data() -> None:
    topics = [topic_of("auto-created", round_robin(10, 1)), topic_of("half", round_robin(10, 2))]
    sizes = {(t.name, p.partition): 1000 * (p.partition + 1) for t in topics for p in t.partitions}
    assignment = {(t.name, p.partition): p.replicas for t in topics for p in t.partitions}
    dirs = {
        b: [LogDir(b, "/data", None, None, None, {tp: sizes[tp] for tp, reps in assignment.items() if b in reps})]
        for b in SEED_RACKS
    }
    snap = snapshot(brokers(SEED_RACKS), topics, min_isr=2, log_dirs=dirs)
    plan = plan_replication_factor(snap, PolicyConfig())
    assert len(plan.moves) == 20
    before = assignment
    for tp, replicas in plan.moves.items():
        assert len(replicas) == 3 and len(set(replicas)) == 3
        # Existing replicas are kept, except a second one in the same rack, which the rack rule moves.
        assert len(set(before[tp]) - set(replicas)) == len(before[tp]) - len(racks_of(list(before[tp])))
        assert racks_of(replicas) == {"a", "b", "c"}, (tp, replicas)
    # Rack c has one broker: it must hold every partition. Within racks a and b, brokers share evenly.
    after = plan.replicas_after
    assert abs(after[1] - after[2]) <= 1 and abs(after[3] - after[4]) <= 1
    leaders = Counter(r[0] for r in plan.moves.values())
    assert max(leaders.values()) - min(leaders.values()) <= 1, leaders
    # Bytes: each added replica copies its partition's size.
    copied = sum(len(set(r) - set(before[tp])) for tp, r in plan.moves.items())
    doubled = sum(1 for r in before.values() if len(racks_of(list(r))) < len(r))  # (1, 2) and (3, 4): 4 partitions
    assert doubled == 4 and copied == 30 + doubled  # 30 added replicas, 4 moved out of a doubled rack
    assert plan.unknown_size == 0
    assert sum(plan.bytes_to.values()) == sum(sizes[tp] * len(set(r) - set(before[tp])) for tp, r in plan.moves.items())
    assert plan_replication_factor(snap, PolicyConfig()).moves == plan.moves, "deterministic"


def test_above_the_policy_drops_a_duplicate_rack_replica_never_the_leader() -> None:
    t = topic("big", part("big", 0, [1, 2, 3, 5], leader=2))  # racks a, a, b, c: one of 1/2 goes
    snap = snapshot(brokers(SEED_RACKS), [t], min_isr=2)
    plan = plan_replication_factor(snap, PolicyConfig())
    replicas = plan.moves[("big", 0)]
    assert sorted(replicas) == [2, 3, 5] and racks_of(replicas) == {"a", "b", "c"}


def test_only_chosen_topics_unsatisfiable_wishes_said_and_batches() -> None:
    topics = [topic_of("a.one", [[1]]), topic_of("b.one", [[2]]), topic_of("c.big", [[1]])]
    policy = PolicyConfig(topics=(TopicPolicy(name="c.big", replication_factor=9),))
    snap = snapshot(brokers({1: "a", 2: "a", 3: "b"}), topics, min_isr=1)
    plan = plan_replication_factor(snap, policy, topics=[r"[ab]\..*"])
    assert set(plan.moves) == {("a.one", 0), ("b.one", 0)}
    full = plan_replication_factor(snap, policy)
    assert len(full.moves[("c.big", 0)]) == 3
    assert "c.big: RF 3 on 2 racks: replicas share a rack (add racks to avoid)" in full.notes, full.notes
    docs = full.batches(2)
    assert [len(d["partitions"]) for d in docs] == [2, 1]  # type: ignore[arg-type]
    assert docs[0]["version"] == 1


def test_nothing_to_do_is_an_empty_plan_kafka_accepts() -> None:
    snap = snapshot(brokers([1, 2, 3]), [topic_of("ok", [[1, 2, 3]])], min_isr=2)
    plan = plan_replication_factor(snap, PolicyConfig())
    assert plan.moves == {} and plan.batches(None) == [{"version": 1, "partitions": []}]
