"""Placement: leaders and replicas per broker, preferred leaders, rack collocation."""

from __future__ import annotations

from exporter.analysis.placement import (
    BrokerLoad,
    broker_load,
    is_non_preferred_leader,
    is_rack_collocated,
    target_replicas,
    topic_placement,
)
from tests.unit.snapshots import SEED_RACKS, brokers, part, snapshot, topic, topic_of


def test_leaders_and_replicas_per_broker_include_drained_and_dead_brokers() -> None:
    # Migration: new brokers 0-2 live, old broker 1001 drained, old broker 1002 dead but still assigned.
    snap = snapshot(brokers([0, 1, 2, 1001]), [topic_of("t", [[0, 1], [1, 2], [2, 1002]])])
    load = {b.broker: b for b in broker_load(snap)}
    assert load[1001] == BrokerLoad(1001, leaders=0, replicas=0, live=True)
    assert load[1002] == BrokerLoad(1002, leaders=0, replicas=1, live=False)
    assert (load[0].leaders, load[1].leaders, load[2].leaders) == (1, 1, 1)
    assert (load[0].replicas, load[1].replicas, load[2].replicas) == (1, 2, 2)


def test_broker_load_counts_replicas_being_moved() -> None:
    p = part("t", 0, [1, 2, 3, 4], isr=[1, 2, 3], adding=[4], removing=[1])
    load = {b.broker: b for b in broker_load(snapshot(brokers([1, 2, 3, 4]), [topic("t", p)]))}
    assert load[1].replicas == 1 and load[4].replicas == 1


def test_unknown_topics_or_brokers_give_no_load() -> None:
    assert broker_load(snapshot(brokers([1]), None)) == []
    assert broker_load(snapshot(None, [topic_of("t", [[1]])])) == []


def test_non_preferred_leader() -> None:
    assert not is_non_preferred_leader(part("t", 0, [1, 2, 3]))
    assert is_non_preferred_leader(part("t", 0, [1, 2, 3], isr=[2, 3]))
    assert not is_non_preferred_leader(part("t", 0, [1, 2], isr=[], leader=None))  # offline, not imbalanced
    snap = snapshot(brokers([1, 2, 3]), [topic("t", part("t", 0, [1, 2]), part("t", 1, [1, 2], leader=2))])
    (tp,) = topic_placement(snap)
    assert tp.non_preferred_leader == (1,)


def test_rack_collocation_only_when_avoidable() -> None:
    racks = {b: r for b, r in SEED_RACKS.items() if r is not None}  # a a b b c: 3 racks
    assert is_rack_collocated(part("t", 0, [1, 2, 3]), racks, 3) is True  # two in a, c unused
    assert is_rack_collocated(part("t", 0, [1, 3, 5]), racks, 3) is False
    # RF 4 on 3 racks: two replicas share a rack whatever the placement; only a spread over 2 racks counts.
    assert is_rack_collocated(part("t", 0, [1, 2, 3, 5]), racks, 3) is False
    assert is_rack_collocated(part("t", 0, [1, 2, 3, 4]), racks, 3) is True
    # A replica on a broker without a (known) rack: not judged.
    assert is_rack_collocated(part("t", 0, [1, 9]), racks, 3) is None


def test_rack_collocation_judges_the_reassignment_target() -> None:
    racks = {1: "a", 2: "a", 3: "b", 4: "c"}
    moving = part("t", 0, [1, 2, 3, 4], isr=[1, 2, 3], adding=[4], removing=[2])
    assert target_replicas(moving) == (1, 3, 4)
    assert is_rack_collocated(moving, racks, 3) is False


def test_rack_collocation_absent_without_racks() -> None:
    (tp,) = topic_placement(snapshot(brokers([1, 2, 3]), [topic_of("t", [[1, 2]])]))
    assert tp.rack_collocated is None
    (tp,) = topic_placement(snapshot(brokers(SEED_RACKS), [topic_of("t", [[1, 2], [1, 3]])]))
    assert tp.rack_collocated == (0,)
