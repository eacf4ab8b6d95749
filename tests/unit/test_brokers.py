"""Brokers: membership against the policy, setting drift, log dirs."""

from __future__ import annotations

from exporter.analysis.brokers import broker_membership, log_dir_health, setting_drift, setting_matches
from exporter.config import PolicyConfig
from exporter.model import LogDir
from tests.unit.snapshots import brokers, snapshot


def test_missing_and_unexpected_brokers() -> None:
    snap = snapshot(brokers([1, 2, 4, 7]), [])
    mb = broker_membership(snap, PolicyConfig(expected_brokers=(1, 2, 3, 4)))
    assert mb.expected_count == 4
    assert mb.missing == (3,)
    assert mb.unexpected == (7,)


def test_expected_count_only_names_no_brokers() -> None:
    mb = broker_membership(snapshot(brokers([1, 2]), []), PolicyConfig(expected_broker_count=3))
    assert (mb.expected_count, mb.missing, mb.unexpected, mb.live) == (3, None, None, (1, 2))


def test_no_expectation_and_unknown_brokers() -> None:
    assert broker_membership(snapshot(brokers([1]), []), PolicyConfig()).expected_count is None
    mb = broker_membership(snapshot(None, None), PolicyConfig(expected_brokers=(1,)))
    assert mb.missing is None and mb.unexpected is None  # not read: no finding, not "all missing"


def test_fenced_brokers() -> None:
    assert broker_membership(snapshot(brokers([1]), [], fenced=[3, 2]), PolicyConfig()).fenced == (2, 3)
    assert broker_membership(snapshot(brokers([1]), []), PolicyConfig()).fenced is None


def test_setting_matches() -> None:
    assert setting_matches("true", "TRUE")
    assert setting_matches("false", "False")
    assert not setting_matches("false", "true")
    assert setting_matches("3", " 3")
    assert not setting_matches("3", "1")
    assert not setting_matches("gzip", "GZIP")  # only booleans ignore case


def test_setting_drift_one_per_broker_and_setting() -> None:
    policy = PolicyConfig(broker_settings={"auto.create.topics.enable": "false", "min.insync.replicas": "2"})
    snap = snapshot(
        brokers([1, 2, 3, 4]),
        [],
        broker_configs={
            1: {"auto.create.topics.enable": "FALSE", "min.insync.replicas": "2"},  # matches
            2: {"auto.create.topics.enable": "true", "min.insync.replicas": "1"},  # both differ
            3: {"min.insync.replicas": "2"},  # setting not reported: no finding
            # 4: configs not read: no finding
        },
    )
    drift = [(d.broker, d.setting, d.desired, d.actual) for d in setting_drift(snap, policy)]
    assert drift == [(2, "auto.create.topics.enable", "false", "true"), (2, "min.insync.replicas", "2", "1")]


def test_log_dirs() -> None:
    snap = snapshot(
        brokers([1, 2]),
        [],
        log_dirs={
            1: [LogDir(1, "/data/b", "KafkaStorageException", None, None), LogDir(1, "/data/a", None, 100, 40)],
        },
    )
    dirs = log_dir_health(snap)
    assert [(d.broker, d.path, d.offline, d.total_bytes, d.usable_bytes) for d in dirs] == [
        (1, "/data/a", False, 100, 40),
        (1, "/data/b", True, None, None),
    ]
