"""Benchmark: the exporter against a real cluster (cycle time, requests per cycle, series, exposition size,
/metrics latency, memory), plus analysis+render cost on a large synthetic snapshot (no Kafka).

    .venv/bin/python scripts/bench_exporter.py [--topics 200] [--partitions 10] [--synthetic 100000]

Figures go to stdout; they are measured, never asserted (timings on a shared 2-core machine vary)."""

from __future__ import annotations

import argparse
import asyncio
import gzip
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
from aiohttp.test_utils import TestServer
from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

from exporter.config import parse_config
from exporter.metrics.render import render_text
from exporter.model import Broker, ClusterSnapshot, ConfigValue, Partition, Topic
from exporter.runner import ClusterRunner
from exporter.server import make_app
from harness.cluster import ZkCluster


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def bench_real(topics: int, partitions: int, cycles: int, scrapes: int) -> None:
    t0 = time.monotonic()
    with ZkCluster([1, 2, 3]) as cluster:
        print(f"cluster: 3 brokers (ZooKeeper mode) started in {time.monotonic() - t0:.1f}s")
        admin = cluster.admin_client()
        new = [NewTopic(f"bench-{i:04d}", partitions, 3) for i in range(topics)]
        for i in range(0, len(new), 50):
            for f in admin.create_topics(new[i : i + 50], operation_timeout=60).values():
                f.result(120)
        print(f"topics: {topics} x {partitions} partitions, RF 3 = {topics * partitions} partitions")
        cfg = parse_config(
            {
                "clusters": [
                    {
                        "bootstrap_servers": cluster.bootstrap_servers,
                        "zookeeper": {"connect": cluster.zk_connect},
                        "collection": {"interval_seconds": 5, "timeout_seconds": 20, "request_timeout_seconds": 10},
                    }
                ]
            }
        ).clusters[0]
        rss0 = rss_mb()
        runner = ClusterRunner(cfg)
        durations = []
        for _ in range(cycles):
            start = time.monotonic()
            snap = await runner.run_once()
            durations.append(time.monotonic() - start)
            await asyncio.sleep(1)
        assert snap.brokers is not None, snap.errors
        print(
            f"cycle: median {statistics.median(durations):.2f}s, max {max(durations):.2f}s over {cycles} cycles "
            f"(errors in last: {len(snap.errors)})"
        )
        reqs = runner.health.last_requests
        print(
            f"requests per cycle: {sum(reqs.values())} = "
            + ", ".join(f"{s}.{a} {n}" for (s, a), n in sorted(reqs.items()))
        )
        text = runner.rendered.text
        series = sum(1 for line in text.splitlines() if line and not line.startswith(b"#"))
        gz = len(gzip.compress(text)) / 1024
        print(f"exposition: {series} series, {len(text) / 1024:.0f} KiB text, {gz:.0f} KiB gzip")
        server = TestServer(make_app({cfg.name: runner}), host="127.0.0.1")
        await server.start_server()
        lat: dict[str, list[float]] = {"identity": [], "gzip": []}
        async with aiohttp.ClientSession(auto_decompress=False) as session:
            for i in range(scrapes):
                enc = "gzip" if i % 2 else "identity"
                start = time.perf_counter()
                async with session.get(server.make_url("/metrics"), headers={"Accept-Encoding": enc}) as r:
                    await r.read()
                lat[enc].append((time.perf_counter() - start) * 1000)
        await server.close()
        for enc, v in lat.items():
            print(f"/metrics ({enc}): p50 {pct(v, 0.5):.2f} ms, p99 {pct(v, 0.99):.2f} ms over {len(v)} scrapes")
        print(
            f"memory: exporter process RSS {rss_mb():.0f} MiB (before the runner {rss0:.0f} MiB), "
            f"peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
        )
        runner.close()


def synthetic(partitions: int, brokers: int = 30) -> None:
    """Analysis + render on a hand-built snapshot: what a big cluster costs per cycle beyond the I/O."""
    bs = tuple(Broker(i, f"b{i}", 9092, f"rack-{i % 3}") for i in range(brokers))
    per_topic = 50
    topics = []
    for t in range(partitions // per_topic):
        parts = []
        for p in range(per_topic):
            reps = tuple((t + p + k) % brokers for k in range(3))
            isr = reps if (t * per_topic + p) % 97 else reps[:2]  # ~1% under-replicated
            parts.append(Partition(f"t{t:05d}", p, reps[0], reps, isr))
        topics.append(Topic(f"t{t:05d}", False, tuple(parts)))
    mi = {"min.insync.replicas": ConfigValue("2", False, "DYNAMIC_TOPIC_CONFIG")}
    snap = ClusterSnapshot(
        taken_at=time.time(),
        brokers=bs,
        topics=tuple(topics),
        reassignments_known=True,
        topic_configs={t.name: mi for t in topics},
    )
    cfg = parse_config({"clusters": [{"bootstrap_servers": "x:1"}]}).clusters[0]
    runner = ClusterRunner(cfg)
    start = time.process_time()
    samples = runner.render(snap)
    mid = time.process_time()
    text = render_text(samples)
    end = time.process_time()
    series = sum(1 for line in text.splitlines() if line and not line.startswith(b"#"))
    print(
        f"synthetic {partitions} partitions / {len(topics)} topics / {brokers} brokers: "
        f"analysis {mid - start:.2f}s CPU, "
        f"render {end - mid:.2f}s CPU, {series} series, {len(text) / 1024 / 1024:.1f} MiB text, RSS {rss_mb():.0f} MiB"
    )
    runner.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--topics", type=int, default=200)
    ap.add_argument("--partitions", type=int, default=10)
    ap.add_argument("--cycles", type=int, default=10)
    ap.add_argument("--scrapes", type=int, default=400)
    ap.add_argument("--synthetic", type=int, default=100_000, help="partitions of the synthetic snapshot (0: skip)")
    ap.add_argument("--no-cluster", action="store_true")
    args = ap.parse_args()
    if not args.no_cluster:
        asyncio.run(bench_real(args.topics, args.partitions, args.cycles, args.scrapes))
    if args.synthetic:
        synthetic(args.synthetic)


if __name__ == "__main__":
    main()
