"""Samples keyed by metric definition, rendered to the Prometheus text format once per cycle."""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.exposition import generate_latest

from exporter.metrics.definitions import MetricDef


class Samples:
    """Collects samples for metric definitions; rejects undeclared labels so series stay as documented."""

    def __init__(self) -> None:
        self._data: dict[MetricDef, dict[tuple[str, ...], float]] = {}

    def add(self, d: MetricDef, value: float, **labels: str | int | None) -> None:
        if set(labels) != set(d.labels):
            raise ValueError(f"{d.name}: labels {sorted(labels)} do not match definition {list(d.labels)}")
        key = tuple("" if labels[n] is None else str(labels[n]) for n in d.labels)
        self._data.setdefault(d, {})[key] = float(value)

    def add_known(self, d: MetricDef, value: float | None, **labels: str | int | None) -> None:
        """Adds the sample unless the value is unknown (None): an unknown value is an absent series, never 0."""
        if value is not None:
            self.add(d, value, **labels)

    def info(self, d: MetricDef, **labels: str | int | None) -> None:
        self.add(d, 1.0, **labels)

    def value(self, d: MetricDef, **labels: str | int | None) -> float | None:
        key = tuple("" if labels[n] is None else str(labels[n]) for n in d.labels)
        return self._data.get(d, {}).get(key)

    def merge(self, other: Samples) -> None:
        for d, series in other._data.items():
            self._data.setdefault(d, {}).update(series)

    def families(self) -> Iterator[Metric]:
        for d, series in self._data.items():
            labels = list(d.labels)
            rows = sorted(series.items())
            if d.type == "info":
                info = InfoMetricFamily(d.name.removesuffix("_info"), d.help, labels=[])
                for key, _ in rows:
                    info.add_metric([], dict(zip(labels, key, strict=True)))
                yield info
                continue
            fam: CounterMetricFamily | GaugeMetricFamily
            if d.type == "counter":
                fam = CounterMetricFamily(d.name.removesuffix("_total"), d.help, labels=labels)
            else:
                fam = GaugeMetricFamily(d.name, d.help, labels=labels)
            for key, value in rows:
                fam.add_metric(list(key), value)
            yield fam


class _Collector:
    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


def render_text(samples: Samples) -> bytes:
    return generate_latest(_Collector(list(samples.families())))


def gzip_bytes(data: bytes) -> bytes:
    # Level 6 (zlib's default): the exposition compresses ~10x; higher levels buy little for more CPU.
    return gzip.compress(data, compresslevel=6, mtime=0)
