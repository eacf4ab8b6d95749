"""The metric table, its rendering, and the README reference generated from it."""

from __future__ import annotations

import gzip

import pytest
from prometheus_client.parser import text_string_to_metric_families

from exporter import docs
from exporter.analysis.replication import is_under_replicated, replication_factor
from exporter.concerns import all_definitions
from exporter.metrics import definitions as m
from exporter.metrics import overview
from exporter.metrics.overview import overview_samples
from exporter.metrics.render import Samples, gzip_bytes, render_text
from exporter.model import Broker, ClusterSnapshot, Partition, Topic
from exporter.sources import ROLES


def test_readme_metric_table_matches_code() -> None:
    current = docs.README.read_text(encoding="utf-8")
    assert current == docs.with_table(current), "README metric table is stale: run `python -m exporter.docs`"
    for d in all_definitions():
        assert f"`{d.name}`" in current


def test_naming_conventions_are_enforced() -> None:
    with pytest.raises(ValueError, match="must end in _total"):
        m.MetricDef("kafka_x_errors", "counter", "h")
    with pytest.raises(ValueError, match="only counters"):
        m.MetricDef("kafka_x_total", "gauge", "h")
    with pytest.raises(ValueError, match="_info"):
        m.MetricDef("kafka_x", "info", "h")


def test_undeclared_labels_are_rejected() -> None:
    with pytest.raises(ValueError, match="do not match"):
        Samples().add(overview.TOPIC_PARTITIONS, 1, topik="x")


def snapshot() -> ClusterSnapshot:
    parts = (
        Partition("orders", 0, leader=1, replicas=(1, 2, 3), isr=(1, 2, 3)),
        Partition("orders", 1, leader=2, replicas=(2, 3, 1), isr=(2, 3)),  # under-replicated
        # Moving from [1,2,3] to [2,3,4]: 4 is still being added, so it is not "missing" from the ISR.
        Partition("orders", 2, leader=2, replicas=(1, 2, 3, 4), isr=(1, 2, 3), adding=(4,), removing=(1,)),
    )
    return ClusterSnapshot(
        taken_at=1.0,
        cluster_id="abc",
        brokers=(Broker(1, "h1", 9092, "a"), Broker(2, "h2", 9092, None), Broker(3, "h3", 9092, "b")),
        topics=(Topic("orders", False, parts), Topic("__consumer_offsets", True, ())),
    )


def test_under_replicated_counts_like_kafka_topics_tool() -> None:
    moving = snapshot().topics[0].partitions[2]  # type: ignore[index]
    assert replication_factor(moving) == 3
    assert not is_under_replicated(moving)
    text = render_text(overview_samples(snapshot())).decode()
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    urp = {s.labels["topic"]: s.value for s in fams["kafka_topic_under_replicated_partitions"].samples}
    assert urp == {"orders": 1.0, "__consumer_offsets": 0.0}
    assert fams["kafka_brokers"].samples[0].value == 3
    racks = {s.labels["broker_id"]: s.labels["rack"] for s in fams["kafka_broker_info"].samples}
    assert racks == {"1": "a", "2": "", "3": "b"}


def test_unread_parts_are_absent_not_zero() -> None:
    text = render_text(overview_samples(ClusterSnapshot(taken_at=1.0))).decode()
    assert "kafka_brokers" not in text
    assert "kafka_topic_under_replicated_partitions" not in text


def test_gzip_members_concatenate_to_one_stream() -> None:
    a, b = b"x 1\n", b"y 2\n"
    assert gzip.decompress(gzip_bytes(a) + gzip_bytes(b)) == a + b


def test_architecture_doc_matches_the_registry_and_the_source_roles() -> None:
    current = docs.ARCHITECTURE.read_text(encoding="utf-8")
    assert current == docs.with_architecture(current), "docs/architecture.md is stale: run `python -m exporter.docs`"
    assert tuple(docs.SOURCES) == ROLES
