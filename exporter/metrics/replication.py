"""Replication safety findings -> samples: RF and min-ISR policy, partition states, rack and broker exposure,
placement.

A finding the snapshot cannot support (configs, brokers or topics not read this cycle) has no series at all,
so "unknown" never reads as a healthy 0.
"""

from __future__ import annotations

from exporter.analysis.exposure import all_exposure
from exporter.analysis.placement import broker_load, topic_placement
from exporter.analysis.policy import topic_policies
from exporter.analysis.replication import all_topic_states
from exporter.config import PolicyConfig
from exporter.metrics.definitions import define
from exporter.metrics.render import Samples
from exporter.model import ClusterSnapshot

_RF_KAFKA = "replicas a reassignment is still adding are not counted, as in Kafka's kafka-topics"
_MIN_ISR_SRC = (
    "the effective min.insync.replicas (the topic's value, else the broker or cluster default; with KRaft "
    "Eligible Leader Replicas enabled, the cluster-level value only, as Kafka then ignores topic values)"
)
_EXCLUDED = "Topics the policy excludes are not reported."
_LOSS = (
    "Simulated from the current assignment with Kafka's clean leader election: the surviving ISR is the ISR "
    "minus the lost brokers; a lost leader is replaced from the surviving ISR (or, where the cluster uses "
    "Eligible Leader Replicas, from a surviving ELR member); with none left the partition is offline. "
    "Partitions already offline count. Topics the policy excludes are not counted."
)

# --- Replication factor and min ISR against the policy ----------------------------------------------------
TOPIC_RF = define(
    "kafka_topic_replication_factor",
    "gauge",
    f"Lowest replication factor over the topic's partitions; {_RF_KAFKA}.",
    ("topic",),
)
TOPIC_RF_MAX = define(
    "kafka_topic_max_replication_factor",
    "gauge",
    f"Highest replication factor over the topic's partitions; {_RF_KAFKA}. Differs from "
    "kafka_topic_replication_factor when partitions of one topic have different replication factors.",
    ("topic",),
)
TOPIC_DESIRED_RF = define(
    "kafka_topic_desired_replication_factor",
    "gauge",
    "Replication factor the policy wants for the topic (first matching override, else the default), capped at "
    f"the number of live brokers. {_EXCLUDED}",
    ("topic",),
)
TOPIC_RF_DRIFT = define(
    "kafka_topic_replication_factor_drift",
    "gauge",
    "Replication factor minus the desired one: the lowest partition RF minus desired when any partition is "
    f"below it (negative), else the highest minus desired (0 or positive); {_RF_KAFKA}. {_EXCLUDED}",
    ("topic",),
)
TOPIC_MIN_ISR = define(
    "kafka_topic_min_insync_replicas",
    "gauge",
    f"The min.insync.replicas Kafka applies to the topic: {_MIN_ISR_SRC}.",
    ("topic",),
)
TOPIC_DESIRED_MIN_ISR = define(
    "kafka_topic_desired_min_insync_replicas",
    "gauge",
    f"min.insync.replicas the policy wants for the topic (first matching override, else the default). {_EXCLUDED}",
    ("topic",),
)
TOPIC_MIN_ISR_DRIFT = define(
    "kafka_topic_min_insync_replicas_drift",
    "gauge",
    f"Effective min.insync.replicas minus the desired one (negative: below policy). {_EXCLUDED}",
    ("topic",),
)
TOPIC_UNCLEAN = define(
    "kafka_topic_unclean_leader_election_enabled",
    "gauge",
    "1 if the topic's effective unclean.leader.election.enable is true (an out-of-sync replica may become "
    "leader, losing acknowledged writes), else 0.",
    ("topic",),
)
TOPIC_RF_NOT_ABOVE_MIN_ISR = define(
    "kafka_topic_replication_factor_not_above_min_isr",
    "gauge",
    "1 if some partition's replication factor is not above the effective min.insync.replicas, so losing one "
    "replica (or none, when RF < min ISR) makes acks=all writes fail with NOT_ENOUGH_REPLICAS; else 0.",
    ("topic",),
)

