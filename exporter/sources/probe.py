"""The write probe's I/O: keep the probe topic laid out (analysis.probe.changes) and, every cycle, produce one
record with acks=all to each of its partitions and read it back.

librdkafka (confluent-kafka) produces and consumes: it is what applications use, so a probe that fails is a
write that would fail for them. Topic changes go through kafka-python's client for controller-routed requests
(as every other broker- or controller-targeted request of the exporter)."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from kafka import TopicPartition as KTopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import TopicAlreadyExistsError

from exporter.analysis import probe
from exporter.clients import librdkafka_config
from exporter.config import ClusterConfig
from exporter.model import Broker, Partition, ProbeWrite, Topic
from exporter.sources import KAFKA_ADMIN
from exporter.sources.kafka_admin import KafkaAdminSource
from exporter.sources.recorder import CycleRecorder, describe_error

log = logging.getLogger(__name__)
# Metadata shows a created topic, new partitions or a new leader within seconds; until then, not asked again.
REAPPLY_AFTER_SECONDS = 30.0


class ProbeSource:
    def __init__(self, cfg: ClusterConfig, kafka: KafkaAdminSource) -> None:
        self._cfg = cfg.probe
        self._policy = cfg.policy
        self._kafka = kafka
        self._timeout_s = cfg.collection.request_timeout_seconds
        self._conf = librdkafka_config(cfg.bootstrap_servers, cfg.client)
        self._producer: Any = None
        self._consumer: Any = None
        self._lock = threading.Lock()  # close() may race a cycle's probe that outlived its deadline
        self._absent_since: dict[int, float] = {}
        self._applied: tuple[probe.Changes, float] | None = None  # the last changes asked for, and until when

    def close(self) -> None:
        with self._lock:
            if self._consumer is not None:
                self._consumer.close()
            self._producer = self._consumer = None

    def read(
        self, rec: CycleRecorder, topics: tuple[Topic, ...], brokers: tuple[Broker, ...] | None
    ) -> tuple[ProbeWrite, ...] | None:
        """This cycle's probe writes; None when there is no probe topic to write to yet (it is created now, and
        written from the next cycle) or it could not be created. `brokers`: the live brokers with their racks;
        None while a rack is not known yet, and then the topic's layout is left as it is this cycle."""
        name = self._cfg.topic
        existing = next((t for t in topics if t.name == name), None)
        partitions = existing.partitions if existing is not None else None
        if brokers is not None:
            self._lay_out(rec, brokers, partitions)
        if not partitions:
            return None
        with self._lock:
            write = lambda: self._write(rec, partitions)  # noqa: E731
            return rec.call(KAFKA_ADMIN, "probe_write", write, requests=len(partitions))

    def _lay_out(
        self, rec: CycleRecorder, brokers: tuple[Broker, ...], partitions: tuple[Partition, ...] | None
    ) -> None:
        name = self._cfg.topic
        rf = self._cfg.replication_factor or self._policy.replication_factor
        gone = self._gone(brokers, partitions or ())
        todo = probe.changes(brokers, partitions, gone, rf)
        now = time.monotonic()
        if todo and not (self._applied is not None and self._applied[0] == todo and now < self._applied[1]):
            # The same changes again before Metadata shows them applied are not asked for twice.
            self._applied = (todo, now + REAPPLY_AFTER_SECONDS)
            log.info("probe topic %s: %s", name, describe(todo))
            rec.call(KAFKA_ADMIN, "probe_topic", lambda: self._apply(todo, partitions, rec.timeout()))

    def _gone(self, brokers: tuple[Broker, ...], partitions: tuple[Partition, ...]) -> set[int]:
        """Brokers holding probe replicas that count as retired: absent for replace_absent_after_seconds, or
        absent and not among the policy's expected brokers when it lists them."""
        live = {b.id for b in brokers}
        holding = {r for p in partitions for r in p.replicas}
        now = time.monotonic()
        self._absent_since = {b: self._absent_since.get(b, now) for b in holding - live}
        expected = set(self._policy.expected_brokers)
        return {
            b
            for b, since in self._absent_since.items()
            if now - since >= self._cfg.replace_absent_after_seconds or (expected and b not in expected)
        }

    def _apply(self, todo: probe.Changes, partitions: tuple[Partition, ...] | None, timeout_s: float) -> None:
        admin = self._kafka.controller_client()
        name, ms = self._cfg.topic, int(timeout_s * 1000)
        min_isr = self._cfg.min_insync_replicas or self._policy.min_insync_replicas
        if todo.create:
            rf = min(len(r) for r in todo.create.values())
            configs = {"min.insync.replicas": str(min(min_isr, rf))}
            topic = NewTopic(name, replica_assignments=dict(todo.create), topic_configs=configs)
            # Created meanwhile (by another exporter replica watching the cluster) is as good.
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics([topic], timeout_ms=ms)
            return
        if todo.add:
            total = len(partitions or ()) + len(todo.add)
            assignments = [list(todo.add[i]) for i in sorted(todo.add)]
            admin.create_partitions({name: {"count": total, "assignments": assignments}}, timeout_ms=ms)
        if todo.reassign:
            moves = {KTopicPartition(name, p): list(r) for p, r in todo.reassign.items()}
            failed = {
                str(tp): err for tp, err in admin.alter_partition_reassignments(moves, timeout_ms=ms).items() if err
            }
            if failed:
                raise RuntimeError(f"reassignment refused: {failed}")
            # The replication factor may have grown (the topic was created with fewer live brokers).
            rf = min(len(r) for r in {**{p.partition: p.replicas for p in partitions or ()}, **todo.reassign}.values())
            res = ConfigResource(ConfigResourceType.TOPIC, name, {"min.insync.replicas": str(min(min_isr, rf))})
            admin.alter_configs([res])
        if todo.elect:
            admin.elect_leaders(0, {name: list(todo.elect)}, timeout_ms=ms)

    # -- writing and reading back ---------------------------------------------------------------------------

    def _clients(self) -> tuple[Any, Any]:
        if self._producer is None:
            ms = int(self._timeout_s * 1000)
            self._producer = Producer(
                {
                    **self._conf,
                    "acks": "all",
                    "linger.ms": 0,
                    "enable.idempotence": False,
                    # A few quick retries ride out a leader change; a lasting refusal (not enough in-sync
                    # replicas) is reported with the broker's own error instead of a timeout.
                    "retries": 3,
                    "retry.backoff.ms": 200,
                    "retry.backoff.max.ms": 1000,
                    "message.timeout.ms": ms,
                    "request.timeout.ms": ms,
                }
            )
        if self._consumer is None:
            self._consumer = Consumer(
                {
                    **self._conf,
                    # Never joined nor committed (partitions are assigned); librdkafka wants one all the same.
                    "group.id": "kafka-cluster-exporter-probe",
                    "enable.auto.commit": False,
                    "enable.auto.offset.store": False,
                    "enable.partition.eof": False,
                    "fetch.wait.max.ms": 50,
                }
            )
        return self._producer, self._consumer

    def _write(self, rec: CycleRecorder, partitions: tuple[Partition, ...]) -> tuple[ProbeWrite, ...]:
        """One record per partition with a leader, produced at once; each acknowledged partition is assigned to
        the consumer at the record's offset as soon as its acknowledgement arrives, so a slow or hung broker
        delays only its own partitions. Ends when every record is read back or failed, or after twice the
        request timeout (bounded by the cycle deadline)."""
        producer, consumer = self._clients()
        name, token = self._cfg.topic, uuid.uuid4().bytes
        start = time.monotonic()
        deadline = min(start + 2 * rec.timeout(), rec.deadline - 0.2)
        out: dict[int, ProbeWrite] = {}
        sent_at: dict[int, float] = {}
        acked: dict[int, tuple[int, float]] = {}  # partition -> (offset, ack time)
        leaders: dict[int, int] = {}

        def delivered(err: KafkaError | None, msg: Message) -> None:
            p, now = int(msg.partition() or 0), time.monotonic()
            if err is not None:
                out[p] = ProbeWrite(p, leaders[p], err.str(), None, None)
            else:
                acked[p] = (int(msg.offset() or 0), now)

        # The producer's own view of the topic, fresh: partitions added since it last looked would otherwise be
        # "unknown" to it until its periodic refresh (5 minutes), and leaders that moved are asked at once.
        with contextlib.suppress(KafkaException):
            producer.list_topics(name, timeout=min(2.0, rec.timeout()))
        for p in partitions:
            preferred = p.replicas[0] if p.replicas else -1
            if p.leader is None:
                out[p.partition] = ProbeWrite(p.partition, preferred, "no leader", None, None)
                continue
            leaders[p.partition] = p.leader
            at = time.monotonic()
            try:
                producer.produce(name, value=token, partition=p.partition, on_delivery=delivered)
            except (KafkaException, BufferError) as e:  # refused locally (e.g. a partition it does not know yet)
                out[p.partition] = ProbeWrite(p.partition, p.leader, describe_error(e), None, None)
                continue
            sent_at[p.partition] = at
        read: dict[int, float] = {}
        assigned: set[int] = set()

        def pending() -> bool:
            return any(p not in out and p not in read for p in sent_at)

        try:
            while pending() and time.monotonic() < deadline:
                producer.poll(0 if len(assigned) > len(read) else 0.02)
                new = [p for p in acked if p not in assigned]
                if new:
                    consumer.incremental_assign([TopicPartition(name, p, acked[p][0]) for p in new])
                    assigned.update(new)
                if len(assigned) > len(read):
                    msg = consumer.poll(0.02)
                    if msg is not None and not msg.error() and msg.value() == token:
                        read.setdefault(int(msg.partition() or 0), time.monotonic())
        finally:
            if assigned:
                consumer.incremental_unassign([TopicPartition(name, p) for p in assigned])
        for i, at in sent_at.items():
            if i in out:
                continue
            if i not in acked:
                out[i] = ProbeWrite(i, leaders[i], f"not acknowledged within {deadline - start:.1f}s", None, None)
                continue
            e2e = read[i] - at if i in read else None
            out[i] = ProbeWrite(i, leaders[i], None, acked[i][1] - at, e2e)
        return tuple(out[p] for p in sorted(out))


def describe(todo: probe.Changes) -> str:
    parts = []
    if todo.create:
        parts.append(
            f"creating it with {len(todo.create)} partitions "
            + ", ".join(f"{p}:{r}" for p, r in sorted(todo.create.items()))
        )
    if todo.add:
        parts.append("adding partitions " + ", ".join(f"{p}:{list(r)}" for p, r in sorted(todo.add.items())))
    if todo.reassign:
        parts.append("moving partitions " + ", ".join(f"{p}:{list(r)}" for p, r in sorted(todo.reassign.items())))
    if todo.elect:
        parts.append(f"electing the preferred leader of partitions {list(todo.elect)}")
    return "; ".join(parts)
