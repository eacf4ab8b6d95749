"""Lag in messages and seconds, verdicts, history pruning and the series budget, over hand-built snapshots."""

from __future__ import annotations

import random
import time
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise
from typing import Any

import pytest

from exporter.analysis import lag
from exporter.analysis.lag import (
    LagHistory,
    Track,
    advance,
    analyse,
    append,
    lag_seconds,
    observe,
    partition_verdict,
)
from exporter.config import ConfigError, LagConfig, parse_config
from exporter.metrics import lag as lag_metrics
from exporter.metrics.lag import lag_samples
from exporter.metrics.render import Samples
from exporter.model import Broker, ClusterSnapshot, ConsumerGroup, Partition, Topic
from exporter.sources import groups as groups_source
from exporter.sources.groups import Filter, GroupsSource, commits_offsets
from exporter.sources.recorder import CycleRecorder

TP = tuple[str, int]
CFG = LagConfig(verdict_window_seconds=60, history_seconds=600, history_samples=50)


def track(samples: Sequence[tuple[float, Sequence[int]]]) -> Track:
    """A track from (time, [value]) samples, built as advance() builds it (runs compressed)."""
    out: Track | None = None
    for t, (value,) in samples:
        out = append(out, t, value, keep_from=float("-inf"), resolution=0.0)
    assert out is not None
    return out


def group(
    gid: str, offsets: Mapping[TP, int] | None, *, members: int | None = 1, state: str = "Stable"
) -> ConsumerGroup:
    return ConsumerGroup(gid, coordinator=1, state=state, members=members, offsets=dict(offsets or {}))


def snap(
    t: float,
    groups: Iterable[ConsumerGroup] | None,
    end: Mapping[TP, int],
    start: Mapping[TP, int] | None = None,
    *,
    complete: bool = True,
    topics: Iterable[str] | None = None,
) -> ClusterSnapshot:
    names = sorted({tp[0] for tp in end}) if topics is None else list(topics)
    return ClusterSnapshot(
        taken_at=t - 0.5,
        topics=tuple(Topic(n, False, (Partition(n, 0, 1, (1,), (1,)),)) for n in names),
        groups=None if groups is None else tuple(groups),
        groups_complete=complete,
        end_offsets=dict(end),
        start_offsets=dict(start if start is not None else dict.fromkeys(end, 0)),
        end_offsets_at=t,
    )


def run(
    cycles: Iterable[tuple[float, list[ConsumerGroup], Mapping[TP, int]]], cfg: LagConfig = CFG
) -> tuple[LagHistory, ClusterSnapshot]:
    """Feeds snapshots through advance() as the runner does; returns the last history and snapshot."""
    history = LagHistory()
    last = None
    for t, groups, end in cycles:
        last = snap(t, groups, end)
        history = advance(history, last, cfg)
    assert last is not None
    return history, last


# --- tracks ------------------------------------------------------------------------------------------------


def test_runs_of_equal_values_keep_first_and_last_sample() -> None:
    tr = track([(0, [5]), (10, [5]), (20, [5]), (30, [5]), (40, [7])])
    assert list(tr.times) == [0, 30, 40]
    assert list(tr.values) == [5, 5, 7]


def test_retention_keeps_the_newest_sample_before_the_cut() -> None:
    tr = None
    for t in range(0, 100, 10):
        tr = append(tr, float(t), t, keep_from=t - 35.0, resolution=0.0)
    assert tr is not None
    # At t=90 the cut is 55: the sample at 50 still holds the value at 55.
    assert list(tr.times) == [50, 60, 70, 80, 90]


def test_samples_closer_than_the_resolution_are_merged() -> None:
    tr = None
    for t in range(200):
        tr = append(tr, float(t), t, keep_from=-1.0, resolution=10.0)
    assert tr is not None
    assert tr.times[0] == 0 and tr.times[-1] == 199
    assert all(b - a >= 10 for a, b in zip(tr.times, tr.times[1:-1], strict=False))
    assert len(tr) <= 200 / 10 + 2


