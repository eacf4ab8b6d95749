"""One collection cycle for one cluster: schedule the sources' calls and assemble a ClusterSnapshot. Client
fallbacks and caches live in the sources. Blocking; the runner calls it from a worker thread so the event loop
(and so every scrape) never waits on Kafka."""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from exporter.clients import AUTHENTICATE, AuthFailures
from exporter.config import ClusterConfig
from exporter.model import BrokerVersion, ClusterSnapshot, ConfigValue, LogDir, Metadata, Topic
from exporter.sources import KAFKA_ADMIN, METADATA, ZOOKEEPER, capabilities
from exporter.sources.groups import GroupsSource
from exporter.sources.kafka_admin import KafkaAdminSource
from exporter.sources.metadata import MetadataSource, admin_client
from exporter.sources.probe import ProbeSource
from exporter.sources.reassignments import Moving, ReassignmentsSource
from exporter.sources.recorder import CycleRecorder
from exporter.sources.zookeeper import ZooKeeperSource

# Which source a collection job's unexpected failure counts against (the others: kafka_admin).
JOB_SOURCES = {"metadata": METADATA, "zk": ZOOKEEPER, "zk_isr": ZOOKEEPER}
log = logging.getLogger(__name__)


class ClusterCollector:
    def __init__(self, cfg: ClusterConfig) -> None:
        self.cfg = cfg
        col = cfg.collection
        # Enough workers for a large cluster (three jobs per broker); idle threads cost little.
        self._pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix=f"collect-{cfg.name}")
        self._kafka = KafkaAdminSource(cfg.bootstrap_servers, cfg.client, col.request_timeout_seconds)
        # How long one broker may take to answer an any-broker request before another is asked.
        hedge = max(1.0, col.request_timeout_seconds / 4)
        auth = AuthFailures()
        self._metadata = MetadataSource(
            functools.partial(admin_client, cfg.bootstrap_servers, cfg.client, auth),
            self._kafka,
            self._pool,
            hedge,
            auth,
        )
        self._groups = GroupsSource(cfg.bootstrap_servers, cfg.client, col.request_timeout_seconds, cfg.lag)
        self._zk = ZooKeeperSource(cfg.zookeeper) if cfg.zookeeper else None
        self._reassignments = ReassignmentsSource(self._kafka, self._zk)
        self._probe = ProbeSource(cfg, self._kafka) if cfg.concern_on("probe") else None
        self._unresponsive: set[int] = set()  # brokers that did not answer a call in the last cycle
        self._mode: str | None = None  # learned from broker configs; decides which KRaft-only calls to make
        self._caps: capabilities.Capabilities | None = None  # what the brokers answer; None until they say

    def close(self) -> None:
        # Jobs left running past a cycle's deadline end within their own timeouts: wait for them, so no call
        # still holds a client while it is closed.
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._kafka.close()
        self._groups.close()
        if self._probe is not None:
            self._probe.close()
        if self._zk is not None:
            self._zk.close()
        self._metadata.close()

    def collect(self) -> ClusterSnapshot:
        """Concurrent calls around one Metadata read. ZooKeeper and racks need nothing and start at once, but are
        only waited for at the end. Once Metadata has answered, the kafka-python clients are pointed at the
        brokers and controller it names (they cache both), then the calls that need its brokers and topics run
        side by side: reassignments (controller-routed), configs, log dirs, versions, features, groups, the KRaft
        quorum. Only calls the brokers' ApiVersions say they answer are made (see sources.capabilities); the
        first cycle reads ApiVersions before the others to know. A broker that did not answer one call is not
        asked again in the cycle, so one unresponsive broker costs one request timeout and fails only what only
        it can answer, and the cycle still ends by its deadline."""
        col = self.cfg.collection
        taken_at = time.time()
        rec = CycleRecorder(time.monotonic() + col.timeout_seconds, col.request_timeout_seconds)
        kafka, avoid = self._kafka, set(self._unresponsive)

        racks_early = self._metadata.racks_due()
        early = self._submit(
            zk=lambda: self._zk.read(rec, None) if self._zk is not None else None,
            racks=lambda: kafka.racks(rec, avoid) if racks_early else None,
        )
        md = self._metadata.read(rec, avoid)
        if md is None:
            p1 = self._gather(rec, early)
            self._unresponsive = rec.unresponsive
            return ClusterSnapshot(taken_at=taken_at, zk=p1["zk"], errors=tuple(rec.errors), requests=rec.requests)

        ids, controller = {b.id for b in md.brokers}, md.controller_id
        hedge = self._metadata.hedge_seconds

        def follow(point: Callable[[set[int], int | None, set[int], float], None]) -> None:
            rec.call(KAFKA_ADMIN, "metadata_refresh", lambda: point(ids, controller, avoid, hedge), requests=0)

        self._run(
            rec,
            follow_kafka=lambda: follow(kafka.follow),
            follow_forwarding=lambda: follow(kafka.follow_forwarding),
            follow_groups=lambda: follow(self._groups.follow),
        )
        versions_jobs = {f"versions:{b}": functools.partial(kafka.broker_versions, rec, [b]) for b in sorted(ids)}
        first_versions = self._run(rec, **versions_jobs) if self._caps is None else {}
        self._learn_capabilities(first_versions)
        caps = self._caps
        kraft = self._mode == "kraft"
        topics = md.topics
        use_api = caps is None or caps.reassignments_api
        jobs: dict[str, Callable[[], Any]] = {
            "reassignments": lambda: self._reassignments.read(rec, topics, api=use_api),
            "topic_configs": lambda: kafka.topic_configs(rec, [t.name for t in topics]),
        }
        if caps is not None and caps.features:
            jobs["features"] = lambda: kafka.finalized_features(rec)
        if self.cfg.concern_on("lag"):
            brokers = md.brokers
            jobs["lag"] = lambda: self._groups.read(self._metadata.librdkafka, rec, brokers, topics)
        if self._probe is not None:
            probe, placed = self._probe, self._metadata.known_racks(md)
            jobs["probe"] = lambda: probe.read(rec, topics, placed)
        if self._metadata.racks_needed(md) and not racks_early:
            jobs["racks"] = lambda: kafka.racks(rec, avoid)
        if self._zk is not None and self._mode != "kraft" and (lost := isr_unknown(topics)):
            jobs["zk_isr"] = functools.partial(self._zk.isr, rec, lost)
        for b in sorted(ids):
            jobs[f"broker_configs:{b}"] = functools.partial(kafka.broker_configs, rec, b)
            jobs[f"log_dirs:{b}"] = functools.partial(kafka.log_dirs, rec, [b])
        if not first_versions:
            jobs.update(versions_jobs)
        if kraft:
            jobs.update(self._kraft_jobs(rec))
        p2 = {**first_versions, **self._run(rec, **jobs)}
        p1 = self._gather(rec, early)

        self._metadata.learn_racks(p1["racks"], p2.get("racks"))
        configs = {b: c for b in ids if (c := p2[f"broker_configs:{b}"]) is not None}
        self._mode = cluster_mode(configs) or self._mode
        if self._mode == "kraft" and not kraft:
            # First cycle: the mode was learned from this cycle's broker configs.
            p2.update({name: job() for name, job in self._kraft_jobs(rec).items()})
        if not first_versions:
            self._learn_capabilities(p2)
        self._unresponsive = rec.unresponsive
        md = self._metadata.with_racks(md)
        if p2.get("zk_isr"):
            isr = {tp: {"isr": got} for tp, got in p2["zk_isr"].items()}
            md = dataclasses.replace(md, topics=replace_partitions(md.topics, isr))
        return self._snapshot(taken_at, md, p1, p2, rec)

    def _kraft_jobs(self, rec: CycleRecorder) -> dict[str, Callable[[], Any]]:
        caps, kafka = self._caps, self._kafka
        jobs: dict[str, Callable[[], Any]] = {}
        if caps is None or caps.fenced_brokers:
            jobs["fenced"] = lambda: kafka.fenced_brokers(rec)
        if caps is None or caps.quorum:
            jobs["quorum"] = lambda: kafka.quorum(rec)
        return jobs

    def _learn_capabilities(self, results: dict[str, Any]) -> None:
        """Capabilities from this cycle's ApiVersions answers (kept when no broker answered); a change (the first
        cycle, an upgrade) is logged once, naming what is read another way and what cannot be read at all."""
        versions: dict[int, BrokerVersion] = {}
        for name, got in results.items():
            if name.startswith("versions:") and got:
                versions.update(got)
        caps = capabilities.detect(versions)
        if caps is None or caps == self._caps:
            return
        self._caps = caps
        via = capabilities.sources(caps, self._mode, self._zk is not None)
        missing = [f"{name} ({capabilities.MISSING_BECAUSE[name]})" for name, src in via.items() if src is None]
        fallbacks = [f"{name} from {src}" for name, src in via.items() if src in ("zookeeper", "describe_groups")]
        if missing or fallbacks:
            log.info(
                "cluster %s: brokers %s; %s%s",
                self.cfg.name,
                ", ".join(sorted({v.inferred for v in versions.values()})),
                f"reading {', '.join(fallbacks)}" if fallbacks else "",
                f"{'; ' if fallbacks else ''}not available: {'; '.join(missing)}" if missing else "",
            )

    def _snapshot(
        self, taken_at: float, md: Metadata, p1: dict[str, Any], p2: dict[str, Any], rec: CycleRecorder
    ) -> ClusterSnapshot:
        """The snapshot from the cycle's Metadata and the results of its jobs (None where a job failed)."""
        ids = [b.id for b in md.brokers]
        broker_configs = {b: cfg for b in ids if (cfg := p2[f"broker_configs:{b}"]) is not None}
        log_dirs: dict[int, tuple[LogDir, ...]] = {}
        versions: dict[int, BrokerVersion] = {}
        for b in ids:
            log_dirs.update(p2[f"log_dirs:{b}"] or {})
            versions.update(p2[f"versions:{b}"] or {})
        moving, zk_fallback = p2["reassignments"] or (None, None)
        lag = p2.get("lag")
        features: dict[str, int] | None = p2.get("features")
        return ClusterSnapshot(
            taken_at=taken_at,
            cluster_id=md.cluster_id,
            mode=self._mode,
            metadata_controller_id=md.controller_id,
            zk=zk_fallback or p1["zk"],
            quorum=p2.get("quorum"),
            features=features,
            brokers=md.brokers,
            fenced_brokers=p2.get("fenced"),
            elr_enabled=None if features is None else features.get("eligible.leader.replicas.version", 0) >= 1,
            topics=md.topics if moving is None else _with_reassignments(md.topics, moving),
            reassignments_known=moving is not None,
            capabilities=capabilities.sources(self._caps, self._mode, self._zk is not None) if self._caps else {},
            topic_configs=p2["topic_configs"] or {},
            broker_configs=broker_configs,
            log_dirs=log_dirs,
            broker_versions=versions,
            groups=lag.groups if lag else None,
            groups_complete=lag.complete if lag else False,
            end_offsets=lag.end_offsets if lag else {},
            start_offsets=lag.start_offsets if lag else {},
            end_offsets_at=lag.end_offsets_at if lag else None,
            probe=p2.get("probe"),
            errors=tuple(rec.errors),
            requests=rec.requests,
        )

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
                    rec.error(JOB_SOURCES.get(call, KAFKA_ADMIN), call, f"unexpected error: {fut.exception()!r}")
                else:
                    rec.error(JOB_SOURCES.get(call, KAFKA_ADMIN), call, "did not finish before the cycle deadline")
                out[name] = None
        return out


