"""Consumer lag findings -> samples: per group, per group and topic, and (within the series budget) per partition.

Everything is rebuilt from the current snapshot each cycle, so a group or topic that disappears leaves
/metrics with the next cycle; unknown values are left out, never published as 0.
"""

from __future__ import annotations

from exporter.analysis.lag import GroupLag, LagHistory, analyse
from exporter.config import LagConfig
from exporter.metrics.definitions import define
from exporter.metrics.render import Samples
from exporter.model import ClusterSnapshot

_SAMPLED = (
    "Sampled by the background collection every interval, not at scrape time, so it needs the exporter to "
    "have run for a while: "
)

GROUPS = define(
    "kafka_consumer_groups",
    "gauge",
    "Consumer groups that commit offsets (classic and KIP-848 consumer groups, streams groups; not share "
    "groups), as listed this cycle and kept by lag.include_groups / lag.exclude_groups. A group whose "
    "coordinator does not answer stays counted (see kafka_consumer_group_stale): the count only falls when "
    "groups are deleted.",
)
GROUP_STALE = define(
    "kafka_consumer_group_stale",
    "gauge",
    "1 when this cycle could not read the group (its coordinator did not answer ListGroups or OffsetFetch): its "
    "lag is computed from the offsets last read (at most lag.verdict_window_seconds ago; no consumer can commit "
    "while its coordinator is unreachable) against fresh high watermarks, and its verdict is unknown. 0 otherwise.",
    ("group",),
)
GROUP_INFO = define(
    "kafka_consumer_group_info",
    "info",
    "One series per consumer group: its type (classic, consumer for KIP-848 groups, streams), its state as "
    "the coordinator reports it (Stable, Empty, PreparingRebalance, Reconciling, ...; Unknown while its "
    "coordinator does not answer) and its coordinator broker.",
    ("group", "type", "state", "coordinator"),
)
GROUP_MEMBERS = define(
    "kafka_consumer_group_members",
    "gauge",
    "Members of the consumer group now. Absent when the group could not be described this cycle.",
    ("group",),
)
GROUP_VERDICT = define(
    "kafka_consumer_group_verdict",
    "gauge",
    "One series per group, value 1, whose verdict label judges its last lag.verdict_window_seconds of "
    "samples, partition by partition, the worst partition deciding: rewound (a committed offset went "
    "backwards), stopped (no members, committed offset unchanged and lag > 0 throughout the window), stalled "
    "(the same with members present), lagging (lag never shrank and grew over the window), unknown (history "
    "shorter than the window, or offsets not read this cycle), ok. " + _SAMPLED + "one window.",
    ("group", "verdict"),
)
TOPIC_PARTITIONS = define(
    "kafka_consumer_group_topic_partitions",
    "gauge",
    "Partitions of the topic the group has a committed offset for (the topics a group commits to).",
    ("group", "topic"),
)
TOPIC_LAG = define(
    "kafka_consumer_group_topic_lag",
    "gauge",
    "Sum over the topic's partitions of the group's lag in messages: high watermark minus committed offset, "
    "never negative. Absent when the high watermark of any of them could not be read this cycle.",
    ("group", "topic"),
)
TOPIC_MAX_LAG = define(
    "kafka_consumer_group_topic_max_lag",
    "gauge",
    "Largest lag in messages of the group on any partition of the topic. Absent when the high watermark of "
    "any of them could not be read this cycle.",
    ("group", "topic"),
)
TOPIC_LAG_SECONDS = define(
    "kafka_consumer_group_topic_lag_seconds",
    "gauge",
    "Largest kafka_consumer_group_lag_seconds of the group on any partition of the topic: the age of its "
    "oldest unconsumed message. " + _SAMPLED + "see kafka_consumer_group_lag_seconds.",
    ("group", "topic"),
)
TOPIC_BELOW_START = define(
    "kafka_consumer_group_topic_partitions_below_log_start",
    "gauge",
    "Partitions of the topic whose committed offset is below the log-start offset: records the group had "
    "not read were deleted (retention) before it got to them.",
    ("group", "topic"),
)
COMMITTED = define(
    "kafka_consumer_group_committed_offset",
    "gauge",
    "The group's committed offset on the partition (Kafka's kafka-consumer-groups: CURRENT-OFFSET).",
    ("group", "topic", "partition"),
)
LAG = define(
    "kafka_consumer_group_lag",
    "gauge",
    "The group's lag on the partition in messages: high watermark minus committed offset, never negative "
    "(kafka-consumer-groups: LAG). Absent when the high watermark could not be read this cycle.",
    ("group", "topic", "partition"),
)
LAG_SECONDS = define(
    "kafka_consumer_group_lag_seconds",
    "gauge",
    "Age of the group's oldest unconsumed message on the partition: now minus the time the high watermark "
    "passed the committed offset, interpolated between (time, high watermark) samples. "
    + _SAMPLED
    + "0 when fully consumed (idle partitions included); while the samples do not reach back to the committed "
    "offset (lag.history_seconds, or since the exporter started), the age of the oldest sample, a lower "
    "bound; absent after a single sample.",
    ("group", "topic", "partition"),
)
HIGH_WATERMARK = define(
    "kafka_partition_high_watermark",
    "gauge",
    "High watermark (the offset the next record will get; kafka-consumer-groups: LOG-END-OFFSET) of each "
    "partition some consumer group has committed offsets for.",
    ("topic", "partition"),
)
LOG_START = define(
    "kafka_partition_log_start_offset",
    "gauge",
    "Log-start offset (the oldest offset still stored) of each partition some consumer group has committed "
    "offsets for.",
    ("topic", "partition"),
)
PARTITION_SERIES = define(
    "kafka_exporter_lag_partition_series",
    "gauge",
    "Per-partition lag series this cycle would have (committed offset, lag, lag seconds per group and "
    "partition; high watermark and log start per partition), whether exposed or not.",
)
PER_PARTITION = define(
    "kafka_exporter_lag_per_partition",
    "gauge",
    "1 when per-partition lag series are exposed this cycle; 0 when lag.per_partition is off or they would "
    "exceed lag.max_partition_series, leaving the per-group and per-topic series only.",
)


