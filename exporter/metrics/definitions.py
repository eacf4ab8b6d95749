"""The metric table's machinery: every metric the exporter can expose is declared once, with `define`, in the
metrics module of its concern (see exporter/concerns.py) or in metrics/health.py (the exporter's own).

Code adds samples only through these definitions (so a typo in a name or a label is an error, not a new
series), and the README's metric reference is generated from `ALL`, so docs and code cannot drift.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

MetricType = Literal["gauge", "counter", "info"]


# eq=False: each metric is declared once (define() refuses a second), so identity is equality, and a sample's
# dict lookup hashes an id instead of four fields (tens of thousands of lookups a cycle).
@dataclass(frozen=True, eq=False)
class MetricDef:
    name: str  # the exposed name: counters end in _total, info metrics in _info
    type: MetricType
    help: str
    labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Prometheus naming conventions, enforced where the name is written.
        if self.type == "counter" and not self.name.endswith("_total"):
            raise ValueError(f"counter {self.name} must end in _total")
        if self.type != "counter" and self.name.endswith("_total"):
            raise ValueError(f"only counters may end in _total: {self.name}")
        if (self.type == "info") != self.name.endswith("_info"):
            raise ValueError(f"info metrics, and only they, end in _info: {self.name}")


ALL: list[MetricDef] = []


def declared_in(namespace: Mapping[str, object]) -> tuple[MetricDef, ...]:
    """The metric definitions a module declares (pass `vars(module)`), in declaration order."""
    return tuple(v for v in namespace.values() if isinstance(v, MetricDef))


def define(name: str, type: MetricType, help: str, labels: tuple[str, ...] = ()) -> MetricDef:
    d = MetricDef(name, type, help, labels)
    if any(existing.name == name for existing in ALL):
        raise ValueError(f"metric {name} defined twice")
    ALL.append(d)
    return d