def _with_reassignments(topics: tuple[Topic, ...], moving: Moving) -> tuple[Topic, ...]:
    return replace_partitions(topics, {tp: {"adding": a, "removing": r} for tp, (a, r) in moving.items()})


def replace_partitions(topics: tuple[Topic, ...], changes: dict[tuple[str, int], dict[str, Any]]) -> tuple[Topic, ...]:
    """The topics with the fields of the partitions in `changes` replaced ((topic, partition) -> {field: value});
    topics without a change are the same objects."""
    if not changes:
        return topics
    out = []
    for t in topics:
        parts = tuple(
            dataclasses.replace(p, **changes[(t.name, p.partition)]) if (t.name, p.partition) in changes else p
            for p in t.partitions
        )
        out.append(dataclasses.replace(t, partitions=parts) if parts != t.partitions else t)
    return tuple(out)


# The calls each source makes (CycleRecorder `call` names). Error counters start at 0 for each (see `calls`).
KAFKA_CALLS = (
    "metadata",  # racks: Metadata for no topics
    "metadata_refresh",
    "api_versions",
    "describe_configs_broker",
    "describe_configs_topics",
    "describe_features",
    "describe_log_dirs",
    "list_partition_reassignments",
)
LAG_CALLS = ("list_groups", "describe_groups", "consumer_group_describe", "offset_fetch", "list_offsets")
KRAFT_CALLS = ("describe_cluster", "describe_quorum")
PROBE_CALLS = ("probe_topic", "probe_write")
ZOOKEEPER_CALLS = (
    "connect",
    "get_controller",
    "get_controller_epoch",
    "get_broker_ids",
    "get_reassign_partitions",
    "get_topic",
    "get_partition_state",
)


