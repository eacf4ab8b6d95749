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
from collections.abc import Iterable
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
    """A partition's (time, high watermark) samples, oldest first, as parallel arrays (8 bytes a number, no
    object per sample). Runs of equal values keep only their first and last sample, so an idle partition costs
    two samples."""

    times: array[float]
    values: array[int]

    def __len__(self) -> int:
        return len(self.times)


# A group partition's commit state, the same size whatever the window: its last (committed offset, lag), when
# it was first and last read, and when each kind of change was last seen (NEVER: not since it was first read).
# A verdict only asks whether a change happened inside the window, and the window starts at its newest sample at
# or before now - window; so "the sample that showed the change is later than now - window" answers exactly what
# comparing every sample in the window would, without keeping them. The fields:
#   committed, lag, first (read), seen (last read),
#   rewound_at (the committed offset went down), moved_at (it changed),
#   zero_until (the sample at which the lag left 0, after its last 0), fell_at (the lag went down),
#   changed_at (the lag changed).
# Plain tuples: hundreds of thousands are rebuilt every cycle, and a tuple costs a fraction of an object.
Commit = tuple[int, int, float, float, float, float, float, float, float]
NEVER = float("-inf")


@dataclass(frozen=True, slots=True)
class LagHistory:
    # (topic, partition) -> samples of (high watermark,), for lag in seconds.
    watermarks: dict[TP, Track] = field(default_factory=dict)
    # group -> (topic, partition) -> commit state, for verdicts.
    commits: dict[str, dict[TP, Commit]] = field(default_factory=dict)


def append(track: Track | None, t: float, value: int, keep_from: float, resolution: float) -> Track:
    """A new track with the sample added (the given one is left as it was). Samples older than keep_from are
    dropped except the newest of them (it holds the value at keep_from), and samples are kept at least
    `resolution` apart (the newest excepted), so a track holds at most (now - keep_from) / resolution + 2.
    Called for every partition every cycle: copies are array slices (one memcpy each)."""
    if track is None or not len(track.times):
        return Track(array("d", [t]), array("q", [value]))
    times, values = track.times[:], track.values[:]
    if len(values) >= 2 and values[-1] == value and values[-2] == value:
        times[-1] = t  # the run goes on: its last sample moves
    else:
        times.append(t)
        values.append(value)
        # The previous newest sample goes when it is too close to the one before it.
        if len(times) >= 3 and times[-2] - times[-3] < resolution:
            del times[-2]
            del values[-2]
    if times[0] < keep_from:
        first = bisect_right(times, keep_from) - 1
        if first > 0:
            del times[:first]
            del values[:first]
    return Track(times, values)


def observe(state: Commit | None, t: float, committed: int, lag: int) -> Commit:
    """The commit state after a sample read at t (the given one is left as it was)."""
    if state is None:
        return (committed, lag, t, t, NEVER, NEVER, NEVER, NEVER, NEVER)
    before, lag_before, first, _, rewound_at, moved_at, zero_until, fell_at, changed_at = state
    if committed != before:
        moved_at = t
        if committed < before:
            rewound_at = t
    if lag != lag_before:
        changed_at = t
        if lag < lag_before:
            fell_at = t
        if lag_before == 0:
            zero_until = t
    return (committed, lag, first, t, rewound_at, moved_at, zero_until, fell_at, changed_at)


