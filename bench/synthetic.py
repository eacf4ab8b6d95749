"""Analysis and rendering at sizes no single machine's cluster reaches: hand-built snapshots the size of the
largest public Kafka clusters (default 100,000 partitions, 50 brokers in 3 racks, 10,000 groups committing to
50 partitions each = 500,000 group-partition offsets), fed to the runner's own per-cycle path (every concern's
history step, samples, rendering and gzip) as a real cycle would, for several cycles so the lag history fills.
No Kafka: the I/O is what bench.py measures.

    .venv/bin/python bench/synthetic.py                     # the default size
    .venv/bin/python bench/synthetic.py --partitions 10000 --brokers 3 --groups 1000 --per-group 3

Prints CPU per cycle (median) and per concern, series, exposition size, RSS, and MiB per 100k series.
Figures are measured, never asserted.
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from exporter.config import parse_config
from exporter.interpreter import tune_for_serving
from exporter.model import Broker, ClusterSnapshot, ConfigValue, ConsumerGroup, Partition, Topic
from exporter.runner import ClusterRunner

PER_TOPIC = 50
MIN_ISR = {"min.insync.replicas": ConfigValue("2", False, "DYNAMIC_TOPIC_CONFIG")}


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Cluster:
    """The cluster's shape (fixed) and each cycle's offsets: a third of the partitions idle, the rest written
    to; groups at various distances behind, a few not consuming at all (their lag grows)."""

    def __init__(self, partitions: int, brokers: int, groups: int, per_group: int) -> None:
        self.brokers = tuple(Broker(i, f"b{i}", 9092, f"rack-{i % 3}") for i in range(1, brokers + 1))
        ids = [b.id for b in self.brokers]
        topics = []
        for t in range(max(1, partitions // PER_TOPIC)):
            name = f"topic-{t:05d}"
            parts = []
            for p in range(PER_TOPIC):
                reps = tuple(ids[(t + p + k) % len(ids)] for k in range(3))
                isr = reps if (t * PER_TOPIC + p) % 97 else reps[:2]  # ~1% under-replicated
                parts.append(Partition(name, p, reps[0], reps, isr))
            topics.append(Topic(name, False, tuple(parts)))
        self.topics = tuple(topics)
        self.keys = [(p.topic, p.partition) for t in topics for p in t.partitions]
        rnd = random.Random(1)
        self.groups = [
            (f"group-{g:05d}", [self.keys[(start + k) % len(self.keys)] for k in range(per_group)])
            for g, start in ((g, rnd.randrange(len(self.keys))) for g in range(groups))
        ]

    def snapshot(self, cycle: int, t: float) -> ClusterSnapshot:
        end = {k: 1_000_000 + cycle * 100 * (i % 3) for i, k in enumerate(self.keys)}
        groups = tuple(
            ConsumerGroup(
                gid,
                1 + g % len(self.brokers),
                "Stable",
                members=0 if g % 50 == 0 else 3,
                offsets={k: end[k] - (g % 7) * 10 - (cycle * 100 if g % 50 == 0 else 0) for k in tps},
            )
            for g, (gid, tps) in enumerate(self.groups)
        )
        return ClusterSnapshot(
            taken_at=t,
            mode="zookeeper",
            brokers=self.brokers,
            topics=self.topics,
            reassignments_known=True,
            topic_configs={t.name: MIN_ISR for t in self.topics},
            groups=groups,
            groups_complete=True,
            end_offsets=end,
            end_offsets_at=t,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--partitions", type=int, default=100_000)
    ap.add_argument("--brokers", type=int, default=50)
    ap.add_argument("--groups", type=int, default=10_000)
    ap.add_argument("--per-group", type=int, default=50, help="partitions each group commits to")
    ap.add_argument("--cycles", type=int, default=8, help="cycles run (10 s of cluster time apart)")
    ap.add_argument("--max-partition-series", type=int, default=50_000, help="lag.max_partition_series")
    ap.add_argument("--dump", type=Path, help="write the last exposition here (to compare before and after a change)")
    args = ap.parse_args()
    tune_for_serving()  # as the server runs
    rss0 = rss_mib()
    cfg = parse_config(
        {
            "clusters": [
                {"bootstrap_servers": "synthetic:9092", "lag": {"max_partition_series": args.max_partition_series}}
            ]
        }
    ).clusters[0]
    cluster = Cluster(args.partitions, args.brokers, args.groups, args.per_group)
    runner = ClusterRunner(cfg)
    t0 = 1_800_000_000.0  # fixed: two runs give the same exposition (--dump)
    cpu: list[float] = []
    per_concern: dict[str, list[float]] = {}
    for i in range(args.cycles):
        snap = cluster.snapshot(i, t0 + 10 * i)
        before = time.process_time()
        runner._account_and_publish(snap, 1.0)  # what a cycle does after collection, in its thread
        cpu.append(time.process_time() - before)
        for name, (_, seconds) in runner.health.concerns.items():
            per_concern.setdefault(name, []).append(seconds)
        del snap
    gc.collect()
    text = runner.rendered.text
    if args.dump:
        args.dump.write_bytes(text)
    series = text.count(b"\n") - text.count(b"\n#") - (not text.startswith(b"#"))
    rss = rss_mib()
    offsets = args.groups * args.per_group
    print(
        f"synthetic: {len(cluster.topics) * PER_TOPIC:,} partitions, {args.brokers} brokers, {args.groups:,} groups, "
        f"{offsets:,} group-partition offsets, {args.cycles} cycles"
    )
    print(f"  CPU per cycle (history + analysis + render + gzip): median {statistics.median(cpu[1:]):.2f} s")
    print(
        "  by concern (wall, median): "
        + ", ".join(f"{n} {statistics.median(v[1:]):.2f} s" for n, v in per_concern.items())
    )
    exposed = b"\nkafka_exporter_lag_per_partition 1.0\n" in text
    print(
        f"  series {series:,} (per-partition lag series {'exposed' if exposed else 'left out: more than'} "
        f"lag.max_partition_series = {args.max_partition_series:,}), exposition {len(text) / 2**20:.1f} MiB, "
        f"gzip {len(runner.rendered.gzipped) / 2**20:.2f} MiB"
    )
    print(
        f"  RSS {rss0:.0f} MiB before, {rss:.0f} MiB after ({(rss - rss0) / max(series, 1) * 1e5:.0f} MiB per 100k "
        f"series, history and snapshot included), peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}"
        " MiB"
    )


if __name__ == "__main__":
    main()