# --- Partition states, with the definitions of Kafka's kafka-topics --describe ------------------------------
TOPIC_UNDER_MIN_ISR = define(
    "kafka_topic_under_min_isr_partitions",
    "gauge",
    "Partitions of the topic with no leader or with fewer in-sync replicas than min.insync.replicas, as "
    f"kafka-topics --under-min-isr-partitions counts them; min ISR is {_MIN_ISR_SRC}. Writes with acks=all fail.",
    ("topic",),
)
TOPIC_AT_MIN_ISR = define(
    "kafka_topic_at_min_isr_partitions",
    "gauge",
    "Partitions of the topic whose in-sync replica count equals min.insync.replicas, as kafka-topics "
    "--at-min-isr-partitions counts them: one more lost replica blocks acks=all writes. Kafka counts this "
    "whatever the replication factor, so a topic with RF 1 and min ISR 1 is always at min ISR; combine with "
    "ISR < RF (kafka_topic_under_replicated_partitions) to alert on real degradation.",
    ("topic",),
)
TOPIC_OFFLINE = define(
    "kafka_topic_offline_partitions",
    "gauge",
    "Partitions of the topic with no leader, or whose leader is not a live broker, as kafka-topics "
    "--unavailable-partitions counts them: neither readable nor writable.",
    ("topic",),
)
PARTITION_UNDER_REPLICATED = define(
    "kafka_partition_under_replicated",
    "gauge",
    f"1 while the partition has fewer in-sync replicas than replicas ({_RF_KAFKA}); absent otherwise.",
    ("topic", "partition"),
)
PARTITION_UNDER_MIN_ISR = define(
    "kafka_partition_under_min_isr",
    "gauge",
    "1 while the partition has no leader or fewer in-sync replicas than min.insync.replicas (kafka-topics "
    "--under-min-isr-partitions); absent otherwise.",
    ("topic", "partition"),
)
PARTITION_AT_MIN_ISR = define(
    "kafka_partition_at_min_isr",
    "gauge",
    "1 while the partition's in-sync replica count equals min.insync.replicas (kafka-topics "
    "--at-min-isr-partitions; always so for RF 1 with min ISR 1); absent otherwise.",
    ("topic", "partition"),
)
PARTITION_OFFLINE = define(
    "kafka_partition_offline",
    "gauge",
    "1 while the partition has no leader or its leader is not a live broker (kafka-topics "
    "--unavailable-partitions); absent otherwise.",
    ("topic", "partition"),
)

# --- Exposure to losing a rack or a broker ------------------------------------------------------------------
RACK_LOSS_OFFLINE = define(
    "kafka_rack_loss_offline_partitions",
    "gauge",
    f"Partitions that would go offline if every live broker in the rack were lost now. {_LOSS} A broker "
    'without a rack is a rack of its own, labelled "broker-<id>".',
    ("rack",),
)
RACK_LOSS_UNDER_MIN_ISR = define(
    "kafka_rack_loss_under_min_isr_partitions",
    "gauge",
    "Partitions that would be offline or have fewer in-sync replicas than min.insync.replicas (acks=all writes "
    f"fail) if every live broker in the rack were lost now. {_LOSS}",
    ("rack",),
)
BROKER_LOSS_OFFLINE = define(
    "kafka_broker_loss_offline_partitions",
    "gauge",
    f"Partitions that would go offline if this broker were lost now. {_LOSS}",
    ("broker_id",),
)
BROKER_LOSS_UNDER_MIN_ISR = define(
    "kafka_broker_loss_under_min_isr_partitions",
    "gauge",
    "Partitions that would be offline or have fewer in-sync replicas than min.insync.replicas (acks=all writes "
    f"fail) if this broker were lost now. {_LOSS}",
    ("broker_id",),
)

# --- Placement -------------------------------------------------------------------------------------------
BROKER_LEADERS = define(
    "kafka_broker_leaders",
    "gauge",
    "Partitions this broker leads. Every live broker is listed, with 0 when it leads none.",
    ("broker_id",),
)
BROKER_REPLICAS = define(
    "kafka_broker_replicas",
    "gauge",
    "Partition replicas assigned to this broker, including replicas a reassignment is still adding or "
    "removing; 0 for a live broker that holds none (a drained broker). Brokers that are not live but still "
    "hold replicas are listed too.",
    ("broker_id",),
)
TOPIC_NON_PREFERRED = define(
    "kafka_topic_non_preferred_leader_partitions",
    "gauge",
    "Partitions of the topic led by a replica other than the preferred one (the first in the assignment); "
    "partitions without a leader are not counted.",
    ("topic",),
)
TOPIC_RACK_COLLOCATED = define(
    "kafka_topic_rack_collocated_partitions",
    "gauge",
    "Partitions of the topic with two or more replicas in one rack although the cluster has racks enough to "
    "avoid it: the replicas (the reassignment target, while one runs) span fewer than min(replicas, racks) "
    "racks. Only partitions whose brokers all have a rack are judged; absent when none is.",
    ("topic",),
)


