"""Controller findings -> samples."""

from __future__ import annotations

from exporter.analysis.controller import ControllerHistory, controller_view, voter_lags
from exporter.metrics.definitions import define
from exporter.metrics.render import Samples
from exporter.model import ClusterSnapshot
from exporter.sources import METADATA

CONTROLLER_ACTIVE = define(
    "kafka_controller_active",
    "gauge",
    "1 if the cluster has an active controller, 0 if the source that knows says there is none (ZooKeeper mode: "
    'no /controller znode, or without ZooKeeper configured (source="metadata") no controller in the Metadata '
    "answer; KRaft: the metadata quorum has no leader). Absent when that source did not answer.",
    ("source",),
)
CONTROLLER_ID = define(
    "kafka_controller_id",
    "gauge",
    'Id of the active controller: the broker in ZooKeeper\'s /controller (source="zookeeper"), the broker '
    'Metadata names in ZooKeeper mode (source="metadata", a cross-check: it differs while the controller '
    'is moving or hung), or the leader of the KRaft metadata quorum (source="kraft_quorum").',
    ("source",),
)
CONTROLLER_EPOCH = define(
    "kafka_controller_epoch",
    "gauge",
    "Controller epoch: /controller_epoch in ZooKeeper mode, the quorum leader epoch in KRaft. Rises at every "
    "controller election.",
    ("source",),
)
CONTROLLER_CHANGES = define(
    "kafka_controller_changes_total",
    "counter",
    "Changes of controller id or epoch the exporter observed between collection cycles since it started (sampled "
    "by the background collection: two elections between two cycles count once).",
)
KRAFT_MIGRATION = define(
    "kafka_controller_kraft_migration",
    "gauge",
    "1 if ZooKeeper's /controller is held by a KRaft controller (its kraftControllerEpoch is 0 or more): a "
    "ZooKeeper-to-KRaft migration is in progress. 0 on a plain ZooKeeper-mode cluster, whose controller writes "
    "kraftControllerEpoch -1 (Kafka 3.4+) or none.",
)
QUORUM_VOTERS = define("kafka_controller_quorum_voters", "gauge", "Voters of the KRaft metadata quorum.")
QUORUM_OBSERVERS = define(
    "kafka_controller_quorum_observers",
    "gauge",
    "Observers (brokers that are not voters) of the KRaft metadata quorum.",
)
VOTER_LAG = define(
    "kafka_controller_quorum_voter_lag_records",
    "gauge",
    "Metadata records a KRaft voter is behind the quorum leader (leader log end offset minus its own).",
    ("node_id",),
)
VOTER_CAUGHT_UP = define(
    "kafka_controller_quorum_voter_last_caught_up_timestamp_seconds",
    "gauge",
    "When the KRaft voter last caught up with the quorum leader (Unix time).",
    ("node_id",),
)


def controller_samples(snap: ClusterSnapshot, history: ControllerHistory) -> Samples:
    s = Samples()
    s.add(CONTROLLER_CHANGES, history.changes)
    view = controller_view(snap)
    if view is not None:
        s.add(CONTROLLER_ACTIVE, int(view.id is not None), source=view.source)
        if view.id is not None:
            s.add(CONTROLLER_ID, view.id, source=view.source)
        if view.epoch is not None:
            s.add(CONTROLLER_EPOCH, view.epoch, source=view.source)
        if view.source == "zookeeper":
            s.add(KRAFT_MIGRATION, int(view.kraft_controller_in_zk))
    if snap.mode == "zookeeper":
        if snap.metadata_controller_id is not None:
            s.add(CONTROLLER_ID, snap.metadata_controller_id, source=METADATA)
        if snap.zk is None and snap.brokers is not None:
            # Without ZooKeeper configured, the Metadata answer is the only word on it: no controller id there
            # means the brokers know of no active controller.
            s.add(CONTROLLER_ACTIVE, int(snap.metadata_controller_id is not None), source=METADATA)
    if snap.quorum is not None:
        s.add(QUORUM_VOTERS, len(snap.quorum.voters))
        s.add(QUORUM_OBSERVERS, len(snap.quorum.observers))
        for v in voter_lags(snap):
            s.add(VOTER_LAG, v.lag_records, node_id=v.id)
            if v.last_caught_up_ms is not None:
                s.add(VOTER_CAUGHT_UP, v.last_caught_up_ms / 1000, node_id=v.id)
    return s
