"""Exposure to losing a rack or a broker, checked against brute force."""

from __future__ import annotations

import dataclasses
import itertools
import random

from exporter.analysis.exposure import Exposure, broker_exposure, rack_exposure, rack_groups, simulate_loss
from exporter.config import PolicyConfig
from exporter.model import ClusterSnapshot, ConfigValue
from tests.unit.snapshots import SEED_RACKS, brokers, part, seed_snapshot, snapshot, topic, topic_of


def _by_group(es: list[Exposure]) -> dict[str, Exposure]:
    return {e.group: e for e in es}


def _brute_force(
    snap: ClusterSnapshot, lost: set[int], min_isr: int
) -> tuple[set[tuple[str, int]], set[tuple[str, int]]]:
    """Independent expectation for healthy partitions (ISR = replicas, leader live): a partition keeps a
    clean leader iff some in-sync replica survives, and keeps acks=all iff at least min ISR of them do."""
    offline, under = set(), set()
    for t in snap.topics or ():
        for p in t.partitions:
            survivors = [r for r in p.isr if r not in lost]
            if not survivors:
                offline.add((t.name, p.partition))
            if len(survivors) < min_isr:
                under.add((t.name, p.partition))
    return offline, under


def test_seed_rack_a_loss() -> None:
    snap = seed_snapshot()
    a = _by_group(rack_exposure(snap, PolicyConfig()))["a"]
    assert a.brokers == (1, 2)
    offline, under = _brute_force(snap, {1, 2}, 2)
    assert set(a.offline) == offline
    assert set(a.under_min_isr or ()) == under
    # What the operator needs to read off: RF 1 partitions on brokers 1 and 2 go offline, RF 3 partitions with
    # two replicas in rack a lose acks=all, RF 4 with min ISR 2 survives any two brokers.
    assert {tp for tp in a.offline} == {("rf1", i) for i in (0, 1, 5, 6)}
    assert {tp for tp in under if tp[0] == "rf3"} == {("rf3", i) for i in (0, 4, 5, 9)}
    assert not any(t == "rf4" for t, _ in under)


def test_every_rack_and_broker_matches_brute_force() -> None:
    snap = seed_snapshot()
    for e in rack_exposure(snap, PolicyConfig()) + broker_exposure(snap, PolicyConfig()):
        offline, under = _brute_force(snap, set(e.brokers), 2)
        assert set(e.offline) == offline, e.group
        assert set(e.under_min_isr or ()) == under, e.group
    assert sorted(e.group for e in broker_exposure(snap, PolicyConfig())) == ["1", "2", "3", "4", "5"]


def test_any_two_brokers_never_take_rf4_min_isr2_under() -> None:
    snap = snapshot(brokers(SEED_RACKS), [topic_of("rf4", [[1, 2, 3, 4], [2, 3, 4, 5], [5, 1, 3, 2]])], min_isr=2)
    for lost in itertools.combinations(range(1, 6), 2):
        for p in snap.topics[0].partitions if snap.topics else ():
            out = simulate_loss(p, set(lost), {1, 2, 3, 4, 5}, 2)
            assert not out.offline and out.under_min_isr is False


def test_shrunk_isr_and_leader_reelection() -> None:
    live = {1, 2, 3}
    p = part("t", 0, [1, 2, 3], isr=[1, 3])  # 2 already out of sync
    lost_leader = simulate_loss(p, {1}, live, 2)
    assert (lost_leader.leader, lost_leader.isr, lost_leader.under_min_isr) == (3, (3,), True)
    lost_follower = simulate_loss(p, {2}, live, 2)  # 2 was not in the ISR: nothing changes
    assert (lost_follower.leader, lost_follower.isr, lost_follower.under_min_isr) == (1, (1, 3), False)
    # Losing both ISR members leaves only the out-of-sync replica: offline with clean election.
    assert simulate_loss(p, {1, 3}, live, 2).offline


