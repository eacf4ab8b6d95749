"""Every metric the exporter can expose: the exporter's own health and each concern's (exporter/concerns.py)."""

from __future__ import annotations

from exporter.concerns import REGISTRY
from exporter.metrics import health
from exporter.metrics.definitions import MetricDef, declared_in


def all_definitions() -> list[MetricDef]:
    defs = [*declared_in(vars(health)), *(d for c in REGISTRY for d in c.metrics)]
    return sorted(defs, key=lambda d: d.name)


def concern_of(d: MetricDef) -> str:
    """The concern that exposes the metric, or "exporter" for the exporter's own health."""
    return next((c.name for c in REGISTRY if d in c.metrics), "exporter")
