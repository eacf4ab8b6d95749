"""One collection cycle for one cluster: call the sources, assemble a ClusterSnapshot. Blocking; the runner
calls it from a worker thread so the event loop (and so every scrape) never waits on Kafka."""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from exporter.config import ClusterConfig
from exporter.model import BrokerVersion, ClusterSnapshot, ConfigValue, LogDir, Topic, ZkState
from exporter.sources import admin as admin_source
from exporter.sources.groups import GroupsSource
from exporter.sources.kafka_api import SOURCE as KAFKA_API
from exporter.sources.kafka_api import KafkaApiSource
from exporter.sources.recorder import CycleRecorder
from exporter.sources.zookeeper import SOURCE as ZK
from exporter.sources.zookeeper import ZooKeeperSource

# Re-read racks every this many cycles even when the broker set looks unchanged (a broker restarted with a
# new broker.rack keeps its id).
RACKS_EVERY_CYCLES = 20
# While librdkafka's Metadata keeps failing, try it again every this many cycles.
METADATA_RETRY_CYCLES = 5
Moving = dict[tuple[str, int], tuple[tuple[int, ...], tuple[int, ...]]]
# Which source a collection job's unexpected failure counts against (the others: kafka_api).
JOB_SOURCES = {"metadata": admin_source.SOURCE, "zk": ZK}
log = logging.getLogger(__name__)