def test_elr_member_can_take_over_only_when_elr_is_enabled() -> None:
    live = {1, 2, 3}
    p = part("t", 0, [1, 2, 3], isr=[1], elr=[2])
    assert simulate_loss(p, {1}, live, 2, elr_enabled=False).offline
    out = simulate_loss(p, {1}, live, 2, elr_enabled=True)
    assert (out.leader, out.isr, out.under_min_isr) == (2, (2,), True)
    assert not simulate_loss(p, {1}, live, 1, elr_enabled=True).under_min_isr
    # A lost ELR member cannot lead.
    assert simulate_loss(p, {1, 2}, live, 2, elr_enabled=True).offline

    snap_on = snapshot(
        brokers(live), [topic("t", p)], broker_configs={1: {"min.insync.replicas": "2"}}, elr_enabled=True
    )
    snap_off = snapshot(brokers(live), [topic("t", p)], min_isr=2, elr_enabled=False)
    assert _by_group(broker_exposure(snap_on, PolicyConfig()))["1"].offline == ()
    assert _by_group(broker_exposure(snap_off, PolicyConfig()))["1"].offline == (("t", 0),)


def test_already_offline_partitions_count_for_every_group() -> None:
    snap = snapshot(brokers([1, 2]), [topic("t", part("t", 0, [3], isr=[3], leader=3))], min_isr=1)
    for e in broker_exposure(snap, PolicyConfig()):
        assert e.offline == (("t", 0),) and e.under_min_isr == (("t", 0),)


def test_brokers_without_rack_are_their_own_group() -> None:
    bs = brokers({1: "a", 2: None, 3: "a", 4: None})
    assert rack_groups(bs) == {"a": (1, 3), "broker-2": (2,), "broker-4": (4,)}


def test_excluded_topics_are_not_counted() -> None:
    snap = snapshot(brokers([1, 2]), [topic_of("scratch", [[1]]), topic_of("keep", [[1, 2]])], min_isr=1)
    e = _by_group(broker_exposure(snap, PolicyConfig(exclude_topics=("scratch",))))["1"]
    assert e.offline == () and e.under_min_isr == ()


def test_unknown_min_isr_gives_no_under_count_but_offline_is_known() -> None:
    snap = snapshot(brokers([1, 2]), [topic_of("t", [[1]])])
    e = _by_group(broker_exposure(snap, PolicyConfig()))["1"]
    assert e.offline == (("t", 0),) and e.under_min_isr is None


def test_no_brokers_or_topics_gives_nothing() -> None:
    assert rack_exposure(snapshot(None, [topic_of("t", [[1]])]), PolicyConfig()) == []
    assert broker_exposure(snapshot(brokers([1]), None), PolicyConfig()) == []


def test_indexed_simulation_equals_simulating_every_partition() -> None:
    """The per-broker index only skips partitions a loss cannot touch: compare with the naive loop on
    random, partly degraded clusters (shrunk ISRs, dead leaders, ELR)."""
    rng = random.Random(7)
    for case in range(30):
        ids = list(range(1, 8))
        live = set(rng.sample(ids, 6))
        parts = []
        for i in range(40):
            reps = rng.sample(ids, rng.randint(1, 4))
            isr = [r for r in reps if rng.random() < 0.8]
            leader = rng.choice([*isr, None]) if isr else None
            elr = [r for r in reps if r not in isr and rng.random() < 0.5]
            parts.append(part("t", i, reps, isr=isr, leader=leader, elr=elr))
        elr_on = case % 2 == 0
        snap = snapshot(brokers({b: "ab"[b % 2] for b in sorted(live)}), [topic("t", *parts)], min_isr=2)
        # With ELR the cluster-level value applies: give it via a broker's config.
        cluster_min_isr = {"min.insync.replicas": ConfigValue("2", False, "DYNAMIC_DEFAULT_BROKER_CONFIG")}
        snap = dataclasses.replace(snap, elr_enabled=elr_on, broker_configs={1: cluster_min_isr})
        for e in rack_exposure(snap, PolicyConfig()) + broker_exposure(snap, PolicyConfig()):
            outs = [(p, simulate_loss(p, set(e.brokers), live, 2, elr_on)) for p in parts]
            assert e.offline == tuple(("t", p.partition) for p, o in outs if o.offline)
            assert e.under_min_isr == tuple(("t", p.partition) for p, o in outs if o.under_min_isr)