def advance(history: LagHistory, snap: ClusterSnapshot, cfg: LagConfig) -> LagHistory:
    """The history after this snapshot: its samples added, and pruned of what is gone or stale, so deleted
    groups and topics stop costing memory."""
    if snap.groups is None:
        return history  # nothing was read this cycle: keep what we had
    now = snap.end_offsets_at if snap.end_offsets_at is not None else snap.taken_at
    since = now - cfg.verdict_window_seconds
    topics = None if snap.topics is None else {t.name for t in snap.topics}
    hw_resolution = cfg.history_seconds / cfg.history_samples
    ends = snap.end_offsets

    watermarks: dict[TP, Track] = {}
    for tp, hw in ends.items():
        old = history.watermarks.get(tp)
        if old is not None and hw < old.values[-1]:
            old = None  # the log went backwards (re-created or truncated): older samples no longer apply
        watermarks[tp] = append(old, now, hw, now - cfg.history_seconds, hw_resolution)
    # Tracks not sampled this cycle are kept unless stale; found by a set difference (in C), since most were.
    for tp in history.watermarks.keys() - watermarks.keys():
        track = history.watermarks[tp]
        if track.times[-1] < now - cfg.history_seconds:
            continue  # stale
        if topics is not None and tp[0] not in topics:
            continue  # topic deleted
        watermarks[tp] = track

    commits: dict[str, dict[TP, Commit]] = {}
    old_commits = history.commits
    for g in snap.groups:
        gid = g.group_id
        before = old_commits.get(gid, {})
        if g.stale or g.offsets is None:
            # Offsets not read this cycle (or as last read, not a new observation: a verdict must not see them
            # unchanged): kept while they could still decide a verdict.
            if before:
                commits[gid] = _fresh(before, since)
            continue
        states: dict[TP, Commit] = {}
        for tp, committed in g.offsets.items():
            end = ends.get(tp)
            if end is None:
                continue  # lag unknown this cycle: no sample rather than a made-up one
            states[tp] = observe(before.get(tp), now, committed, end - committed if end > committed else 0)
        # Offsets the group still has but whose lag was not read this cycle (ListOffsets failed): kept while
        # fresh. Offsets it no longer has (deleted, expired, or their topic filtered out) go.
        for tp in before.keys() - states.keys():
            if tp in g.offsets and before[tp][3] >= since:
                states[tp] = before[tp]
        if states:
            commits[gid] = states
    if not snap.groups_complete:
        # Groups missing from an incomplete listing (a coordinator did not answer) may still exist.
        for gid in old_commits.keys() - commits.keys():
            states = _fresh(old_commits[gid], since)
            if states:
                commits[gid] = states
    return LagHistory(watermarks, commits)


def _fresh(states: dict[TP, Commit], since: float) -> dict[TP, Commit]:
    """The states read since `since`: one not read for a whole window would only give an unknown verdict."""
    return {tp: s for tp, s in states.items() if s[3] >= since}


def lag_seconds(track: Track | None, committed: int, now: float) -> float | None:
    """Age of the message at the committed offset, from (time, high watermark) samples (see module doc)."""
    if track is None:
        return None
    times, hws = track.times, track.values
    n = len(hws)
    if not n:
        return None
    if committed >= hws[-1]:
        return 0.0
    # The message at offset `committed` exists once the high watermark reaches committed + 1. Consumers that
    # keep up commit within the newest step: found without a search (this runs for every group partition).
    i = n - 1 if n >= 2 and hws[-2] <= committed else bisect_right(hws, committed)
    if i == 0:
        return now - times[0] if n >= 2 else None
    t0, h0, t1, h1 = times[i - 1], hws[i - 1], times[i], hws[i]
    passed = t0 + (t1 - t0) * (committed + 1 - h0) / (h1 - h0)
    return now - passed if now > passed else 0.0


def partition_verdict(state: Commit | None, now: float, window: float, members: bool) -> str:
    if state is None or state[3] < now:
        return UNKNOWN  # not read this cycle
    _, lag, first, _, rewound_at, moved_at, zero_until, fell_at, changed_at = state
    since = now - window
    if rewound_at > since:
        return REWOUND  # the committed offset went backwards somewhere in the window
    if first > since:
        return UNKNOWN  # the history does not reach the window's start
    if lag == 0 or zero_until > since:
        return OK  # nothing to consume at some point in the window
    if moved_at <= since:
        return STALLED if members else STOPPED
    if fell_at <= since and changed_at > since:
        return LAGGING  # never shrank, and changed: it grew
    return OK


def has_members(g: ConsumerGroup) -> bool:
    if g.members is not None:
        return g.members > 0
    return g.state not in _EMPTY_STATES  # not described this cycle: the listed state tells


def worst(verdicts: Iterable[str]) -> str:
    return min(verdicts, key=_RANK.__getitem__) if verdicts else OK


