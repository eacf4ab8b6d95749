"""Few log lines for long failures: one when a cluster or source goes down, one when it recovers, and a short
summary every few minutes while it stays down. Every failed call is still logged, at debug level."""

from __future__ import annotations

import logging
from dataclasses import dataclass

SUMMARY_EVERY_SECONDS = 300.0
CLUSTER = "cluster"  # the pseudo-source for "no Metadata this cycle": the cluster could not be read at all


@dataclass
class Outage:
    since: float
    failures: int
    summarised_at: float
    last: str


class OutageLog:
    def __init__(self, cluster: str, logger: logging.Logger) -> None:
        self._cluster = cluster
        self._log = logger
        self._down: dict[str, Outage] = {}

    @property
    def down(self) -> set[str]:
        return set(self._down)

    def cycle(self, now: float, failures: dict[str, list[str]], healthy: set[str]) -> None:
        """`failures`: this cycle's failure messages by source (CLUSTER when no Metadata was read);
        `healthy`: sources that were used this cycle without a failure."""
        for source, messages in sorted(failures.items()):
            if not messages:
                continue
            what = "unreachable" if source == CLUSTER else f"source {source} down"
            out = self._down.get(source)
            if out is None:
                self._down[source] = Outage(now, len(messages), now, messages[-1])
                self._log.warning("cluster %s: %s: %s", self._cluster, what, messages[0])
                continue
            out.failures += len(messages)
            out.last = messages[-1]
            if now - out.summarised_at >= SUMMARY_EVERY_SECONDS:
                out.summarised_at = now
                self._log.warning(
                    "cluster %s: still %s after %.0f s (%d failed calls; last: %s)",
                    self._cluster,
                    what,
                    now - out.since,
                    out.failures,
                    out.last,
                )
        for source in sorted(healthy & set(self._down)):
            out = self._down.pop(source)
            what = "reachable again" if source == CLUSTER else f"source {source} recovered"
            self._log.warning(
                "cluster %s: %s after %.0f s (%d failed calls)", self._cluster, what, now - out.since, out.failures
            )
