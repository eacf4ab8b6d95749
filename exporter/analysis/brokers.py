"""Brokers: expected vs live, fenced brokers, broker settings that differ from the policy, log-dir health."""

from __future__ import annotations

from dataclasses import dataclass

from exporter.config import PolicyConfig
from exporter.model import ClusterSnapshot

_BOOLEANS = ("true", "false")


@dataclass(frozen=True)
class BrokerMembership:
    live: tuple[int, ...] | None  # None: the broker list was not read
    expected_count: int | None  # None: the policy does not say
    # Expected brokers that are not live; None unless the policy lists ids and the live brokers are known.
    missing: tuple[int, ...] | None
    # Live brokers the policy does not list; None under the same conditions.
    unexpected: tuple[int, ...] | None
    fenced: tuple[int, ...] | None  # KRaft: registered but fenced; None where unknown


def broker_membership(snap: ClusterSnapshot, policy: PolicyConfig) -> BrokerMembership:
    live = None if snap.brokers is None else tuple(sorted(b.id for b in snap.brokers))
    expected = set(policy.expected_brokers)
    expected_count = len(expected) if expected else policy.expected_broker_count
    missing = unexpected = None
    if expected and live is not None:
        missing = tuple(sorted(expected - set(live)))
        unexpected = tuple(sorted(set(live) - expected))
    fenced = None if snap.fenced_brokers is None else tuple(sorted(snap.fenced_brokers))
    return BrokerMembership(live, expected_count, missing, unexpected, fenced)


def setting_matches(desired: str, actual: str) -> bool:
    """Booleans compare case-insensitively (Kafka accepts TRUE), integers by value, the rest exactly."""
    d, a = desired.strip(), actual.strip()
    if d.lower() in _BOOLEANS and a.lower() in _BOOLEANS:
        return d.lower() == a.lower()
    try:
        return int(d) == int(a)
    except ValueError:
        return d == a


@dataclass(frozen=True)
class SettingDrift:
    broker: int
    setting: str
    desired: str
    actual: str


def setting_drift(snap: ClusterSnapshot, policy: PolicyConfig) -> list[SettingDrift]:
    """One finding per live broker and policy setting whose value differs. Brokers whose configs were not
    read, and settings the broker does not report (unknown to its version, or sensitive), give none."""
    out = []
    for b in sorted(x.id for x in snap.brokers or ()):
        configs = snap.broker_configs.get(b)
        if configs is None:
            continue
        for key, desired in sorted(policy.broker_settings.items()):
            cv = configs.get(key)
            if cv is None or cv.value is None:
                continue
            if not setting_matches(desired, cv.value):
                out.append(SettingDrift(b, key, desired, cv.value))
    return out


@dataclass(frozen=True)
class LogDirHealth:
    broker: int
    path: str
    error: str | None
    total_bytes: int | None
    usable_bytes: int | None

    @property
    def offline(self) -> bool:
        return self.error is not None


def log_dir_health(snap: ClusterSnapshot) -> list[LogDirHealth]:
    """Every log dir the brokers reported (a broker whose dirs were not read has none here)."""
    return [
        LogDirHealth(b, d.path, d.error, d.total_bytes, d.usable_bytes)
        for b in sorted(snap.log_dirs)
        for d in sorted(snap.log_dirs[b], key=lambda d: d.path)
    ]


@dataclass(frozen=True)
class BrokerVersions:
    inter_broker_protocol: dict[int, str]  # ZooKeeper mode: each broker's inter.broker.protocol.version
    metadata_version: int | None  # KRaft: the finalized metadata.version feature level
    releases: dict[int, str]  # the release each broker's ApiVersions answer matches (inferred)
    mixed: bool | None  # brokers answer with different API versions; None with fewer than two read


def broker_versions(snap: ClusterSnapshot) -> BrokerVersions:
    ibp = {}
    if snap.mode == "zookeeper":
        for b, cfg in snap.broker_configs.items():
            v = cfg.get("inter.broker.protocol.version")
            if v is not None and v.value:
                ibp[b] = v.value
    features = snap.features or {}
    apis = {v.api_versions for v in snap.broker_versions.values()}
    return BrokerVersions(
        inter_broker_protocol=ibp,
        metadata_version=features.get("metadata.version"),
        releases={b: v.inferred for b, v in snap.broker_versions.items()},
        mixed=len(apis) > 1 if len(snap.broker_versions) > 1 else None,
    )