@dataclass(frozen=True, slots=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int
    lag: int | None  # messages, never negative; None: the high watermark was not read this cycle
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
    # Per partition, sorted by (topic, partition), as parallel columns rather than an object per partition
    # (there may be hundreds of thousands): empty when the group's offsets were not read.
    keys: tuple[TP, ...]
    committed: tuple[int, ...]
    lags: tuple[int | None, ...]
    lag_seconds: tuple[float | None, ...]
    below_log_start: tuple[bool | None, ...]
    topics: tuple[TopicLag, ...]

    @property
    def partitions(self) -> tuple[PartitionLag, ...]:
        columns = zip(self.keys, self.committed, self.lags, self.lag_seconds, self.below_log_start, strict=True)
        return tuple(PartitionLag(t, p, c, lag, secs, below) for (t, p), c, lag, secs, below in columns)


def _topics(
    runs: list[tuple[str, int]], lags: list[int | None], secs: list[float | None], below: list[bool | None]
) -> tuple[TopicLag, ...]:
    """Per-topic aggregates from runs of one topic's partitions (usually one run per topic: OffsetFetch answers
    topic by topic, but the order is the broker's, so a topic's runs are gathered)."""
    spans: dict[str, list[slice]] = {}
    for (topic, first), (_, end) in zip(runs, [*runs[1:], ("", len(lags))], strict=True):
        spans.setdefault(topic, []).append(slice(first, end))
    out = []
    for topic in sorted(spans):
        (one, *more) = spans[topic]
        ls, ss, bs = lags[one], secs[one], below[one]
        for span in more:
            ls, ss, bs = ls + lags[span], ss + secs[span], bs + below[span]
        out.append(_topic_lag(topic, ls, ss, bs))
    return tuple(out)


def _topic_lag(topic: str, lags: list[int | None], secs: list[float | None], below: list[bool | None]) -> TopicLag:
    known_lags = [x for x in lags if x is not None]
    known_secs = [x for x in secs if x is not None]
    known_below = [x for x in below if x is not None]
    all_lags = len(known_lags) == len(lags)
    return TopicLag(
        topic=topic,
        partitions=len(lags),
        lag=sum(known_lags) if all_lags else None,
        max_lag=max(known_lags) if all_lags else None,
        max_lag_seconds=max(known_secs) if len(known_secs) == len(secs) else None,
        below_log_start=sum(known_below) if len(known_below) == len(below) else None,
    )


def analyse(snap: ClusterSnapshot, history: LagHistory, cfg: LagConfig) -> tuple[GroupLag, ...]:
    """Lag per group, topic and partition, with each group's verdict. `history` must already include this
    snapshot (see `advance`)."""
    if snap.groups is None:
        return ()
    now = snap.end_offsets_at if snap.end_offsets_at is not None else snap.taken_at
    # Bound once: the loop below runs for every group partition (hundreds of thousands on large clusters).
    ends, starts, hws = snap.end_offsets, snap.start_offsets, history.watermarks
    # What each partition's lag needs, found with one lookup per group partition instead of three.
    known = {tp: (hw, starts.get(tp), hws.get(tp)) for tp, hw in ends.items()}
    unknown = (None, None, None)
    window = cfg.verdict_window_seconds
    out = []
    for g in snap.groups:
        if g.offsets is None:
            out.append(GroupLag(g, UNKNOWN, (), (), (), (), (), ()))
            continue
        members = has_members(g)
        states = {} if g.stale else history.commits.get(g.group_id, {})
        keys = tuple(g.offsets)  # in the order read: OffsetFetch answers topic by topic
        committed = tuple(g.offsets.values())
        lags: list[int | None] = []
        secs: list[float | None] = []
        below: list[bool | None] = []
        verdicts = set()
        runs: list[tuple[str, int]] = []  # (topic, index where its run starts)
        previous = None
        for i, (tp, c) in enumerate(zip(keys, committed, strict=True)):
            if tp[0] != previous:
                previous = tp[0]
                runs.append((previous, i))
            hw, start, track = known.get(tp, unknown)
            if hw is None:
                lags.append(None)
                secs.append(None)
            elif hw > c:
                lags.append(hw - c)
                secs.append(lag_seconds(track, c, now))
            else:
                lags.append(0)
                secs.append(0.0 if track is not None else None)  # fully consumed (lag_seconds says so too)
            below.append(None if start is None else c < start)
            verdicts.add(partition_verdict(states.get(tp), now, window, members))
        out.append(
            GroupLag(
                g,
                worst(verdicts),
                keys,
                committed,
                tuple(lags),
                tuple(secs),
                tuple(below),
                _topics(runs, lags, secs, below),
            )
        )
    return tuple(out)
