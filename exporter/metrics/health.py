"""The exporter's own health for one cluster -> samples."""

from __future__ import annotations

import platform
from collections import Counter
from dataclasses import dataclass, field
from importlib import metadata

import confluent_kafka

from exporter import __version__
from exporter.metrics import definitions as m
from exporter.metrics.render import Samples

SOURCES = ("admin", "kafka_api", "zookeeper")


@dataclass
class HealthState:
    """Counters that live across cycles (the snapshot itself only knows one cycle)."""

    cycles: int = 0
    last_duration: float | None = None
    last_success: float | None = None  # wall time the last successful cycle started
    errors: Counter[tuple[str, str]] = field(default_factory=Counter)
    requests: Counter[tuple[str, str]] = field(default_factory=Counter)
    last_requests: dict[tuple[str, str], int] = field(default_factory=dict)
    # Whether each source's calls all succeeded, as of the last cycle that asked it (a source a cycle did
    # not ask, e.g. librdkafka while kafka-python stands in for it, keeps its last state).
    sources_up: dict[str, bool] = field(default_factory=dict)
    reachable: bool | None = None  # None before the first cycle
    # Per concern: whether the last cycle computed it, and how long that took.
    concerns: dict[str, tuple[bool, float]] = field(default_factory=dict)
    concern_errors: Counter[str] = field(default_factory=Counter)


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def build_info_labels() -> dict[str, str]:
    return {
        "version": __version__,
        "python_version": platform.python_version(),
        "confluent_kafka_version": _version("confluent-kafka"),
        "librdkafka_version": confluent_kafka.libversion()[0],
        "kafka_python_version": _version("kafka-python"),
    }


def health_samples(h: HealthState, build: dict[str, str]) -> Samples:
    s = Samples()
    s.info(m.BUILD_INFO, **build)
    s.add(m.CYCLES, h.cycles)
    if h.last_duration is not None:
        s.add(m.CYCLE_DURATION, h.last_duration)
    if h.last_success is not None:
        s.add(m.LAST_SUCCESS, h.last_success)
    if h.reachable is not None:
        s.add(m.CLUSTER_REACHABLE, int(h.reachable))
    for src, up in sorted(h.sources_up.items()):
        s.add(m.SOURCE_UP, int(up), source=src)
    for name, (ok, seconds) in h.concerns.items():
        s.add(m.CONCERN_SUCCESS, int(ok), concern=name)
        s.add(m.CONCERN_DURATION, seconds, concern=name)
        s.add(m.CONCERN_ERRORS, h.concern_errors[name], concern=name)
    for (src, call), n in h.errors.items():
        s.add(m.ERRORS, n, source=src, call=call)
    for (src, api), n in h.requests.items():
        s.add(m.REQUESTS, n, source=src, api=api)
    for (src, api), n in h.last_requests.items():
        s.add(m.LAST_CYCLE_REQUESTS, n, source=src, api=api)
    return s
