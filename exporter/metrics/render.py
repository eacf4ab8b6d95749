"""Samples keyed by metric definition, rendered to the Prometheus text format once per cycle."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterable, Sequence
from itertools import chain
from operator import itemgetter
from typing import cast

from prometheus_client import utils

from exporter.metrics.definitions import MetricDef


class Samples:
    """Collects samples for metric definitions; rejects undeclared labels so series stay as documented."""

    def __init__(self) -> None:
        self._data: dict[MetricDef, dict[tuple[str, ...], float]] = {}

    def add(self, d: MetricDef, value: float, **labels: str | int | None) -> None:
        # Called once per series (tens of thousands a cycle): the label check costs no set per call.
        try:
            key = tuple(["" if (v := labels[n]) is None else str(v) for n in d.labels])
        except KeyError:
            key = None
        if key is None or len(labels) != len(d.labels):
            raise ValueError(f"{d.name}: labels {sorted(labels)} do not match definition {list(d.labels)}")
        series = self._data.get(d)
        if series is None:
            series = self._data[d] = {}
        series[key] = float(value)

    def add_series(self, d: MetricDef, keys: Sequence[tuple[str, ...]], values: Iterable[float]) -> None:
        """Many samples of one metric at once (the per-partition families: tens of thousands a cycle), keyed by
        label values already written as strings, in the definition's label order."""
        n = len(d.labels)
        if any(len(k) != n for k in keys):
            raise ValueError(f"{d.name}: every key must have the labels {list(d.labels)}")
        series = self._data.get(d)
        if series is None:
            series = self._data[d] = {}
        series.update(zip(keys, map(float, values), strict=True))

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

    def series_count(self) -> int:
        return sum(len(series) for series in self._data.values())


# prometheus_client's own number formatting (Go's: +Inf, NaN, 1e+06 where Go switches to exponents).
_go_number = cast(Callable[[float], str], utils.floatToGoString)
_INF = float("inf")


def _number(v: float) -> str:
    """floatToGoString's result, with its checks skipped where they cannot apply (it runs once per series)."""
    if -1e6 < v < 1e6:
        return repr(v)  # finite, and too small for Go's exponent form
    if 0 < v < _INF:
        s = repr(v)
        dot = s.find(".")
        if dot > 6:  # as floatToGoString: Go writes 1234567.0 as 1.234567e+06
            return f"{s[0]}.{s[1:dot]}{s[dot + 1 :]}".rstrip("0.") + f"e+{dot - 1:02d}"
        return s
    return _go_number(v)


def _escape(value: str) -> str:
    """A label value as the text format writes it (backslash, newline and double quote escaped)."""
    if "\\" in value or "\n" in value or '"' in value:
        return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
    return value


def render_text(samples: Samples) -> bytes:
    """The Prometheus text format (0.0.4), byte for byte what prometheus_client's generate_latest writes for the
    same families (tests/unit/test_metrics_render.py compares them), at a fraction of its cost: it builds no
    Metric or Sample objects and does not re-validate names declared once in definitions.py. Families in the
    order their first sample was added; series sorted by label values in the definition's order; label names
    written sorted, as prometheus_client does."""
    chunks: list[bytes] = []
    out: list[str] = []
    for d, series in samples._data.items():
        # Joined and encoded a family at a time: one join of the whole text held the GIL (scrapes wait) ~10 ms.
        if out:
            chunks.append("".join(out).encode())
            out.clear()
        help_text = d.help.replace("\\", r"\\").replace("\n", r"\n")
        out.append(f"# HELP {d.name} {help_text}\n# TYPE {d.name} {'gauge' if d.type == 'info' else d.type}\n")
        if not d.labels:
            out.extend(f"{d.name} {_number(value)}\n" for value in series.values())
            continue
        # One %-template per family (names cannot contain %), label values in label-name order.
        order = sorted(range(len(d.labels)), key=lambda i: d.labels[i])
        line = d.name + "{" + ",".join(f'{d.labels[i]}="%s"' for i in order) + "} %s\n"
        items = sorted(series.items())
        values = "".join(chain.from_iterable(series))  # every label value, to check for escapes at once (in C)
        if "\\" in values or "\n" in values or '"' in values:
            out.extend(line % (*[_escape(key[i]) for i in order], _number(v)) for key, v in items)
        elif len(order) == 1:
            out.extend(line % (key[0], _number(v)) for key, v in items)
        else:
            pick = itemgetter(*order)
            out.extend(line % (*pick(key), _number(v)) for key, v in items)
    chunks.append("".join(out).encode())
    return b"".join(chunks)


def gzip_bytes(data: bytes) -> bytes:
    # Level 6 (zlib's default): the exposition compresses ~10x; higher levels buy little for more CPU.
    return gzip.compress(data, compresslevel=6, mtime=0)