def test_append_leaves_the_old_track_unchanged() -> None:
    old = track([(0, [1]), (10, [2])])
    new = append(old, 20.0, 3, keep_from=-1.0, resolution=0.0)
    assert list(old.values) == [1, 2] and list(new.values) == [1, 2, 3]


# --- lag in seconds ----------------------------------------------------------------------------------------


def test_lag_seconds_interpolates_a_steady_rate_exactly() -> None:
    # 10 messages/s from t=0: HW(t) = 10 t. The message at offset 250 is written when HW reaches 251: t=25.1.
    tr = track([(t, [10 * t]) for t in range(0, 61, 10)])
    assert lag_seconds(tr, 250, now=60.0) == pytest.approx(60 - 25.1)


def test_lag_seconds_is_zero_when_fully_consumed_even_when_idle() -> None:
    tr = track([(0, [100]), (3600, [100])])
    assert lag_seconds(tr, 100, now=3600.0) == 0.0
    assert lag_seconds(tr, 120, now=3600.0) == 0.0  # committed beyond a stale HW: nothing unconsumed


def test_lag_seconds_before_the_history_is_a_growing_lower_bound() -> None:
    # Idle partition, half consumed long before the exporter started at t=1000.
    assert lag_seconds(track([(1000, [100])]), 50, now=1000.0) is None  # one sample: unknown, never 0
    assert lag_seconds(track([(1000, [100]), (1030, [100])]), 50, now=1030.0) == 30.0
    assert lag_seconds(track([(1000, [100]), (1090, [100])]), 50, now=1090.0) == 90.0


def test_lag_seconds_after_an_idle_stretch_uses_the_run_edges() -> None:
    # HW 100 from t=0 to t=500 (idle), then 150 at t=510: offset 120 was written between 500 and 510.
    tr = track([(0, [100]), (250, [100]), (500, [100]), (510, [150])])
    assert lag_seconds(tr, 120, now=510.0) == pytest.approx(510 - (500 + 10 * 21 / 50))
    assert lag_seconds(tr, 99, now=510.0) == 510.0  # written before the oldest sample: lower bound


def test_a_high_watermark_going_backwards_restarts_the_history() -> None:
    history, _ = run([(0, [], {("t", 0): 500}), (10, [], {("t", 0): 600}), (20, [], {("t", 0): 5})])
    assert list(history.watermarks[("t", 0)].values) == [5]


# --- verdicts ----------------------------------------------------------------------------------------------


def verdict(samples: Sequence[tuple[float, int, int]], members: bool = True, now: float | None = None) -> str:
    state = None
    for t, c, lg in samples:
        state = observe(state, t, c, lg)
    return partition_verdict(state, samples[-1][0] if now is None else now, 60.0, members)


def verdict_from_every_sample(samples: Sequence[tuple[float, int, int]], members: bool, window: float) -> str:
    """The verdicts as the module doc states them, judged over every sample kept: the reference the O(1) commit
    state must agree with. The window starts at its newest sample at or before now - window."""
    now = samples[-1][0]
    times = [t for t, _, _ in samples]
    start = bisect_right(times, now - window) - 1
    seen = samples[max(start, 0) :]
    if any(b[1] < a[1] for a, b in pairwise(seen)):
        return "rewound"
    if start < 0:
        return "unknown"
    lags = [lg for _, _, lg in seen]
    if min(lags) == 0:
        return "ok"
    if len({c for _, c, _ in seen}) == 1:
        return "stalled" if members else "stopped"
    if lags[-1] > lags[0] and all(b >= a for a, b in pairwise(lags)):
        return "lagging"
    return "ok"


def test_the_commit_state_agrees_with_judging_every_sample() -> None:
    rnd = random.Random(7)
    found = set()
    for _ in range(3000):
        t, c, lg = 0.0, 100, rnd.choice([0, 5])
        samples = []
        for _ in range(rnd.randrange(1, 25)):
            t += rnd.choice([10.0, 10.0, 20.0, 5.0])  # often a sample exactly at the window's start
            # Mostly steady, sometimes moving, rarely rewinding, so that every verdict occurs.
            c += rnd.choice([0, 0, 0, 1, 1, 10, -3]) if rnd.random() < 0.9 else 0
            lg = max(0, lg + rnd.choice([0, 0, 1, 2, -1, -5]))
            samples.append((t, c, lg))
        members = rnd.random() < 0.5
        expected = verdict_from_every_sample(samples, members, 60.0)
        assert verdict(samples, members) == expected, samples
        found.add(expected)
    assert found == set(lag.VERDICTS)  # the random histories reached every verdict


