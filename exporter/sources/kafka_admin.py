"""Kafka calls through kafka-python: the APIs confluent-kafka lacks (ListPartitionReassignments,
DescribeLogDirs, DescribeQuorum, DescribeFeatures) and the broker- or controller-targeted requests that
librdkafka 2.16 could abort the process on (DescribeConfigs, ApiVersions, DescribeCluster), plus Metadata
when librdkafka's broker does not answer. Blocking client: called from the collection threads.

kafka-python caches the cluster (brokers for metadata_max_age_ms, the controller until it answers
NOT_CONTROLLER), so every cycle `KafkaPythonAdmin.follow` points it at the cluster this cycle's Metadata
describes: a new controller is asked at once, and a broker that registers again is read again."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
from kafka.errors import KafkaConnectionError, NodeNotReadyError
from kafka.protocol.admin import DescribeLogDirsRequest
from kafka.protocol.metadata import MetadataRequest

from exporter.clients import kafka_python_config
from exporter.model import (
    Broker,
    BrokerVersion,
    ConfigValue,
    LogDir,
    Metadata,
    Partition,
    Quorum,
    QuorumReplica,
    Topic,
)
from exporter.sources import KAFKA_ADMIN, METADATA
from exporter.sources.recorder import CycleRecorder, describe_error

SOURCE = KAFKA_ADMIN
# After a failed bootstrap, fail at once for this long instead of bootstrapping again for every call.
CREATE_RETRY_SECONDS = 5.0
# Kafka's internal topics (org.apache.kafka.common.internals.Topic).
INTERNAL_TOPICS = frozenset({"__consumer_offsets", "__transaction_state", "__share_group_state"})
# Topic configs analysis reads; keeping only these bounds memory at tens of thousands of topics.
TOPIC_CONFIG_KEYS = frozenset(
    {
        "min.insync.replicas",
        "unclean.leader.election.enable",
        "leader.replication.throttled.replicas",
        "follower.replication.throttled.replicas",
        "retention.ms",
        "cleanup.policy",
    }
)
# Topics per DescribeConfigs request: one request for all topics would be huge on big clusters.
TOPIC_CONFIG_BATCH = 500
T = TypeVar("T")
log = logging.getLogger(__name__)


def parse_features(raw: dict[str, Any]) -> dict[str, int]:
    """Finalized feature levels. kafka-python 3.0 answers {name: {"finalized": (min, max), ...}}; its
    docstring describes {"finalized_features": {name: (min, max)}}: accept both."""
    if "finalized_features" in raw:
        return {n: int(levels[1]) for n, levels in (raw["finalized_features"] or {}).items()}
    return {n: int(info["finalized"][1]) for n, info in raw.items() if isinstance(info, dict) and info.get("finalized")}


def _replica(r: dict[str, Any]) -> QuorumReplica:
    caught_up = r.get("last_caught_up_timestamp")
    return QuorumReplica(
        id=int(r["replica_id"]),
        log_end_offset=int(r["log_end_offset"]),
        last_caught_up_ms=int(caught_up) if caught_up is not None and caught_up >= 0 else None,
    )


def parse_quorum(raw: dict[str, Any]) -> Quorum | None:
    for t in raw.get("topics", []):
        for p in t.get("partitions", []):
            leader = p.get("leader_id")
            return Quorum(
                leader_id=int(leader) if leader is not None and leader >= 0 else None,
                leader_epoch=int(p.get("leader_epoch", -1)),
                high_watermark=int(p.get("high_watermark", -1)),
                voters=tuple(_replica(r) for r in p.get("current_voters", [])),
                observers=tuple(_replica(r) for r in p.get("observers", [])),
            )
    return None


def _config_value(e: dict[str, Any]) -> ConfigValue:
    source = str(e.get("config_source", ""))
    return ConfigValue(e.get("value"), source == "DEFAULT_CONFIG", source)


def any_broker(fn: Callable[[], T]) -> Callable[[], T]:
    """For requests any broker can answer: after a connection failure, try once more at once. kafka-python
    backs off the node that failed and picks another, instead of asking a dead broker (seen: a killed KRaft
    quorum leader kept being asked for DescribeQuorum) until the next cycle."""

    def call() -> T:
        try:
            return fn()
        except (KafkaConnectionError, NodeNotReadyError, ConnectionError):
            return fn()

    return call


class KafkaPythonAdmin:
    """One kafka-python admin client, created on first use and kept: kafka-python reconnects by itself, while a
    new client re-bootstraps and may pick the very broker that does not answer. Locked, because a cycle's
    calls run concurrently and a second client created by a racing call would never be closed."""

    def __init__(self, conf: dict[str, Any]) -> None:
        self._conf = conf
        self._admin: Any = None
        self._lock = threading.Lock()
        self._seen: set[int] = set()
        self._retry_at = 0.0
        self._failure = ""

    def get(self) -> Any:
        """The client; after a failed bootstrap, the same error at once for CREATE_RETRY_SECONDS, so an
        unreachable cluster costs one bootstrap timeout per cycle, not one per call."""
        with self._lock:
            if self._admin is None:
                if time.monotonic() < self._retry_at:
                    raise ConnectionError(self._failure)
                try:
                    self._admin = KafkaAdminClient(**self._conf)
                except Exception as e:
                    self._retry_at = time.monotonic() + CREATE_RETRY_SECONDS
                    self._failure = f"cannot bootstrap: {describe_error(e)}"
                    raise
            return self._admin

    def follow(self, broker_ids: set[int], controller_id: int | None, avoid: set[int], timeout_s: float) -> None:
        """Point the client at the cluster this cycle's Metadata describes. Controller-routed requests go to
        `controller_id` (kafka-python would keep asking a dead controller); when the client's broker list
        differs, it is refreshed now instead of after metadata_max_age_ms, asking a broker not in `avoid` and,
        if it does not answer within `timeout_s`, another; a broker that (re)appeared loses its reconnect
        backoff."""
        admin = self.get()
        manager = admin._manager
        admin._controller_id = controller_id  # None (none known this cycle): kafka-python asks for it itself
        known = {b.node_id for b in manager.cluster.brokers()}
        if known != broker_ids:
            failure: Exception | None = None
            for node in pick_nodes(manager, avoid)[:2]:

                async def refresh(node: int = node) -> None:
                    fut = manager.call_soon(manager.cluster.refresh_metadata, node)
                    await manager.wait_for(fut, int(timeout_s * 1000))

                try:
                    manager.run(refresh)
                    failure = None
                    break
                except Exception as e:  # that broker did not answer: the next one
                    failure = e
            if failure is not None:
                raise failure
        for b in broker_ids - self._seen:
            manager.reset_backoff(b)
        self._seen = set(broker_ids)

    def reset(self) -> None:
        with self._lock:
            admin, self._admin = self._admin, None
        if admin is not None:
            try:
                admin.close()
            except Exception as e:  # closing a broken client must not fail the cycle
                log.debug("closing kafka-python admin: %s", e)


def pick_nodes(manager: Any, avoid: set[int]) -> list[int]:
    """The brokers kafka-python knows, best first for an any-broker request: connected and idle, then the
    others, and brokers that did not answer recently (`avoid`) last."""

    def rank(b: int) -> tuple[bool, bool]:
        conn = manager._conns.get(b)
        idle = conn is not None and conn.connected and not conn.in_flight_requests
        return (b in avoid, not idle)

    return sorted((b.node_id for b in manager.cluster.brokers()), key=rank) or [manager.least_loaded_node()]


def parse_metadata(raw: dict[str, Any]) -> Metadata:
    """A MetadataResponse (as kafka-python's to_dict gives it) as brokers with racks, controller and topics."""
    brokers = tuple(
        sorted(
            (Broker(int(b["node_id"]), b["host"], int(b["port"]), b.get("rack")) for b in raw["brokers"]),
            key=lambda b: b.id,
        )
    )
    out = []
    for t in raw["topics"]:
        if t.get("error_code", 0) != 0:
            continue  # being created or deleted: read next cycle
        parts = tuple(
            Partition(
                topic=t["name"],
                partition=int(p["partition_index"]),
                leader=int(p["leader_id"]) if p["leader_id"] >= 0 else None,
                replicas=tuple(p["replica_nodes"]),
                isr=tuple(p["isr_nodes"]),
            )
            for p in sorted(t["partitions"], key=lambda p: p["partition_index"])
        )
        out.append(Topic(t["name"], t["name"] in INTERNAL_TOPICS, parts))
    controller = raw.get("controller_id")
    return Metadata(
        raw.get("cluster_id"),
        int(controller) if controller is not None and controller >= 0 else None,
        brokers,
        tuple(sorted(out, key=lambda t: t.name)),
    )


class KafkaAdminSource:
    """Every Kafka request but Metadata (and Metadata when librdkafka's broker does not answer), through two
    kafka-python admin clients: one for the requests a broker answers itself, one for those a KRaft broker
    forwards to the active controller (ListPartitionReassignments, DescribeQuorum). A forwarded request hangs
    while the controller does, and kafka-python closes a connection whose request timed out, failing every
    other request in flight on it: on a shared client a frozen KRaft controller made healthy brokers look
    unresponsive (their configs, log dirs and end offsets lost for the cycle)."""

    def __init__(self, bootstrap_servers: str, client: dict[str, str], timeout_s: float) -> None:
        conf = kafka_python_config(bootstrap_servers, client, timeout_s)
        self._admin = KafkaPythonAdmin(conf)
        self._forwarding = KafkaPythonAdmin(conf)
        self._client = self._admin.get

    def close(self) -> None:
        self._admin.reset()
        self._forwarding.reset()

    def controller_client(self) -> Any:
        """The kafka-python client for requests Kafka routes to the controller (creating topics and partitions,
        reassignments, elections), apart from the broker-answered ones (see the class)."""
        return self._forwarding.get()

    def list_reassignments(
        self, rec: CycleRecorder
    ) -> dict[tuple[str, int], tuple[tuple[int, ...], tuple[int, ...]]] | None:
        """(topic, partition) -> (adding, removing) for every reassignment in progress; None if unknown."""

        def call() -> Any:
            return self.controller_client().list_partition_reassignments(timeout_ms=int(rec.timeout() * 1000))

        raw = rec.call(SOURCE, "list_partition_reassignments", call)
        if raw is None:
            return None
        return {
            (tp.topic, tp.partition): (tuple(v["adding_replicas"]), tuple(v["removing_replicas"]))
            for tp, v in raw.items()
        }

    def fenced_brokers(self, rec: CycleRecorder) -> tuple[int, ...] | None:
        """KRaft brokers registered but fenced (DescribeCluster v2, Kafka >= 4.0: asked only where capabilities
        say so); None where the answer has no fencing."""
        raw = rec.call(SOURCE, "describe_cluster", any_broker(lambda: self._client().describe_cluster()))
        if raw is None:
            return None
        brokers = raw.get("brokers") or []
        if not brokers or "is_fenced" not in brokers[0]:
            return None
        return tuple(sorted(b["broker_id"] for b in brokers if b.get("is_fenced")))

    def finalized_features(self, rec: CycleRecorder) -> dict[str, int] | None:
        """Finalized feature levels (e.g. metadata.version, eligible.leader.replicas.version)."""
        raw = rec.call(SOURCE, "describe_features", any_broker(lambda: self._client().describe_features()))
        if raw is None:
            return None
        return parse_features(raw)

    def quorum(self, rec: CycleRecorder) -> Quorum | None:
        """The KRaft metadata quorum (DescribeQuorum): the active controller is its leader."""
        quorum = any_broker(lambda: self.controller_client().describe_metadata_quorum())
        raw = rec.call(SOURCE, "describe_quorum", quorum)
        if raw is None:
            return None
        return parse_quorum(raw)

    def _describe_log_dirs(self, broker: int) -> Any:
        # DescribeLogDirs for all topics (a null topic list). Not the public describe_log_dirs(): without topics it
        # first fetches and converts Metadata for every topic to list them all in the request, once per broker:
        # that was 9 times the CPU of the call itself at 10,000 partitions (bench/bench.py), for the same answer.
        # The response is read as it was decoded: its to_dict() conversion was 8% of a cycle's CPU at 10k.
        manager = self._client()._manager

        async def send() -> Any:
            return await manager.send(DescribeLogDirsRequest(topics=None), node_id=broker)

        return manager.run(send).results

    def log_dirs(self, rec: CycleRecorder, broker_ids: list[int]) -> dict[int, tuple[LogDir, ...]]:
        """Log dirs of each broker, asked one broker at a time so one unresponsive broker only costs its own
        entry (and one timeout), not everyone's."""
        out: dict[int, tuple[LogDir, ...]] = {}
        for b in broker_ids:
            call = functools.partial(self._describe_log_dirs, b)
            results = rec.call(SOURCE, "describe_log_dirs", call, broker=b, heavy=True)
            if results is not None:
                out[b] = parse_log_dirs(b, results)
        return out

    def broker_versions(self, rec: CycleRecorder, broker_ids: list[int]) -> dict[int, BrokerVersion]:
        """What each broker answered to ApiVersions (kafka-python asks it once per connection)."""
        out: dict[int, BrokerVersion] = {}
        for b in broker_ids:
            raw = rec.call(SOURCE, "api_versions", functools.partial(self._version_data, b), broker=b)
            if raw is None:
                continue
            apis = tuple(sorted((int(k), int(v[0]), int(v[1])) for k, v in (raw.api_versions or {}).items()))
            inferred = ".".join(str(x) for x in raw.broker_version) if raw.broker_version else "unknown"
            out[b] = BrokerVersion(inferred, apis)
        return out

    def _version_data(self, broker: int) -> Any:
        return self._client().get_broker_version_data(broker)

    def follow(self, broker_ids: set[int], controller_id: int | None, avoid: set[int], timeout_s: float) -> None:
        self._admin.follow(broker_ids, controller_id, avoid, timeout_s)

    def follow_forwarding(
        self, broker_ids: set[int], controller_id: int | None, avoid: set[int], timeout_s: float
    ) -> None:
        self._forwarding.follow(broker_ids, controller_id, avoid, timeout_s)

    def _ask_metadata(self, node: int, timeout_s: float, all_topics: bool) -> Metadata:
        """One Metadata request straight to `node`: every topic, or none (brokers, racks and controller only)."""
        request = MetadataRequest(
            topics=MetadataRequest.ALL_TOPICS if all_topics else MetadataRequest.NO_TOPICS,
            allow_auto_topic_creation=False,
            include_cluster_authorized_operations=False,
            include_topic_authorized_operations=False,
        )
        manager = self._client()._manager

        async def send() -> Any:
            ms = int(timeout_s * 1000)
            return await manager.wait_for(manager.send(request, node_id=node, request_timeout_ms=ms), ms)

        return parse_metadata(manager.run(send).to_dict())

    def _first_answer(self, rec: CycleRecorder, source: str, avoid: set[int], all_topics: bool) -> Metadata | None:
        """Metadata from a broker that answered recently (not one in `avoid`); if it does not answer within half
        the request timeout, the next one is asked."""
        manager = rec.call(source, "metadata", lambda: self._client()._manager, requests=0)  # bootstraps once
        if manager is None:
            return None
        nodes = pick_nodes(manager, avoid)
        for i, node in enumerate(nodes):
            last = i == len(nodes) - 1
            timeout = rec.timeout() if last else max(0.5, rec.timeout() / 2)
            ask = functools.partial(self._ask_metadata, node, timeout, all_topics)
            md = rec.call(source, "metadata", ask, broker=node)
            if md is not None or rec.timeout() <= 0.1:
                return md
        return None

    def metadata(self, rec: CycleRecorder, avoid: set[int]) -> Metadata | None:
        """Brokers (with racks), controller and topics in one Metadata request. The fallback when librdkafka's
        Metadata does not answer: librdkafka keeps asking the broker it picked, even a frozen one."""
        return self._first_answer(rec, METADATA, avoid, all_topics=True)

    def racks(self, rec: CycleRecorder, avoid: set[int]) -> dict[int, str | None] | None:
        """Each live broker's rack, from a Metadata request for no topics, which every Kafka release answers with
        racks (v1+). Not DescribeCluster: kafka-python 3.0 fails on brokers before 3.7, whose DescribeCluster v0
        answer has no endpoint_type (KeyError in KafkaAdminClient._describe_cluster)."""
        md = self._first_answer(rec, SOURCE, avoid, all_topics=False)
        return None if md is None else {b.id: b.rack for b in md.brokers}

    def broker_configs(self, rec: CycleRecorder, broker: int) -> dict[str, ConfigValue] | None:
        """Every config of one broker (DescribeConfigs sent to that broker).

        Through kafka-python on purpose: librdkafka 2.16 aborted the whole process (assertion
        `eonce->refcnt > 0` in rd_kafka_enq_once_del_source_return) when a broker it had a broker-targeted
        admin request queued for was killed; an exporter must survive exactly that."""

        def call() -> Any:
            res = ConfigResource(ConfigResourceType.BROKER, str(broker))
            return self._client().describe_configs([res], config_filter="all")

        raw = rec.call(SOURCE, "describe_configs_broker", call, broker=broker)
        if raw is None:
            return None
        entries = (raw.get("broker") or {}).get(str(broker)) or {}
        return {
            name: ConfigValue(
                e.get("value"), e.get("config_source") == "DEFAULT_CONFIG", str(e.get("config_source", ""))
            )
            for name, e in entries.items()
        }

    def topic_configs(self, rec: CycleRecorder, topics: list[str]) -> dict[str, dict[str, ConfigValue]]:
        """Effective topic configs (overrides and inherited defaults) of the keys analysis reads, in batches.
        Topics whose batch failed are left out. kafka-python for the reason broker_configs gives."""
        out: dict[str, dict[str, ConfigValue]] = {}
        for i in range(0, len(topics), TOPIC_CONFIG_BATCH):
            batch = topics[i : i + TOPIC_CONFIG_BATCH]

            def call(batch: list[str] = batch) -> Any:
                # Only the keys analysis reads: the broker sends ~6 entries a topic instead of ~40, and decoding
                # them was most of the exporter's collection CPU at 10,000 partitions (bench/bench.py).
                keys = sorted(TOPIC_CONFIG_KEYS)
                res = [ConfigResource(ConfigResourceType.TOPIC, t, configs=keys) for t in batch]
                return self._client().describe_configs(res, config_filter="all")

            raw = rec.call(SOURCE, "describe_configs_topics", any_broker(call))
            for name, entries in ((raw or {}).get("topic") or {}).items():
                out[name] = {k: _config_value(e) for k, e in entries.items() if k in TOPIC_CONFIG_KEYS}
        return out


def parse_log_dirs(broker: int, results: Any) -> tuple[LogDir, ...]:
    """A DescribeLogDirs response's results, as kafka-python decoded them (fields a version lacks read as the
    schema's default: total and usable bytes -1 before v4)."""
    dirs = []
    for d in results:
        sizes = {(t.name, p.partition_index): int(p.partition_size) for t in d.topics or () for p in t.partitions}
        total, usable = d.total_bytes, d.usable_bytes
        dirs.append(
            LogDir(
                broker=broker,
                path=d.log_dir,
                error=None if d.error_code == 0 else f"error code {d.error_code}",
                total_bytes=None if total is None or total < 0 else int(total),
                usable_bytes=None if usable is None or usable < 0 else int(usable),
                replica_bytes=sizes,
            )
        )
    return tuple(dirs)