class ClusterCollector:
    def __init__(self, cfg: ClusterConfig) -> None:
        self.cfg = cfg
        col = cfg.collection
        self._admin = admin_source.admin_client(cfg.bootstrap_servers, cfg.client)
        self._kafka_api = KafkaApiSource(cfg.bootstrap_servers, cfg.client, col.request_timeout_seconds)
        self._groups = GroupsSource(cfg.bootstrap_servers, cfg.client, col.request_timeout_seconds, cfg.lag)
        self._racks: dict[int, str | None] = {}
        self._cycles = 0
        self._librdkafka_slow = False
        self._live: set[int] = set()  # brokers in the last cycle's Metadata
        self._unresponsive: set[int] = set()  # brokers that did not answer a call in the last cycle
        self._mode: str | None = None  # learned from broker configs; decides which KRaft-only calls to make
        # Enough workers for phase 2 on a large cluster (two jobs per broker); idle threads cost little.
        self._pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix=f"collect-{cfg.name}")
        self._zk = ZooKeeperSource(cfg.zookeeper.connect, cfg.zookeeper.timeout_seconds) if cfg.zookeeper else None

    def close(self) -> None:
        # Jobs left running past a cycle's deadline end within their own timeouts: wait for them, so no call
        # still holds a client while it is closed.
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._kafka_api.close()
        self._groups.close()
        if self._zk is not None:
            self._zk.close()
        # Destroyed here, in the closing thread, not by whichever thread happens to drop it last.
        vars(self).pop("_admin", None)

    def collect(self) -> ClusterSnapshot:
        """Concurrent calls around one Metadata read. ZooKeeper, features and racks need nothing and start at
        once, but are only waited for at the end. Once Metadata has answered, the kafka-python clients are
        pointed at the brokers and controller it names (they cache both), then the calls that need its brokers
        and topics run side by side: reassignments (controller-routed), configs, log dirs, versions, groups, the
        KRaft quorum. A broker that did not answer one call is not asked again in the cycle, so one unresponsive
        broker costs one request timeout and fails only what only it can answer, and the cycle still ends by its
        deadline."""
        col = self.cfg.collection
        taken_at = time.time()
        rec = CycleRecorder(time.monotonic() + col.timeout_seconds, col.request_timeout_seconds)
        api = self._kafka_api
        avoid = set(self._unresponsive)

        # ZooKeeper, features and racks need nothing and are waited for only at the end: a hung broker answering
        # one of them must not hold up the rest of the cycle.
        racks_early = self._racks_due()
        early = self._submit(
            zk=lambda: self._zk.read(rec, None) if self._zk is not None else None,
            features=lambda: api.finalized_features(rec),
            racks=lambda: api.racks(rec) if racks_early else None,
        )
        md = self._metadata(rec, avoid)
        self._cycles += 1
        if md is None:
            p1 = self._gather(rec, early)
            self._unresponsive = rec.unresponsive
            return ClusterSnapshot(
                taken_at=taken_at, zk=p1["zk"], features=p1["features"], errors=tuple(rec.errors), requests=rec.requests
            )

        if any(b.rack is not None for b in md.brokers):
            self._racks = {b.id: b.rack for b in md.brokers}  # kafka-python's Metadata carries racks
        ids = [b.id for b in md.brokers]
        returned = set(ids) - self._live  # registered again (or new) since the last cycle: read them afresh
        self._live = set(ids)
        follow_timeout = self._hedge_seconds()
        self._run(
            rec,
            follow_api=lambda: rec.call(
                KAFKA_API,
                "metadata_refresh",
                lambda: api.follow(set(ids), md.controller_id, avoid, follow_timeout),
                requests=0,
            ),
            follow_groups=lambda: rec.call(
                KAFKA_API,
                "metadata_refresh",
                lambda: self._groups.follow(set(ids), md.controller_id, avoid, follow_timeout),
                requests=0,
            ),
        )
        kraft = self._mode == "kraft"
        topics = md.topics
        jobs: dict[str, Callable[[], Any]] = {
            "reassignments": lambda: self._reassignments(rec, topics),
            "topic_configs": lambda: api.topic_configs(rec, [t.name for t in topics]),
        }
        if self.cfg.concerns.get("lag", True):  # the only concern with requests of its own
            jobs["lag"] = lambda: self._groups.read(self._admin, rec, md.brokers, topics)
        if not racks_early and (set(ids) - set(self._racks) or returned):
            jobs["racks"] = lambda: api.racks(rec)
        for b in ids:
            jobs[f"broker_configs:{b}"] = functools.partial(api.broker_configs, rec, b)
            jobs[f"log_dirs:{b}"] = functools.partial(api.log_dirs, rec, [b])
            jobs[f"versions:{b}"] = functools.partial(api.broker_versions, rec, [b])
        if kraft:
            jobs["fenced"] = lambda: api.fenced_brokers(rec)
            jobs["quorum"] = lambda: api.quorum(rec)
        p2 = self._run(rec, **jobs)
        p1 = self._gather(rec, early)
        zk: ZkState | None = p1["zk"]
        features: dict[str, int] | None = p1["features"]
        for racks in (p1["racks"], p2.get("racks")):
            if racks is not None:
                self._racks = racks
        # A broker's rack is static configuration: read when a broker (re)appears and every RACKS_EVERY_CYCLES
        # cycles, not every cycle.
        brokers = tuple(dataclasses.replace(b, rack=self._racks.get(b.id)) for b in md.brokers)
        broker_configs = {b: cfg for b in ids if (cfg := p2[f"broker_configs:{b}"]) is not None}
        self._mode = cluster_mode(broker_configs) or self._mode
        log_dirs: dict[int, tuple[LogDir, ...]] = {}
        versions: dict[int, BrokerVersion] = {}
        for b in ids:
            log_dirs.update(p2[f"log_dirs:{b}"] or {})
            versions.update(p2[f"versions:{b}"] or {})
        moving, zk_topics = p2["reassignments"] or (None, None)
        reassignments_known = moving is not None
        if moving is not None:
            topics = _with_reassignments(topics, moving)
        if zk_topics is not None:
            zk = zk_topics
        lag = p2.get("lag")
        fenced, quorum = p2.get("fenced"), p2.get("quorum")
        if self._mode == "kraft" and not kraft:
            # First cycle: the mode was learned from this cycle's broker configs.
            fenced, quorum = api.fenced_brokers(rec), api.quorum(rec)
        elr = None if features is None else features.get("eligible.leader.replicas.version", 0) >= 1
        self._unresponsive = rec.unresponsive

        return ClusterSnapshot(
            taken_at=taken_at,
            cluster_id=md.cluster_id,
            mode=self._mode,
            admin_controller_id=md.controller_id,
            zk=zk,
            quorum=quorum,
            features=features,
            brokers=brokers,
            fenced_brokers=fenced,
            elr_enabled=elr,
            topics=topics,
            reassignments_known=reassignments_known,
            topic_configs=p2["topic_configs"] or {},
            broker_configs=broker_configs,
            log_dirs=log_dirs,
            broker_versions=versions,
            groups=lag.groups if lag else None,
            groups_complete=lag.complete if lag else False,
            end_offsets=lag.end_offsets if lag else {},
            start_offsets=lag.start_offsets if lag else {},
            end_offsets_at=lag.end_offsets_at if lag else None,
            errors=tuple(rec.errors),
            requests=rec.requests,
        )

    def _metadata(self, rec: CycleRecorder, avoid: set[int]) -> admin_source.Metadata | None:
        """Metadata from librdkafka (parsed in C: cheap on large clusters). librdkafka keeps asking the broker it
        picked, even a frozen one (seen: 12 cycles in a row), so when it has not answered within the hedge
        delay, kafka-python asks a broker that answered recently, and the first answer wins. While librdkafka
        keeps failing, kafka-python goes first and librdkafka is tried again every few cycles."""
        if self._librdkafka_slow and self._cycles % METADATA_RETRY_CYCLES != 0:
            return self._kafka_api.metadata(rec, avoid)
        primary = self._pool.submit(admin_source.read_metadata, self._admin, rec)
        done, _ = wait([primary], timeout=self._hedge_seconds())
        md = primary.result() if done else None
        self._librdkafka_slow = md is None
        if md is not None:
            return md
        backup = self._kafka_api.metadata(rec, avoid)
        if backup is not None or primary.done():
            return backup
        done, _ = wait([primary], timeout=max(0.0, rec.deadline - time.monotonic()))
        return primary.result() if done else None

    def _hedge_seconds(self) -> float:
        """How long to wait for one broker's answer to an any-broker request before asking another."""
        return max(1.0, self.cfg.collection.request_timeout_seconds / 4)

    def _reassignments(self, rec: CycleRecorder, topics: tuple[Topic, ...]) -> tuple[Moving | None, ZkState | None]:
        """Partitions being reassigned (ListPartitionReassignments, sent to the controller this cycle's Metadata
        names). In ZooKeeper mode that API is answered from the controller's queue, so a hung controller makes
        it fail: then the adding/removing replicas come from the topics' znodes (and ZooKeeper's state with
        them)."""
        moving = self._kafka_api.list_reassignments(rec)
        if moving is not None or self._zk is None:
            return moving, None
        zk = self._zk.read(rec, [t.name for t in topics])
        return (None, None) if zk is None else (zk.topic_reassignments, zk)

    def _racks_due(self) -> bool:
        return not self._racks or self._cycles % RACKS_EVERY_CYCLES == 0

    def _run(self, rec: CycleRecorder, **jobs: Callable[[], Any]) -> dict[str, Any]:
        """Run the jobs side by side and wait for them (see `_gather`)."""
        return self._gather(rec, self._submit(**jobs))

    def _submit(self, **jobs: Callable[[], Any]) -> dict[str, Future[Any]]:
        return {name: self._pool.submit(job) for name, job in jobs.items()}

    def _gather(self, rec: CycleRecorder, futures: dict[str, Future[Any]]) -> dict[str, Any]:
        """The jobs' results by the cycle deadline; a job still running then is reported and left to finish in
        the background (each call has its own timeout, so it does end). A job that raised (a bug, not an
        outside failure: the sources record those themselves) is logged and counted against its source."""
        wait(futures.values(), timeout=max(0.0, rec.deadline - time.monotonic()))
        out: dict[str, Any] = {}
        for name, fut in futures.items():
            call = name.split(":")[0]
            if fut.done() and fut.exception() is None:
                out[name] = fut.result()
            else:
                if fut.done():
                    log.error("cluster %s: collection job %s failed", self.cfg.name, name, exc_info=fut.exception())
                    rec.error(JOB_SOURCES.get(call, KAFKA_API), call, f"unexpected error: {fut.exception()!r}")
                else:
                    rec.error(JOB_SOURCES.get(call, KAFKA_API), call, "did not finish before the cycle deadline")
                out[name] = None
        return out


def _with_reassignments(
    topics: tuple[Topic, ...], moving: dict[tuple[str, int], tuple[tuple[int, ...], tuple[int, ...]]]
) -> tuple[Topic, ...]:
    if not moving:
        return topics
    out = []
    for t in topics:
        parts = tuple(
            dataclasses.replace(p, adding=moving[(t.name, p.partition)][0], removing=moving[(t.name, p.partition)][1])
            if (t.name, p.partition) in moving
            else p
            for p in t.partitions
        )
        out.append(dataclasses.replace(t, partitions=parts))
    return tuple(out)


def cluster_mode(broker_configs: dict[int, dict[str, ConfigValue]]) -> str | None:
    """ "kraft" when brokers have process.roles, "zookeeper" when they have zookeeper.connect."""
    for cfg in broker_configs.values():
        roles = cfg.get("process.roles")
        if roles is not None and roles.value:
            return "kraft"
        zk = cfg.get("zookeeper.connect")
        if zk is not None and zk.value:
            return "zookeeper"
    return None
