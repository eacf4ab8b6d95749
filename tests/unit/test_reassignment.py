"""Reassignment progress, ETA, stall and controller-pending logic over hand-built histories of snapshots."""

from __future__ import annotations

from exporter.analysis.reassignment import (
    ReassignmentHistory,
    advance,
    broker_copy_rates,
    copy_rate,
    moving_partitions,
    pending_controller,
    stalls,
    throttles,
)
from exporter.config import ReassignmentConfig
from exporter.metrics import reassignment as rm
from exporter.metrics.reassignment import reassignment_samples
from exporter.model import Broker, ClusterSnapshot, ConfigValue, LogDir, Partition, Topic, ZkState

CFG = ReassignmentConfig(stall_window_seconds=60, min_progress_bytes_per_second=100)
BROKERS = tuple(Broker(i, "h", 9092) for i in (1, 2, 3, 4))
LEADER_BYTES = 1_000_000


def snap(
    t: float,
    new_replica_bytes: int | None,
    *,
    moving: bool = True,
    in_isr: bool = False,
    zk: ZkState | None = None,
    broker_configs: dict[int, dict[str, ConfigValue]] | None = None,
) -> ClusterSnapshot:
    """orders-0 moving from [1,2,3] to [2,3,4]: broker 4 copies from leader 2."""
    if moving:
        isr = (1, 2, 3, 4) if in_isr else (1, 2, 3)
        p = Partition("orders", 0, 2, (2, 3, 4, 1), isr, adding=(4,), removing=(1,))
    else:
        p = Partition("orders", 0, 2, (2, 3, 4), (2, 3, 4))
    dirs: dict[int, tuple[LogDir, ...]] = {
        b: (LogDir(b, "/d", None, None, None, {("orders", 0): LEADER_BYTES}),) for b in (1, 2, 3)
    }
    if new_replica_bytes is not None:
        dirs[4] = (LogDir(4, "/d", None, None, None, {("orders", 0): new_replica_bytes}),)
    return ClusterSnapshot(
        taken_at=t,
        brokers=BROKERS,
        topics=(Topic("orders", False, (p,)),),
        reassignments_known=True,
        log_dirs=dirs,
        zk=zk,
        broker_configs=broker_configs or {},
    )


def run(snaps: list[ClusterSnapshot]) -> ReassignmentHistory:
    h = ReassignmentHistory()
    for s in snaps:
        h = advance(h, s, CFG)
    return h


def test_progress_rate_and_eta() -> None:
    snaps = [snap(t, 10_000 * t) for t in range(0, 31, 10)]  # 10 kB/s
    h = run(snaps)
    last = snaps[-1]
    (mv,) = moving_partitions(last)
    assert mv.remaining_bytes == LEADER_BYTES - 300_000
    assert copy_rate(h, last, CFG) == 10_000
    s = reassignment_samples(last, h, CFG)
    assert s.value(rm.ETA) == 70.0  # 700 kB left at 10 kB/s
    assert s.value(rm.REPLICA_BYTES, topic="orders", partition=0, broker_id=4) == 300_000
    assert s.value(rm.LONGEST) == 30
    assert stalls(h, last, CFG) == []  # not watched for a whole window yet, and moving anyway


def test_stall_names_the_broker_after_a_full_window_without_progress() -> None:
    snaps = [snap(t, 200_000) for t in range(0, 61, 10)]
    h = run(snaps)
    assert [(x.topic, x.partition, x.broker) for x in stalls(h, snaps[-1], CFG)] == [("orders", 0, 4)]
    s = reassignment_samples(snaps[-1], h, CFG)
    assert s.value(rm.STALLED, topic="orders", partition=0, broker_id=4) == 1
    assert s.value(rm.STALLED_COUNT) == 1
    assert s.value(rm.ETA) is None  # rate 0: no honest ETA


def test_crawling_copy_below_threshold_is_stalled_and_fast_enough_is_not() -> None:
    crawl = [snap(t, 1_000 + 50 * t) for t in range(0, 61, 10)]  # 50 B/s < 100 B/s
    assert len(stalls(run(crawl), crawl[-1], CFG)) == 1
    ok = [snap(t, 1_000 + 200 * t) for t in range(0, 61, 10)]
    assert stalls(run(ok), ok[-1], CFG) == []


def test_frozen_broker_that_cannot_report_its_size_counts_as_no_progress() -> None:
    # Unreadable for longer than a window: the last readable size must survive the pruning of old samples.
    snaps = [snap(0, 100_000), snap(10, 200_000)] + [snap(t, None) for t in range(20, 151, 10)]
    h = run(snaps)
    assert [x.broker for x in stalls(h, snaps[-1], CFG)] == [4]
    # The window (90..150] has no readable size; progress is measured against the last known one.
    assert stalls(h, snaps[-1], CFG)[0].progress_bytes == 0


