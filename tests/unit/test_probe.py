"""The write probe's pure parts: the probe topic's layout as brokers come and go, and writes judged per broker."""

from __future__ import annotations

from collections import Counter

from exporter.analysis.probe import Changes, ProbeHistory, advance, changes, per_broker
from exporter.model import Partition, ProbeWrite
from tests.unit.snapshots import brokers, part

T = "probe"
RACKS = {1: "a", 2: "b", 3: "c", 4: "a", 5: "b"}


def applied(before: list[Partition], c: Changes) -> list[Partition]:
    """The topic after Kafka applied the changes (leaders at the preferred replica, everything in sync)."""
    out = {p.partition: p for p in before}
    for i, reps in {**c.create, **c.add, **c.reassign}.items():
        out[i] = part(T, i, reps)
    for i in c.elect:
        out[i] = part(T, i, out[i].replicas)
    return [out[i] for i in sorted(out)]


def test_a_new_topic_has_one_partition_preferring_each_broker_with_replicas_in_distinct_racks() -> None:
    c = changes(brokers(RACKS), None, (), 3)
    assert sorted(r[0] for r in c.create.values()) == [1, 2, 3, 4, 5]
    for reps in c.create.values():
        assert len(set(reps)) == 3 and len({RACKS[r] for r in reps}) == 3
    assert changes(brokers(RACKS), None, (), 3) == c  # deterministic
    # Where racks allow it, replicas spread evenly (above, rack c's one broker holds a replica of each).
    six = changes(brokers({**RACKS, 6: "c"}), None, (), 3)
    assert Counter(r for reps in six.create.values() for r in reps) == Counter({b: 3 for b in range(1, 7)})


def test_the_replication_factor_is_capped_at_the_live_brokers_and_grown_when_brokers_join() -> None:
    c = changes(brokers({1: "a"}), None, (), 3)
    assert c.create == {0: (1,)}
    topic = applied([], c)
    grown = changes(brokers({1: "a", 2: "b", 3: "c"}), topic, (), 3)
    assert grown.reassign == {0: (1, 2, 3)} or (grown.reassign[0][0] == 1 and len(grown.reassign[0]) == 3)
    assert sorted(r[0] for r in grown.add.values()) == [2, 3] and min(grown.add) == 1
    assert not changes(brokers({1: "a", 2: "b", 3: "c"}), applied(topic, grown), (), 3)


def test_a_restarting_broker_changes_nothing_but_its_leadership_is_given_back() -> None:
    topic = applied([], changes(brokers(RACKS), None, (), 3))
    two = next(p for p in topic if p.replicas[0] == 2)
    # Broker 2 is down: its partition is led by a follower; nothing is moved or shrunk while it restarts.
    down = [part(T, p.partition, p.replicas, [r for r in p.replicas if r != 2]) for p in topic]
    assert not changes(brokers({b: r for b, r in RACKS.items() if b != 2}), down, (), 3)
    # Back, in sync, not leading: a preferred leader election for its partition only.
    back = [part(T, p.partition, p.replicas, leader=p.replicas[1] if p is two else p.replicas[0]) for p in topic]
    assert changes(brokers(RACKS), back, (), 3) == Changes(elect=(two.partition,))
    # Back but not yet in sync: no election yet.
    catching_up = [part(T, two.partition, two.replicas, two.replicas[1:])]
    assert not changes(brokers(RACKS), catching_up + [p for p in topic if p is not two], (), 3)


def test_retired_brokers_replicas_move_and_new_brokers_take_their_partitions() -> None:
    # The seed's migration: 1001-1003 drained and retired, 1-3 new. The new brokers already got partitions of
    # their own while the old ones were live; once the old are gone, every replica on them moves.
    old = {1001: "a", 1002: "b", 1003: "c"}
    new = {1: "a", 2: "b", 3: "c"}
    topic = applied([], changes(brokers(old), None, (), 3))
    both = applied(topic, changes(brokers({**old, **new}), topic, (), 3))
    assert sorted(p.replicas[0] for p in both) == [1, 2, 3, 1001, 1002, 1003]
    after = changes(brokers(new), both, (1001, 1002, 1003), 3)
    final = applied(both, after)
    assert all(set(p.replicas) <= {1, 2, 3} and len(p.replicas) == 3 for p in final)
    assert {p.replicas[0] for p in final} == {1, 2, 3}
    assert not changes(brokers(new), final, (1001, 1002, 1003), 3)


def test_a_broker_gone_with_a_partition_to_take_over_gives_it_to_a_new_broker_before_adding_one() -> None:
    topic = applied([], changes(brokers({1: "a", 2: "b", 3: "c"}), None, (), 2))
    three = next(p for p in topic if p.replicas[0] == 3)
    c = changes(brokers({1: "a", 2: "b", 4: "c"}), topic, (3,), 2)
    assert c.reassign[three.partition][0] == 4 and not c.add


def test_a_partition_being_reassigned_is_left_alone() -> None:
    moving = part(T, 0, [1, 2, 3], adding=[3])
    assert changes(brokers({1: "a", 2: "b", 3: "c"}), [moving], (2,), 3).reassign == {}


def write(broker: int, error: str | None = None, ack: float | None = 0.01, e2e: float | None = 0.02) -> ProbeWrite:
    return ProbeWrite(partition=broker, broker=broker, error=error, ack_seconds=ack, end_to_end_seconds=e2e)


def test_per_broker_a_broker_fails_if_any_write_it_led_failed_and_latencies_are_the_slowest() -> None:
    writes = [
        write(1),
        ProbeWrite(5, 1, None, 0.3, 0.4),
        write(2, error="Broker: Not enough in-sync replicas", ack=None, e2e=None),
        write(3, e2e=None),
    ]
    one, two, three = per_broker(writes)
    assert (one.writes, one.failed, one.ack_seconds, one.end_to_end_seconds) == (2, 0, 0.3, 0.4)
    assert two.failed == 1 and two.errors == ("Broker: Not enough in-sync replicas",)
    assert three.failed == 0 and three.unread == 1 and three.end_to_end_seconds is None


def test_history_counts_writes_and_failures_and_ignores_cycles_that_did_not_probe() -> None:
    h = advance(ProbeHistory(), [write(1), write(2, error="timed out", ack=None, e2e=None)])
    h = advance(h, None)
    h = advance(h, [write(1), write(2)])
    assert h.writes == Counter({1: 2, 2: 2}) and h.failures == Counter({2: 1})
