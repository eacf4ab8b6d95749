"""The rolling-restart gate (`check --stop-broker` / `--stop-rack`): is it safe to stop these brokers now?"""

from __future__ import annotations

import pytest

from exporter.analysis.gate import GateError, StopVerdict, brokers_of, stop_verdict
from exporter.cli import format_verdict
from exporter.config import PolicyConfig
from exporter.model import ClusterSnapshot
from tests.unit.snapshots import brokers, part, snapshot, topic, topic_of

POLICY = PolicyConfig(exclude_topics=("scratch",))


def verdict(snap: ClusterSnapshot, broker: int | None = None, rack: str | None = None) -> StopVerdict:
    target, ids = brokers_of(snap, broker=broker, rack=rack)
    return stop_verdict(snap, POLICY, target, ids)


def test_healthy_rf3_min_isr_2_cluster_can_stop_any_one_broker() -> None:
    snap = snapshot(brokers([1, 2, 3]), [topic_of("orders", [[1, 2, 3], [2, 3, 1], [3, 1, 2]])], min_isr=2)
    for b in (1, 2, 3):
        v = verdict(snap, broker=b)
        assert v.safe and v.brokers == (b,)
    assert "SAFE" in format_verdict("prod", verdict(snap, broker=1))


def test_with_one_broker_down_the_gate_names_what_the_next_stop_would_break() -> None:
    # Broker 2 is down: partitions it shared are at ISR {1, 3} (min ISR 2). Stopping 1 or 3 breaks them.
    orders = topic("orders", part("orders", 0, [1, 2, 3], [1, 3]), part("orders", 1, [2, 3, 4], [3, 4]))
    snap = snapshot(brokers([1, 3, 4]), [orders], min_isr=2)
    v = verdict(snap, broker=1)
    assert not v.safe
    assert v.would_go_under_min_isr == (("orders", 0),) and not v.would_go_offline
    v = verdict(snap, broker=3)
    assert v.would_go_under_min_isr == (("orders", 0), ("orders", 1))
    assert verdict(snap, broker=4).would_go_under_min_isr == (("orders", 1),)
    text = format_verdict("prod", verdict(snap, broker=1))
    assert "NOT SAFE: 1 partitions would stop taking acks=all writes" in text and "orders" in text


def test_every_topic_counts_even_one_the_policy_excludes_and_internal_ones() -> None:
    # An RF-1 topic the alerts ignore still stops its producers when its only broker stops.
    snap = snapshot(
        brokers([1, 2, 3]),
        [
            topic_of("scratch", [[1]]),
            topic("__consumer_offsets", part("__consumer_offsets", 0, [1, 2], [1, 2]), internal=True),
        ],
        min_isr={"scratch": 1, "__consumer_offsets": 2},
    )
    v = verdict(snap, broker=1)
    assert v.would_go_offline == (("scratch", 0),)
    assert v.would_go_under_min_isr == (("__consumer_offsets", 0),)


def test_a_partition_already_unwritable_makes_the_answer_no() -> None:
    snap = snapshot(brokers([1, 2, 3]), [topic("t", part("t", 0, [1, 2, 3], [1]))], min_isr=2)
    v = verdict(snap, broker=3)  # broker 3 holds no ISR replica of it: nothing new breaks ...
    assert not v.would_go_under_min_isr and not v.would_go_offline
    assert v.already_unwritable == (("t", 0),) and not v.safe  # ... but writes already fail


def test_a_rack_stops_all_its_brokers() -> None:
    snap = snapshot(
        brokers({1: "a", 2: "a", 3: "b", 4: "c"}),
        [topic_of("t", [[1, 3, 4], [1, 2, 3]])],
        min_isr=2,
    )
    v = verdict(snap, rack="a")
    assert v.brokers == (1, 2) and v.would_go_under_min_isr == (("t", 1),)
    assert verdict(snap, rack="c").safe


def test_questions_that_cannot_be_answered() -> None:
    snap = snapshot(brokers([1, 2]), [topic_of("t", [[1, 2]])], min_isr=1)
    with pytest.raises(GateError, match=r"broker 7 is not a live broker \(live: 1, 2\)"):
        verdict(snap, broker=7)
    with pytest.raises(GateError, match=r"rack 'x' has no live broker \(racks: broker-1, broker-2\)"):
        verdict(snap, rack="x")
    with pytest.raises(GateError, match="brokers were not read"):
        verdict(snapshot(None, None), broker=1)
    unknown = verdict(snapshot(brokers([1, 2]), [topic_of("t", [[1, 2]])]), broker=1)
    assert unknown.min_isr_unknown
    assert "cannot tell" in format_verdict("prod", unknown)