def test_stall_clears_when_progress_resumes_and_when_replica_joins_isr() -> None:
    base = [snap(t, 200_000) for t in range(0, 61, 10)]
    resumed = [*base, snap(70, 900_000)]
    assert stalls(run(resumed), resumed[-1], CFG) == []
    joined = [*base, snap(70, 200_000, in_isr=True)]
    assert stalls(run(joined), joined[-1], CFG) == []


def test_finished_reassignment_leaves_no_series_and_history_is_dropped() -> None:
    snaps = [snap(0, 0), snap(10, LEADER_BYTES, in_isr=True), snap(20, None, moving=False)]
    h = run(snaps)
    assert h.last_bytes == {} and h.pending == frozenset() and h.first_seen == {} and h.receiving_since == {}
    s = reassignment_samples(snaps[-1], h, CFG)
    assert s.value(rm.REASSIGNING) == 0
    assert s.value(rm.PARTITION_REASSIGNING, topic="orders", partition=0) is None
    assert s.value(rm.REMAINING) == 0


def test_cycle_without_reassignment_data_keeps_history() -> None:
    h = run([snap(0, 0), snap(10, 100)])
    blind = ClusterSnapshot(taken_at=20)
    assert advance(h, blind, CFG) is h


def test_znode_entries_the_controller_ignores_are_flagged_after_two_cycles() -> None:
    # /admin/reassign_partitions asks to move orders-1 too, but the controller only acts on orders-0.
    zk = ZkState(2, 5, False, (1, 2, 3, 4), {("orders", 0): (2, 3, 4), ("orders", 1): (2, 3, 4)})
    parts = (
        Partition("orders", 0, 2, (2, 3, 4, 1), (1, 2, 3), adding=(4,), removing=(1,)),
        Partition("orders", 1, 1, (1, 2, 3), (1, 2, 3)),
    )
    s1 = ClusterSnapshot(
        taken_at=0, brokers=BROKERS, topics=(Topic("orders", False, parts),), reassignments_known=True, zk=zk
    )
    assert pending_controller(s1) == {("orders", 1)}
    h = advance(ReassignmentHistory(), s1, CFG)
    assert reassignment_samples(s1, h, CFG).value(rm.PENDING_COUNT) == 0  # one cycle is not yet a signal
    h = advance(h, s1, CFG)
    s = reassignment_samples(s1, h, CFG)
    assert s.value(rm.PENDING, topic="orders", partition=1) == 1
    assert s.value(rm.PENDING_COUNT) == 1


def test_throttles_left_behind_only_when_nothing_moves() -> None:
    rate = {"leader.replication.throttled.rate": ConfigValue("1000000", False, "DYNAMIC_BROKER_CONFIG")}
    cfgs = {2: rate, 3: {"leader.replication.throttled.rate": ConfigValue(None, True, "DEFAULT_CONFIG")}}
    moving = snap(0, 0, broker_configs=cfgs)
    assert throttles(moving).brokers == {(2, "leader"): 1_000_000.0}
    assert throttles(moving).left_behind == 0
    idle = snap(10, None, moving=False, broker_configs=cfgs)
    assert throttles(idle).left_behind == 1
    s = reassignment_samples(idle, ReassignmentHistory(), CFG)
    assert s.value(rm.THROTTLES_LEFT) == 1
    assert s.value(rm.BROKER_THROTTLE, broker_id=2, direction="leader") == 1_000_000


# --- Stalls judged per broker, as Kafka copies ---------------------------------------------------------------
Move = tuple[int, int, int | None]  # (receiver, leader, receiver's replica bytes; None: unreadable)


def migration(t: float, moves: dict[int, Move], in_isr: frozenset[int] = frozenset()) -> ClusterSnapshot:
    """Partitions big-N, each adding one replica on `receiver` that fetches from `leader`."""
    parts = []
    dirs: dict[int, dict[tuple[str, int], int]] = {b: {} for b in (1, 2, 3, 4, 5)}
    unreadable = set()
    for n, (receiver, leader, size) in moves.items():
        others = tuple(b for b in (1, 2, 3) if b != receiver)
        isr = (*others, receiver) if n in in_isr else others
        parts.append(Partition("big", n, leader, (*others, receiver), isr, adding=(receiver,), removing=()))
        for b in others:
            dirs[b][("big", n)] = LEADER_BYTES
        if size is None:
            unreadable.add(receiver)
        else:
            dirs[receiver][("big", n)] = size
    log_dirs: dict[int, tuple[LogDir, ...]] = {
        b: (LogDir(b, "/d", None, None, None, d),) for b, d in dirs.items() if b not in unreadable
    }
    return ClusterSnapshot(
        taken_at=t,
        brokers=BROKERS,
        topics=(Topic("big", False, tuple(parts)),),
        reassignments_known=True,
        log_dirs=log_dirs,
    )


