"""Partitions being reassigned: ListPartitionReassignments (sent to the controller this cycle's Metadata names),
and in ZooKeeper mode, when that API does not answer (it is served from the controller's queue, so a hung
controller makes it fail), the adding/removing replicas of the topics' znodes instead. Brokers before Kafka 2.4
have neither: there the move is read from /admin/reassign_partitions and the partitions' replicas and ISR."""

from __future__ import annotations

from exporter.model import Topic, ZkState
from exporter.sources.kafka_admin import KafkaAdminSource
from exporter.sources.recorder import CycleRecorder
from exporter.sources.zookeeper import ZooKeeperSource

Moving = dict[tuple[str, int], tuple[tuple[int, ...], tuple[int, ...]]]


def moves_from_request(request: dict[tuple[str, int], tuple[int, ...]], topics: tuple[Topic, ...]) -> Moving:
    """Adding and removing replicas of the moves in /admin/reassign_partitions, for brokers before Kafka 2.4.

    Their controller first sets a moving partition's replicas to the old ones plus the targets, and once every
    target is in the ISR, to the targets. So: removing = replicas not in the target; adding = targets not yet in
    the ISR (a target that joined it has finished copying, like a replica ListPartitionReassignments stops
    listing as adding; an original replica never leaves it while healthy). A partition whose replicas do not yet
    include every target has not been acted on by the controller: it is not moving (and, if that lasts, it is
    reported as pending the controller)."""
    parts = {(p.topic, p.partition): p for t in topics for p in t.partitions}
    out: Moving = {}
    for tp, target in request.items():
        p = parts.get(tp)
        if p is None or not set(target) <= set(p.replicas):
            continue
        adding = tuple(b for b in target if b not in p.isr)
        removing = tuple(b for b in p.replicas if b not in target)
        if adding or removing:
            out[tp] = (adding, removing)
    return out


class ReassignmentsSource:
    def __init__(self, kafka: KafkaAdminSource, zk: ZooKeeperSource | None) -> None:
        self._kafka = kafka
        self._zk = zk

    def read(
        self, rec: CycleRecorder, topics: tuple[Topic, ...], api: bool = True
    ) -> tuple[Moving | None, ZkState | None]:
        """(topic, partition) -> (adding, removing) for every move in progress (None: unknown this cycle), and
        ZooKeeper's state when the fallback read it. `api`: the brokers have ListPartitionReassignments."""
        if not api:
            request = self._zk.reassign_request(rec) if self._zk is not None else None
            return (None, None) if request is None else (moves_from_request(request, topics), None)
        moving = self._kafka.list_reassignments(rec)
        if moving is not None or self._zk is None:
            return moving, None
        zk = self._zk.read(rec, [t.name for t in topics])
        return (None, None) if zk is None else (zk.topic_reassignments, zk)
