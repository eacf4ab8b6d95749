"""The exporter's own costs on a real local cluster of a given size, measured as a user runs it: the exporter is a
separate process (`python -m exporter`), scraped over HTTP. Prints one row per size: collection cycle wall time
(median of the exporter's own kafka_exporter_last_cycle_duration_seconds) and CPU per cycle, Kafka requests per
cycle by API, series exposed, /metrics latency (sequential, and 10 concurrent clients, both while cycles run),
CPU seconds per minute, memory idle (before any scrape) and after the scrape load. CPU and memory are the
exporter's two processes' (the collector and the /metrics server it forks): memory both as counted once (PSS sum)
and as each process's RSS.

    .venv/bin/python bench/bench.py --topics 40 --partitions 50 --groups 300
    .venv/bin/python bench/bench.py --sizes            # 1k, 3k, 10k partitions x 100, 300, 1,000 groups
    .venv/bin/python bench/bench.py --synthetic        # no Kafka: bench/synthetic.py, analysis + render at large sizes

Not part of the test suite; one real cluster at a time on a small machine. Figures are measured, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import yaml  # noqa: E402
from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition  # noqa: E402
from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]  # noqa: E402

from harness.cluster import ZkCluster  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Size:
    topics: int
    partitions: int  # per topic
    groups: int
    per_group: int  # partitions each group commits to

    @property
    def total(self) -> int:
        return self.topics * self.partitions


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tree(pid: int) -> list[int]:
    """The exporter's processes: itself and the process serving /metrics it forks (exporter/serving.py)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid] + [int(c) for c in children]


def cpu_seconds(pid: int) -> float:
    total = 0
    for p in tree(pid):
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / CLK


def memory_mib(pid: int) -> tuple[float, list[float]]:
    """The processes' memory counted once (the sum of their proportional set sizes: a page the fork shares is
    split between them, as a container's memory limit counts it once) and each one's RSS (which counts shared
    pages in full in each)."""
    pss, rss = 0, []
    for p in tree(pid):
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines()[1:])
        pss += int(fields["Pss"].split()[0])
        rss.append(int(fields["Rss"].split()[0]) / 1024)
    return pss / 1024, rss


def fill(cluster: ZkCluster, size: Size, groups_before: int = 0) -> int:
    """Topics (RF 2) and groups committing to `per_group` partitions each, spread over the topics; returns how many
    groups the cluster lists. With `groups_before`, the topics and that many groups are there already (a larger
    size on the same cluster): only the groups after them are added."""
    admin = cluster.admin_client()
    names = [f"bench-{i:04d}" for i in range(size.topics)]
    if not groups_before:
        new = [NewTopic(n, size.partitions, 2) for n in names]
        for i in range(0, len(new), 50):
            for f in admin.create_topics(new[i : i + 50], operation_timeout=120).values():
                f.result(180)
    all_tps = [(n, p) for n in names for p in range(size.partitions)]
    todo = list(range(groups_before, size.groups))
    for _ in range(5):  # partitions of topics just created may not have a leader yet: their commits fail
        failed: list[int] = []
        for i in range(0, len(todo), 50):
            batch = {}
            for g in todo[i : i + 50]:
                gid = f"bench-group-{g:05d}"
                k = [all_tps[(g * size.per_group + j) % len(all_tps)] for j in range(size.per_group)]
                tps = [TopicPartition(t, p, 0) for t, p in k]
                batch[g] = admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(gid, tps)])[gid]
            for g, f in batch.items():
                try:
                    ok = all(tp.error is None for tp in f.result(120).topic_partitions)
                except KafkaException:
                    ok = False
                if not ok:
                    failed.append(g)
        if not failed:
            break
        todo = failed
        time.sleep(1)
    # The exporter is waited for until it lists the groups the cluster really has (a commit can still have failed).
    listed = admin.list_consumer_groups().result(60).valid
    return sum(1 for g in listed if g.group_id.startswith("bench-group-"))


