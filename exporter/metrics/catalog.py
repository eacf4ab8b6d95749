"""Imports every module that declares metrics, so `definitions.ALL` is complete (for docs and checks)."""

from __future__ import annotations

from exporter.metrics import definitions, health, overview  # noqa: F401  (imported for their definitions)


def all_definitions() -> list[definitions.MetricDef]:
    return sorted(definitions.ALL, key=lambda d: d.name)
