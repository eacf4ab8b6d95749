"""The write probe on a real cluster: the topic it lays out (read with Kafka's own kafka-topics), acks=all writes
that fail for exactly the leaders of partitions Kafka lists under min ISR, the alert that pages on it, and the
recovery once the brokers are back."""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from pathlib import Path
from typing import Any

import pytest

from harness.cluster import Cluster
from harness.tools import TOPIC_COMMAND, run_tool
from tests.integration.scrape import Series, cluster_config, running_exporter, values
from tests.integration.test_alerting_live import alerting_stack, eventually
from tests.integration.test_versions import fields

pytestmark = pytest.mark.cluster

RACKS = {1: "a", 2: "b", 3: "c", 4: "a", 5: "b"}
TOPIC = "probe-under-test"


def described(c: Cluster, *flags: str) -> list[dict[str, str]]:
    """The probe topic's partition lines of `kafka-topics --describe [flags]`."""
    args = ["--bootstrap-server", c.bootstrap_servers, "--describe", "--topic", TOPIC, *flags]
    out = run_tool(c.version, TOPIC_COMMAND, args, timeout=90, check=True).stdout
    return [fields(line) for line in out.splitlines() if "Partition:" in line]


def ids(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def per_broker(s: Series, name: str) -> dict[int, float]:
    return {int(dict(k)["broker"]): v for k, v in values(s, name).items()}


def failing_leaders(c: Cluster) -> set[int]:
    """Leaders of the probe partitions Kafka itself lists under min ISR (or the preferred leader of a leaderless
    one): where an acks=all write must fail."""
    out = set()
    for r in described(c, "--under-min-isr-partitions"):
        leader = int(r["Leader"])
        out.add(leader if leader >= 0 else ids(r["Replicas"])[0])
    return out


@pytest.mark.timeout(420)
async def test_the_probe_fails_for_exactly_the_leaders_under_min_isr(
    cluster_factory: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="exporter.sources.probe")
    cluster: Cluster = cluster_factory("kraft", [1, 2, 3, 4, 5], RACKS)
    policy = {"replication_factor": 3, "min_insync_replicas": 2}
    cfg = cluster_config(
        cluster.bootstrap_servers, 1.0, policy=policy, concerns={"probe": True}, probe={"topic": TOPIC}
    )
    async with running_exporter(cfg) as exp, alerting_stack(tmp_path, exp.url, "5s") as (api, _hook):
        # Healthy: the exporter created the topic; every broker's acks=all write is acknowledged and read back.
        s = await exp.wait_for(
            lambda s: (
                per_broker(s, "kafka_probe_write_success") == dict.fromkeys(RACKS, 1.0)
                and per_broker(s, "kafka_probe_read_success") == dict.fromkeys(RACKS, 1.0)
            ),
            90,
            "every broker's probe write acknowledged and read back",
        )
        # Latencies once warm (the first write to a new topic waits for the client's metadata): ten cycles.
        acks: list[float] = []
        e2es: list[float] = []
        for _ in range(10):
            await exp.next_cycles(1)
            s = await exp.scrape()
            acks += per_broker(s, "kafka_probe_write_ack_latency_seconds").values()
            e2es += per_broker(s, "kafka_probe_end_to_end_latency_seconds").values()
        print(f"healthy, 5 brokers x 10 cycles: ack latency {fmt(acks)}; end to end {fmt(e2es)}")
        rows = await asyncio.to_thread(described, cluster)
        # Kafka's view of the layout: one partition preferring each broker, and leading it; RF 3 in three racks.
        assert sorted(ids(r["Replicas"])[0] for r in rows) == [1, 2, 3, 4, 5], rows
        assert all(int(r["Leader"]) == ids(r["Replicas"])[0] for r in rows), rows
        assert all(len({RACKS[b] for b in ids(r["Replicas"])}) == 3 for r in rows), rows
        configs = run_tool(
            cluster.version,
            TOPIC_COMMAND,
            ["--bootstrap-server", cluster.bootstrap_servers, "--describe", "--topic", TOPIC],
            timeout=90,
            check=True,
        ).stdout
        assert "min.insync.replicas=2" in configs, configs

        # Two brokers stop: the partitions that had both among their replicas fall under min ISR.
        for b in (4, 5):
            await asyncio.to_thread(cluster.stop_broker, b)
        stopped = time.monotonic()

        async def shrunk() -> bool:
            rows = await asyncio.to_thread(described, cluster)
            return all(not {4, 5} & set(ids(r["Isr"])) for r in rows)

        await eventually(shrunk, 60, "brokers 4 and 5 out of every probe partition's ISR")
        expected = await asyncio.to_thread(failing_leaders, cluster)
        assert expected, "precondition: some probe partition under min ISR"

        def judged(s: Series) -> bool:
            success = per_broker(s, "kafka_probe_write_success")
            return {b for b, v in success.items() if v == 0} == expected and set(success) <= {1, 2, 3}

        s = await exp.wait_for(judged, 60, f"probe writes failing for exactly brokers {sorted(expected)}")
        assert expected == await asyncio.to_thread(failing_leaders, cluster), "Kafka's view changed meanwhile"
        print(f"brokers 4, 5 stopped: probe fails for {sorted(expected)} after {time.monotonic() - stopped:.1f}s")
        # Per partition: exactly those Kafka lists under min ISR failed, with the broker's own reason.
        snap = exp.runner.last_snapshot
        assert snap is not None and snap.probe is not None
        under = {int(r["Partition"]) for r in await asyncio.to_thread(described, cluster, "--under-min-isr-partitions")}
        assert {w.partition for w in snap.probe if w.error} == under, snap.probe
        assert all("in-sync replicas" in (w.error or "") for w in snap.probe if w.partition in under), snap.probe
        # The alert's expression is true for exactly those brokers: it fires for them (for: shortened to 5 s).
        firing = await eventually(
            lambda: _firing(api, expected), 60, f"KafkaProbeWriteFailing firing for brokers {sorted(expected)}"
        )
        assert {a["labels"]["broker"] for a in firing} == {str(b) for b in expected}

        # Back: once they are in sync again, every broker leads its probe partition and writes succeed.
        for b in (4, 5):
            await asyncio.to_thread(cluster.start_broker, b)
        back = time.monotonic()
        s = await exp.wait_for(
            lambda s: per_broker(s, "kafka_probe_write_success") == dict.fromkeys(RACKS, 1.0),
            120,
            "every broker's probe write acknowledged again, each broker leading its own partition",
        )
        print(f"restarted: every probe write succeeds {time.monotonic() - back:.1f}s after the restarts began")
        rows = await asyncio.to_thread(described, cluster)
        assert all(int(r["Leader"]) == ids(r["Replicas"])[0] for r in rows), rows
        # The exporter gave them their leadership back (Kafka's own rebalance waits 300 s by default).
        assert "electing the preferred leader of partitions" in caplog.text
        assert f"probe topic {TOPIC}: creating it with 5 partitions" in caplog.text
        await eventually(lambda: _resolved(api), 60, "KafkaProbeWriteFailing resolved")


async def _firing(api: Any, brokers: set[int]) -> list[dict[str, Any]] | None:
    firing = await api.alerts("KafkaProbeWriteFailing")
    return firing if {a["labels"]["broker"] for a in firing} == {str(b) for b in brokers} else None


async def _resolved(api: Any) -> bool:
    return not await api.alerts("KafkaProbeWriteFailing") and not await api.alerts("KafkaProbeWriteFailing", "pending")


def fmt(seconds: list[float]) -> str:
    ms = sorted(v * 1000 for v in seconds)
    return f"median {statistics.median(ms):.1f} ms, p90 {ms[int(len(ms) * 0.9) - 1]:.1f} ms, max {ms[-1]:.1f} ms"
