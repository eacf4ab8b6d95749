"""Imports every module that declares metrics, so `definitions.ALL` is complete (for docs and checks)."""

from __future__ import annotations

# Imported for their definitions.
from exporter.metrics import (  # noqa: F401
    controller,
    definitions,
    health,
    lag,
    overview,
    reassignment,
    replication,
)


def all_definitions() -> list[definitions.MetricDef]:
    return sorted(definitions.ALL, key=lambda d: d.name)
