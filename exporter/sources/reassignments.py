"""Partitions being reassigned: ListPartitionReassignments (sent to the controller this cycle's Metadata names),
and in ZooKeeper mode, when that API does not answer (it is served from the controller's queue, so a hung
controller makes it fail), the adding/removing replicas of the topics' znodes instead."""

from __future__ import annotations

from exporter.model import Topic, ZkState
from exporter.sources.kafka_admin import KafkaAdminSource
from exporter.sources.recorder import CycleRecorder
from exporter.sources.zookeeper import ZooKeeperSource

Moving = dict[tuple[str, int], tuple[tuple[int, ...], tuple[int, ...]]]


class ReassignmentsSource:
    def __init__(self, kafka: KafkaAdminSource, zk: ZooKeeperSource | None) -> None:
        self._kafka = kafka
        self._zk = zk

    def read(self, rec: CycleRecorder, topics: tuple[Topic, ...]) -> tuple[Moving | None, ZkState | None]:
        """(topic, partition) -> (adding, removing) for every move in progress (None: unknown this cycle), and
        ZooKeeper's state when the fallback read it."""
        moving = self._kafka.list_reassignments(rec)
        if moving is not None or self._zk is None:
            return moving, None
        zk = self._zk.read(rec, [t.name for t in topics])
        return (None, None) if zk is None else (zk.topic_reassignments, zk)
