"""The metric table, its rendering, and the README reference generated from it."""

from __future__ import annotations

import gzip
import random

import pytest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from exporter import docs
from exporter.analysis.replication import is_under_replicated, replication_factor
from exporter.concerns import all_definitions
from exporter.metrics import definitions as m
from exporter.metrics import overview, render
from exporter.metrics.overview import overview_samples
from exporter.metrics.render import Samples, gzip_bytes, render_text
from exporter.model import Broker, ClusterSnapshot, Partition, Topic
from exporter.sources import ROLES
from tests.unit.test_golden import golden_samples


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
    with pytest.raises(ValueError, match="every key"):
        Samples().add_series(overview.TOPIC_PARTITIONS, [("orders",), ("orders", "0")], [1, 2])


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


def _reference(samples: Samples) -> bytes:
    """prometheus_client's own text writer over the same samples: what render_text must equal byte for byte."""

    def families() -> list[Metric]:
        out: list[Metric] = []
        for d, series in samples._data.items():
            labels = list(d.labels)
            fam: Metric
            if d.type == "info":
                fam = InfoMetricFamily(d.name.removesuffix("_info"), d.help, labels=[])
                for key in sorted(series):
                    fam.add_metric([], dict(zip(labels, key, strict=True)))
            else:
                cls = CounterMetricFamily if d.type == "counter" else GaugeMetricFamily
                fam = cls(d.name.removesuffix("_total"), d.help, labels=labels)
                for key, value in sorted(series.items()):
                    fam.add_metric(list(key), value)
            out.append(fam)
        return out

    class Collector:
        def collect(self) -> list[Metric]:
            return families()

    return generate_latest(Collector())


def test_rendering_is_byte_for_byte_prometheus_clients() -> None:
    g = m.MetricDef("kce_test_gauge", "gauge", 'help with \\ backslash, "quotes" and\na newline', ("zeta", "alpha"))
    c = m.MetricDef("kce_test_errors_total", "counter", "a counter", ("source",))
    i = m.MetricDef("kce_test_info", "info", "an info", ("version", "commit"))
    n = m.MetricDef("kce_test_plain", "gauge", "no labels")
    s = Samples()
    values = [0, 1, -1, 0.1, 1e-9, 123456789, 1e21, 2**63, float("inf"), float("-inf"), float("nan"), 1 / 3]
    for k, v in enumerate(values):
        s.add(g, v, zeta=f'z{k % 3}"\\\n{{}}', alpha=f"a{k}")
    s.add(c, 7, source="metadata")
    s.add(c, 0, source="zookeeper")
    s.info(i, version="1.2", commit="abc")
    s.add(n, 42)
    assert render_text(s) == _reference(s)


def test_the_golden_exposition_is_byte_for_byte_prometheus_clients() -> None:
    s = golden_samples()
    assert s.series_count() > 100
    assert render_text(s) == _reference(s)


def test_numbers_are_written_as_prometheus_client_writes_them() -> None:
    rnd = random.Random(3)
    edges = [0.0, -0.0, 1e6, -1e6, 999999.0, 999999.9999, 1e6 + 0.5, 1234567.0, 1e15, 1e16, 1e22, 2.0**63, 5e-324]
    specials = [float("inf"), float("-inf"), float("nan")]
    randoms = [rnd.choice([1, -1]) * 10 ** rnd.uniform(-10, 20) for _ in range(20_000)]
    integers = [float(rnd.randrange(0, 10 ** rnd.randrange(1, 19))) for _ in range(20_000)]
    for v in edges + specials + randoms + integers:
        assert render._number(v) == render._go_number(v), v  # prometheus_client.utils.floatToGoString
