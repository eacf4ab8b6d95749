"""Replication findings -> samples: what an operator's dashboards and alerts read."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from exporter.config import PolicyConfig
from exporter.metrics import brokers as b
from exporter.metrics import replication as r
from exporter.metrics.definitions import declared_in
from exporter.metrics.render import Samples, render_text
from exporter.model import LogDir
from tests.unit.snapshots import SEED_RACKS, brokers, part, seed_snapshot, snapshot, topic, topic_of


def _names(s: Samples) -> set[str]:
    return {f.name for f in text_string_to_metric_families(render_text(s).decode())}


def test_seed_scenario_samples() -> None:
    s = r.replication_samples(seed_snapshot(), PolicyConfig(replication_factor=4, min_insync_replicas=2))
    assert s.value(r.TOPIC_RF, topic="rf1") == 1
    assert s.value(r.TOPIC_DESIRED_RF, topic="rf1") == 4
    assert s.value(r.TOPIC_RF_DRIFT, topic="rf1") == -3
    assert s.value(r.TOPIC_RF_DRIFT, topic="rf4") == 0
    assert s.value(r.TOPIC_MIN_ISR, topic="rf3") == 2
    assert s.value(r.TOPIC_RF_NOT_ABOVE_MIN_ISR, topic="rf1") == 1
    assert s.value(r.TOPIC_RF_NOT_ABOVE_MIN_ISR, topic="rf3") == 0
    assert s.value(r.RACK_LOSS_OFFLINE, rack="a") == 4
    # Every rf1 partition (one replica < min ISR 2, already today) + rf3 partitions left with one replica.
    assert s.value(r.RACK_LOSS_UNDER_MIN_ISR, rack="a") == 10 + 4
    assert s.value(r.RACK_LOSS_OFFLINE, rack="c") == 2
    assert s.value(r.BROKER_LOSS_OFFLINE, broker_id=1) == 2
    # Healthy partitions have no per-partition series.
    assert s.value(r.PARTITION_UNDER_REPLICATED, topic="rf3", partition=0) is None
    assert s.value(r.PARTITION_OFFLINE, topic="rf3", partition=0) is None
    assert s.value(r.TOPIC_OFFLINE, topic="rf3") == 0
    # Seed placement is rack-unaware: rf3 partition 0 sits on 1, 2 (rack a) and 3.
    assert (s.value(r.TOPIC_RACK_COLLOCATED, topic="rf3") or 0) > 0


def test_bad_partitions_have_series_only_while_bad() -> None:
    t = topic(
        "orders",
        part("orders", 0, [1, 2, 3]),
        part("orders", 1, [1, 2, 3], isr=[1, 2]),
        part("orders", 2, [1, 2, 3], isr=[], leader=None),
    )
    s = r.replication_samples(snapshot(brokers([1, 2, 3]), [t], min_isr=2), PolicyConfig())
    assert s.value(r.PARTITION_UNDER_REPLICATED, topic="orders", partition=1) == 1
    assert s.value(r.PARTITION_AT_MIN_ISR, topic="orders", partition=1) == 1
    assert s.value(r.PARTITION_OFFLINE, topic="orders", partition=2) == 1
    assert s.value(r.PARTITION_UNDER_MIN_ISR, topic="orders", partition=2) == 1
    for d in (r.PARTITION_UNDER_REPLICATED, r.PARTITION_AT_MIN_ISR, r.PARTITION_OFFLINE, r.PARTITION_UNDER_MIN_ISR):
        assert s.value(d, topic="orders", partition=0) is None
    assert s.value(r.TOPIC_UNDER_MIN_ISR, topic="orders") == 1
    assert s.value(r.TOPIC_AT_MIN_ISR, topic="orders") == 1
    assert s.value(r.TOPIC_OFFLINE, topic="orders") == 1


def test_unknown_parts_give_no_series_not_zeros() -> None:
    s = r.replication_samples(snapshot(None, None), PolicyConfig(expected_brokers=(1, 2)))
    assert _names(s) == set()
    assert _names(b.broker_samples(snapshot(None, None), PolicyConfig(expected_brokers=(1, 2)))) == {
        "kafka_brokers_expected"
    }
    # Topics known, configs not: no min ISR metrics, no under/at-min-ISR counts, no rack under-min-ISR.
    s = r.replication_samples(snapshot(brokers(SEED_RACKS), [topic_of("t", [[1, 2, 3]])]), PolicyConfig())
    names = _names(s)
    for d in (r.TOPIC_MIN_ISR, r.TOPIC_UNDER_MIN_ISR, r.TOPIC_AT_MIN_ISR, r.RACK_LOSS_UNDER_MIN_ISR, r.TOPIC_UNCLEAN):
        assert d.name not in names
    assert s.value(r.RACK_LOSS_OFFLINE, rack="a") == 0


def test_excluded_topics_keep_facts_but_no_policy_series() -> None:
    snap = snapshot(brokers([1, 2, 3]), [topic_of("tmp-1", [[1]])], min_isr=1)
    s = r.replication_samples(snap, PolicyConfig(exclude_topics=("tmp-.*",)))
    assert s.value(r.TOPIC_RF, topic="tmp-1") == 1
    assert s.value(r.TOPIC_DESIRED_RF, topic="tmp-1") is None
    assert s.value(r.TOPIC_RF_DRIFT, topic="tmp-1") is None
    assert s.value(r.BROKER_LOSS_OFFLINE, broker_id=1) == 0


def test_broker_series() -> None:
    snap = snapshot(
        brokers([1, 2, 5]),
        [topic_of("t", [[1, 2]])],
        fenced=[3],
        broker_configs={1: {"auto.create.topics.enable": "true", "unclean.leader.election.enable": "FALSE"}},
        log_dirs={1: [LogDir(1, "/d1", None, 1000, 250), LogDir(1, "/d2", "KafkaStorageException", None, None)]},
    )
    s = r.replication_samples(snap, PolicyConfig(expected_brokers=(1, 2, 3)))
    s.merge(b.broker_samples(snap, PolicyConfig(expected_brokers=(1, 2, 3))))
    assert s.value(b.BROKERS_EXPECTED) == 3
    assert s.value(b.BROKER_MISSING, broker_id=3) == 1
    assert s.value(b.BROKER_MISSING, broker_id=1) is None
    assert s.value(b.BROKER_UNEXPECTED, broker_id=5) == 1
    assert s.value(b.BROKERS_FENCED) == 1 and s.value(b.BROKER_FENCED, broker_id=3) == 1
    drift = s.value(
        b.BROKER_SETTING_DRIFT, broker_id=1, setting="auto.create.topics.enable", desired="false", actual="true"
    )
    assert drift == 1
    (fam,) = [
        f for f in text_string_to_metric_families(render_text(s).decode()) if f.name == b.BROKER_SETTING_DRIFT.name
    ]
    assert len(fam.samples) == 1  # the matching FALSE is no drift
    assert s.value(b.LOG_DIR_OFFLINE, broker_id=1, path="/d1") == 0
    assert s.value(b.LOG_DIR_OFFLINE, broker_id=1, path="/d2") == 1
    assert s.value(b.LOG_DIR_TOTAL, broker_id=1, path="/d1") == 1000
    assert s.value(b.LOG_DIR_USABLE, broker_id=1, path="/d1") == 250
    assert s.value(b.LOG_DIR_TOTAL, broker_id=1, path="/d2") is None
    assert s.value(r.BROKER_REPLICAS, broker_id=5) == 0 and s.value(r.BROKER_LEADERS, broker_id=5) == 0


def test_metric_names_follow_conventions() -> None:
    defs = [*declared_in(vars(r)), *(d for d in declared_in(vars(b)) if d.type != "info")]
    assert len(defs) >= 30
    for d in defs:
        assert d.name.startswith("kafka_") and not d.name.startswith("kafka_exporter_")
        assert d.type == "gauge"
        assert "cluster" not in d.labels
        assert d.help.endswith(".")
    assert "kafka_topic_under_replicated_partitions" not in {d.name for d in defs}