def test_verdicts_over_the_window() -> None:
    steady = [(t, 100 + t, 5) for t in range(0, 91, 10)]
    assert verdict(steady) == "ok"
    growing = [(t, 100 + t, 5 + t) for t in range(0, 91, 10)]
    assert verdict(growing) == "lagging"
    frozen = [(t, 100, 50) for t in range(0, 91, 10)]
    assert verdict(frozen, members=True) == "stalled"
    assert verdict(frozen, members=False) == "stopped"
    rewound = [(0, 500, 0), (10, 500, 0), (20, 100, 400), (30, 110, 390)]
    assert verdict(rewound) == "rewound"


def test_a_frozen_offset_with_lag_zero_in_the_window_is_ok() -> None:
    # Nothing to consume at the window's start: not committing was right then.
    assert verdict([(0, 100, 0), (30, 100, 0), (70, 100, 10), (90, 100, 20)], members=False) == "ok"


def test_lag_that_dips_inside_the_window_is_not_lagging() -> None:
    assert verdict([(t, 100 + t, 5 + t - (20 if t == 60 else 0)) for t in range(0, 91, 10)]) == "ok"


def test_short_history_is_unknown_except_a_rewind() -> None:
    assert verdict([(0, 100, 50), (30, 100, 50)], members=False) == "unknown"
    assert verdict([(0, 100, 50), (30, 40, 110)]) == "rewound"
    # A partition not read this cycle (its last sample is older than now).
    assert verdict([(t, 100, 50) for t in range(0, 91, 10)], now=100.0) == "unknown"


def test_a_rewind_before_the_window_no_longer_counts() -> None:
    samples = [(0, 500, 0), (10, 100, 400), *[(t, 100 + t, 400) for t in range(20, 101, 10)]]
    assert verdict(samples) == "ok"


def test_group_verdict_is_its_worst_partition() -> None:
    tp0, tp1 = ("t", 0), ("t", 1)
    cycles = []
    for t in range(0, 91, 10):
        # Partition 0 keeps up; partition 1 stopped moving with lag (a stuck partition, members alive).
        offsets = {tp0: 1000 + t, tp1: 200}
        cycles.append((float(t), [group("g", offsets)], {tp0: 1000 + t, tp1: 300 + t}))
    history, last = run(cycles)
    (g,) = analyse(last, history, CFG)
    assert g.verdict == "stalled"
    assert lag.worst(["ok", "unknown", "lagging"]) == "lagging"
    assert lag.worst([]) == "ok"


def test_members_fall_back_to_the_listed_state() -> None:
    assert not lag.has_members(ConsumerGroup("g", 1, "Empty", members=None))
    assert lag.has_members(ConsumerGroup("g", 1, "Stable", members=None))
    assert not lag.has_members(ConsumerGroup("g", 1, "Stable", members=0))


# --- analysis and history ----------------------------------------------------------------------------------


def test_lag_per_partition_and_topic() -> None:
    offsets = {("a", 0): 10, ("a", 1): 50, ("b", 0): 3}
    end = {("a", 0): 40, ("a", 1): 45, ("b", 0): 9}
    history, last = run([(0, [group("g", offsets)], end)])
    last = snap(0, [group("g", offsets)], end, start={("a", 0): 0, ("a", 1): 0, ("b", 0): 5})
    (g,) = analyse(last, history, CFG)
    by = {(p.topic, p.partition): p for p in g.partitions}
    assert by[("a", 0)].lag == 30
    assert by[("a", 1)].lag == 0  # committed beyond the high watermark read: never negative
    assert by[("b", 0)].below_log_start is True
    topics = {t.topic: t for t in g.topics}
    assert (topics["a"].lag, topics["a"].max_lag, topics["a"].partitions) == (30, 30, 2)
    assert topics["b"].below_log_start == 1
    assert g.verdict == "unknown"  # one cycle of history


