"""What the cluster's brokers can answer, from their ApiVersions: which calls the exporter makes and which source
stands in where a Kafka release lacks an API. Detected, not tried: a call a broker cannot answer is never made,
so an old but healthy cluster costs no failed call per cycle.

Versions in the comments are those of the Apache Kafka release that added each API version."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from exporter.model import BrokerVersion

# Kafka API keys (org.apache.kafka.common.protocol.ApiKeys).
LIST_GROUPS = 16
API_VERSIONS = 18
LIST_PARTITION_REASSIGNMENTS = 46
DESCRIBE_QUORUM = 55
DESCRIBE_CLUSTER = 60


@dataclass(frozen=True)
class Capabilities:
    reassignments_api: bool  # ListPartitionReassignments (2.4)
    features: bool  # ApiVersions v3 (2.4; finalized features are filled from 2.7)
    group_states: bool  # ListGroups v4 (2.6) lists each group's state; before, only DescribeGroups says it
    fenced_brokers: bool  # DescribeCluster v2 (4.0) reports fenced brokers
    quorum: bool  # DescribeQuorum (3.0, KRaft)


def _supports(versions: Mapping[int, BrokerVersion], key: int, min_version: int = 0) -> bool:
    """Every broker that answered ApiVersions supports `key` at `min_version` or later: during a rolling upgrade
    the old brokers' answer decides, as any of them may be the one asked."""
    for v in versions.values():
        top = next((hi for k, _, hi in v.api_versions if k == key), None)
        if top is None or top < min_version:
            return False
    return True


def detect(versions: Mapping[int, BrokerVersion]) -> Capabilities | None:
    """The capabilities of the brokers in `versions`; None when no broker answered ApiVersions."""
    if not versions:
        return None
    return Capabilities(
        reassignments_api=_supports(versions, LIST_PARTITION_REASSIGNMENTS),
        features=_supports(versions, API_VERSIONS, 3),
        group_states=_supports(versions, LIST_GROUPS, 4),
        fenced_brokers=_supports(versions, DESCRIBE_CLUSTER, 2),
        quorum=_supports(versions, DESCRIBE_QUORUM),
    )


def sources(caps: Capabilities, mode: str | None, zookeeper: bool) -> dict[str, str | None]:
    """Capability -> the call that provides it, or None where no source can (then its series are absent).
    `zookeeper`: the cluster has `zookeeper.connect` configured in the exporter."""
    zk_mode = mode != "kraft"
    out: dict[str, str | None] = {
        "reassignments": (
            "list_partition_reassignments"
            if caps.reassignments_api
            else ("zookeeper" if zookeeper and zk_mode else None)
        ),
        "finalized_features": "describe_features" if caps.features else None,
        "group_state": "list_groups" if caps.group_states else "describe_groups",
    }
    if mode == "kraft":
        out["fenced_brokers"] = "describe_cluster" if caps.fenced_brokers else None
        out["quorum"] = "describe_quorum" if caps.quorum else None
    return out


# Why a capability is missing, for the one log line that says so.
MISSING_BECAUSE = {
    "reassignments": "the brokers have no ListPartitionReassignments (Kafka < 2.4); configure `zookeeper` for this "
    "cluster to read /admin/reassign_partitions instead",
    "finalized_features": "the brokers answer ApiVersions below v3 (Kafka < 2.4)",
    "fenced_brokers": "the brokers' DescribeCluster is below v2 (Kafka < 4.0)",
    "quorum": "the brokers have no DescribeQuorum",
}
