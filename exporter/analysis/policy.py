"""Replication policy per topic: desired vs current replication factor and min.insync.replicas.

Current values are Kafka's facts and are reported for every topic; desired values (and so drift) only for
topics the policy does not exclude. Anything the snapshot lacks stays None: no finding, not a healthy zero.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from exporter.analysis.replication import effective_min_isr, replication_factor, unclean_leader_election
from exporter.config import PolicyConfig, TopicPolicy
from exporter.model import ClusterSnapshot, Topic


def is_excluded(topic: str, policy: PolicyConfig) -> bool:
    return any(re.fullmatch(rx, topic) for rx in policy.exclude_topics)


def topic_override(topic: str, policy: PolicyConfig) -> TopicPolicy | None:
    """The first override matching the topic, by exact name or whole-name regex (config order)."""
    for t in policy.topics:
        if t.name is not None and t.name == topic:
            return t
        if t.regex is not None and re.fullmatch(t.regex, topic):
            return t
    return None


def desired_replication_factor(topic: str, policy: PolicyConfig, brokers: int) -> int:
    """The override's RF, else the policy default, capped at the cluster's broker count (Kafka cannot place
    more replicas than brokers), and never below 1."""
    o = topic_override(topic, policy)
    rf = o.replication_factor if o is not None and o.replication_factor is not None else policy.replication_factor
    return max(1, min(rf, brokers))


def broker_count_for_cap(snap: ClusterSnapshot, policy: PolicyConfig) -> int | None:
    """Brokers the desired RF is capped at: the live ones, plus fenced ones and the policy's expected count
    when larger, so an outage does not lower the desired RF and flag healthy topics as above it.
    None when the broker list was not read."""
    if snap.brokers is None:
        return None
    registered = {b.id for b in snap.brokers} | set(snap.fenced_brokers or ())
    expected = len(set(policy.expected_brokers)) if policy.expected_brokers else policy.expected_broker_count
    return max(len(registered), expected or 0)


def desired_min_insync_replicas(topic: str, policy: PolicyConfig) -> int:
    # Not capped: a min ISR the cluster cannot meet is exactly what the RF <= min ISR finding shows.
    o = topic_override(topic, policy)
    if o is not None and o.min_insync_replicas is not None:
        return o.min_insync_replicas
    return policy.min_insync_replicas


@dataclass(frozen=True)
class TopicPolicyFinding:
    topic: str
    excluded: bool
    # Lowest and highest replication factor over the topic's partitions (None: the topic has no partitions).
    rf_min: int | None
    rf_max: int | None
    # None when excluded, or (RF only) when the live brokers were not read, so the cap is unknown.
    desired_rf: int | None
    desired_min_isr: int | None
    # Effective min.insync.replicas and unclean.leader.election.enable; None when configs were not read.
    min_isr: int | None
    unclean_leader_election: bool | None

    @property
    def rf_drift(self) -> int | None:
        """Current minus desired: negative when any partition is under, positive when any is above
        (and none under), 0 when all match."""
        if self.rf_min is None or self.rf_max is None or self.desired_rf is None:
            return None
        if self.rf_min < self.desired_rf:
            return self.rf_min - self.desired_rf
        return max(0, self.rf_max - self.desired_rf)

    @property
    def rf_below(self) -> bool:
        return self.rf_min is not None and self.desired_rf is not None and self.rf_min < self.desired_rf

    @property
    def rf_above(self) -> bool:
        return self.rf_max is not None and self.desired_rf is not None and self.rf_max > self.desired_rf

    @property
    def min_isr_drift(self) -> int | None:
        if self.min_isr is None or self.desired_min_isr is None:
            return None
        return self.min_isr - self.desired_min_isr

    @property
    def rf_not_above_min_isr(self) -> bool | None:
        """RF <= min ISR on some partition: losing one replica blocks acks=all writes (or they never work)."""
        if self.rf_min is None or self.min_isr is None:
            return None
        return self.rf_min <= self.min_isr


def topic_policy(snap: ClusterSnapshot, topic: Topic, policy: PolicyConfig) -> TopicPolicyFinding:
    rfs = [replication_factor(p) for p in topic.partitions]
    excluded = is_excluded(topic.name, policy)
    cap = broker_count_for_cap(snap, policy)
    desired_rf = None if excluded or cap is None else desired_replication_factor(topic.name, policy, cap)
    return TopicPolicyFinding(
        topic=topic.name,
        excluded=excluded,
        rf_min=min(rfs) if rfs else None,
        rf_max=max(rfs) if rfs else None,
        desired_rf=desired_rf,
        desired_min_isr=None if excluded else desired_min_insync_replicas(topic.name, policy),
        min_isr=effective_min_isr(snap, topic.name),
        unclean_leader_election=unclean_leader_election(snap, topic.name),
    )


def topic_policies(snap: ClusterSnapshot, policy: PolicyConfig) -> list[TopicPolicyFinding]:
    """One finding per topic in the snapshot (none when topics were not read)."""
    return [topic_policy(snap, t, policy) for t in snap.topics or ()]
