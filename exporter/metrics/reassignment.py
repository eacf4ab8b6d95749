"""Reassignment and throttle findings -> samples."""

from __future__ import annotations

from exporter.analysis.reassignment import ReassignmentHistory, summary, throttles
from exporter.config import ReassignmentConfig
from exporter.metrics.definitions import define
from exporter.metrics.render import Samples
from exporter.model import ClusterSnapshot

REASSIGNING = define(
    "kafka_reassignment_partitions",
    "gauge",
    "Partitions with a reassignment in progress (ListPartitionReassignments; in ZooKeeper mode the "
    "adding/removing replicas of /brokers/topics/<topic> when that API does not answer, and before Kafka 2.4, "
    "which has neither, /admin/reassign_partitions: there a replica counts as adding until it joins the ISR).",
)
PARTITION_REASSIGNING = define(
    "kafka_partition_reassigning",
    "gauge",
    "1 while the partition is being reassigned; absent otherwise.",
    ("topic", "partition"),
)
REPLICA_BYTES = define(
    "kafka_partition_reassignment_replica_bytes",
    "gauge",
    "Size on disk of each replica a reassignment is adding (DescribeLogDirs of that broker).",
    ("topic", "partition", "broker_id"),
)
REPLICA_IN_ISR = define(
    "kafka_partition_reassignment_replica_in_isr",
    "gauge",
    "1 once an adding replica has joined the ISR (caught up), 0 before.",
    ("topic", "partition", "broker_id"),
)
LEADER_BYTES = define(
    "kafka_partition_reassignment_leader_bytes",
    "gauge",
    "Size on disk of the leader's replica of a reassigning partition: what adding replicas copy.",
    ("topic", "partition"),
)
PARTITION_REMAINING = define(
    "kafka_partition_reassignment_remaining_bytes",
    "gauge",
    "Bytes the adding replicas of this partition still have to copy: the leader's size minus each adding "
    "replica's, summed (0 for a replica already in the ISR).",
    ("topic", "partition"),
)
REMAINING = define(
    "kafka_reassignment_remaining_bytes", "gauge", "Bytes all reassignments in progress still have to copy."
)
RATE = define(
    "kafka_reassignment_progress_bytes_per_second",
    "gauge",
    "Copy rate of all reassignments over the stall window (or since the exporter first saw them, if shorter): "
    "the growth of the adding replicas' sizes between the background collection's cycles.",
)
BROKER_RATE = define(
    "kafka_broker_reassignment_progress_bytes_per_second",
    "gauge",
    "Copy rate of each broker that receives adding replicas, over the stall window (or since it started "
    "receiving, if shorter). Absent for brokers with nothing to copy.",
    ("broker_id",),
)
ETA = define(
    "kafka_reassignment_eta_seconds",
    "gauge",
    "Estimated time to copy the remaining bytes at the recent rate. Absent while nothing moves or the rate "
    "is not yet known (less than two samples).",
)
LONGEST = define(
    "kafka_reassignment_longest_running_seconds",
    "gauge",
    "How long the oldest reassignment in progress has been seen running (since the exporter first saw it).",
)
_STALL_RULE = (
    "Judged per receiving broker, the way Kafka copies (one fetcher per leader, replicas taking turns under a "
    "throttle): a broker is stalled when all its adding replicas together copied less than "
    "reassignment.min_progress_bytes_per_second x the stall window and none joined the ISR. Replicas waiting "
    "their turn behind a broker that copies are not stalled."
)
STALLED = define(
    "kafka_partition_reassignment_stalled",
    "gauge",
    "1 for each adding replica outside the ISR whose receiving broker (broker_id) is stalled. Absent otherwise. "
    + _STALL_RULE,
    ("topic", "partition", "broker_id"),
)
BROKER_STALLED = define(
    "kafka_broker_reassignment_stalled",
    "gauge",
    "1 while the broker receives adding replicas and is stalled. Absent otherwise. " + _STALL_RULE,
    ("broker_id",),
)
STALLED_COUNT = define(
    "kafka_reassignment_stalled_partitions", "gauge", "Reassigning partitions with at least one stalled replica."
)
PENDING = define(
    "kafka_partition_reassignment_pending_controller",
    "gauge",
    "1 while a partition listed in ZooKeeper's /admin/reassign_partitions has not been acted on by the "
    "controller for two cycles (it only reacts when that znode is created; a controller change makes it read "
    "the znode again).",
    ("topic", "partition"),
)
PENDING_COUNT = define(
    "kafka_reassignment_pending_controller_partitions",
    "gauge",
    "Partitions in /admin/reassign_partitions the controller is not acting on (ZooKeeper mode).",
)
BROKER_THROTTLE = define(
    "kafka_broker_replication_throttle_bytes_per_second",
    "gauge",
    "A broker's leader.replication.throttled.rate / follower.replication.throttled.rate, where set.",
    ("broker_id", "direction"),
)
TOPIC_THROTTLED = define(
    "kafka_topic_replication_throttled",
    "gauge",
    "1 where the topic has leader.replication.throttled.replicas / follower.replication.throttled.replicas set.",
    ("topic", "direction"),
)
THROTTLES_LEFT = define(
    "kafka_replication_throttles_left_behind",
    "gauge",
    "Brokers and topics with replication throttles set while no reassignment is running: throttles that slow "
    "every later catch-up of a follower.",
)


def reassignment_samples(snap: ClusterSnapshot, history: ReassignmentHistory, cfg: ReassignmentConfig) -> Samples:
    s = Samples()
    found = summary(history, snap, cfg)
    if found is not None:
        s.add(REASSIGNING, len(found.moving))
        for mv in found.moving:
            labels: dict[str, str | int | None] = {"topic": mv.topic, "partition": mv.partition}
            s.add(PARTITION_REASSIGNING, 1, **labels)
            s.add_known(LEADER_BYTES, mv.leader_bytes, **labels)
            for r in mv.adding:
                s.add(REPLICA_IN_ISR, int(r.in_isr), broker_id=r.broker, **labels)
                s.add_known(REPLICA_BYTES, r.bytes, broker_id=r.broker, **labels)
            s.add_known(PARTITION_REMAINING, mv.remaining_bytes, **labels)
        s.add_known(REMAINING, found.remaining_bytes)
        s.add_known(RATE, found.rate)
        s.add_known(ETA, found.eta_seconds)
        s.add_known(LONGEST, found.longest_running_seconds)
        for broker, broker_rate in found.broker_rates.items():
            s.add(BROKER_RATE, broker_rate, broker_id=broker)
        for st in found.stalls:
            s.add(STALLED, 1, topic=st.topic, partition=st.partition, broker_id=st.broker)
            s.add(BROKER_STALLED, 1, broker_id=st.broker)
        s.add(STALLED_COUNT, len({(st.topic, st.partition) for st in found.stalls}))
        if found.pending_controller is not None:
            for topic, partition in found.pending_controller:
                s.add(PENDING, 1, topic=topic, partition=partition)
            s.add(PENDING_COUNT, len(found.pending_controller))
    if snap.brokers is not None:
        th = throttles(snap)
        for (broker, direction), rate_limit in th.brokers.items():
            s.add(BROKER_THROTTLE, rate_limit, broker_id=broker, direction=direction)
        for topic, direction in th.topics:
            s.add(TOPIC_THROTTLED, 1, topic=topic, direction=direction)
        if snap.reassignments_known:
            s.add(THROTTLES_LEFT, th.left_behind)
    return s
