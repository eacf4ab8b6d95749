"""One background collection loop per cluster. Each cycle: collect (in a thread), analyse, render once.
Scrapes read the last rendered bytes; they never wait on Kafka."""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import logging
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from exporter import concerns
from exporter.clients import AUTHENTICATE
from exporter.collect import ClusterCollector, calls
from exporter.config import ClusterConfig
from exporter.interpreter import after_cycle
from exporter.metrics.health import SNAPSHOT_AGE, HealthState, build_info_labels, health_samples
from exporter.metrics.render import Samples, gzip_bytes, render_text
from exporter.model import ClusterSnapshot, SourceError
from exporter.outages import CLUSTER, OutageLog
from exporter.sources import METADATA, ZOOKEEPER

log = logging.getLogger(__name__)
# While Kafka refuses the credentials, cycles back off (doubling the interval) up to this.
AUTH_BACKOFF_MAX_SECONDS = 300.0


class Rendered:
    """A cluster's metrics as rendered once per cycle: gzip-compressed once (Prometheus asks for gzip), the
    plain text kept or, where only the compressed bytes were sent (the serving process), decompressed when
    first asked for. Only the snapshot age is computed per scrape."""

    __slots__ = ("_text", "data_taken_at", "gzipped")

    def __init__(self, text: bytes | None, gzipped: bytes, data_taken_at: float | None) -> None:
        self._text = text
        self.gzipped = gzipped
        self.data_taken_at = data_taken_at  # start of the successful cycle whose data this is; None if none yet

    @property
    def text(self) -> bytes:
        if self._text is None:
            self._text = gzip.decompress(self.gzipped)
        return self._text

    def body(self, gzipped: bool) -> bytes:
        """The last rendered metrics plus the snapshot age, which only scrape time knows."""
        tail = b""
        if self.data_taken_at is not None:
            age = Samples()
            age.add(SNAPSHOT_AGE, max(0.0, time.time() - self.data_taken_at))
            tail = render_text(age)
        if gzipped:
            # Concatenated gzip members form one valid gzip stream (RFC 1952), so the big part is
            # compressed once per cycle and only the small tail per scrape.
            return self.gzipped + (gzip_bytes(tail) if tail else b"")
        return self.text + tail


