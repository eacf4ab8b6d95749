"""Benchmark: collection cycles against a real cluster holding many consumer groups.

Starts a throwaway 3-broker cluster (harness.cluster), commits offsets for --groups groups through the Admin
API, then runs the exporter's cycles in-process and reports cycle time, requests per cycle by API, series,
exposition size and the process's memory. A baseline with lag collection disabled isolates the cost of groups.

    flock /tmp/kce-cluster.lock python scripts/bench_groups.py --groups 1000

(Only one real cluster at a time on a small machine: run it under the same lock as the cluster tests.)
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import resource
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

from exporter.config import ClusterConfig, parse_config
from exporter.runner import ClusterRunner
from harness.cluster import Cluster, KraftCluster, ZkCluster


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def setup(cluster: Cluster, groups: int, topics: int, partitions: int, per_group: int) -> None:
    admin = cluster.admin_client()
    names = [f"bench-{i:02d}" for i in range(topics)]
    for f in admin.create_topics([NewTopic(n, partitions, 2) for n in names]).values():
        f.result(60)
    producer = Producer({"bootstrap.servers": cluster.bootstrap_servers, "linger.ms": 20})
    for n in names:
        for p in range(partitions):
            for i in range(20):
                producer.produce(n, value=b"%d" % i, partition=p)
        producer.poll(0)
    assert producer.flush(60) == 0
    # Group g commits to `per_group` topics (all their partitions), at offsets 0..19: every group has lag.
    started = time.monotonic()
    pending: list[tuple[str, Future[Any]]] = []

    def drain(limit: int) -> None:
        while len(pending) > limit:
            gid, fut = pending.pop(0)
            result = fut.result(60)
            errors = [tp.error for tp in result.topic_partitions if tp.error is not None]
            if errors:  # the coordinator did not know the topic yet: commit again
                pending.append((gid, commit(gid)))

    def commit(gid: str) -> Future[Any]:
        i = int(gid.rsplit("-", 1)[1])
        tps = [
            TopicPartition(names[(i + k) % topics], p, (i + p) % 20)
            for k in range(per_group)
            for p in range(partitions)
        ]
        fut: Future[Any] = admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(gid, tps)])[gid]
        return fut

    for i in range(groups):
        gid = f"bench-group-{i:05d}"
        pending.append((gid, commit(gid)))
        drain(50)
    drain(0)
    print(
        f"setup: {groups} groups x {per_group * partitions} partitions committed in {time.monotonic() - started:.1f}s"
    )


async def cycles(cfg: ClusterConfig, n: int, on_cycle: Callable[[int, ClusterRunner, float, float], None]) -> None:
    runner = ClusterRunner(cfg)
    try:
        for i in range(n):
            started = time.monotonic()
            await runner.run_once()
            on_cycle(i, runner, time.monotonic() - started, runner.health.last_duration or 0.0)
    finally:
        runner.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=["kraft", "zookeeper"], default="kraft")
    ap.add_argument("--groups", type=int, default=1000)
    ap.add_argument("--topics", type=int, default=10)
    ap.add_argument("--partitions", type=int, default=10)
    ap.add_argument("--topics-per-group", type=int, default=1)
    ap.add_argument("--cycles", type=int, default=6)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    cluster: Cluster = KraftCluster([1, 2, 3]) if args.mode == "kraft" else ZkCluster([1, 2, 3])
    with cluster:
        setup(cluster, args.groups, args.topics, args.partitions, args.topics_per_group)
        base = {
            "bootstrap_servers": cluster.bootstrap_servers,
            "collection": {"interval_seconds": 5, "timeout_seconds": 30, "request_timeout_seconds": 10},
            "lag": {"include_groups": ["bench-group-.*"]},
        }
        cfg = parse_config({"clusters": [base]}).clusters[0]
        baseline = dataclasses.replace(cfg, lag=dataclasses.replace(cfg.lag, enabled=False))
        rss_before = rss_mib()

        base_times: list[float] = []

        def on_base(i: int, runner: ClusterRunner, wall: float, collect: float) -> None:
            base_times.append(collect)

        asyncio.run(cycles(baseline, args.cycles, on_base))

        times: list[float] = []
        walls: list[float] = []
        report: dict[str, Any] = {}

        def on_cycle(i: int, runner: ClusterRunner, wall: float, collect: float) -> None:
            snap = runner.last_snapshot
            assert snap is not None and snap.groups is not None, f"cycle {i}: groups not read: {snap}"
            times.append(collect)
            walls.append(wall)
            text = runner.rendered.text.decode()
            lines = [x for x in text.splitlines() if x and not x.startswith("#")]
            report.update(
                groups=len(snap.groups),
                group_partitions=sum(len(g.offsets or {}) for g in snap.groups),
                errors=list(snap.errors),
                requests=dict(sorted(snap.requests.items())),
                series=len(lines),
                lag_series=sum(1 for x in lines if x.startswith(("kafka_consumer_group", "kafka_partition_"))),
                text_kib=len(runner.rendered.text) / 1024,
                gzip_kib=len(runner.rendered.gzipped) / 1024,
                history_tracks=sum(map(len, runner.history["lag"].commits.values()))
                + len(runner.history["lag"].watermarks),
            )
            print(f"cycle {i}: collect {collect:.3f}s, collect+analyse+render {wall:.3f}s, RSS {rss_mib():.0f} MiB")

        asyncio.run(cycles(cfg, args.cycles, on_cycle))
        rss_after = rss_mib()

    steady = times[1:] or times
    base_median = statistics.median(base_times[1:] or base_times)
    print()
    print(f"Kafka {cluster.version} ({args.mode}), 3 brokers, {args.topics} topics x {args.partitions} partitions")
    print(f"groups read: {report['groups']}, group partitions: {report['group_partitions']}")
    print(
        f"cycle (collect only), median of cycles 2..{len(times)}: {statistics.median(steady):.3f}s "
        f"(first cycle {times[0]:.3f}s); same cluster with lag disabled: {base_median:.3f}s"
    )
    print(f"collect + analyse + render, median: {statistics.median(walls[1:] or walls):.3f}s")
    print("requests in the last cycle, by source and API:")
    for (src, api), n in report["requests"].items():
        print(f"  {src:10s} {api:30s} {n}")
    print(f"  total {sum(report['requests'].values())}")
    print(f"errors in the last cycle: {report['errors'] or 'none'}")
    print(
        f"series: {report['series']} ({report['lag_series']} lag series); exposition {report['text_kib']:.0f} KiB, "
        f"gzip {report['gzip_kib']:.0f} KiB; history tracks {report['history_tracks']}"
    )
    print(f"RSS: {rss_before:.0f} MiB before the exporter's cycles, {rss_after:.0f} MiB after", end="")
    print(f"; peak {peak_rss_mib():.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