def replay(snaps: list[ClusterSnapshot]) -> tuple[ReassignmentHistory, ClusterSnapshot]:
    return run(snaps), snaps[-1]


def test_replicas_queued_behind_a_copying_broker_are_waiting_not_stalled() -> None:
    # Broker 4 receives 6 partitions from leader 1 under a throttle: it copies two at a time, in turns; the
    # others stay at 0 bytes for several windows. Broker 5 receives one partition from leader 2 and copies it.
    snaps = []
    for t in range(0, 301, 10):
        moves: dict[int, Move] = {n: (4, 1, 0) for n in range(6)}
        active = (t // 100) * 2  # partitions 0-1 for 100 s, then 2-3, then 4-5
        for n in range(active, min(active + 2, 6)):
            moves[n] = (4, 1, 1_000 * (t % 100 + 1))
        for n in range(active):
            moves[n] = (4, 1, 100_000)  # copied, waiting for the ISR
        moves[6] = (5, 2, 500 * t)
        snaps.append(migration(t, moves))
    h, last = replay(snaps)
    assert stalls(h, last, CFG) == []
    rates = broker_copy_rates(h, last, CFG)
    assert rates[4] > 0 and rates[5] == 500


def test_a_frozen_receiver_is_named_alone_and_clears_when_it_copies_again() -> None:
    def at(t: float, frozen: bool, size4: int) -> ClusterSnapshot:
        moves: dict[int, Move] = {n: (4, 1, None if frozen else size4) for n in range(3)}
        moves[3] = (5, 1, int(1_000 * t))  # broker 5 keeps copying from the same leader
        return migration(t, moves)

    snaps = [at(t, False, 100 * t) for t in range(0, 31, 10)]
    snaps += [at(t, True, 0) for t in range(40, 71, 10)]  # frozen at t=35: sizes unreadable
    h, last = replay(snaps)
    assert stalls(h, last, CFG) == []  # the window (10, 70] still holds 6,000 bytes: 100 B/s on average
    snaps.append(at(80, True, 0))
    h, last = replay(snaps)
    found = stalls(h, last, CFG)
    assert {(s.partition, s.broker) for s in found} == {(0, 4), (1, 4), (2, 4)}
    s = reassignment_samples(last, h, CFG)
    assert s.value(rm.BROKER_STALLED, broker_id=4) == 1
    assert s.value(rm.STALLED, topic="big", partition=3, broker_id=5) is None
    assert s.value(rm.STALLED_COUNT) == 3
    # Thawed: one cycle in which its sizes grew clears the stall, and its copy rate is above zero again.
    snaps.append(at(90, False, 20_000))
    h, last = replay(snaps)
    assert stalls(h, last, CFG) == []
    assert broker_copy_rates(h, last, CFG)[4] > 0
    assert (copy_rate(h, last, CFG) or 0) > 0


def test_replicas_of_one_leader_waiting_while_their_receiver_copies_from_others_are_not_stalled() -> None:
    # Seen under a throttle on a real cluster: broker 4 copies partition 0 from leader 1 while partitions 1-2
    # from leader 2 get nothing for a whole window. Not a stall.
    snaps = [migration(t, {0: (4, 1, 1_000 * t), 1: (4, 2, 0), 2: (4, 2, 0)}) for t in range(0, 71, 10)]
    h, last = replay(snaps)
    assert stalls(h, last, CFG) == []


def test_a_replica_joining_the_isr_is_progress_for_its_receiver() -> None:
    # Partition 0 was fully copied before the window and joins the ISR at t=60; partition 1 is queued at 0.
    snaps = [migration(t, {0: (4, 1, LEADER_BYTES), 1: (4, 1, 0)}) for t in range(0, 51, 10)]
    snaps.append(migration(60, {0: (4, 1, LEADER_BYTES), 1: (4, 1, 0)}, in_isr=frozenset({0})))
    h, last = replay(snaps)
    assert stalls(h, last, CFG) == []
    # With nothing more for a whole window after that, broker 4 is stalled.
    snaps += [migration(t, {1: (4, 1, 0)}) for t in range(70, 131, 10)]
    h, last = replay(snaps)
    assert [(s.partition, s.broker) for s in stalls(h, last, CFG)] == [(1, 4)]