class ClusterRunner:
    def __init__(self, cfg: ClusterConfig) -> None:
        self.cfg = cfg
        self.health = HealthState()
        self._build = build_info_labels()
        self._collector = ClusterCollector(cfg)
        # Set while no collection thread runs; cleared while one does (it may outlive its cycle's deadline).
        self._idle = threading.Event()
        self._idle.set()
        self.last_snapshot: ClusterSnapshot | None = None
        self.concerns = concerns.enabled(cfg)
        # Each concern's history between cycles (e.g. lag: (time, high watermark) samples per partition).
        self.history: dict[str, Any] = {c.name: c.history() for c in self.concerns}
        self.rendered = Rendered(b"", b"", None)
        # Called with each new rendering (cluster name, rendering, ready) from the publishing thread: how the
        # serving process (exporter/serving.py) is fed.
        self.on_publish: Callable[[str, Rendered, bool], None] | None = None
        self._outages = OutageLog(cfg.name, log)
        # Concerns that failed in the last cycle (their trace was logged) and in this one so far.
        self._failing: set[str] = set()
        self._failed_now: set[str] = set()
        self._publish(ClusterSnapshot(taken_at=time.time()))

    # What a reload (SIGHUP) changes in place: analysis only, read afresh by every cycle. The rest (where and how
    # to connect, what to collect) is held by the clients and the collector: it takes a restart.
    RELOADABLE = ("policy", "reassignment")

    def reload(self, new: ClusterConfig) -> list[str]:
        """Apply `new`'s policy and reassignment settings from the next cycle on (e.g. a retired broker taken out
        of expected_brokers, without losing the history a restart would); returns the other settings that
        differ and so need a restart."""
        old = self.cfg
        self.cfg = dataclasses.replace(old, **{f: getattr(new, f) for f in self.RELOADABLE})
        return [
            f.name
            for f in dataclasses.fields(old)
            if f.name not in self.RELOADABLE and getattr(old, f.name) != getattr(new, f.name)
        ]

    @property
    def ready(self) -> bool:
        return self.health.last_success is not None

    def exposition(self, gzip: bool) -> bytes:
        return self.rendered.body(gzip)

    async def run_once(self) -> ClusterSnapshot:
        col = self.cfg.collection
        started = time.monotonic()
        if not self._idle.is_set():
            snap = ClusterSnapshot(
                taken_at=time.time(),
                errors=(SourceError(METADATA, "cycle", "previous collection still running past its deadline"),),
            )
        else:
            self._idle.clear()
            task = asyncio.ensure_future(asyncio.to_thread(self._collect_and_release))
            # The collector bounds each call; this outer bound is the promise that a cycle always ends. Not
            # asyncio.wait_for: on Python 3.11 it swallows a cancellation that lands as the cycle ends, and
            # shutdown then waited for this loop forever. asyncio.wait always lets the cancellation through.
            done, _ = await asyncio.wait({task}, timeout=col.timeout_seconds + 5)
            if done:
                snap = task.result()
            else:
                snap = ClusterSnapshot(
                    taken_at=time.time(), errors=(SourceError(METADATA, "cycle", "collection deadline exceeded"),)
                )
        # History, analysis and rendering take a good part of a second on large clusters: off the event loop,
        # so scrapes keep flowing (they only wait for the GIL: see exporter/interpreter.py).
        await asyncio.to_thread(self._account_and_publish, snap, time.monotonic() - started)
        return snap

    def _account_and_publish(self, snap: ClusterSnapshot, duration: float) -> None:
        self._account(snap, duration)
        self._publish(snap)
        after_cycle()

    def _collect_and_release(self) -> ClusterSnapshot:
        try:
            return self._collector.collect()
        finally:
            self._idle.set()

    def _account(self, snap: ClusterSnapshot, duration: float) -> None:
        h = self.health
        h.cycles += 1
        h.last_duration = duration
        failures: dict[str, list[str]] = defaultdict(list)
        for key in calls(self.cfg, snap.mode):
            h.errors.setdefault(key, 0)
        for err in snap.errors:
            h.errors[(err.source, err.call)] += 1
            # The cause first: the line that says a source is down shows its first failure.
            failures[err.source].insert(
                0 if err.call == AUTHENTICATE else len(failures[err.source]), f"{err.call}: {err.message}"
            )
            log.debug("cluster %s: %s %s failed: %s", self.cfg.name, err.source, err.call, err.message)
        h.requests.update(snap.requests)
        h.last_requests = dict(snap.requests)
        asked = {src for src, _ in snap.requests} | set(failures)
        h.sources_up.update({src: src not in failures for src in asked})
        refused = {err.source for err in snap.errors if err.call == AUTHENTICATE}
        h.auth_failed.update({src: src in refused for src in asked & {METADATA, ZOOKEEPER}})
        h.refused_cycles = h.refused_cycles + 1 if METADATA in refused and snap.brokers is None else 0
        h.reachable = snap.brokers is not None
        healthy = {src for src in asked if src not in failures} | ({CLUSTER} if h.reachable else set())
        if not h.reachable:
            reasons = failures.get(METADATA, []) + [
                m for src, msgs in failures.items() if src != METADATA for m in msgs
            ]
            first = ("authenticate", "metadata")  # the cause, when known, before the failed request
            failures[CLUSTER] = [next((r for p in first for r in reasons if r.startswith(p)), "no broker answered")]
        self._outages.cycle(snap.taken_at, failures, healthy)
        for c in self.concerns:
            try:
                self.history[c.name] = c.advance(self.history[c.name], snap, self.cfg)
            except Exception:  # a bug: the history stays as it was, the concern is counted as failed
                self._concern_failed(c.name)
        if snap.brokers is not None:
            h.last_success = snap.taken_at
            self.last_snapshot = snap

    def _concern_failed(self, concern: str) -> None:
        if concern not in self._failing and concern not in self._failed_now:  # one trace per failing streak
            log.exception("cluster %s: concern %s failed", self.cfg.name, concern)
        self._failed_now.add(concern)

    def render(self, snap: ClusterSnapshot) -> Samples:
        """Every enabled concern's samples for this snapshot (pure functions of it and the concern's history),
        each computed in isolation: a concern that fails drops only its own families and is counted."""
        s = Samples()
        for c in self.concerns:
            started = time.perf_counter()
            try:
                s.merge(c.samples(snap, self.history[c.name], self.cfg))
            except Exception:
                self._concern_failed(c.name)
            ok = c.name not in self._failed_now
            self.health.concerns[c.name] = (ok, time.perf_counter() - started)
            self.health.concern_errors[c.name] += not ok
        self._failing, self._failed_now = self._failed_now, set()
        s.merge(health_samples(self.health, self._build))
        return s

    def _publish(self, snap: ClusterSnapshot) -> None:
        text = render_text(self.render(snap))
        data_at = snap.taken_at if snap.brokers is not None else self.health.last_success
        # Only the compressed bytes are kept: the process serving /metrics is sent those, and nothing in this one
        # reads the text but tests (decompressed when asked).
        self.rendered = Rendered(None, gzip_bytes(text), data_at)
        if self.on_publish is not None:
            self.on_publish(self.cfg.name, self.rendered, self.ready)

    async def run_forever(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.run_once()
            except Exception:  # a bug in analysis must not stop collection; it is logged with its trace
                log.exception("cluster %s: collection cycle failed", self.cfg.name)
            await asyncio.sleep(self.pause(time.monotonic() - started))

    def pause(self, elapsed: float) -> float:
        """Seconds until the next cycle: the interval's rest plus jitter; while Kafka refuses the credentials,
        doubling with each refused cycle up to AUTH_BACKOFF_MAX_SECONDS (asking as often only adds failed
        logins on every broker)."""
        col = self.cfg.collection
        wait = max(0.0, col.interval_seconds - elapsed) + random.uniform(0, col.jitter_seconds)
        if self.health.refused_cycles:
            backoff = col.interval_seconds * 2 ** min(self.health.refused_cycles, 20)
            wait = max(wait, min(backoff, AUTH_BACKOFF_MAX_SECONDS))
        return wait

    def close(self, wait_seconds: float | None = None) -> bool:
        """Wait for a collection still running (each of its calls is bounded by its timeout; at most
        `wait_seconds`, by default the cycle timeout), then close the clients from this thread: librdkafka
        aborts the process if a client is destroyed from one of its own threads, which a client released under
        a late callback could be. False when a collection was still running: the clients were left open."""
        wait = self.cfg.collection.timeout_seconds + 5 if wait_seconds is None else wait_seconds
        if not self._idle.wait(wait):
            log.info("cluster %s: a collection is still running; leaving its clients open", self.cfg.name)
            return False
        self._collector.close()
        return True
