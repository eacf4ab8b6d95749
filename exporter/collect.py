"""One collection cycle for one cluster: call the sources, assemble a ClusterSnapshot. Blocking; the runner
calls it from a worker thread so the event loop (and so every scrape) never waits on Kafka."""

from __future__ import annotations

import dataclasses
import time

from exporter.config import ClusterConfig
from exporter.model import ClusterSnapshot, ConfigValue, LogDir, Topic
from exporter.sources import admin as admin_source
from exporter.sources.kafka_api import KafkaApiSource
from exporter.sources.recorder import CycleRecorder


class ClusterCollector:
    def __init__(self, cfg: ClusterConfig) -> None:
        self.cfg = cfg
        col = cfg.collection
        self._admin = admin_source.admin_client(cfg.bootstrap_servers, cfg.client)
        self._kafka_api = KafkaApiSource(cfg.bootstrap_servers, cfg.client, col.request_timeout_seconds)

    def close(self) -> None:
        self._kafka_api.close()

    def collect(self) -> ClusterSnapshot:
        col = self.cfg.collection
        taken_at = time.time()
        rec = CycleRecorder(time.monotonic() + col.timeout_seconds, col.request_timeout_seconds)

        cluster_id, brokers = admin_source.read_cluster(self._admin, rec)
        topics = None
        reassignments_known = False
        # When the cluster did not answer at all, further calls would each wait out their timeout too.
        if brokers is not None:
            topics = admin_source.read_topics(self._admin, rec)
        if topics is not None:
            moving = self._kafka_api.list_reassignments(rec)
            if moving is not None:
                reassignments_known = True
                topics = _with_reassignments(topics, moving)

        topic_configs: dict[str, dict[str, ConfigValue]] = {}
        broker_configs: dict[int, dict[str, ConfigValue]] = {}
        log_dirs: dict[int, tuple[LogDir, ...]] = {}
        mode = fenced = elr_enabled = None
        if topics is not None:
            topic_configs = admin_source.read_topic_configs(self._admin, rec, [t.name for t in topics])
        if brokers is not None:
            ids = [b.id for b in brokers]
            broker_configs = admin_source.read_broker_configs(self._admin, rec, ids)
            mode = cluster_mode(broker_configs)
            features = self._kafka_api.finalized_features(rec)
            if features is not None:
                elr_enabled = features.get("eligible.leader.replicas.version", 0) >= 1
            if mode == "kraft":
                fenced = self._kafka_api.fenced_brokers(rec)
            log_dirs = self._kafka_api.log_dirs(rec, ids)

        return ClusterSnapshot(
            taken_at=taken_at,
            cluster_id=cluster_id,
            mode=mode,
            brokers=brokers,
            fenced_brokers=fenced,
            elr_enabled=elr_enabled,
            topics=topics,
            reassignments_known=reassignments_known,
            topic_configs=topic_configs,
            broker_configs=broker_configs,
            log_dirs=log_dirs,
            errors=tuple(rec.errors),
            requests=dict(rec.requests),
        )


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
