"""One collection cycle for one cluster: call the sources, assemble a ClusterSnapshot. Blocking; the runner
calls it from a worker thread so the event loop (and so every scrape) never waits on Kafka."""

from __future__ import annotations

import dataclasses
import time

from exporter.config import ClusterConfig
from exporter.model import Broker, ClusterSnapshot, ConfigValue, LogDir, Topic
from exporter.sources import admin as admin_source
from exporter.sources.groups import GroupsSource
from exporter.sources.kafka_api import KafkaApiSource
from exporter.sources.recorder import CycleRecorder
from exporter.sources.zookeeper import ZooKeeperSource


class ClusterCollector:
    def __init__(self, cfg: ClusterConfig) -> None:
        self.cfg = cfg
        col = cfg.collection
        self._admin = admin_source.admin_client(cfg.bootstrap_servers, cfg.client)
        self._kafka_api = KafkaApiSource(cfg.bootstrap_servers, cfg.client, col.request_timeout_seconds)
        self._groups = GroupsSource(cfg.bootstrap_servers, cfg.client, col.request_timeout_seconds, cfg.lag)
        self._racks: dict[int, str | None] = {}
        self._zk = ZooKeeperSource(cfg.zookeeper.connect, cfg.zookeeper.timeout_seconds) if cfg.zookeeper else None

    def close(self) -> None:
        self._kafka_api.close()
        self._groups.close()
        if self._zk is not None:
            self._zk.close()

    def collect(self) -> ClusterSnapshot:
        col = self.cfg.collection
        taken_at = time.time()
        rec = CycleRecorder(time.monotonic() + col.timeout_seconds, col.request_timeout_seconds)

        md = admin_source.read_metadata(self._admin, rec)
        cluster_id = admin_controller = None
        brokers: tuple[Broker, ...] | None = None
        topics: tuple[Topic, ...] | None = None
        reassignments_known = False
        # When the cluster did not answer at all, further calls would each wait out their timeout too.
        if md is not None:
            cluster_id, admin_controller, topics = md.cluster_id, md.controller_id, md.topics
            racks = admin_source.read_racks(self._admin, rec)
            if racks is not None:
                self._racks = racks
            # A broker's rack is static configuration: when DescribeCluster fails (it waits on the controller,
            # e.g. during an election) the racks seen last time still hold.
            brokers = tuple(dataclasses.replace(b, rack=self._racks.get(b.id)) for b in md.brokers)
        if topics is not None:
            moving = self._kafka_api.list_reassignments(rec)
            if moving is not None:
                reassignments_known = True
                topics = _with_reassignments(topics, moving)

        zk = None
        if self._zk is not None:
            # ZooKeeper answers even when the brokers do not; in ZooKeeper mode ListPartitionReassignments is
            # answered from the controller's queue, so a hung controller makes it fail: then read the znodes.
            fallback = [t.name for t in topics] if topics is not None and not reassignments_known else None
            zk = self._zk.read(rec, fallback)
            if zk is not None and fallback is not None and topics is not None:
                topics = _with_reassignments(topics, zk.topic_reassignments)
                reassignments_known = True

        topic_configs: dict[str, dict[str, ConfigValue]] = {}
        broker_configs: dict[int, dict[str, ConfigValue]] = {}
        log_dirs: dict[int, tuple[LogDir, ...]] = {}
        mode = fenced = elr_enabled = quorum = features = None
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
                quorum = self._kafka_api.quorum(rec)
            log_dirs = self._kafka_api.log_dirs(rec, ids)
        # Consumer groups, committed offsets and the end offsets lag is measured against.
        lag = self._groups.read(self._admin, rec, brokers, topics) if brokers is not None else None

        return ClusterSnapshot(
            taken_at=taken_at,
            cluster_id=cluster_id,
            mode=mode,
            admin_controller_id=admin_controller,
            zk=zk,
            quorum=quorum,
            features=features,
            brokers=brokers,
            fenced_brokers=fenced,
            elr_enabled=elr_enabled,
            topics=topics,
            reassignments_known=reassignments_known,
            topic_configs=topic_configs,
            broker_configs=broker_configs,
            log_dirs=log_dirs,
            groups=lag.groups if lag else None,
            groups_complete=lag.complete if lag else False,
            end_offsets=lag.end_offsets if lag else {},
            start_offsets=lag.start_offsets if lag else {},
            end_offsets_at=lag.end_offsets_at if lag else None,
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