def lag_samples(snap: ClusterSnapshot, history: LagHistory, cfg: LagConfig) -> Samples:
    s = Samples()
    if snap.groups is None:
        return s
    findings = analyse(snap, history, cfg)
    s.add(GROUPS, len(findings))
    for f in findings:
        _group_samples(s, f)
    partitions = _partitions(findings)  # once: counting and rendering both need it
    count = partition_series(snap, findings, partitions)
    exposed = cfg.per_partition and count <= cfg.max_partition_series
    s.add(PARTITION_SERIES, count)
    s.add(PER_PARTITION, 1 if exposed else 0)
    if exposed:
        _partition_samples(s, snap, findings, partitions)
    return s


def _group_samples(s: Samples, f: GroupLag) -> None:
    g = f.group
    s.info(GROUP_INFO, group=g.group_id, type=g.type, state=g.state, coordinator=g.coordinator)
    s.add(GROUP_STALE, int(g.stale), group=g.group_id)
    if g.members is not None:
        s.add(GROUP_MEMBERS, g.members, group=g.group_id)
    s.add(GROUP_VERDICT, 1, group=g.group_id, verdict=f.verdict)
    for t in f.topics:
        s.add(TOPIC_PARTITIONS, t.partitions, group=g.group_id, topic=t.topic)
        if t.lag is not None:
            s.add(TOPIC_LAG, t.lag, group=g.group_id, topic=t.topic)
        if t.max_lag is not None:
            s.add(TOPIC_MAX_LAG, t.max_lag, group=g.group_id, topic=t.topic)
        if t.max_lag_seconds is not None:
            s.add(TOPIC_LAG_SECONDS, t.max_lag_seconds, group=g.group_id, topic=t.topic)
        if t.below_log_start is not None:
            s.add(TOPIC_BELOW_START, t.below_log_start, group=g.group_id, topic=t.topic)


def _partitions(findings: tuple[GroupLag, ...]) -> set[tuple[str, int]]:
    return set().union(*(f.keys for f in findings))


def partition_series(snap: ClusterSnapshot, findings: tuple[GroupLag, ...], partitions: set[tuple[str, int]]) -> int:
    """How many series _partition_samples would add: counted first so a cycle over budget builds none. Counted
    from the columns (in C), not partition by partition."""
    count = 0
    for f in findings:
        count += len(f.keys) * 3 - f.lags.count(None) - f.lag_seconds.count(None)
    ends, starts = snap.end_offsets, snap.start_offsets
    for tp in partitions:
        count += (tp in ends) + (tp in starts)
    return count


def _partition_samples(
    s: Samples, snap: ClusterSnapshot, findings: tuple[GroupLag, ...], partitions: set[tuple[str, int]]
) -> None:
    for f in findings:
        gid = f.group.group_id
        keys = [(gid, topic, str(part)) for topic, part in f.keys]
        if not keys:
            continue
        s.add_series(COMMITTED, keys, f.committed)
        lags = [(k, v) for k, v in zip(keys, f.lags, strict=True) if v is not None]
        if lags:
            s.add_series(LAG, [k for k, _ in lags], [v for _, v in lags])
        secs = [(k, v) for k, v in zip(keys, f.lag_seconds, strict=True) if v is not None]
        if secs:
            s.add_series(LAG_SECONDS, [k for k, _ in secs], [v for _, v in secs])
    for topic, part in sorted(partitions):
        hw = snap.end_offsets.get((topic, part))
        if hw is not None:
            s.add(HIGH_WATERMARK, hw, topic=topic, partition=part)
        start = snap.start_offsets.get((topic, part))
        if start is not None:
            s.add(LOG_START, start, topic=topic, partition=part)
