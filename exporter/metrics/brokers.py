"""Broker findings -> samples: membership against the policy, fenced brokers, settings that differ from the
policy, log dirs, and the versions brokers run (an upgrade in progress)."""

from __future__ import annotations

from exporter.analysis.brokers import broker_membership, broker_versions, log_dir_health, setting_drift
from exporter.config import PolicyConfig
from exporter.metrics.definitions import define
from exporter.metrics.render import Samples
from exporter.model import ClusterSnapshot

BROKERS_EXPECTED = define(
    "kafka_brokers_expected",
    "gauge",
    "Brokers the policy expects to be live (the listed ids, else the expected count); compare with "
    "kafka_brokers. Absent when the policy sets neither.",
)
BROKER_MISSING = define(
    "kafka_broker_missing",
    "gauge",
    "1 for each broker id the policy expects that is not live; absent otherwise.",
    ("broker_id",),
)
BROKER_UNEXPECTED = define(
    "kafka_broker_unexpected",
    "gauge",
    "1 for each live broker whose id the policy's expected_brokers does not list; absent otherwise.",
    ("broker_id",),
)
BROKERS_FENCED = define(
    "kafka_brokers_fenced",
    "gauge",
    "KRaft: brokers registered with the controller but fenced (not serving). Absent where not known.",
)
BROKER_FENCED = define(
    "kafka_broker_fenced",
    "gauge",
    "KRaft: 1 for each broker registered with the controller but fenced (not serving); absent otherwise.",
    ("broker_id",),
)
BROKER_SETTING_DRIFT = define(
    "kafka_broker_setting_drift",
    "gauge",
    "1 for each live broker and policy setting whose value differs from the policy (booleans compared "
    "case-insensitively); absent when it matches or was not read.",
    ("broker_id", "setting", "desired", "actual"),
)
LOG_DIR_OFFLINE = define(
    "kafka_broker_log_dir_offline",
    "gauge",
    "1 if the broker reports an error for this log directory (an offline log dir), else 0.",
    ("broker_id", "path"),
)
LOG_DIR_TOTAL = define(
    "kafka_broker_log_dir_total_bytes",
    "gauge",
    "Size of the volume holding this log directory, as the broker reports it (Kafka 3.3 and later).",
    ("broker_id", "path"),
)
LOG_DIR_USABLE = define(
    "kafka_broker_log_dir_usable_bytes",
    "gauge",
    "Usable free bytes on the volume holding this log directory, as the broker reports it (Kafka 3.3 and "
    "later). A full disk stalls writes and reassignments.",
    ("broker_id", "path"),
)


IBP_INFO = define(
    "kafka_broker_inter_broker_protocol_info",
    "info",
    "ZooKeeper mode: each broker's inter.broker.protocol.version (differs during a rolling upgrade).",
    ("broker_id", "version"),
)
METADATA_VERSION = define(
    "kafka_cluster_metadata_version_level",
    "gauge",
    "KRaft: the cluster's finalized metadata.version feature level.",
)
VERSION_INFO = define(
    "kafka_broker_version_info",
    "info",
    'The Kafka release each broker\'s ApiVersions answer matches (inferred="true": no Kafka API reports a '
    "broker's software version, so this is kafka-python's inference from the API versions it supports).",
    ("broker_id", "version", "inferred"),
)
MIXED_VERSIONS = define(
    "kafka_cluster_mixed_versions",
    "gauge",
    "1 while brokers answer with different API versions (an upgrade in progress), 0 when all agree.",
)


def broker_samples(snap: ClusterSnapshot, policy: PolicyConfig) -> Samples:
    s = Samples()
    mb = broker_membership(snap, policy)
    if mb.expected_count is not None:
        s.add(BROKERS_EXPECTED, mb.expected_count)
    for b in mb.missing or ():
        s.add(BROKER_MISSING, 1, broker_id=b)
    for b in mb.unexpected or ():
        s.add(BROKER_UNEXPECTED, 1, broker_id=b)
    if mb.fenced is not None:
        s.add(BROKERS_FENCED, len(mb.fenced))
        for b in mb.fenced:
            s.add(BROKER_FENCED, 1, broker_id=b)
    for d in setting_drift(snap, policy):
        s.add(BROKER_SETTING_DRIFT, 1, broker_id=d.broker, setting=d.setting, desired=d.desired, actual=d.actual)
    for ld in log_dir_health(snap):
        s.add(LOG_DIR_OFFLINE, int(ld.offline), broker_id=ld.broker, path=ld.path)
        if ld.total_bytes is not None:
            s.add(LOG_DIR_TOTAL, ld.total_bytes, broker_id=ld.broker, path=ld.path)
        if ld.usable_bytes is not None:
            s.add(LOG_DIR_USABLE, ld.usable_bytes, broker_id=ld.broker, path=ld.path)
    v = broker_versions(snap)
    for b, ibp in v.inter_broker_protocol.items():
        s.info(IBP_INFO, broker_id=b, version=ibp)
    if v.metadata_version is not None:
        s.add(METADATA_VERSION, v.metadata_version)
    for b, release in v.releases.items():
        s.info(VERSION_INFO, broker_id=b, version=release, inferred="true")
    if v.mixed is not None:
        s.add(MIXED_VERSIONS, int(v.mixed))
    return s
