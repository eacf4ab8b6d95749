"""Replication policy: desired vs current RF and min ISR, and Kafka's partition states."""

from __future__ import annotations

from exporter.analysis.policy import (
    TopicPolicyFinding,
    desired_min_insync_replicas,
    desired_replication_factor,
    is_excluded,
    topic_policies,
)
from exporter.analysis.replication import all_topic_states, effective_min_isr, replication_factor
from exporter.config import PolicyConfig, TopicPolicy
from exporter.model import ClusterSnapshot
from tests.unit.snapshots import brokers, part, snapshot, topic, topic_of


def _by_topic(snap: ClusterSnapshot, policy: PolicyConfig) -> dict[str, TopicPolicyFinding]:
    return {f.topic: f for f in topic_policies(snap, policy)}


FIVE = brokers(range(1, 6))


def test_auto_created_rf1_topic_is_under_policy() -> None:
    snap = snapshot(FIVE, [topic_of("auto", [[1], [2], [3]])], min_isr=1)
    f = _by_topic(snap, PolicyConfig())["auto"]
    assert (f.rf_min, f.desired_rf, f.rf_drift, f.rf_below) == (1, 3, -2, True)
    assert (f.min_isr, f.desired_min_isr, f.min_isr_drift) == (1, 2, -1)
    assert f.rf_not_above_min_isr is True  # RF 1 = min ISR 1: any loss blocks acks=all


def test_rf_capped_at_live_brokers() -> None:
    two = brokers([1, 2])
    assert desired_replication_factor("t", PolicyConfig(replication_factor=3), 2) == 2
    snap = snapshot(two, [topic_of("t", [[1, 2]])], min_isr=1)
    f = _by_topic(snap, PolicyConfig(replication_factor=3))["t"]
    assert (f.desired_rf, f.rf_drift, f.rf_below) == (2, 0, False)


def test_outage_does_not_lower_the_desired_rf() -> None:
    # Three of five expected brokers live (two fenced, or simply expected): RF 3 topics are not "above policy".
    three = brokers([1, 2, 3])
    tops = [topic_of("t", [[1, 2, 3]])]
    fenced = _by_topic(snapshot(three, tops, fenced=[4, 5]), PolicyConfig(replication_factor=5))["t"]
    assert fenced.desired_rf == 5
    expected = _by_topic(snapshot(three, tops), PolicyConfig(replication_factor=5, expected_broker_count=4))["t"]
    assert expected.desired_rf == 4
    assert _by_topic(snapshot(three, tops), PolicyConfig(replication_factor=5))["t"].desired_rf == 3


def test_override_by_name_and_regex_first_match_wins() -> None:
    policy = PolicyConfig(
        replication_factor=3,
        min_insync_replicas=2,
        topics=(
            TopicPolicy(regex="logs-.*", replication_factor=2),
            TopicPolicy(name="logs-audit", replication_factor=4, min_insync_replicas=3),
            TopicPolicy(name="orders", replication_factor=5, min_insync_replicas=3),
        ),
    )
    assert desired_replication_factor("logs-app", policy, 5) == 2
    # The regex comes first, so it wins over the later exact name, for both settings.
    assert desired_replication_factor("logs-audit", policy, 5) == 2
    assert desired_min_insync_replicas("logs-audit", policy) == 2
    assert desired_replication_factor("orders", policy, 5) == 5
    assert desired_min_insync_replicas("orders", policy) == 3
    # fullmatch: a prefix match is not a match.
    assert desired_replication_factor("xlogs-app", policy, 5) == 3
    assert desired_replication_factor("other", policy, 5) == 3


def test_excluded_topics_have_no_desired_values() -> None:
    policy = PolicyConfig(exclude_topics=("_.*", "tmp"))
    assert is_excluded("__consumer_offsets", policy)
    assert is_excluded("tmp", policy)
    assert not is_excluded("tmp2", policy)  # whole-name match only
    snap = snapshot(FIVE, [topic_of("tmp", [[1]]), topic_of("keep", [[1]])], min_isr=1)
    fs = _by_topic(snap, policy)
    assert fs["tmp"].excluded and fs["tmp"].desired_rf is None and fs["tmp"].rf_drift is None
    assert not fs["tmp"].rf_below
    assert fs["tmp"].rf_min == 1  # the fact is still known
    assert fs["keep"].rf_below


def test_rf_drift_uses_min_and_max_over_partitions() -> None:
    snap = snapshot(FIVE, [topic_of("mixed", [[1, 2], [1, 2, 3, 4]]), topic_of("big", [[1, 2, 3, 4]] * 2)])
    fs = _by_topic(snap, PolicyConfig(replication_factor=3))
    assert (fs["mixed"].rf_min, fs["mixed"].rf_max, fs["mixed"].rf_drift) == (2, 4, -1)
    assert fs["mixed"].rf_below and fs["mixed"].rf_above
    assert (fs["big"].rf_drift, fs["big"].rf_above, fs["big"].rf_below) == (1, True, False)


