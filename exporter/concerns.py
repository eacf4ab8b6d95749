"""The concern registry: one entry per thing the exporter watches. The runner, the metric catalog, the docs
and the config all read this table, so adding a concern is adding one entry here (and its metrics module).

Each concern has its metric definitions (declared in its metrics module), a history step that is pure
(`advance(history, snapshot, config) -> history`, for concerns that judge change over time) and a samples
function (`samples(snapshot, history, config) -> Samples`). A concern is computed in isolation: if it raises,
only its families are missing, and `kafka_exporter_concern_success{concern}` says so. Any concern can be
switched off per cluster with `concerns: {NAME: false}`. The exporter's own health (metrics/health.py) is not a
concern: it is always on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from exporter.analysis import controller, lag, probe, reassignment
from exporter.config import CONCERN_NAMES, ClusterConfig
from exporter.metrics import brokers as broker_metrics
from exporter.metrics import controller as controller_metrics
from exporter.metrics import health
from exporter.metrics import lag as lag_metrics
from exporter.metrics import overview as overview_metrics
from exporter.metrics import probe as probe_metrics
from exporter.metrics import reassignment as reassignment_metrics
from exporter.metrics import replication as replication_metrics
from exporter.metrics.definitions import MetricDef, declared_in
from exporter.metrics.render import Samples
from exporter.model import ClusterSnapshot

H = TypeVar("H")


def _no_history() -> None:
    return None


def _unchanged(history: H, _snap: ClusterSnapshot, _cfg: ClusterConfig) -> H:
    return history


@dataclass(frozen=True)
class Concern(Generic[H]):
    name: str
    summary: str  # one line, for the docs
    metrics: tuple[MetricDef, ...]
    samples: Callable[[ClusterSnapshot, H, ClusterConfig], Samples]
    history: Callable[[], H] = _no_history  # type: ignore[assignment]
    advance: Callable[[H, ClusterSnapshot, ClusterConfig], H] = _unchanged


REGISTRY: tuple[Concern[Any], ...] = (
    Concern(
        "cluster",
        "brokers, topics and partitions as the cluster's Metadata reports them",
        declared_in(vars(overview_metrics)),
        lambda snap, _h, _cfg: overview_metrics.overview_samples(snap),
    ),
    Concern(
        "replication",
        "replication factor and min.insync.replicas against the policy, partition states, rack and broker "
        "loss exposure, placement",
        declared_in(vars(replication_metrics)),
        lambda snap, _h, cfg: replication_metrics.replication_samples(snap, cfg.policy),
    ),
    Concern(
        "brokers",
        "brokers expected and live, fenced brokers, settings against the policy, log dirs, versions",
        declared_in(vars(broker_metrics)),
        lambda snap, _h, cfg: broker_metrics.broker_samples(snap, cfg.policy),
    ),
    Concern(
        "controller",
        "which broker or quorum node controls the cluster, and when that changes",
        declared_in(vars(controller_metrics)),
        lambda snap, h, _cfg: controller_metrics.controller_samples(snap, h),
        controller.ControllerHistory,
        lambda h, snap, _cfg: controller.advance(h, controller.controller_view(snap)),
    ),
    Concern(
        "lag",
        "consumer lag in messages and seconds per group, topic and partition, and a verdict per group",
        declared_in(vars(lag_metrics)),
        lambda snap, h, cfg: lag_metrics.lag_samples(snap, h, cfg.lag),
        lag.LagHistory,
        lambda h, snap, cfg: lag.advance(h, snap, cfg.lag),
    ),
    Concern(
        "reassignment",
        "partition reassignments: progress, copy rate, ETA, stalls, moves the controller ignores, throttles",
        declared_in(vars(reassignment_metrics)),
        lambda snap, h, cfg: reassignment_metrics.reassignment_samples(snap, h, cfg.reassignment),
        reassignment.ReassignmentHistory,
        lambda h, snap, cfg: reassignment.advance(h, snap, cfg.reassignment),
    ),
    Concern(
        "probe",
        "opt-in: an acks=all write and read back through every broker each cycle, on a topic the exporter manages",
        declared_in(vars(probe_metrics)),
        lambda snap, h, _cfg: probe_metrics.probe_samples(snap, h),
        probe.ProbeHistory,
        lambda h, snap, _cfg: probe.advance(h, snap.probe),
    ),
)
assert tuple(c.name for c in REGISTRY) == CONCERN_NAMES, "config.CONCERN_NAMES must list the registry's names"


def enabled(cfg: ClusterConfig) -> tuple[Concern[Any], ...]:
    return tuple(c for c in REGISTRY if cfg.concern_on(c.name))


def all_definitions() -> list[MetricDef]:
    """Every metric the exporter can expose: its own health and each concern's."""
    defs = [*declared_in(vars(health)), *(d for c in REGISTRY for d in c.metrics)]
    return sorted(defs, key=lambda d: d.name)


def concern_of(d: MetricDef) -> str:
    """The concern that exposes the metric, or "exporter" for the exporter's own health."""
    return next((c.name for c in REGISTRY if d in c.metrics), "exporter")