def _flag(v: bool) -> float:
    return 1.0 if v else 0.0


def _policy(s: Samples, snap: ClusterSnapshot, policy: PolicyConfig) -> None:
    for f in topic_policies(snap, policy):
        t = f.topic
        if f.rf_min is not None and f.rf_max is not None:
            s.add(TOPIC_RF, f.rf_min, topic=t)
            s.add(TOPIC_RF_MAX, f.rf_max, topic=t)
        if f.desired_rf is not None:
            s.add(TOPIC_DESIRED_RF, f.desired_rf, topic=t)
        if f.rf_drift is not None:
            s.add(TOPIC_RF_DRIFT, f.rf_drift, topic=t)
        if f.min_isr is not None:
            s.add(TOPIC_MIN_ISR, f.min_isr, topic=t)
        if f.desired_min_isr is not None:
            s.add(TOPIC_DESIRED_MIN_ISR, f.desired_min_isr, topic=t)
        if f.min_isr_drift is not None:
            s.add(TOPIC_MIN_ISR_DRIFT, f.min_isr_drift, topic=t)
        if f.unclean_leader_election is not None:
            s.add(TOPIC_UNCLEAN, _flag(f.unclean_leader_election), topic=t)
        if f.rf_not_above_min_isr is not None:
            s.add(TOPIC_RF_NOT_ABOVE_MIN_ISR, _flag(f.rf_not_above_min_isr), topic=t)


def _states(s: Samples, snap: ClusterSnapshot) -> None:
    for st in all_topic_states(snap):
        t = st.topic
        for p in st.under_replicated:
            s.add(PARTITION_UNDER_REPLICATED, 1, topic=t, partition=p)
        if st.under_min_isr is not None:
            s.add(TOPIC_UNDER_MIN_ISR, len(st.under_min_isr), topic=t)
            for p in st.under_min_isr:
                s.add(PARTITION_UNDER_MIN_ISR, 1, topic=t, partition=p)
        if st.at_min_isr is not None:
            s.add(TOPIC_AT_MIN_ISR, len(st.at_min_isr), topic=t)
            for p in st.at_min_isr:
                s.add(PARTITION_AT_MIN_ISR, 1, topic=t, partition=p)
        if st.offline is not None:
            s.add(TOPIC_OFFLINE, len(st.offline), topic=t)
            for p in st.offline:
                s.add(PARTITION_OFFLINE, 1, topic=t, partition=p)


def _exposure(s: Samples, snap: ClusterSnapshot, policy: PolicyConfig) -> None:
    racks, singles = all_exposure(snap, policy)
    groups = [(racks, RACK_LOSS_OFFLINE, RACK_LOSS_UNDER_MIN_ISR, "rack")]
    groups.append((singles, BROKER_LOSS_OFFLINE, BROKER_LOSS_UNDER_MIN_ISR, "broker_id"))
    for exposures, offline, under, label in groups:
        for e in exposures:
            s.add(offline, len(e.offline), **{label: e.group})
            if e.under_min_isr is not None:
                s.add(under, len(e.under_min_isr), **{label: e.group})


def _placement(s: Samples, snap: ClusterSnapshot) -> None:
    for load in broker_load(snap):
        s.add(BROKER_LEADERS, load.leaders, broker_id=load.broker)
        s.add(BROKER_REPLICAS, load.replicas, broker_id=load.broker)
    for tp in topic_placement(snap):
        s.add(TOPIC_NON_PREFERRED, len(tp.non_preferred_leader), topic=tp.topic)
        if tp.rack_collocated is not None:
            s.add(TOPIC_RACK_COLLOCATED, len(tp.rack_collocated), topic=tp.topic)


def replication_samples(snap: ClusterSnapshot, policy: PolicyConfig) -> Samples:
    """Every sample of the replication-safety concern for one snapshot."""
    s = Samples()
    _policy(s, snap, policy)
    _states(s, snap)
    _exposure(s, snap, policy)
    _placement(s, snap)
    return s
