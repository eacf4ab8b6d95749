"""Every policy violation and at-risk partition of one snapshot, as rows the `check` command prints.

Topics the policy excludes give no rows. Partition states are grouped per topic (one row per topic and
state, naming the partitions) so a broken cluster still gives a readable table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from exporter.analysis.brokers import broker_membership, log_dir_health, setting_drift
from exporter.analysis.exposure import rack_exposure
from exporter.analysis.policy import is_excluded, topic_policies
from exporter.analysis.replication import all_topic_states
from exporter.config import PolicyConfig
from exporter.model import ClusterSnapshot

Severity = Literal["critical", "warning"]
_MAX_LISTED = 20  # partitions named in one row; the count is always complete


@dataclass(frozen=True)
class Violation:
    kind: str  # e.g. "replication_factor_below_policy"
    subject: str  # e.g. "topic orders", "broker 3", "rack a"
    detail: str  # readable, with the numbers that matter
    severity: Severity


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:_MAX_LISTED])
    return shown + (f" and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else "")


def _partitions(ps: tuple[int, ...]) -> str:
    return _listing([str(p) for p in ps])


def _topic_rows(snap: ClusterSnapshot, policy: PolicyConfig) -> list[Violation]:
    out: list[Violation] = []
    for f in topic_policies(snap, policy):
        if f.excluded:
            continue
        subj = f"topic {f.topic}"
        rf = f"{f.rf_min}" if f.rf_min == f.rf_max else f"{f.rf_min}-{f.rf_max}"
        if f.rf_below:
            out.append(
                Violation(
                    "replication_factor_below_policy",
                    subj,
                    f"replication factor {rf}, policy wants {f.desired_rf}",
                    "critical",
                )
            )
        elif f.rf_above:
            out.append(
                Violation(
                    "replication_factor_above_policy",
                    subj,
                    f"replication factor {rf}, policy wants {f.desired_rf}",
                    "warning",
                )
            )
        drift = f.min_isr_drift
        if drift is not None and drift != 0:
            out.append(
                Violation(
                    "min_insync_replicas_below_policy" if drift < 0 else "min_insync_replicas_above_policy",
                    subj,
                    f"min.insync.replicas {f.min_isr}, policy wants {f.desired_min_isr}",
                    "critical" if drift < 0 else "warning",
                )
            )
        if f.rf_not_above_min_isr and f.rf_min is not None and f.min_isr is not None:
            effect = (
                "acks=all writes always fail" if f.rf_min < f.min_isr else "one lost replica blocks acks=all writes"
            )
            out.append(
                Violation(
                    "replication_factor_not_above_min_isr",
                    subj,
                    f"replication factor {f.rf_min} <= min.insync.replicas {f.min_isr}: {effect}",
                    "warning",
                )
            )
        if f.unclean_leader_election:
            out.append(
                Violation(
                    "unclean_leader_election_enabled",
                    subj,
                    "unclean.leader.election.enable=true: an out-of-sync replica may become leader and lose data",
                    "critical",
                )
            )
    return out


def _state_rows(snap: ClusterSnapshot, policy: PolicyConfig) -> list[Violation]:
    out: list[Violation] = []
    for st in all_topic_states(snap):
        if is_excluded(st.topic, policy):
            continue
        subj = f"topic {st.topic}"
        # Each partition is listed once, in its worst state.
        offline = set(st.offline or ())
        under_min = set(st.under_min_isr or ()) - offline
        under_rep = [p for p in st.under_replicated if p not in offline and p not in under_min]
        at_min = set(st.at_min_isr or ())
        if offline:
            ps = tuple(sorted(offline))
            out.append(
                Violation(
                    "offline_partitions",
                    subj,
                    f"{len(ps)} partition(s) without a live leader: {_partitions(ps)}",
                    "critical",
                )
            )
        if under_min:
            ps = tuple(sorted(under_min))
            out.append(
                Violation(
                    "under_min_isr_partitions",
                    subj,
                    f"{len(ps)} partition(s) with fewer in-sync replicas than min.insync.replicas {st.min_isr} "
                    f"(acks=all writes fail): {_partitions(ps)}",
                    "critical",
                )
            )
        if under_rep:
            ps = tuple(under_rep)
            at = tuple(p for p in ps if p in at_min)
            note = f"; {len(at)} at min ISR, one more loss blocks acks=all writes: {_partitions(at)}" if at else ""
            out.append(
                Violation(
                    "under_replicated_partitions",
                    subj,
                    f"{len(ps)} partition(s) with fewer in-sync replicas than replicas: {_partitions(ps)}{note}",
                    "warning",
                )
            )
    return out


def _broker_rows(snap: ClusterSnapshot, policy: PolicyConfig) -> list[Violation]:
    out: list[Violation] = []
    mb = broker_membership(snap, policy)
    for b in mb.missing or ():
        out.append(Violation("broker_missing", f"broker {b}", "expected by the policy but not live", "critical"))
    if mb.missing is None and mb.expected_count is not None and mb.live is not None:
        # Only a count is expected: compare counts.
        if len(mb.live) < mb.expected_count:
            detail = f"{len(mb.live)} live broker(s), policy expects {mb.expected_count}"
            out.append(Violation("brokers_missing", "cluster", detail, "critical"))
        elif len(mb.live) > mb.expected_count:
            detail = f"{len(mb.live)} live broker(s), policy expects {mb.expected_count}"
            out.append(Violation("brokers_unexpected", "cluster", detail, "warning"))
    for b in mb.unexpected or ():
        out.append(
            Violation("broker_unexpected", f"broker {b}", "live but not in the policy's expected_brokers", "warning")
        )
    for b in mb.fenced or ():
        out.append(Violation("broker_fenced", f"broker {b}", "registered with the controller but fenced", "critical"))
    for d in setting_drift(snap, policy):
        detail = f"{d.setting}={d.actual}, policy wants {d.desired}"
        out.append(Violation("broker_setting_drift", f"broker {d.broker}", detail, "warning"))
    for ld in log_dir_health(snap):
        if ld.offline:
            detail = f"log dir {ld.path} is offline: {ld.error}"
            out.append(Violation("log_dir_offline", f"broker {ld.broker}", detail, "critical"))
    return out


def _exposure_rows(snap: ClusterSnapshot, policy: PolicyConfig) -> list[Violation]:
    # Rows name only what the loss would newly break: partitions offline or under min ISR today have rows
    # of their own above (the exposure metrics, by contrast, count every partition in that state after loss).
    offline_now: set[tuple[str, int]] = set()
    under_now: set[tuple[str, int]] = set()
    for st in all_topic_states(snap):
        offline_now.update((st.topic, p) for p in st.offline or ())
        under_now.update((st.topic, p) for p in st.under_min_isr or ())
    out: list[Violation] = []
    rackless = {b.id for b in snap.brokers or () if b.rack is None}
    for e in rack_exposure(snap, policy):
        brokers = ", ".join(str(b) for b in e.brokers)
        # A broker without a rack is its own group: name it as the broker it is.
        subj = f"broker {e.brokers[0]} (no rack)" if set(e.brokers) <= rackless else f"rack {e.group}"
        offline = [tp for tp in e.offline if tp not in offline_now]
        if offline:
            parts = _listing([f"{t}-{p}" for t, p in offline])
            detail = f"losing broker(s) {brokers} takes {len(offline)} more partition(s) offline: {parts}"
            out.append(Violation("rack_loss_offline", subj, detail, "critical"))
        lost = set(e.offline) | under_now
        under = [tp for tp in e.under_min_isr or () if tp not in lost]
        if under:
            parts = _listing([f"{t}-{p}" for t, p in under])
            detail = f"losing broker(s) {brokers} leaves {len(under)} more partition(s) under min ISR: {parts}"
            out.append(Violation("rack_loss_under_min_isr", subj, detail, "warning"))
    return out


def violations(snap: ClusterSnapshot, policy: PolicyConfig) -> list[Violation]:
    """All violations, critical ones first; within a severity, in the order topics, partitions, brokers,
    racks."""
    rows = _topic_rows(snap, policy) + _state_rows(snap, policy) + _broker_rows(snap, policy)
    rows += _exposure_rows(snap, policy)
    return sorted(rows, key=lambda v: v.severity != "critical")