def test_unknown_high_watermark_leaves_lag_and_topic_totals_unknown() -> None:
    offsets = {("a", 0): 10, ("a", 1): 20}
    history, last = run([(0, [group("g", offsets)], {("a", 0): 40})])
    (g,) = analyse(last, history, CFG)
    by = {p.partition: p for p in g.partitions}
    assert by[1].lag is None and by[1].lag_seconds is None
    (t,) = g.topics
    assert t.lag is None and t.max_lag is None and t.partitions == 2


def test_offsets_not_read_give_an_unknown_verdict_and_no_partitions() -> None:
    g = ConsumerGroup("g", 1, "Stable", members=2, offsets=None)
    s = snap(0, [g], {})
    (found,) = analyse(s, advance(LagHistory(), s, CFG), CFG)
    assert found.verdict == "unknown" and found.partitions == ()


def commit_keys(history: LagHistory) -> set[tuple[str, str, int]]:
    return {(gid, t, p) for gid, states in history.commits.items() for t, p in states}


def test_history_forgets_deleted_groups_topics_and_offsets() -> None:
    tp, other = ("t", 0), ("u", 0)
    history, _ = run([(0, [group("g", {tp: 1, other: 1}), group("h", {tp: 1})], {tp: 5, other: 5})])
    assert commit_keys(history) == {("g", "t", 0), ("g", "u", 0), ("h", "t", 0)}
    # An incomplete listing (a coordinator did not answer): h may still exist, keep it.
    history = advance(history, snap(10, [group("g", {tp: 2, other: 2})], {tp: 5, other: 5}, complete=False), CFG)
    assert ("h", "t", 0) in commit_keys(history)
    # A complete listing without h, g's offset on u deleted, and topic u itself deleted.
    history = advance(history, snap(20, [group("g", {tp: 3})], {tp: 5}, topics=["t"]), CFG)
    assert commit_keys(history) == {("g", "t", 0)}
    assert set(history.watermarks) == {tp}


def test_history_drops_what_was_not_read_for_too_long() -> None:
    tp, other = ("t", 0), ("u", 0)
    history, _ = run([(0, [group("g", {tp: 1, other: 1})], {tp: 5, other: 5})])
    # u's end offset is no longer read (ListOffsets failed for its leader) for longer than the window.
    history = advance(history, snap(61, [group("g", {tp: 2, other: 1})], {tp: 5}, topics=["t", "u"]), CFG)
    assert ("g", "u", 0) not in commit_keys(history)
    assert other in history.watermarks  # still within history_seconds
    history = advance(history, snap(601, [group("g", {tp: 2, other: 1})], {tp: 5}, topics=["t", "u"]), CFG)
    assert other not in history.watermarks


def test_a_failed_cycle_leaves_the_history_alone() -> None:
    history, _ = run([(0, [group("g", {("t", 0): 1})], {("t", 0): 5})])
    assert advance(history, ClusterSnapshot(taken_at=10), CFG) is history


def test_history_stays_bounded_for_an_active_partition() -> None:
    cfg = LagConfig(verdict_window_seconds=60, history_seconds=600, history_samples=30)
    tp = ("t", 0)
    history = LagHistory()
    for t in range(0, 2000, 5):
        history = advance(history, snap(float(t), [group("g", {tp: t})], {tp: 2 * t}), cfg)
    hws = history.watermarks[tp]
    assert len(hws) <= 30 + 2
    assert hws.times[0] >= 1995 - 600 - 20  # the reach, plus at most one sample's spacing (600 s / 30)
    assert commit_keys(history) == {("g", "t", 0)}  # one commit state, its size fixed whatever the window


# --- metrics -----------------------------------------------------------------------------------------------


def exposed(s: Samples, name: str) -> dict[tuple[str, ...], float]:
    for d, series in s._data.items():
        if d.name == name:
            return dict(series)
    return {}