def calls(cfg: ClusterConfig, mode: str | None) -> list[tuple[str, str]]:
    """Every (source, call) a cycle can make against this cluster, so that each error counter exists at 0 before
    its first failure: increase() then counts that failure instead of missing it."""
    out = [(METADATA, "metadata"), (METADATA, "cycle"), (METADATA, AUTHENTICATE)]
    out += [(KAFKA_ADMIN, c) for c in KAFKA_CALLS]
    if cfg.concern_on("lag"):
        out += [(KAFKA_ADMIN, c) for c in LAG_CALLS]
    if cfg.concern_on("probe"):
        out += [(KAFKA_ADMIN, c) for c in PROBE_CALLS]
    if mode == "kraft":
        out += [(KAFKA_ADMIN, c) for c in KRAFT_CALLS]
    if cfg.zookeeper is not None:
        out += [(ZOOKEEPER, c) for c in ZOOKEEPER_CALLS]
        if cfg.zookeeper.sasl is not None or cfg.zookeeper.tls is not None:
            out.append((ZOOKEEPER, AUTHENTICATE))
    return out


# At most this many partitions' ISR are read from ZooKeeper per cycle (one znode each).
ZK_ISR_MAX = 1000


def isr_unknown(topics: tuple[Topic, ...]) -> list[tuple[str, int]]:
    """Leaderless partitions whose Metadata answer has an empty ISR. Kafka 2.1 answers so when the only live replica is
    gone (with LISTENER_NOT_FOUND), where ZooKeeper (and kafka-topics) keep the last ISR: read it there, or
    such a partition would also count as under-replicated. (ZooKeeper-mode ISRs never shrink to empty.)"""
    lost = [(t.name, p.partition) for t in topics for p in t.partitions if p.leader is None and not p.isr]
    return lost[:ZK_ISR_MAX]


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
