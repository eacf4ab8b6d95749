"""What older Kafka releases cannot answer, and the sources that stand in: capabilities from ApiVersions,
reassignments from /admin/reassign_partitions before 2.4, ISRs from ZooKeeper where Metadata leaves them empty."""

from __future__ import annotations

from exporter.collect import isr_unknown, replace_partitions
from exporter.model import BrokerVersion, Topic
from exporter.sources import capabilities
from exporter.sources.reassignments import moves_from_request
from exporter.sources.zookeeper import parse_isr
from tests.unit.snapshots import part

# ApiVersions max versions of the keys capabilities read, per release (from the brokers' own answers).
LIST_GROUPS, API_VERSIONS, LIST_REASSIGNMENTS, DESCRIBE_QUORUM, DESCRIBE_CLUSTER = 16, 18, 46, 55, 60
KAFKA_2_1 = BrokerVersion("2.1", ((LIST_GROUPS, 0, 2), (API_VERSIONS, 0, 2)))
KAFKA_2_8 = BrokerVersion(
    "2.8", ((LIST_GROUPS, 0, 4), (API_VERSIONS, 0, 3), (LIST_REASSIGNMENTS, 0, 0), (DESCRIBE_CLUSTER, 0, 0))
)
KAFKA_4_1 = BrokerVersion(
    "4.1",
    (
        (LIST_GROUPS, 0, 5),
        (API_VERSIONS, 0, 4),
        (LIST_REASSIGNMENTS, 0, 0),
        (DESCRIBE_QUORUM, 0, 2),
        (DESCRIBE_CLUSTER, 0, 2),
    ),
)


def test_old_release_reads_reassignments_from_zookeeper_and_group_state_from_describe_groups() -> None:
    caps = capabilities.detect({1: KAFKA_2_1, 2: KAFKA_2_1})
    assert caps is not None
    assert capabilities.sources(caps, "zookeeper", zookeeper=True) == {
        "reassignments": "zookeeper",
        "finalized_features": None,
        "group_state": "describe_groups",
    }
    # Without ZooKeeper configured nothing can say what moves: stated, not guessed.
    assert capabilities.sources(caps, "zookeeper", zookeeper=False)["reassignments"] is None


def test_rolling_upgrade_uses_what_every_broker_answers() -> None:
    caps = capabilities.detect({1: KAFKA_2_8, 2: KAFKA_2_1})
    assert caps is not None and not caps.reassignments_api and not caps.group_states
    upgraded = capabilities.detect({1: KAFKA_2_8, 2: KAFKA_2_8})
    assert upgraded is not None and upgraded.reassignments_api and upgraded.group_states
    assert not upgraded.fenced_brokers  # DescribeCluster v0: no fencing before 4.0


def test_kraft_release_has_quorum_and_fencing() -> None:
    caps = capabilities.detect({1: KAFKA_4_1})
    assert caps is not None
    via = capabilities.sources(caps, "kraft", zookeeper=False)
    assert via["fenced_brokers"] == "describe_cluster" and via["quorum"] == "describe_quorum"
    assert all(via.values())


def test_no_answer_means_unknown_capabilities() -> None:
    assert capabilities.detect({}) is None


def test_moves_before_2_4_from_the_request_and_the_union_of_replicas() -> None:
    topics = (
        Topic(
            "t",
            False,
            (
                # Controller acted: replicas are old + new; broker 4 still copying, 3 already in the ISR.
                part("t", 0, [1, 2, 3, 4], isr=[1, 2, 3]),
                # Every target in the ISR: only the old replica is left to remove.
                part("t", 1, [2, 3, 1], isr=[2, 3, 1]),
                # Not acted on yet (target 5 not among the replicas): not moving.
                part("t", 2, [1, 2], isr=[1, 2]),
                # Already where asked: the controller is about to delete the request.
                part("t", 3, [3, 4], isr=[3, 4]),
            ),
        ),
    )
    request = {("t", 0): (3, 4), ("t", 1): (2, 3), ("t", 2): (5, 1), ("t", 3): (3, 4), ("gone", 0): (1,)}
    assert moves_from_request(request, topics) == {("t", 0): ((4,), (1, 2)), ("t", 1): ((), (1,))}


def test_empty_isr_of_a_leaderless_partition_is_read_from_zookeeper() -> None:
    topics = (
        Topic("a", False, (part("a", 0, [2], isr=[], leader=None), part("a", 1, [1], isr=[1]))),
        Topic("b", False, (part("b", 0, [1, 2], isr=[1], leader=None),)),  # leaderless but ISR known
    )
    assert isr_unknown(topics) == [("a", 0)]
    fixed = replace_partitions(topics, {("a", 0): {"isr": (2,)}})
    assert fixed[0].partitions[0].isr == (2,) and fixed[0].partitions[1] is topics[0].partitions[1]
    assert fixed[1] is topics[1]
    assert parse_isr(b'{"controller_epoch":1,"leader":-1,"version":1,"leader_epoch":2,"isr":[2]}') == (2,)
    assert parse_isr(None) is None