def test_samples_per_group_topic_and_partition() -> None:
    tp = ("orders", 0)
    cycles = [(float(t), [group("g", {tp: 100}, members=0, state="Empty")], {tp: 150}) for t in range(0, 121, 10)]
    history, last = run(cycles)
    s = lag_samples(last, history, CFG)
    assert exposed(s, "kafka_consumer_group_verdict") == {("g", "stopped"): 1.0}
    assert exposed(s, "kafka_consumer_group_members") == {("g",): 0.0}
    assert exposed(s, "kafka_consumer_group_topic_lag") == {("g", "orders"): 50.0}
    assert exposed(s, "kafka_consumer_group_lag") == {("g", "orders", "0"): 50.0}
    assert exposed(s, "kafka_consumer_group_committed_offset") == {("g", "orders", "0"): 100.0}
    assert exposed(s, "kafka_partition_high_watermark") == {("orders", "0"): 150.0}
    assert exposed(s, "kafka_consumer_group_lag_seconds") == {("g", "orders", "0"): 120.0}  # lower bound
    assert exposed(s, "kafka_exporter_lag_per_partition") == {(): 1.0}
    assert exposed(s, "kafka_exporter_lag_partition_series") == {(): 5.0}


def test_per_partition_series_switch_off_or_fall_back_above_the_budget() -> None:
    offsets = {("t", p): 1 for p in range(10)}
    end = {("t", p): 5 for p in range(10)}
    history, last = run([(0, [group("g", offsets)], end), (10, [group("g", offsets)], end)])
    # 10 partitions x (committed, lag, lag seconds) + 10 x (high watermark, log start) = 50 series.
    for cfg, per_partition in [
        (LagConfig(max_partition_series=50), True),
        (LagConfig(max_partition_series=49), False),
        (LagConfig(per_partition=False), False),
    ]:
        s = lag_samples(last, history, cfg)
        assert exposed(s, "kafka_exporter_lag_partition_series") == {(): 50.0}
        assert exposed(s, "kafka_exporter_lag_per_partition") == {(): float(per_partition)}
        assert bool(exposed(s, "kafka_consumer_group_lag")) == per_partition
        assert bool(exposed(s, "kafka_partition_high_watermark")) == per_partition
        assert exposed(s, "kafka_consumer_group_topic_lag") == {("g", "t"): 40.0}  # per topic always


def test_unknown_lag_is_absent_not_zero() -> None:
    history, last = run([(0, [group("g", {("t", 0): 3})], {})])
    s = lag_samples(last, history, CFG)
    assert exposed(s, "kafka_consumer_group_committed_offset") == {("g", "t", "0"): 3.0}
    for name in ("kafka_consumer_group_lag", "kafka_consumer_group_lag_seconds", "kafka_consumer_group_topic_lag"):
        assert exposed(s, name) == {}
    assert exposed(s, "kafka_consumer_group_verdict") == {("g", "unknown"): 1.0}


def test_no_group_series_when_groups_were_not_read() -> None:
    assert lag_samples(ClusterSnapshot(taken_at=0), LagHistory(), CFG)._data == {}


def test_a_vanished_group_leaves_the_next_render() -> None:
    tp = ("t", 0)
    history, last = run(
        [(0, [group("g", {tp: 1}), group("h", {tp: 1})], {tp: 2}), (10, [group("g", {tp: 1})], {tp: 2})]
    )
    s = lag_samples(last, history, CFG)
    assert {k[0] for k in exposed(s, "kafka_consumer_group_info")} == {"g"}


def test_metric_names_follow_conventions() -> None:
    names = [d.name for d in vars(lag_metrics).values() if hasattr(d, "help") and hasattr(d, "labels")]
    assert names and all(
        n.startswith(("kafka_consumer_group", "kafka_partition_", "kafka_exporter_lag_"))
        or n == "kafka_consumer_groups"
        for n in names
    )
    assert [n for n in names if "seconds" in n] == [n for n in names if n.endswith("_seconds")]


# --- config ------------------------------------------------------------------------------------------------


def cluster(lag_cfg: dict[str, Any]) -> LagConfig:
    return parse_config({"clusters": [{"bootstrap_servers": "k:9092", "lag": lag_cfg}]}).clusters[0].lag


