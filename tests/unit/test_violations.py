"""The `check` table: every policy violation and at-risk partition, and nothing on a clean cluster."""

from __future__ import annotations

from exporter.analysis.violations import Violation, violations
from exporter.config import PolicyConfig
from exporter.model import LogDir
from tests.unit.snapshots import SEED_RACKS, brokers, part, seed_snapshot, snapshot, topic, topic_of

CLEAN_BROKER = {"auto.create.topics.enable": "false", "unclean.leader.election.enable": "false"}


def _kinds(vs: list[Violation]) -> set[tuple[str, str]]:
    return {(v.kind, v.subject) for v in vs}


def test_clean_cluster_has_no_violations() -> None:
    # Rack-aware RF 3 over racks a, b, c with min ISR 2: any one rack can go.
    tops = [topic_of("orders", [[1, 3, 5], [2, 4, 5], [5, 1, 4]])]
    snap = snapshot(
        brokers(SEED_RACKS), tops, min_isr=2, broker_configs={b: CLEAN_BROKER for b in SEED_RACKS}, fenced=[]
    )
    assert violations(snap, PolicyConfig(expected_brokers=(1, 2, 3, 4, 5))) == []


def test_seed_cluster_names_the_rf1_topic_and_racks() -> None:
    vs = violations(seed_snapshot(), PolicyConfig(replication_factor=4))
    kinds = _kinds(vs)
    assert ("replication_factor_below_policy", "topic rf1") in kinds
    assert ("replication_factor_below_policy", "topic rf3") in kinds
    assert ("replication_factor_not_above_min_isr", "topic rf1") in kinds
    assert ("rack_loss_offline", "rack a") in kinds
    assert ("rack_loss_under_min_isr", "rack a") in kinds  # rf3 partitions left with one replica
    assert not any(v.subject == "topic rf4" for v in vs)
    # Rack rows name what the loss would newly break; rf1 is already under min ISR 2 and has its own row.
    (rack_a,) = [v for v in vs if v.kind == "rack_loss_under_min_isr" and v.subject == "rack a"]
    assert rack_a.detail.endswith("4 more partition(s) under min ISR: rf3-0, rf3-4, rf3-5, rf3-9")
    assert ("under_min_isr_partitions", "topic rf1") in kinds
    sev = [v.severity for v in vs]
    assert sev == sorted(sev, key=lambda x: x != "critical")  # critical rows first
    (row,) = [v for v in vs if v.kind == "replication_factor_below_policy" and v.subject == "topic rf1"]
    assert row.detail == "replication factor 1, policy wants 4" and row.severity == "critical"


def test_partition_states_listed_once_in_worst_state() -> None:
    t = topic(
        "t",
        part("t", 0, [1, 2, 3], isr=[1, 2]),  # under-replicated, at min ISR
        part("t", 1, [1, 2, 3], isr=[1]),  # under min ISR
        part("t", 2, [1, 2, 3], isr=[], leader=None),  # offline
    )
    vs = violations(snapshot(brokers([1, 2, 3]), [t], min_isr=2), PolicyConfig(broker_settings={}))
    rows = {v.kind: v for v in vs if v.subject == "topic t"}
    assert rows["offline_partitions"].detail.endswith(": 2")
    assert rows["under_min_isr_partitions"].detail.endswith(": 1")
    assert rows["under_replicated_partitions"].detail.startswith("1 partition(s)")
    assert "at min ISR" in rows["under_replicated_partitions"].detail


def test_broker_violations() -> None:
    snap = snapshot(
        brokers([1, 2, 9]),
        [],
        fenced=[3],
        broker_configs={2: {"unclean.leader.election.enable": "true"}},
        log_dirs={1: [LogDir(1, "/d", "KafkaStorageException", None, None)]},
    )
    kinds = _kinds(violations(snap, PolicyConfig(expected_brokers=(1, 2, 3))))
    assert kinds == {
        ("broker_missing", "broker 3"),
        ("broker_unexpected", "broker 9"),
        ("broker_fenced", "broker 3"),
        ("broker_setting_drift", "broker 2"),
        ("log_dir_offline", "broker 1"),
    }


def test_expected_count_only() -> None:
    vs = violations(snapshot(brokers([1, 2]), []), PolicyConfig(expected_broker_count=3, broker_settings={}))
    assert [(v.kind, v.detail) for v in vs] == [("brokers_missing", "2 live broker(s), policy expects 3")]


def test_excluded_topics_give_no_rows() -> None:
    tops = [topic("tmp", part("tmp", 0, [1], isr=[], leader=None)), topic_of("keep", [[1, 2], [2, 1]])]
    vs = violations(snapshot(brokers([1, 2]), tops, min_isr=1), PolicyConfig(exclude_topics=("tmp",)))
    assert not any("tmp" in v.subject or "tmp" in v.detail for v in vs)


def test_unclean_and_min_isr_drift() -> None:
    snap = snapshot(
        brokers([1, 2, 3]),
        [topic_of("t", [[1, 2, 3]])],
        min_isr=1,
        topic_configs={"t": {"unclean.leader.election.enable": "true"}},
    )
    kinds = _kinds(violations(snap, PolicyConfig()))
    assert ("unclean_leader_election_enabled", "topic t") in kinds
    assert ("min_insync_replicas_below_policy", "topic t") in kinds


def test_rackless_broker_is_named_as_broker() -> None:
    vs = violations(
        snapshot(brokers([1, 2]), [topic_of("t", [[1], [2]])], min_isr=1), PolicyConfig(replication_factor=1)
    )
    assert ("rack_loss_offline", "broker 1 (no rack)") in _kinds(vs)
