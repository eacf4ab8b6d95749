"""The rolling-restart gate: would stopping these brokers now leave every partition writable with acks=all?

A pure function of one snapshot, on the loss simulation of analysis.exposure (Kafka's clean leader election).
Unlike the exposure metrics it counts every topic, excluded ones and internal ones too: a gate that a restart
script trusts must not skip the topic whose producers it would stop (nor __consumer_offsets, whose loss stops
every consumer's commits)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from exporter.analysis.exposure import loss_model, rack_groups
from exporter.analysis.replication import live_broker_ids
from exporter.config import PolicyConfig
from exporter.model import ClusterSnapshot

TP = tuple[str, int]


class GateError(ValueError):
    """The question cannot be answered from this snapshot (unknown broker or rack, cluster not read)."""


@dataclass(frozen=True)
class StopVerdict:
    target: str  # what is stopped, for the report: "broker 3", "rack eu-west-1a"
    brokers: tuple[int, ...]
    # Partitions the stop would leave offline / under min.insync.replicas that are writable now.
    would_go_offline: tuple[TP, ...]
    would_go_under_min_isr: tuple[TP, ...]
    # Partitions already offline or under min ISR (not writable with acks=all whatever is stopped).
    already_unwritable: tuple[TP, ...]
    # Topics whose min.insync.replicas was not read: their partitions cannot be judged.
    min_isr_unknown: bool

    @property
    def safe(self) -> bool:
        return not (self.would_go_offline or self.would_go_under_min_isr or self.already_unwritable)


def brokers_of(snap: ClusterSnapshot, *, broker: int | None = None, rack: str | None = None) -> tuple[str, set[int]]:
    """The live brokers a --stop-broker / --stop-rack names, and how to call them."""
    live = live_broker_ids(snap)
    if live is None:
        raise GateError("the cluster's brokers were not read")
    if broker is not None:
        if broker not in live:
            raise GateError(f"broker {broker} is not a live broker (live: {', '.join(map(str, sorted(live)))})")
        return f"broker {broker}", {broker}
    groups = rack_groups(snap.brokers or ())
    if rack is None or rack not in groups:
        known = ", ".join(sorted(groups)) or "none"
        raise GateError(f"rack {rack!r} has no live broker (racks: {known})")
    return f"rack {rack}", set(groups[rack])


def stop_verdict(snap: ClusterSnapshot, policy: PolicyConfig, target: str, brokers: set[int]) -> StopVerdict:
    """What stopping `brokers` now would do to acks=all writes, counted over every topic."""
    model = loss_model(snap, dataclasses.replace(policy, exclude_topics=()))
    if model is None:
        raise GateError("the cluster's topics or brokers were not read")
    now = model.exposure(target, ())
    after = model.exposure(target, brokers)
    unwritable_now = set(now.under_min_isr or ()) | set(now.offline)
    offline = set(after.offline) - unwritable_now
    under = set(after.under_min_isr or ()) - unwritable_now - offline
    return StopVerdict(
        target=target,
        brokers=tuple(sorted(brokers)),
        would_go_offline=tuple(sorted(offline)),
        would_go_under_min_isr=tuple(sorted(under)),
        already_unwritable=tuple(sorted(unwritable_now)),
        min_isr_unknown=after.under_min_isr is None,
    )