def test_lag_config_defaults_and_overrides() -> None:
    assert cluster({}) == LagConfig()
    got = cluster({"exclude_groups": ["console-consumer-.*"], "per_partition": False, "verdict_window_seconds": 300})
    assert got.exclude_groups == ("console-consumer-.*",) and not got.per_partition
    assert got.verdict_window_seconds == 300.0


@pytest.mark.parametrize(
    ("lag_cfg", "message"),
    [
        ({"include_topics": ["("]}, "clusters[0].lag.include_topics[0]: not a valid regular expression"),
        ({"history_samples": 1}, "clusters[0].lag.history_samples: must be at least 2"),
        ({"verdict_window_seconds": 0}, "clusters[0].lag.verdict_window_seconds: must be > 0"),
        ({"max_concurrent_requests": 0}, "clusters[0].lag.max_concurrent_requests: must be at least 1"),
        ({"per_partiton": True}, "did you mean 'per_partition'"),
    ],
)
def test_lag_config_errors(lag_cfg: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")):
        cluster(lag_cfg)


# --- source ------------------------------------------------------------------------------------------------


def test_filters_match_whole_names_and_exclude_wins() -> None:
    f = Filter(["orders.*", "payments"], ["orders-dlq"])
    assert f("orders") and f("orders-eu") and f("payments")
    assert not f("orders-dlq") and not f("payments-v2") and not f("clicks")
    assert Filter([], [])("anything")


def test_which_groups_commit_offsets() -> None:
    assert commits_offsets("classic", "consumer") and commits_offsets("classic", "")
    assert commits_offsets("consumer", "consumer") and commits_offsets("streams", "streams")
    assert not commits_offsets("classic", "connect") and not commits_offsets("share", "share")


@pytest.fixture(autouse=True)
def _offsets_from_fakes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fakes below answer ListOffsets through list_partition_offsets, whatever leader is asked."""

    def ask(kp: Any, leader: int, specs: dict[Any, Any], timeout_s: float) -> dict[Any, Any]:
        return dict(kp.list_partition_offsets(specs, timeout_ms=int(timeout_s * 1000)))

    monkeypatch.setattr(groups_source, "list_offsets", ask)


class FakeKafkaPython:
    """Stands in for kafka-python's admin client: broker 2 does not answer."""

    class _Versions:
        def api_version(self, _api: Any) -> int:
            return 9

    class _Manager:
        def __init__(self) -> None:
            self.broker_version_data = FakeKafkaPython._Versions()

    def __init__(self) -> None:
        self._manager = self._Manager()

    def list_groups(self, broker_ids: list[int]) -> list[dict[str, Any]]:
        if broker_ids == [2]:
            raise ConnectionError("connection refused")
        b = broker_ids[0]
        return [
            {"group_id": f"g{b}", "group_state": "Stable", "protocol_type": "consumer", "group_type": "classic"},
            {"group_id": f"connect-{b}", "group_state": "Stable", "protocol_type": "connect", "group_type": "classic"},
        ]

    def describe_groups(self, ids: list[str], group_coordinator_id: int) -> dict[str, Any]:
        return {g: {"members": [{}, {}], "error": None} for g in ids}

    def list_partition_offsets(self, specs: dict[Any, Any], timeout_ms: int) -> dict[Any, Any]:
        return {tp: type("R", (), {"offset": 10})() for tp in specs}


def test_one_coordinator_failing_costs_only_its_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_fetch(kp: Any, coordinator: int, ids: list[str], timeout_s: float) -> dict[str, Any]:
        return {g: {("t", 0): 4} for g in ids}

    monkeypatch.setattr(groups_source, "offset_fetch", fake_fetch)
    src = GroupsSource("k:9092", {}, 5, LagConfig())
    src._kp._admin = FakeKafkaPython()  # the holder hands out this fake instead of a real client
    rec = CycleRecorder(time.monotonic() + 10, 5)
    try:
        brokers = tuple(Broker(i, f"b{i}", 9092) for i in (1, 2, 3))
        topics = (Topic("t", False, (Partition("t", 0, 1, (1,), (1,)),)),)
        # No KIP-848 group here, so the confluent client (used only to describe those) is never called.
        got = src.read(None, rec, brokers, topics)  # type: ignore[arg-type]
    finally:
        src.close()
    assert got is not None and not got.complete
    assert [(g.group_id, g.coordinator, g.members, g.offsets) for g in got.groups] == [
        ("g1", 1, 2, {("t", 0): 4}),
        ("g3", 3, 2, {("t", 0): 4}),
    ]
    assert got.end_offsets == {("t", 0): 10}
    assert [(e.source, e.call) for e in rec.errors] == [("kafka_admin", "list_groups")]
    assert "broker 2" in rec.errors[0].message
    assert rec.requests[("kafka_admin", "list_groups")] == 3
    assert rec.requests[("kafka_admin", "offset_fetch")] == 2  # one per coordinator that answered
    assert rec.requests[("kafka_admin", "list_offsets")] == 2  # latest and earliest, one leader


def test_offset_fetch_parsing_keeps_committed_offsets_only() -> None:
    def ns(**kw: Any) -> Any:
        return type("NS", (), kw)()

    parts = [
        ns(partition_index=0, committed_offset=42, error_code=0),
        ns(partition_index=1, committed_offset=-1, error_code=0),  # no commit for this partition
        ns(partition_index=2, committed_offset=7, error_code=3),  # partition-level error
    ]
    group = ns(error_code=0, topics=[ns(name="t", partitions=parts)])
    assert groups_source._parse_offsets(group) == {("t", 0): 42}
    assert groups_source._parse_offsets(ns(error_code=14, topics=[])) == "error code 14"


def test_an_end_offset_of_minus_one_is_unknown_not_zero_lag() -> None:
    # Kafka can answer -1 without an error for a partition whose leader just died (seen on Kafka 4.1).
    class Leaders:
        def list_partition_offsets(self, specs: dict[Any, Any], timeout_ms: int) -> dict[Any, Any]:
            return {tp: type("R", (), {"offset": -1 if tp.partition == 1 else 10})() for tp in specs}

    src = GroupsSource("k:9092", {}, 5, LagConfig())
    src._kp._admin = Leaders()  # the holder hands out this fake instead of a real client
    rec = CycleRecorder(time.monotonic() + 10, 5)
    try:
        end, start = src._list_offsets(rec, [("t", 0), ("t", 1)], {("t", 0): 1, ("t", 1): 2})
    finally:
        src.close()
    # Leader 2's answer is refused whole (its only partition has no offset); leader 1's stands.
    assert end == {("t", 0): 10} and start == {("t", 0): 10}
    assert [e.call for e in rec.errors] == ["list_offsets", "list_offsets"]
    assert "t-1: no offset returned" in rec.errors[0].message
    assert rec.requests[("kafka_admin", "list_offsets")] == 4  # two leaders, latest and earliest


class FlakyKafkaPython(FakeKafkaPython):
    """Every broker answers until it is put in `down`."""

    def __init__(self) -> None:
        super().__init__()
        self.down: set[int] = set()

    def list_groups(self, broker_ids: list[int]) -> list[dict[str, Any]]:
        if broker_ids[0] in self.down:
            raise TimeoutError("no answer")
        b = broker_ids[0]
        return [{"group_id": f"g{b}", "group_state": "Stable", "protocol_type": "consumer", "group_type": "classic"}]


def test_a_group_whose_coordinator_stops_answering_stays_listed_stale_with_its_last_offsets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    committed = {1: 4, 2: 6}  # per coordinator: what its groups have committed on t-0

    def fake_fetch(kp: Any, coordinator: int, ids: list[str], timeout_s: float) -> dict[str, Any]:
        return {g: {("t", 0): committed[coordinator]} for g in ids}

    monkeypatch.setattr(groups_source, "offset_fetch", fake_fetch)
    cfg = LagConfig(verdict_window_seconds=60)
    src = GroupsSource("k:9092", {}, 5, cfg)
    kp = FlakyKafkaPython()
    src._kp._admin = kp
    brokers = (Broker(1, "b1", 9092), Broker(2, "b2", 9092))
    topics = (Topic("t", False, (Partition("t", 0, 1, (1, 2), (1, 2)),)),)

    def cycle() -> tuple[Any, CycleRecorder]:
        rec = CycleRecorder(time.monotonic() + 10, 5)
        return src.read(None, rec, brokers, topics), rec  # type: ignore[arg-type]

    try:
        first, _ = cycle()
        assert first is not None and first.complete and [g.group_id for g in first.groups] == ["g1", "g2"]
        kp.down = {2}
        committed[2] = 99  # a commit the exporter cannot see (none is possible while its coordinator hangs)
        second, rec = cycle()
        assert second is not None and not second.complete
        g1, g2 = second.groups
        assert (g1.stale, g1.state, g1.offsets) == (False, "Stable", {("t", 0): 4})
        assert (g2.group_id, g2.stale, g2.state, g2.coordinator, g2.offsets) == (
            "g2",
            True,
            "Unknown",
            2,
            {("t", 0): 6},
        )
        assert 2 in rec.unresponsive
        # Lag of the stale group still counts against fresh high watermarks; its verdict is unknown.
        snap = ClusterSnapshot(
            taken_at=time.time(),
            brokers=brokers,
            topics=topics,
            groups=second.groups,
            end_offsets=second.end_offsets,
            end_offsets_at=second.end_offsets_at,
        )
        s = lag_samples(snap, advance(LagHistory(), snap, cfg), cfg)
        assert s.value(lag_metrics.GROUPS) == 2
        assert s.value(lag_metrics.GROUP_STALE, group="g2") == 1 and s.value(lag_metrics.GROUP_STALE, group="g1") == 0
        assert s.value(lag_metrics.LAG, group="g2", topic="t", partition=0) == 10 - 6
        assert s.value(lag_metrics.GROUP_VERDICT, group="g2", verdict="unknown") == 1
        # A group unread for longer than the verdict window is no longer shown.
        later = time.time() + 61
        monkeypatch.setattr("exporter.sources.groups.time.time", lambda: later)
        third, _ = cycle()
        assert third is not None and [g.group_id for g in third.groups] == ["g1"]
    finally:
        src.close()


def test_when_no_broker_lists_groups_the_groups_last_read_stay_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    # Seen on KRaft right after a broker was killed: the others answered ListGroups with errors while they loaded
    # its coordinator partitions, and every group vanished for a cycle.
    monkeypatch.setattr(groups_source, "offset_fetch", lambda kp, b, ids, t: {g: {("t", 0): 4} for g in ids})
    src = GroupsSource("k:9092", {}, 5, LagConfig())
    kp = FlakyKafkaPython()
    src._kp._admin = kp
    brokers = (Broker(1, "b1", 9092), Broker(2, "b2", 9092))
    topics = (Topic("t", False, (Partition("t", 0, 1, (1, 2), (1, 2)),)),)
    try:
        first = src.read(None, CycleRecorder(time.monotonic() + 10, 5), brokers, topics)  # type: ignore[arg-type]
        assert first is not None and len(first.groups) == 2
        kp.down = {1, 2}
        second = src.read(None, CycleRecorder(time.monotonic() + 10, 5), brokers, topics)  # type: ignore[arg-type]
        assert second is not None and not second.complete
        assert [(g.group_id, g.stale, g.state, g.offsets) for g in second.groups] == [
            ("g1", True, "Unknown", {("t", 0): 4}),
            ("g2", True, "Unknown", {("t", 0): 4}),
        ]
    finally:
        src.close()


def test_a_topic_whose_partitions_come_apart_is_one_topic() -> None:
    # OffsetFetch answers in the broker's order: a topic's partitions need not be adjacent.
    offsets = {("a", 0): 10, ("b", 0): 1, ("a", 1): 20}
    end = {("a", 0): 15, ("b", 0): 1, ("a", 1): 40}
    history, last = run([(0, [group("g", offsets)], end)])
    (g,) = analyse(last, history, CFG)
    topics = {t.topic: (t.partitions, t.lag, t.max_lag) for t in g.topics}
    assert topics == {"a": (2, 25, 20), "b": (1, 0, 0)}
    assert [t.topic for t in g.topics] == ["a", "b"]
