"""Controller identity: which source is trusted in which mode, and what counts as a change."""

from __future__ import annotations

from exporter.analysis.controller import ControllerHistory, ControllerView, advance, controller_view, voter_lags
from exporter.metrics import controller as cm
from exporter.metrics.controller import controller_samples
from exporter.model import Broker, ClusterSnapshot, Quorum, QuorumReplica, ZkState
from exporter.sources.kafka_admin import parse_features, parse_quorum
from exporter.sources.zookeeper import parse_controller, parse_reassign_request, parse_topic_reassignments


def zk(controller: int | None, epoch: int | None = 5, kraft: bool = False) -> ZkState:
    return ZkState(controller, epoch, kraft, (1, 2, 3))


def test_zookeeper_mode_trusts_znode_and_cross_checks_admin() -> None:
    snap = ClusterSnapshot(taken_at=0, mode="zookeeper", metadata_controller_id=2, zk=zk(1))
    s = controller_samples(snap, ControllerHistory())
    assert s.value(cm.CONTROLLER_ID, source="zookeeper") == 1
    assert s.value(cm.CONTROLLER_ID, source="metadata") == 2  # they disagree: visible, alertable
    assert s.value(cm.CONTROLLER_ACTIVE, source="zookeeper") == 1
    assert s.value(cm.KRAFT_MIGRATION) == 0


def test_deleted_controller_znode_means_no_active_controller() -> None:
    s = controller_samples(ClusterSnapshot(taken_at=0, mode="zookeeper", zk=zk(None)), ControllerHistory())
    assert s.value(cm.CONTROLLER_ACTIVE, source="zookeeper") == 0
    assert s.value(cm.CONTROLLER_ID, source="zookeeper") is None


def test_kraft_uses_quorum_leader_never_describe_cluster() -> None:
    q = Quorum(3, 7, 100, (QuorumReplica(1, 90, 1000), QuorumReplica(3, 100, 2000)), ())
    # DescribeCluster's "controller" in KRaft is a random broker: it must not be exported as the controller.
    snap = ClusterSnapshot(taken_at=0, mode="kraft", metadata_controller_id=1, quorum=q)
    s = controller_samples(snap, ControllerHistory())
    assert s.value(cm.CONTROLLER_ID, source="kraft_quorum") == 3
    assert s.value(cm.CONTROLLER_ID, source="metadata") is None
    assert s.value(cm.CONTROLLER_EPOCH, source="kraft_quorum") == 7
    assert {v.id: v.lag_records for v in voter_lags(snap)} == {1: 10, 3: 0}
    assert s.value(cm.VOTER_CAUGHT_UP, node_id=1) == 1.0


def test_changes_count_id_or_epoch_moves_but_not_missing_reads() -> None:
    h = ControllerHistory()
    h = advance(h, ControllerView("zookeeper", 1, 5))
    assert h.changes == 0  # the first sight is not a change
    h = advance(h, None)  # ZooKeeper unreachable for a cycle
    h = advance(h, ControllerView("zookeeper", 1, 5))
    assert h.changes == 0
    h = advance(h, ControllerView("zookeeper", None, 5))  # /controller deleted
    h = advance(h, ControllerView("zookeeper", 1, 6))  # re-elected, same broker, new epoch
    assert h.changes == 2


def test_no_source_answered_gives_no_controller_series() -> None:
    s = controller_samples(ClusterSnapshot(taken_at=0), ControllerHistory(changes=3))
    assert controller_view(ClusterSnapshot(taken_at=0)) is None
    assert s.value(cm.CONTROLLER_ACTIVE, source="zookeeper") is None
    assert s.value(cm.CONTROLLER_CHANGES) == 3


def test_znode_parsers() -> None:
    assert parse_controller(b'{"version":1,"brokerid":1002,"timestamp":"1"}') == (1002, False)
    assert parse_controller(b'{"version":2,"brokerid":3000,"timestamp":"1","kraftControllerEpoch":4}') == (3000, True)
    assert parse_controller(None) == (None, False)
    # What a plain ZooKeeper-mode Kafka 3.9.1 broker writes to /controller (read from a real cluster).
    real_39 = b'{"version":2,"brokerid":1,"timestamp":"1764660000000","kraftControllerEpoch":-1}'
    assert parse_controller(real_39) == (1, False)
    req = b'{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[0,1003,1002]}]}'
    assert parse_reassign_request(req) == {("t", 0): (0, 1003, 1002)}
    topic = (
        b'{"version":3,"partitions":{"0":[1,2,3,4],"1":[1,2]},'
        b'"adding_replicas":{"0":[4]},"removing_replicas":{"0":[1]}}'
    )
    assert parse_topic_reassignments("t", topic) == {("t", 0): ((4,), (1,))}


def test_kafka_admin_parsers_accept_kafka_python_shapes() -> None:
    # kafka-python 3.0.12 as seen against Kafka 4.1.1.
    raw = {"metadata.version": {"supported": (7, 27), "finalized": (27, 27)}, "kraft.version": {"supported": (0, 1)}}
    assert parse_features(raw) == {"metadata.version": 27}
    assert parse_features({"finalized_features": {"metadata.version": (1, 20)}}) == {"metadata.version": 20}
    quorum = {
        "topics": [
            {
                "partitions": [
                    {
                        "leader_id": 2,
                        "leader_epoch": 1,
                        "high_watermark": 18,
                        "current_voters": [{"replica_id": 1, "log_end_offset": 18, "last_caught_up_timestamp": -1}],
                        "observers": [],
                    }
                ]
            }
        ]
    }
    q = parse_quorum(quorum)
    assert q is not None and q.leader_id == 2 and q.voters[0].last_caught_up_ms is None


def test_zookeeper_mode_without_zookeeper_configured_still_tells_no_controller() -> None:
    brokers = (Broker(1, "h", 9092),)
    none = ClusterSnapshot(taken_at=0, mode="zookeeper", brokers=brokers, metadata_controller_id=None)
    some = ClusterSnapshot(taken_at=0, mode="zookeeper", brokers=brokers, metadata_controller_id=1)
    assert controller_samples(none, ControllerHistory()).value(cm.CONTROLLER_ACTIVE, source="metadata") == 0
    assert controller_samples(some, ControllerHistory()).value(cm.CONTROLLER_ACTIVE, source="metadata") == 1
    # With ZooKeeper read, /controller is the authority and the admin view is only a cross-check.
    with_zk = ClusterSnapshot(taken_at=0, mode="zookeeper", brokers=brokers, metadata_controller_id=1, zk=zk(None))
    assert controller_samples(with_zk, ControllerHistory()).value(cm.CONTROLLER_ACTIVE, source="metadata") is None
