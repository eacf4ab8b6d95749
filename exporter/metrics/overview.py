"""Cluster overview findings -> samples: brokers, topics, partitions, under-replicated partitions."""

from __future__ import annotations

from exporter.analysis.replication import is_under_replicated
from exporter.metrics import definitions as m
from exporter.metrics.render import Samples
from exporter.model import ClusterSnapshot


def overview_samples(snap: ClusterSnapshot) -> Samples:
    s = Samples()
    if snap.cluster_id:
        s.info(m.CLUSTER_INFO, cluster_id=snap.cluster_id)
    if snap.brokers is not None:
        s.add(m.BROKERS, len(snap.brokers))
        for b in snap.brokers:
            s.info(m.BROKER_INFO, broker_id=b.id, host=b.host, port=b.port, rack=b.rack)
    if snap.topics is not None:
        s.add(m.TOPICS, len(snap.topics))
        for t in snap.topics:
            s.add(m.TOPIC_PARTITIONS, len(t.partitions), topic=t.name)
            s.add(m.TOPIC_UNDER_REPLICATED, sum(1 for p in t.partitions if is_under_replicated(p)), topic=t.name)
    return s