def test_reassignment_in_progress_counts_rf_without_adding_replicas() -> None:
    p = part("t", 0, [1, 2, 3, 4], isr=[1, 2, 3], adding=[4], removing=[1])
    assert replication_factor(p) == 3
    snap = snapshot(FIVE, [topic("t", p)], min_isr=2)
    (st,) = all_topic_states(snap)
    assert st.under_replicated == ()
    assert _by_topic(snap, PolicyConfig())["t"].rf_drift == 0


def test_finished_reassignment_still_listed_counts_all_replicas() -> None:
    # Kafka ignores adding/removing lists once none of them is among the replicas.
    p = part("t", 0, [2, 3, 4], adding=[5], removing=[1])
    assert replication_factor(p) == 3


def test_unknown_configs_give_no_min_isr_findings() -> None:
    snap = snapshot(FIVE, [topic_of("t", [[1, 2, 3]])])
    f = _by_topic(snap, PolicyConfig())["t"]
    assert f.min_isr is None and f.min_isr_drift is None and f.rf_not_above_min_isr is None
    assert f.unclean_leader_election is None
    (st,) = all_topic_states(snap)
    assert st.under_min_isr is None and st.at_min_isr is None


def test_unknown_brokers_give_no_rf_drift_and_no_offline_count() -> None:
    snap = snapshot(None, [topic_of("t", [[1]])], min_isr=1)
    assert _by_topic(snap, PolicyConfig())["t"].rf_drift is None
    (st,) = all_topic_states(snap)
    assert st.offline is None


def test_unclean_leader_election_and_rf_not_above_min_isr() -> None:
    snap = snapshot(
        FIVE,
        [topic_of("u", [[1, 2, 3]]), topic_of("safe", [[1, 2, 3]]), topic_of("never", [[1, 2]])],
        topic_configs={
            "u": {"unclean.leader.election.enable": "TRUE"},
            "safe": {"unclean.leader.election.enable": "false"},
        },
        min_isr={"u": 2, "safe": 2, "never": 3},
    )
    fs = _by_topic(snap, PolicyConfig())
    assert fs["u"].unclean_leader_election is True
    assert fs["safe"].unclean_leader_election is False
    assert fs["safe"].rf_not_above_min_isr is False
    assert fs["never"].rf_not_above_min_isr is True  # RF 2 < min ISR 3: acks=all never succeeds


def test_topic_min_isr_applies_with_or_without_elr() -> None:
    # ELR removes broker-level overrides, not topic-level ones: the topic's effective value is what counts.
    tops = [topic_of("t", [[1, 2, 3]])]
    bc = {2: {"min.insync.replicas": "3"}, 3: {"min.insync.replicas": "3"}}
    with_elr = snapshot(FIVE, tops, min_isr=1, broker_configs=bc, elr_enabled=True)
    without = snapshot(FIVE, tops, min_isr=1, broker_configs=bc, elr_enabled=False)
    assert effective_min_isr(with_elr, "t") == 1
    assert effective_min_isr(without, "t") == 1
    # Topic configs not read: unknown, never a guess from broker configs.
    assert effective_min_isr(snapshot(FIVE, tops, min_isr=None, broker_configs=bc, elr_enabled=True), "t") is None


def test_partition_states_match_kafka_definitions() -> None:
    live = brokers([1, 2, 3])
    t = topic(
        "t",
        part("t", 0, [1, 2, 3]),  # healthy
        part("t", 1, [1, 2, 3], isr=[1, 2]),  # under-replicated, at min ISR 2
        part("t", 2, [1, 2, 3], isr=[1]),  # under-replicated, under min ISR
        part("t", 3, [4, 5, 6], isr=[4], leader=4),  # leader not live: offline
        part("t", 4, [1, 2, 3], isr=[], leader=None),  # no leader: offline and under min ISR
    )
    (st,) = all_topic_states(snapshot(live, [t], min_isr=2))
    assert st.under_replicated == (1, 2, 3, 4)
    assert st.at_min_isr == (1,)
    assert st.under_min_isr == (2, 3, 4)
    assert st.offline == (3, 4)


def test_rf1_min_isr1_is_always_at_min_isr() -> None:
    (st,) = all_topic_states(snapshot(FIVE, [topic_of("t", [[1], [2]])], min_isr=1))
    assert st.at_min_isr == (0, 1)
    assert st.under_replicated == ()
