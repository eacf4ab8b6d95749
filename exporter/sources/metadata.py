"""Metadata (brokers, controller, topics, partitions), every cycle. librdkafka (confluent-kafka) answers it,
parsed in C, which is cheap on large clusters; when its broker does not answer within the hedge delay,
kafka-python asks a broker that answered recently, and the first answer wins. Brokers' racks are filled in
from a cache (Metadata through librdkafka does not carry them), refreshed when a broker (re)appears and every
RACKS_EVERY_CYCLES cycles.

Admin *requests* that librdkafka routes to a particular broker or the controller (DescribeConfigs, ListOffsets,
DescribeCluster) go through kafka-python instead: librdkafka 2.16 aborted the process (assertion
`eonce->refcnt > 0`) when such a broker was killed while a request waited on it."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from exporter.clients import AUTHENTICATE, AuthFailures, librdkafka_config
from exporter.model import Broker, Metadata, Partition, Topic
from exporter.sources import METADATA
from exporter.sources.kafka_admin import INTERNAL_TOPICS, KafkaAdminSource
from exporter.sources.recorder import CycleRecorder

# While librdkafka's Metadata keeps failing, try it again every this many cycles.
METADATA_RETRY_CYCLES = 5
# Re-read racks every this many cycles even when the broker set looks unchanged (a broker restarted with a
# new broker.rack keeps its id).
RACKS_EVERY_CYCLES = 20

log = logging.getLogger(__name__)


def admin_client(bootstrap_servers: str, client: dict[str, str], auth: AuthFailures | None = None) -> AdminClient:
    try:
        return AdminClient(librdkafka_config(bootstrap_servers, client, auth))
    except KafkaException as e:
        raise ValueError(f"invalid client setting: {e.args[0].str()}") from None


def read_metadata(admin: AdminClient, rec: CycleRecorder, timeout: float | None = None) -> Metadata | None:
    """One Metadata request (to any live broker): brokers, controller, topics and partitions.

    Read first on purpose: librdkafka sends DescribeCluster to the controller it has cached, and after that
    broker dies it waits on it until a Metadata response refreshes the cache (seen with librdkafka 2.16)."""
    md = rec.call(METADATA, "metadata", lambda: admin.list_topics(timeout=timeout or rec.timeout()))
    if md is None:
        return None
    brokers = tuple(
        sorted((Broker(int(b.id), str(b.host), int(b.port)) for b in md.brokers.values()), key=lambda b: b.id)
    )
    topics = []
    for name, tmd in md.topics.items():
        if tmd.error is not None:
            # A topic that is being created or deleted; it will be read next cycle.
            log.debug("topic %s: %s", name, tmd.error)
            continue
        parts = tuple(
            Partition(
                topic=name,
                partition=pid,
                leader=pmd.leader if pmd.leader >= 0 else None,
                replicas=tuple(pmd.replicas),
                isr=tuple(pmd.isrs),
            )
            for pid, pmd in sorted(tmd.partitions.items())
        )
        topics.append(Topic(name=name, internal=name in INTERNAL_TOPICS, partitions=parts))
    controller = md.controller_id if md.controller_id is not None and md.controller_id >= 0 else None
    return Metadata(md.cluster_id, controller, brokers, tuple(sorted(topics, key=lambda t: t.name)))


class MetadataSource:
    """The cycle's Metadata, from whichever client answers, with racks filled in."""

    def __init__(
        self,
        new_admin: Callable[[], AdminClient],
        fallback: KafkaAdminSource,
        pool: ThreadPoolExecutor,
        hedge_seconds: float,
        auth: AuthFailures,
    ) -> None:
        self._new_admin = new_admin
        self._admin: AdminClient | None = new_admin()
        self._auth = auth
        self._fallback = fallback
        self._pool = pool
        self.hedge_seconds = hedge_seconds  # how long one broker may take before another is asked
        self._librdkafka_slow = False
        self._cycles = 0
        self._racks: dict[int, str | None] = {}
        self._live: set[int] = set()

    def close(self) -> None:
        # Destroyed here, in the closing thread, not by whichever thread happens to drop it last.
        vars(self).pop("_admin", None)

    @property
    def librdkafka(self) -> AdminClient:
        if self._admin is None:  # dropped after the cluster refused the credentials
            self._admin = self._new_admin()
        return self._admin

    def read(self, rec: CycleRecorder, avoid: set[int]) -> Metadata | None:
        """librdkafka, unless it did not answer in time lately (it keeps asking the broker it picked, even a
        frozen one: seen 12 cycles in a row); then kafka-python goes first, and librdkafka is tried again every
        few cycles or when kafka-python fails. `avoid`: brokers that did not answer lately."""
        self._cycles += 1
        if self._auth.last is not None:
            return self._authenticate(rec)
        if self._librdkafka_slow and self._cycles % METADATA_RETRY_CYCLES != 0:
            md = self._fallback.metadata(rec, avoid)
            if md is not None or rec.timeout() <= 0.1:
                return md
        primary = self._pool.submit(read_metadata, self.librdkafka, rec)
        done, _ = wait([primary], timeout=self.hedge_seconds)
        md = primary.result() if done else None
        self._librdkafka_slow = md is None
        if md is not None:
            return md
        self.librdkafka.poll(0)  # serves error_cb, where librdkafka says why a connection was refused
        if self._auth.last is not None:  # refused, not slow: kafka-python, with the same credentials, would be too
            self._refused(rec)
            return None
        backup = self._fallback.metadata(rec, avoid)
        if backup is not None or primary.done():
            return backup
        done, _ = wait([primary], timeout=max(0.0, rec.timeout()))
        return primary.result() if done else None

    def _authenticate(self, rec: CycleRecorder) -> Metadata | None:
        """While the cluster refuses the credentials: one Metadata request from a new librdkafka client, and no
        kafka-python (same credentials, more failed logins)."""
        self._auth.last = None
        # A login takes a fraction of a second: no need to wait out the cycle while librdkafka retries it.
        md = read_metadata(self.librdkafka, rec, min(rec.timeout(), self.hedge_seconds))
        self.librdkafka.poll(0)  # serves error_cb
        if md is None and self._auth.last is not None:
            self._refused(rec)
        return md

    def _refused(self, rec: CycleRecorder) -> None:
        """Records why, and drops the client: one left open keeps reconnecting in the background, each attempt a
        failed login on a broker (measured: about 9 a second)."""
        rec.error(METADATA, AUTHENTICATE, f"authentication failed: {self._auth.last}")
        self._admin = None

    # -- racks ------------------------------------------------------------------------------------------------
    def racks_due(self) -> bool:
        """Whether this cycle should read racks before Metadata answers (none known yet, or periodically); not
        while the cluster refuses the credentials (kafka-python would only add failed logins)."""
        if self._auth.last is not None:
            return False
        return not self._racks or self._cycles % RACKS_EVERY_CYCLES == 0

    def racks_needed(self, md: Metadata) -> bool:
        """After Metadata: a broker whose rack is unknown, or one that registered again since the last cycle."""
        ids = {b.id for b in md.brokers}
        returned, self._live = ids - self._live, ids
        return bool(ids - set(self._racks) or returned)

    def learn_racks(self, *found: dict[int, str | None] | None) -> None:
        for racks in found:
            if racks is not None:
                self._racks = racks

    def known_racks(self, md: Metadata) -> tuple[Broker, ...] | None:
        """The brokers with their racks when every broker's is known (read this cycle or before, None where a
        broker has none); None while one is not known yet."""
        if any(b.rack is not None for b in md.brokers):
            return md.brokers
        racks = self._racks
        if not {b.id for b in md.brokers} <= set(racks):
            return None
        return tuple(dataclasses.replace(b, rack=racks.get(b.id)) for b in md.brokers)

    def with_racks(self, md: Metadata) -> Metadata:
        if any(b.rack is not None for b in md.brokers):
            self._racks = {b.id: b.rack for b in md.brokers}  # kafka-python's Metadata carries racks
        brokers = tuple(dataclasses.replace(b, rack=self._racks.get(b.id)) for b in md.brokers)
        return dataclasses.replace(md, brokers=brokers)