@contextmanager
def exporter(
    bootstrap: str, interval: float, tmp: Path, checkout: Path = ROOT
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    cfg = {
        "web": {"listen_address": f"127.0.0.1:{port}"},
        "clusters": [
            {
                "bootstrap_servers": bootstrap,
                "collection": {"interval_seconds": interval, "jitter_seconds": 0},
                "lag": {"include_groups": ["bench-group-.*"]},
            }
        ],
    }
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    log = (tmp / "exporter.log").open("wb")
    # The exporter package of `checkout` (another worktree, to compare versions on one cluster).
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    cmd = [sys.executable, "-m", "exporter", "--config", str(path)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=log, cwd=checkout, env=env)
    try:
        yield proc, f"http://127.0.0.1:{port}/metrics"
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def value(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        named = line.startswith((name + "{", name + " "))
        if named and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


class Body:
    """A response as it came (gzip, as Prometheus asks for it), decompressed only when read: decompressing in
    this client, which shares the machine's 2 cores and its own event loop with the other requests of a burst,
    would be counted as the exporter's latency."""

    def __init__(self, raw: bytes, gzipped: bool) -> None:
        self.raw, self._gzipped = raw, gzipped

    def __str__(self) -> str:
        return (gzip.decompress(self.raw) if self._gzipped else self.raw).decode()


async def get(session: aiohttp.ClientSession, url: str) -> tuple[float, Body]:
    started = time.perf_counter()
    async with session.get(url, headers={"Accept-Encoding": "gzip"}) as r:
        raw = await r.read()
    return (time.perf_counter() - started) * 1000, Body(raw, r.headers.get("Content-Encoding") == "gzip")


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


async def measure(
    proc: subprocess.Popen[bytes], url: str, size: Size, *, groups: int, interval: float, cycles: int
) -> dict[str, Any]:
    out: dict[str, Any] = {"groups": groups}
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        # Until the first complete cycle (every group listed), with no scrape load: the idle figures.
        deadline = time.monotonic() + 600
        while True:
            await asyncio.sleep(2)
            try:
                _, body = await get(session, url)
            except aiohttp.ClientError:
                continue
            text = str(body)
            if (value(text, "kafka_consumer_groups") or 0) >= groups and value(
                text, "kafka_topic_partitions", topic=f"bench-{size.topics - 1:04d}"
            ):
                break
            assert time.monotonic() < deadline, "the exporter never saw the whole cluster"
        await asyncio.sleep(interval)
        out["mem_idle"] = memory_mib(proc.pid)
        # Collection alone: process CPU over 5 whole cycles, from the end of one to the end of the fifth after it
        # (found by polling the cycle counter, finely only around the two ends), so neither a partial cycle nor
        # the polling scrapes are counted as the collection's.
        cycles_alone = 5

        async def cycle_end(after: float) -> tuple[float, float, str]:
            while True:
                _, body = await get(session, url)
                text = str(body)
                done = value(text, "kafka_exporter_collection_cycles_total") or 0
                if done > after:
                    return done, cpu_seconds(proc.pid), text
                await asyncio.sleep(0.2)

        _, body = await get(session, url)
        first, cpu0, _ = await cycle_end(value(str(body), "kafka_exporter_collection_cycles_total") or 0)
        await asyncio.sleep(interval * cycles_alone - 2)
        last, cpu1, text = await cycle_end(first + cycles_alone - 1)
        out["cpu_idle_per_cycle"] = (cpu1 - cpu0) / (last - first)
        # Cycles with the scrape load: sequential scrapes, then bursts of 10 concurrent ones, through `cycles`.
        cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
        cycles0 = value(text, "kafka_exporter_collection_cycles_total") or 0
        durations: list[float] = []

        def cycles_done(body: Body) -> bool:
            nonlocal text
            text = str(body)
            d = value(text, "kafka_exporter_last_cycle_duration_seconds")
            if d is not None:
                durations.append(d)
            return (value(text, "kafka_exporter_collection_cycles_total") or 0) - cycles0 >= cycles

        seq, conc, body = await scrape_load(session, url, cycles_done)
        done = (value(text, "kafka_exporter_collection_cycles_total") or 0) - cycles0
        elapsed, cpu = time.monotonic() - t0, cpu_seconds(proc.pid) - cpu0
        out["mem_load"] = memory_mib(proc.pid)
        out["cycle_wall"] = statistics.median(durations)
        out["cpu_per_cycle"] = cpu / done
        out["cpu_per_min"] = cpu / elapsed * 60
        out["seq"] = (pct(seq, 0.5), pct(seq, 0.99), max(seq))
        out["conc"] = (pct(conc, 0.5), pct(conc, 0.99), max(conc))
        out["series"] = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
        requests = {
            m.group(1): float(m.group(2))
            for m in re.finditer(r'kafka_exporter_last_cycle_requests\{[^}]*api="([^"]+)"[^}]*\} (\S+)', text)
        }
        out["requests"] = {k: int(v) for k, v in sorted(requests.items()) if v}
        out["floor"] = await floor(session, body, elapsed)
    return out


async def scrape_load(
    session: aiohttp.ClientSession, url: str, enough: Callable[[Body], bool]
) -> tuple[list[float], list[float], Body]:
    """Latencies (ms) of 20 sequential scrapes then a burst of 10 concurrent ones, over and over until `enough`
    says so of the last body."""
    seq: list[float] = []
    conc: list[float] = []
    while True:
        for _ in range(20):
            ms, body = await get(session, url)
            seq.append(ms)
        burst = await asyncio.gather(*(get(session, url) for _ in range(10)))
        conc += [ms for ms, _ in burst]
        if enough(body):
            return seq, conc, body
        await asyncio.sleep(0.2)


async def floor(session: aiohttp.ClientSession, body: Body, seconds: float) -> tuple[float, float]:
    """p99 (ms) sequential and 10 concurrent of bench/static_server.py serving the exporter's last body, under
    the same load for as long, beside the cluster and the exporter's collection: the machine's floor (on 2
    cores, the brokers of a larger cluster take more of them, and every server's p99 rises with them)."""
    port = free_port()
    with tempfile.NamedTemporaryFile() as f:
        f.write(body.raw)
        f.flush()
        server = subprocess.Popen([sys.executable, str(ROOT / "bench" / "static_server.py"), str(port), f.name])
        try:
            url = f"http://127.0.0.1:{port}/metrics"
            while True:
                try:
                    await get(session, url)
                    break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.2)
            until = time.monotonic() + seconds
            seq, conc, _ = await scrape_load(session, url, lambda _: time.monotonic() >= until)
        finally:
            server.terminate()
            server.wait(10)
    return pct(seq, 0.99), pct(conc, 0.99)


def row(size: Size, m: dict[str, Any]) -> str:
    s, c = m["seq"], m["conc"]
    reqs = sum(m["requests"].values())
    return (
        f"| {size.total:,} | {m['groups']:,} x {size.per_group} | {m['series']:,} | {m['cycle_wall']:.2f} s | "
        f"{m['cpu_idle_per_cycle']:.2f} s | {m['cpu_per_cycle']:.2f} s | {reqs} | "
        f"{s[0]:.1f} / {s[1]:.1f} / {s[2]:.1f} ms | "
        f"{c[0]:.1f} / {c[1]:.1f} / {c[2]:.1f} ms | {m['floor'][0]:.1f} / {m['floor'][1]:.1f} ms | "
        f"{m['cpu_per_min']:.1f} s | "
        f"{m['mem_idle'][0]:.0f} / {m['mem_load'][0]:.0f} MiB | "
        f"{' + '.join(f'{r:.0f}' for r in m['mem_idle'][1])} / {' + '.join(f'{r:.0f}' for r in m['mem_load'][1])} MiB |"
    )


HEADER = (
    "| partitions | groups x partitions each | series | cycle (median) | CPU per cycle, collection alone "
    "| process CPU per cycle under scrape load | requests per cycle | "
    "/metrics p50 / p99 / max | 10 concurrent p50 / p99 / max | floor: static server p99 / 10 concurrent | "
    "CPU per minute | memory idle / under load "
    "(PSS, both processes) | RSS idle / under load (collector + server) |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def run(sizes: list[Size], brokers: int, interval: float, cycles: int, *, checkouts: list[Path], rounds: int) -> None:
    """One cluster per topic layout: sizes that differ only in groups (in ascending order) share it, each adding
    its groups to the ones before, and each measured by a fresh exporter process: `rounds` times per checkout,
    the checkouts taking turns (the machine's speed drifts; interleaving shares the drift)."""
    print(("| checkout " if len(checkouts) > 1 else "") + HEADER, flush=True)
    layouts: dict[tuple[int, int], list[Size]] = {}
    for size in sizes:
        layouts.setdefault((size.topics, size.partitions), []).append(size)
    for same in layouts.values():
        with ZkCluster(list(range(1, brokers + 1))) as cluster:
            before = 0
            for size in sorted(same, key=lambda s: s.groups):
                started = time.monotonic()
                groups = fill(cluster, size, before)
                before = size.groups
                print(f"<!-- {size}: filled in {time.monotonic() - started:.0f}s, {groups} groups -->", flush=True)
                for _ in range(rounds):
                    for checkout in checkouts:
                        with (
                            tempfile.TemporaryDirectory() as tmp,
                            exporter(cluster.bootstrap_servers, interval, Path(tmp), checkout) as (proc, url),
                        ):
                            m = asyncio.run(measure(proc, url, size, groups=groups, interval=interval, cycles=cycles))
                        label = f"| {checkout.name} " if len(checkouts) > 1 else ""
                        print(label + row(size, m), flush=True)
                        reqs = ", ".join(f"{k} {v}" for k, v in m["requests"].items())
                        print(f"<!-- requests per cycle: {reqs} -->", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--brokers", type=int, default=3)
    ap.add_argument("--topics", type=int, default=40)
    ap.add_argument("--partitions", type=int, default=50, help="per topic")
    ap.add_argument("--groups", type=int, default=300)
    ap.add_argument("--partitions-per-group", type=int, default=3)
    ap.add_argument("--broker-heap", default="1g", help="each broker's -Xmx (the harness default runs out at ~10k)")
    ap.add_argument("--interval", type=float, default=10.0)
    ap.add_argument("--cycles", type=int, default=5, help="cycles measured under scrape load")
    ap.add_argument("--sizes", action="store_true", help="1k, 3k, 10k partitions x 100, 300, 1,000 groups")
    ap.add_argument("--synthetic", action="store_true", help="no Kafka: bench/synthetic.py at its default size")
    ap.add_argument(
        "--checkout",
        type=Path,
        action="append",
        help="a checkout (e.g. a git worktree) whose exporter to measure; repeat to compare, taking turns",
    )
    ap.add_argument("--rounds", type=int, default=1, help="measurements per checkout and size")
    args = ap.parse_args()
    if args.synthetic:
        subprocess.run([sys.executable, str(ROOT / "bench" / "synthetic.py")], check=True)
        return
    os.environ["KCE_BROKER_HEAP"] = args.broker_heap
    if args.sizes:
        sizes = [Size(p // 50, 50, g, args.partitions_per_group) for p in (1000, 3000, 10000) for g in (100, 300, 1000)]
    else:
        sizes = [Size(args.topics, args.partitions, args.groups, args.partitions_per_group)]
    checkouts = [c.resolve() for c in args.checkout] if args.checkout else [ROOT]
    run(sizes, args.brokers, args.interval, args.cycles, checkouts=checkouts, rounds=args.rounds)


if __name__ == "__main__":
    main()
