"""Consumer groups and the offsets lag is computed from, in requests that grow with brokers and groups, never
with groups x partitions:

- ListGroups, one per broker (kafka-python): every group with its state and type, and its coordinator (the
  broker that lists it), so no FindCoordinator is needed;
- DescribeGroups (classic groups: members, and the state where ListGroups is older than v4) and OffsetFetch
  (v8+, Kafka >= 3.0: many groups in one request), one per coordinator and `groups_per_request` groups, sent
  straight to that coordinator (kafka-python);
- ConsumerGroupDescribe for KIP-848 `consumer` groups, which DescribeGroups reports as Dead (confluent-kafka;
  librdkafka sends one request per group, there is no batched form in either client);
- ListOffsets latest and earliest for the partitions groups commit to (confluent-kafka: one request per
  partition leader for each).

Each request is recorded through the CycleRecorder; one coordinator failing costs only its groups, and those
groups are not dropped: they stay listed, marked stale, with the offsets last read (see ConsumerGroup.stale),
so the group count only falls when groups are really deleted.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from confluent_kafka.admin import AdminClient
from kafka import TopicPartition as KTopicPartition
from kafka.admin import OffsetSpec
from kafka.protocol.consumer import IsolationLevel, OffsetFetchRequest

from exporter.clients import kafka_python_config
from exporter.config import LagConfig
from exporter.model import Broker, ConsumerGroup, Topic
from exporter.sources import KAFKA_ADMIN
from exporter.sources.kafka_admin import KafkaPythonAdmin
from exporter.sources.recorder import CycleRecorder, describe_error

log = logging.getLogger(__name__)

T = TypeVar("T")
TP = tuple[str, int]

# Group types that keep no committed offsets (KIP-932 share groups track delivery state instead).
_NO_OFFSETS_TYPES = frozenset({"share"})
# Classic groups of other protocols (Connect workers, Schema Registry) coordinate but commit nothing; Kafka's
# own Admin.listConsumerGroups keeps only these protocol types.
_CONSUMER_PROTOCOLS = frozenset({"consumer", ""})


@dataclass(frozen=True)
class GroupsRead:
    groups: tuple[ConsumerGroup, ...]
    complete: bool
    end_offsets: dict[TP, int] = field(default_factory=dict)
    start_offsets: dict[TP, int] = field(default_factory=dict)
    end_offsets_at: float | None = None


class Filter:
    """Whole-name include/exclude regexes; an empty include list includes everything."""

    def __init__(self, include: Iterable[str], exclude: Iterable[str]) -> None:
        self._include = [re.compile(r) for r in include]
        self._exclude = [re.compile(r) for r in exclude]

    def __call__(self, name: str) -> bool:
        if self._include and not any(r.fullmatch(name) for r in self._include):
            return False
        return not any(r.fullmatch(name) for r in self._exclude)


def commits_offsets(group_type: str, protocol_type: str) -> bool:
    if group_type in _NO_OFFSETS_TYPES:
        return False
    return group_type != "classic" or protocol_type in _CONSUMER_PROTOCOLS


def chunks(items: list[T], size: int) -> list[list[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


class GroupsSource:
    """Holds a kafka-python admin client (its own, so failures elsewhere do not reset it) and a small thread
    pool that bounds how many group requests are in flight at once."""

    def __init__(self, bootstrap_servers: str, client: dict[str, str], timeout_s: float, cfg: LagConfig) -> None:
        self.cfg = cfg
        self._kp = KafkaPythonAdmin(kafka_python_config(bootstrap_servers, client, timeout_s))
        self._pool = ThreadPoolExecutor(max_workers=cfg.max_concurrent_requests, thread_name_prefix="kce-groups")
        self._groups = Filter(cfg.include_groups, cfg.exclude_groups)
        self._topics = Filter(cfg.include_topics, cfg.exclude_topics)
        # Each group as last read (listed, with offsets) and when: what a cycle that cannot read it shows.
        self._last: dict[str, tuple[ConsumerGroup, float]] = {}

    def follow(self, broker_ids: set[int], controller_id: int | None, avoid: set[int], timeout_s: float) -> None:
        if self.cfg.enabled:
            self._kp.follow(broker_ids, controller_id, avoid, timeout_s)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)  # requests in flight end within their timeouts
        self._reset()

    def _reset(self) -> None:
        self._kp.reset()

    def _client(self) -> Any:
        return self._kp.get()

    # -- one cycle ---------------------------------------------------------------------------------------

    def read(
        self, admin: AdminClient, rec: CycleRecorder, brokers: tuple[Broker, ...], topics: tuple[Topic, ...] | None
    ) -> GroupsRead | None:
        if not self.cfg.enabled:
            return None
        kp = rec.call(KAFKA_ADMIN, "list_groups", self._client, requests=0)  # bootstraps once; counted with ListGroups
        if kp is None:
            return None
        listed, answered = self._list_groups(kp, rec, [b.id for b in brokers])
        if not answered and not self._last:
            self._reset()  # no broker answered this client: start afresh next cycle
            return None
        # With no broker answering, the groups last read stay listed (stale) while coordinators move or load.
        complete = answered == {b.id for b in brokers}
        by_coordinator: dict[int, list[ConsumerGroup]] = defaultdict(list)
        for g in listed:
            by_coordinator[g.coordinator].append(g)
        states: dict[str, str] = {}
        members = self._describe_classic(kp, rec, by_coordinator, states)
        members.update(self._describe_consumer(admin, rec, [g.group_id for g in listed if g.type == "consumer"]))
        listed = [replace(g, state=states.get(g.group_id, "")) if not g.state else g for g in listed]
        offsets = self._fetch_offsets(kp, rec, by_coordinator)
        groups = self._with_last(listed, members, offsets, answered, time.time())
        committed = {tp for g in groups for tp in g.offsets or ()}
        leaders = _leaders(topics)
        # Partitions of deleted topics (offsets outlive them) have no end offsets to ask for.
        wanted = sorted(tp for tp in committed if tp in leaders)
        read_at = time.time()
        end, start = self._list_offsets(rec, wanted, leaders)
        if not answered:
            self._reset()  # no broker answered this client: start afresh next cycle
        return GroupsRead(groups, complete, end, start, read_at if wanted else None)

    def _with_last(
        self,
        listed: list[ConsumerGroup],
        members: dict[str, int],
        offsets: dict[str, dict[TP, int]],
        answered: set[int],
        now: float,
    ) -> tuple[ConsumerGroup, ...]:
        """This cycle's groups, plus the groups it could not read as last read, marked stale: a listed group
        whose offsets could not be fetched keeps its last offsets; a group whose coordinator did not answer
        ListGroups (and that no other broker lists) stays listed with state Unknown. Each for at most
        lag.verdict_window_seconds after it was last read."""
        horizon = now - self.cfg.verdict_window_seconds
        out: dict[str, ConsumerGroup] = {}
        for g in listed:
            got = offsets.get(g.group_id)
            last = self._last.get(g.group_id)
            if got is None and last is not None and last[1] >= horizon:
                out[g.group_id] = replace(g, members=members.get(g.group_id), offsets=last[0].offsets, stale=True)
                continue
            out[g.group_id] = replace(g, members=members.get(g.group_id), offsets=got)
            if got is not None:
                self._last[g.group_id] = (out[g.group_id], now)
        for gid, (g, at) in list(self._last.items()):
            if gid in out:
                continue
            if g.coordinator not in answered and at >= horizon:
                out[gid] = replace(g, state="Unknown", members=None, stale=True)
            else:
                del self._last[gid]  # deleted (its coordinator answered without it), or unread for too long
        return tuple(out[gid] for gid in sorted(out))

    def _list_offsets(
        self, rec: CycleRecorder, wanted: list[TP], leaders: dict[TP, int | None]
    ) -> tuple[dict[TP, int], dict[TP, int]]:
        """High watermarks and log-start offsets: one ListOffsets per leader and spec, side by side, so a dead
        leader costs only its own partitions.

        Through kafka-python on purpose: librdkafka 2.16 aborted the whole process (assertion
        `eonce->refcnt > 0` in rd_kafka_enq_once_del_source_return) when a leader it had a ListOffsets queued
        for was killed."""
        by_leader: dict[int, list[TP]] = defaultdict(list)
        for tp in wanted:
            leader = leaders.get(tp)
            if leader is not None:
                by_leader[leader].append(tp)
        no_leader = [tp for tp in wanted if leaders.get(tp) is None]
        if no_leader:
            rec.error(KAFKA_ADMIN, "list_offsets", f"no leader for {', '.join(f'{t}-{p}' for t, p in no_leader[:3])}")
        kp = self._client()
        results: list[dict[TP, int]] = []
        for spec in (OffsetSpec.LATEST, OffsetSpec.EARLIEST):
            jobs = [
                (leader, functools.partial(_offsets_from_leader, kp, leader, tps, spec, rec.timeout()))
                for leader, tps in by_leader.items()
            ]
            got: dict[TP, int] = {}
            for part in self._parallel(rec, KAFKA_ADMIN, "list_offsets", jobs):
                if part is not None:
                    got.update(part)
            results.append(got)
        return results[0], results[1]

    def _parallel(
        self, rec: CycleRecorder, source: str, api: str, jobs: Sequence[tuple[int, Callable[[], T]]]
    ) -> list[T | None]:
        """Runs jobs, each asking one broker, on the pool, at most max_concurrent_requests at once; each sends
        one request and is recorded as one call (its wait bounded by the cycle's remaining time). A broker that
        did not answer earlier in the cycle is not asked again."""
        skip = rec.unresponsive
        futures: list[Future[T] | None] = [None if b in skip else self._pool.submit(fn) for b, fn in jobs]
        out: list[T | None] = []
        for (broker, _), fut in zip(jobs, futures, strict=True):
            if fut is None:
                out.append(rec.call(source, api, _skipped, broker=broker))  # recorded as skipped
                continue

            def wait(fut: Future[T] = fut) -> T:
                return fut.result(timeout=rec.timeout() + 1)

            out.append(rec.call(source, api, wait, broker=broker))
        return out

    def _list_groups(self, kp: Any, rec: CycleRecorder, broker_ids: list[int]) -> tuple[list[ConsumerGroup], set[int]]:
        """The groups the brokers list, and the brokers that answered."""
        jobs = [(b, functools.partial(kp.list_groups, broker_ids=[b])) for b in broker_ids]
        results: list[list[dict[str, Any]] | None] = self._parallel(rec, KAFKA_ADMIN, "list_groups", jobs)
        seen: set[str] = set()
        groups = []
        for b, listed in zip(broker_ids, results, strict=True):
            for g in listed or ():
                gid = str(g["group_id"])
                # ListGroups v5 (Kafka 4.x) names the type; older brokers know classic groups only.
                gtype = str(g.get("group_type") or "classic").lower()
                if gid in seen or not commits_offsets(gtype, str(g.get("protocol_type") or "")):
                    continue
                if not self._groups(gid):
                    continue
                seen.add(gid)  # during a coordinator move two brokers may list a group: take the first
                groups.append(ConsumerGroup(gid, b, str(g.get("group_state") or ""), gtype))
        return groups, {b for b, r in zip(broker_ids, results, strict=True) if r is not None}

    def _describe_classic(
        self, kp: Any, rec: CycleRecorder, by_coordinator: dict[int, list[ConsumerGroup]], states: dict[str, str]
    ) -> dict[str, int]:
        """Members of each classic group; fills `states` with each group's state (what ListGroups before v4,
        Kafka 2.6, leaves out)."""
        jobs = [
            (b, functools.partial(kp.describe_groups, chunk, group_coordinator_id=b))
            for b, groups in sorted(by_coordinator.items())
            for chunk in chunks([g.group_id for g in groups if g.type == "classic"], self.cfg.groups_per_request)
        ]
        members: dict[str, int] = {}
        described: dict[str, Any] | None
        for described in self._parallel(rec, KAFKA_ADMIN, "describe_groups", jobs):
            for gid, d in (described or {}).items():
                if d.get("error") is None:
                    members[gid] = len(d.get("members") or ())
                    if state := d.get("group_state") or d.get("state"):
                        states[gid] = str(state)
        return members

    def _describe_consumer(self, admin: AdminClient, rec: CycleRecorder, ids: list[str]) -> dict[str, int]:
        """KIP-848 groups through librdkafka, which sends one ConsumerGroupDescribe per group (after a
        FindCoordinator it caches); chunks keep at most max_concurrent_requests of them in flight."""
        members: dict[str, int] = {}
        for chunk in chunks(ids, self.cfg.max_concurrent_requests):

            def call(chunk: list[str] = chunk) -> dict[str, int]:
                futures = admin.describe_consumer_groups(chunk, request_timeout=rec.timeout())
                got, failed = {}, []
                for gid, fut in futures.items():
                    try:
                        got[gid] = len(fut.result(timeout=rec.timeout() + 1).members)
                    except Exception as e:  # one group's failure leaves the others described
                        failed.append(f"{gid}: {describe_error(e)}")
                if failed:
                    rec.error(KAFKA_ADMIN, "consumer_group_describe", "; ".join(failed)[:300])
                return got

            members.update(rec.call(KAFKA_ADMIN, "consumer_group_describe", call, requests=len(chunk)) or {})
        return members

    def _fetch_offsets(
        self, kp: Any, rec: CycleRecorder, by_coordinator: dict[int, list[ConsumerGroup]]
    ) -> dict[str, dict[TP, int]]:
        if not by_coordinator:
            return {}
        batched = kp._manager.broker_version_data.api_version(OffsetFetchRequest) >= 8
        size = self.cfg.groups_per_request if batched else 1  # before Kafka 3.0: one group per request
        jobs = [
            (b, functools.partial(offset_fetch, kp, b, chunk, rec.timeout()))
            for b, groups in sorted(by_coordinator.items())
            for chunk in chunks([g.group_id for g in groups], size)
        ]
        out: dict[str, dict[TP, int]] = {}
        failed: list[str] = []
        for fetched in self._parallel(rec, KAFKA_ADMIN, "offset_fetch", jobs):
            for gid, offsets in (fetched or {}).items():
                if isinstance(offsets, str):
                    failed.append(f"{gid}: {offsets}")
                else:
                    out[gid] = {tp: o for tp, o in offsets.items() if self._topics(tp[0])}
        if failed:  # group-level errors (e.g. the coordinator is loading): those groups only
            rec.error(KAFKA_ADMIN, "offset_fetch", "; ".join(failed)[:300])
        return out


def _skipped() -> None:
    raise AssertionError("not called: CycleRecorder.call skips brokers that did not answer")


def offset_fetch(kp: Any, coordinator: int, group_ids: list[str], timeout_s: float) -> dict[str, dict[TP, int] | str]:
    """Committed offsets of many groups in one OffsetFetch (v8+) sent straight to their coordinator.

    kafka-python's public list_group_offsets would find coordinators itself (and cache them for good) and
    raise for the whole batch on one group's error; here each group gets its offsets or its error text.
    Returns group -> {(topic, partition): offset} or an error string.
    """
    Group = OffsetFetchRequest.OffsetFetchRequestGroup
    if len(group_ids) == 1 and kp._manager.broker_version_data.api_version(OffsetFetchRequest) < 8:
        request = OffsetFetchRequest(group_id=group_ids[0], topics=None, min_version=2, max_version=7)
    else:
        groups = [Group(group_id=g, topics=None) for g in group_ids]
        request = OffsetFetchRequest(groups=groups, min_version=8, max_version=8)

    async def send() -> Any:
        return await kp._manager.send(request, node_id=coordinator, request_timeout_ms=int(timeout_s * 1000))

    response = kp._manager.run(send)
    if response.API_VERSION < 8:
        return {group_ids[0]: _parse_offsets(response)}
    return {g.group_id: _parse_offsets(g) for g in response.groups}


def _parse_offsets(group: Any) -> dict[TP, int] | str:
    if group.error_code:
        return f"error code {group.error_code}"
    out = {}
    for t in group.topics:
        for p in t.partitions:
            # -1: no committed offset for this partition; a partition-level error leaves it out too.
            if p.error_code == 0 and p.committed_offset >= 0:
                out[(t.name, p.partition_index)] = int(p.committed_offset)
    return out


def _leaders(topics: tuple[Topic, ...] | None) -> dict[TP, int | None]:
    if topics is None:
        return {}
    return {(t.name, p.partition): p.leader for t in topics for p in t.partitions}


def list_offsets(kp: Any, leader: int, specs: dict[Any, Any], timeout_s: float) -> dict[Any, Any]:
    """One ListOffsets sent straight to the leader this cycle's Metadata names. kafka-python's public
    list_partition_offsets first asks some broker for Metadata to find the leaders itself, and that broker can be
    the one that hangs (seen on KRaft: every lag series gone for a cycle while one broker was frozen)."""
    request = kp._list_partition_offsets_request(specs, IsolationLevel.READ_UNCOMMITTED.value)
    ms = int(timeout_s * 1000)

    async def send() -> Any:
        return await kp._manager.wait_for(kp._manager.send(request, node_id=leader, request_timeout_ms=ms), ms)

    return dict(kp._list_partition_offsets_process_response(kp._manager.run(send)))


def _offsets_from_leader(kp: Any, leader: int, tps: list[TP], spec: Any, timeout_s: float) -> dict[TP, int]:
    """One ListOffsets to one leader. A negative offset ("none") is an error, never a position to measure lag
    from (seen: -1 for a partition whose leader had just died)."""
    raw = list_offsets(kp, leader, {KTopicPartition(t, p): spec for t, p in tps}, timeout_s)
    out = {}
    for tp, o in raw.items():
        if o.offset < 0:
            raise ValueError(f"{tp.topic}-{tp.partition}: no offset returned")
        out[(tp.topic, tp.partition)] = int(o.offset)
    return out
