"""Compact builders of hand-made snapshots for unit tests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import EllipsisType

from exporter.model import Broker, ClusterSnapshot, ConfigValue, LogDir, Partition, Topic


def brokers(racks: Mapping[int, str | None] | Iterable[int]) -> tuple[Broker, ...]:
    """Brokers by id, with racks when given as {id: rack}."""
    items = racks.items() if isinstance(racks, Mapping) else ((i, None) for i in racks)
    return tuple(Broker(id=i, host=f"b{i}", port=9092, rack=r) for i, r in items)


def part(
    topic: str,
    index: int,
    replicas: Sequence[int],
    isr: Sequence[int] | None = None,
    *,
    leader: int | EllipsisType | None = ...,
    adding: Sequence[int] = (),
    removing: Sequence[int] = (),
    elr: Sequence[int] | None = None,
) -> Partition:
    """A partition; ISR defaults to all replicas and the leader to the first ISR member (None if empty)."""
    isr_t = tuple(replicas if isr is None else isr)
    lead = (isr_t[0] if isr_t else None) if isinstance(leader, EllipsisType) else leader
    return Partition(
        topic=topic,
        partition=index,
        leader=lead,
        replicas=tuple(replicas),
        isr=isr_t,
        adding=tuple(adding),
        removing=tuple(removing),
        elr=None if elr is None else tuple(elr),
    )


def topic(name: str, *parts: Partition, internal: bool = False) -> Topic:
    return Topic(name=name, internal=internal, partitions=parts)


def topic_of(name: str, assignment: Sequence[Sequence[int]]) -> Topic:
    """A healthy topic: partition i has replicas assignment[i], all in sync, led by the first."""
    return topic(name, *(part(name, i, r) for i, r in enumerate(assignment)))


def configs(values: Mapping[str, str]) -> dict[str, ConfigValue]:
    return {k: ConfigValue(value=v, is_default=False, source="DYNAMIC_TOPIC_CONFIG") for k, v in values.items()}


def snapshot(
    broker_list: tuple[Broker, ...] | None,
    topics: Iterable[Topic] | None,
    *,
    min_isr: int | Mapping[str, int] | None = None,
    topic_configs: Mapping[str, Mapping[str, str]] | None = None,
    broker_configs: Mapping[int, Mapping[str, str]] | None = None,
    elr_enabled: bool | None = None,
    fenced: Iterable[int] | None = None,
    log_dirs: Mapping[int, Iterable[LogDir]] | None = None,
) -> ClusterSnapshot:
    """A snapshot; `min_isr` (one value for every topic, or per topic) fills topic_configs."""
    tops = None if topics is None else tuple(topics)
    tc: dict[str, dict[str, ConfigValue]] = {t: configs(v) for t, v in (topic_configs or {}).items()}
    if min_isr is not None:
        for t in tops or ():
            v = min_isr if isinstance(min_isr, int) else min_isr.get(t.name)
            if v is not None:
                tc.setdefault(t.name, {})["min.insync.replicas"] = ConfigValue(str(v), False, "DYNAMIC_TOPIC_CONFIG")
    return ClusterSnapshot(
        taken_at=0.0,
        brokers=broker_list,
        topics=tops,
        topic_configs=tc,
        broker_configs={b: configs(v) for b, v in (broker_configs or {}).items()},
        elr_enabled=elr_enabled,
        fenced_brokers=None if fenced is None else tuple(fenced),
        log_dirs={b: tuple(d) for b, d in (log_dirs or {}).items()},
    )


# The seed's cluster: five brokers in racks a, a, b, b, c.
SEED_RACKS: dict[int, str | None] = {1: "a", 2: "a", 3: "b", 4: "b", 5: "c"}


def round_robin(partitions: int, rf: int, ids: Sequence[int] = (1, 2, 3, 4, 5)) -> list[list[int]]:
    """Kafka-like rack-unaware assignment: partition i starts at broker i and takes the next rf-1."""
    return [[ids[(i + k) % len(ids)] for k in range(rf)] for i in range(partitions)]


def seed_topics() -> list[Topic]:
    """Seed scenario topics: RF 1, 3 and 4, ten partitions each, all in sync."""
    return [topic_of(f"rf{rf}", round_robin(10, rf)) for rf in (1, 3, 4)]


def seed_snapshot() -> ClusterSnapshot:
    """The seed's cluster with its topics, min ISR 2 everywhere."""
    return snapshot(brokers(SEED_RACKS), seed_topics(), min_isr=2)
