"""Consumer lag in messages and in seconds, and a verdict per group, from a snapshot and a short history.

Pure functions. The runner holds a `LagHistory` and replaces it every cycle with `advance(history, snap, cfg)`;
`analyse(snap, history, cfg)` then reads both. Nothing here is mutated after it is built.

Lag in seconds is the age of the oldest unconsumed message: now minus the moment the partition's high
watermark passed the committed offset, interpolated linearly between the (time, high watermark) samples the
background collection took. How it behaves at the edges:

- fully consumed (committed >= high watermark), idle or not: 0 s;
- the history does not reach back to the committed offset (the exporter started after that message was
  written, or history_seconds is shorter than the lag): the age of the oldest sample, a lower bound that grows
  at 1 s/s until the history reaches the offset; with a single sample, unknown (no value, never 0);
- the high watermark went backwards (topic re-created, log truncated): that partition's history restarts.

Verdicts, in the spirit of Burrow's rules, over `verdict_window_seconds` of each group partition's samples of
(committed offset, lag), judged per partition and the worst one given to the group:

- rewound: the committed offset went backwards within the window (an offset reset);
- stopped: no members, offset unchanged over the whole window, lag > 0 throughout (Kafka keeps no commit
  time, so "no commits" is seen as "offset unchanged");
- stalled: the same with members present: they are alive but not committing;
- lagging: lag never shrank over the window and ended higher than it began;
- unknown: history shorter than the window (a new group, an exporter restart) or this cycle's offsets were not
  read (a stale group: its coordinator did not answer); ok otherwise (also when lag touched 0 in the window).
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field

from exporter.config import LagConfig
from exporter.model import ClusterSnapshot, ConsumerGroup

TP = tuple[str, int]
GroupTP = tuple[str, str, int]  # (group, topic, partition)

OK, LAGGING, STALLED, STOPPED, REWOUND, UNKNOWN = "ok", "lagging", "stalled", "stopped", "rewound", "unknown"
# Worst first: the group's verdict is its worst partition's.
VERDICTS = (REWOUND, STOPPED, STALLED, LAGGING, UNKNOWN, OK)
_RANK = {v: i for i, v in enumerate(VERDICTS)}
_EMPTY_STATES = frozenset({"Empty", "Dead"})


@dataclass(frozen=True, slots=True)
class Track:
    """Samples of one partition, oldest first, as parallel arrays (8 bytes a number, no object per sample).

    Runs of equal values keep only their first and last sample, so an idle partition costs two samples."""

    times: array[float]
    cols: tuple[array[int], ...]

    def __len__(self) -> int:
        return len(self.times)


@dataclass(frozen=True, slots=True)
class LagHistory:
    # (topic, partition) -> samples of (high watermark,), for lag in seconds.
    watermarks: dict[TP, Track] = field(default_factory=dict)
    # (group, topic, partition) -> samples of (committed offset, lag), for verdicts.
    commits: dict[GroupTP, Track] = field(default_factory=dict)


def append(track: Track | None, t: float, values: tuple[int, ...], keep_from: float, resolution: float) -> Track:
    """A new track with the sample added (the given one is left as it was). Samples older than keep_from are
    dropped except the newest of them (it holds the value at keep_from), and samples are kept at least
    `resolution` apart (the newest excepted), so a track holds at most (now - keep_from) / resolution + 2.
    Called for every partition and group partition every cycle: copies are array slices (one memcpy each)."""
    if track is None or not len(track.times):
        return Track(array("d", [t]), tuple(array("q", [v]) for v in values))
    times = track.times[:]
    cols = tuple([c[:] for c in track.cols])
    run = len(times) >= 2
    if run:
        for c, v in zip(cols, values, strict=True):
            if c[-1] != v or c[-2] != v:
                run = False
                break
    if run:
        times[-1] = t
    else:
        times.append(t)
        for c, v in zip(cols, values, strict=True):
            c.append(v)
        # The previous newest sample goes when it is too close to the one before it.
        if len(times) >= 3 and times[-2] - times[-3] < resolution:
            del times[-2]
            for c in cols:
                del c[-2]
    if times[0] < keep_from:
        first = bisect_right(times, keep_from) - 1
        if first > 0:
            del times[:first]
            for c in cols:
                del c[:first]
    return Track(times, cols)


def advance(history: LagHistory, snap: ClusterSnapshot, cfg: LagConfig) -> LagHistory:
    """The history after this snapshot: its samples added, and pruned of what is gone or stale, so deleted
    groups and topics stop costing memory."""
    if snap.groups is None:
        return history  # nothing was read this cycle: keep what we had
    now = snap.end_offsets_at if snap.end_offsets_at is not None else snap.taken_at
    window = cfg.verdict_window_seconds
    topics = None if snap.topics is None else {t.name for t in snap.topics}
    hw_resolution = cfg.history_seconds / cfg.history_samples

    watermarks: dict[TP, Track] = {}
    for tp, track in history.watermarks.items():
        if tp in snap.end_offsets or track.times[-1] < now - cfg.history_seconds:
            continue  # updated below, or stale
        if topics is not None and tp[0] not in topics:
            continue  # topic deleted
        watermarks[tp] = track
    for tp, hw in snap.end_offsets.items():
        old = history.watermarks.get(tp)
        if old is not None and hw < old.cols[0][-1]:
            old = None  # the log went backwards (re-created or truncated): older samples no longer apply
        watermarks[tp] = append(old, now, (hw,), now - cfg.history_seconds, hw_resolution)

    listed = {g.group_id: g for g in snap.groups}
    commit_resolution = window / cfg.history_samples
    commits: dict[GroupTP, Track] = {}
    for key, track in history.commits.items():
        g = listed.get(key[0])
        if g is None and snap.groups_complete:
            continue  # the group is gone
        if g is not None and g.offsets is not None and (key[1], key[2]) not in g.offsets:
            continue  # offset deleted or expired, or its topic filtered out
        if track.times[-1] < now - window:
            continue  # not read for a whole window: its verdict would be unknown anyway
        commits[key] = track
    for g in snap.groups:
        if g.stale:
            continue  # offsets as last read, not a new observation: a verdict must not see them unchanged
        for (topic, part), committed in (g.offsets or {}).items():
            end = snap.end_offsets.get((topic, part))
            if end is None:
                continue  # lag unknown this cycle: no sample rather than a made-up one
            key = (g.group_id, topic, part)
            commits[key] = append(
                history.commits.get(key), now, (committed, max(0, end - committed)), now - window, commit_resolution
            )
    return LagHistory(watermarks, commits)


def lag_seconds(track: Track | None, committed: int, now: float) -> float | None:
    """Age of the message at the committed offset, from (time, high watermark) samples (see module doc)."""
    if track is None or not len(track):
        return None
    times, hws = track.times, track.cols[0]
    if committed >= hws[-1]:
        return 0.0
    # The message at offset `committed` exists once the high watermark reaches committed + 1.
    i = bisect_right(hws, committed)
    if i == 0:
        return now - times[0] if len(times) >= 2 else None
    t0, h0, t1, h1 = times[i - 1], hws[i - 1], times[i], hws[i]
    passed = t0 + (t1 - t0) * (committed + 1 - h0) / (h1 - h0)
    return max(0.0, now - passed)


def partition_verdict(track: Track | None, now: float, window: float, members: bool) -> str:
    if track is None or track.times[-1] < now:
        return UNKNOWN  # not read this cycle
    times, committed, lags = track.times, track.cols[0], track.cols[1]
    # The newest sample at or before the window's start holds the values the window starts from.
    start = bisect_right(times, now - window) - 1
    # Orderings are checked by comparing with the sorted values: C loops, not a Python one per sample (each
    # group partition holds up to history_samples of them, and there may be hundreds of thousands).
    seen = committed[max(start, 0) :]
    if len(seen) > 1 and seen.tolist() != sorted(seen):
        return REWOUND  # the committed offset went backwards somewhere in the window
    if start < 0:
        return UNKNOWN
    in_window = lags[start:]
    if min(in_window) == 0:
        return OK
    if min(seen) == max(seen):
        return STALLED if members else STOPPED
    if in_window[-1] > in_window[0] and in_window.tolist() == sorted(in_window):
        return LAGGING
    return OK


def has_members(g: ConsumerGroup) -> bool:
    if g.members is not None:
        return g.members > 0
    return g.state not in _EMPTY_STATES  # not described this cycle: the listed state tells


def worst(verdicts: list[str]) -> str:
    return min(verdicts, key=_RANK.__getitem__) if verdicts else OK


@dataclass(frozen=True, slots=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int
    high_watermark: int | None  # None: not read this cycle (then lag and lag_seconds are None too)
    log_start: int | None
    lag: int | None  # messages, never negative
    lag_seconds: float | None
    below_log_start: bool | None  # the committed offset points at deleted records


@dataclass(frozen=True, slots=True)
class TopicLag:
    topic: str
    partitions: int  # partitions the group has committed offsets for
    # Aggregates over those partitions; None unless every one of them is known (never a partial sum).
    lag: int | None
    max_lag: int | None
    max_lag_seconds: float | None
    below_log_start: int | None


@dataclass(frozen=True, slots=True)
class GroupLag:
    group: ConsumerGroup
    verdict: str
    partitions: tuple[PartitionLag, ...]  # empty when the group's offsets were not read
    topics: tuple[TopicLag, ...]


def _topic_lag(topic: str, parts: list[PartitionLag]) -> TopicLag:
    lags = [p.lag for p in parts]
    secs = [p.lag_seconds for p in parts]
    below = [p.below_log_start for p in parts]
    known_lags = [x for x in lags if x is not None]
    known_secs = [x for x in secs if x is not None]
    known_below = [x for x in below if x is not None]
    all_lags = len(known_lags) == len(parts)
    return TopicLag(
        topic=topic,
        partitions=len(parts),
        lag=sum(known_lags) if all_lags else None,
        max_lag=max(known_lags) if all_lags else None,
        max_lag_seconds=max(known_secs) if len(known_secs) == len(parts) else None,
        below_log_start=sum(known_below) if len(known_below) == len(parts) else None,
    )


def analyse(snap: ClusterSnapshot, history: LagHistory, cfg: LagConfig) -> tuple[GroupLag, ...]:
    """Lag per group, topic and partition, with each group's verdict. `history` must already include this
    snapshot (see `advance`)."""
    if snap.groups is None:
        return ()
    now = snap.end_offsets_at if snap.end_offsets_at is not None else snap.taken_at
    out = []
    for g in snap.groups:
        if g.offsets is None:
            out.append(GroupLag(g, UNKNOWN, (), ()))
            continue
        members = has_members(g)
        parts, verdicts = [], []
        by_topic: dict[str, list[PartitionLag]] = defaultdict(list)
        for (topic, part), committed in sorted(g.offsets.items()):
            hw = snap.end_offsets.get((topic, part))
            start = snap.start_offsets.get((topic, part))
            p = PartitionLag(
                topic=topic,
                partition=part,
                committed=committed,
                high_watermark=hw,
                log_start=start,
                lag=None if hw is None else max(0, hw - committed),
                lag_seconds=None if hw is None else lag_seconds(history.watermarks.get((topic, part)), committed, now),
                below_log_start=None if start is None else committed < start,
            )
            parts.append(p)
            by_topic[topic].append(p)
            track = None if g.stale else history.commits.get((g.group_id, topic, part))
            verdicts.append(partition_verdict(track, now, cfg.verdict_window_seconds, members))
        topics = tuple(_topic_lag(t, ps) for t, ps in sorted(by_topic.items()))
        out.append(GroupLag(g, worst(verdicts), tuple(parts), topics))
    return tuple(out)
