"""Write probe findings -> samples."""

from __future__ import annotations

from exporter.analysis.probe import ProbeHistory, per_broker
from exporter.metrics.definitions import define
from exporter.metrics.render import Samples
from exporter.model import ClusterSnapshot

PROBE_WRITE_SUCCESS = define(
    "kafka_probe_write_success",
    "gauge",
    "1 if every probe record written this cycle to a partition the broker leads was acknowledged with acks=all, "
    "0 if one was not (fewer in-sync replicas than the probe topic's min.insync.replicas, no leader, the broker "
    "did not answer). A leaderless probe partition counts against the broker that prefers to lead it. Absent "
    "when the probe did not run this cycle.",
    ("broker",),
)
PROBE_READ_SUCCESS = define(
    "kafka_probe_read_success",
    "gauge",
    "1 if every probe record acknowledged this cycle through the broker was read back by a consumer before the "
    "probe's deadline (twice the request timeout), 0 if one was not. Absent when none was acknowledged.",
    ("broker",),
)
PROBE_ACK_LATENCY = define(
    "kafka_probe_write_ack_latency_seconds",
    "gauge",
    "Time from producing a probe record to its acks=all acknowledgement (the slowest of the broker's probe "
    "partitions this cycle): the leader's wait for every in-sync replica included.",
    ("broker",),
)
PROBE_E2E_LATENCY = define(
    "kafka_probe_end_to_end_latency_seconds",
    "gauge",
    "Time from producing a probe record to reading it back (the slowest of the broker's probe partitions this "
    "cycle; the consumer is assigned each partition at the record's offset once it is acknowledged).",
    ("broker",),
)
PROBE_WRITES = define(
    "kafka_probe_writes_total",
    "counter",
    "Probe records written through the broker since the exporter started.",
    ("broker",),
)
PROBE_WRITE_FAILURES = define(
    "kafka_probe_write_failures_total",
    "counter",
    "Probe records not acknowledged with acks=all through the broker since the exporter started.",
    ("broker",),
)


def probe_samples(snap: ClusterSnapshot, history: ProbeHistory) -> Samples:
    s = Samples()
    for b, n in history.writes.items():
        s.add(PROBE_WRITES, n, broker=b)
        s.add(PROBE_WRITE_FAILURES, history.failures[b], broker=b)
    for p in per_broker(snap.probe or ()):
        s.add(PROBE_WRITE_SUCCESS, int(p.failed == 0), broker=p.broker)
        if p.writes > p.failed:
            s.add(PROBE_READ_SUCCESS, int(p.unread == 0), broker=p.broker)
        s.add_known(PROBE_ACK_LATENCY, p.ack_seconds, broker=p.broker)
        s.add_known(PROBE_E2E_LATENCY, p.end_to_end_seconds, broker=p.broker)
    return s
