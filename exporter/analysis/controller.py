"""Which node controls the cluster, by which source, and when that changes.

ZooKeeper mode: the broker id in /controller (epoch from /controller_epoch), cross-checked with the
controller the Metadata answer names. KRaft: the leader of the metadata quorum (DescribeQuorum). Never the id
Metadata or DescribeCluster return in KRaft mode: brokers answer them with a random live broker."""

from __future__ import annotations

from dataclasses import dataclass

from exporter.model import ClusterSnapshot


@dataclass(frozen=True)
class ControllerView:
    source: str  # "zookeeper" or "kraft_quorum"
    id: int | None  # None: no active controller
    epoch: int | None
    metadata_id: int | None = None  # ZooKeeper mode: what the Metadata answer says, to cross-check
    kraft_controller_in_zk: bool = False  # /controller names a KRaft controller (migration to KRaft)


def controller_view(snap: ClusterSnapshot) -> ControllerView | None:
    """None when no source that knows the controller answered this cycle."""
    if snap.zk is not None:
        return ControllerView(
            "zookeeper",
            snap.zk.controller_id,
            snap.zk.controller_epoch,
            snap.metadata_controller_id,
            snap.zk.kraft_controller,
        )
    if snap.quorum is not None:
        return ControllerView("kraft_quorum", snap.quorum.leader_id, snap.quorum.leader_epoch)
    return None


@dataclass(frozen=True)
class ControllerHistory:
    last: ControllerView | None = None
    changes: int = 0  # changes of controller id or epoch observed since the exporter started


def advance(history: ControllerHistory, view: ControllerView | None) -> ControllerHistory:
    """Count a change whenever the controller id or epoch differs from the last one seen. A cycle in which
    no source answered keeps the last view, so an outage of the exporter's view is not a "change"."""
    if view is None:
        return history
    last = history.last
    changed = last is not None and (last.id, last.epoch) != (view.id, view.epoch)
    return ControllerHistory(view, history.changes + int(changed))


@dataclass(frozen=True)
class VoterLag:
    id: int
    lag_records: int  # the leader's log end offset minus this voter's
    last_caught_up_ms: int | None


def voter_lags(snap: ClusterSnapshot) -> list[VoterLag]:
    q = snap.quorum
    if q is None or q.leader_id is None:
        return []
    leader = next((v for v in q.voters if v.id == q.leader_id), None)
    if leader is None:
        return []
    return [VoterLag(v.id, max(0, leader.log_end_offset - v.log_end_offset), v.last_caught_up_ms) for v in q.voters]
