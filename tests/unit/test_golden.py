"""A golden exposition: hand-built snapshots in which every concern has something to say, rendered through the
concern registry to the Prometheus text format and compared with the checked-in tests/unit/golden.prom, which
`promtool check metrics` also lints. Any change to a metric's name, help, labels or value shows up as a diff
here; when it is intended, run `pytest tests/unit/test_golden.py --update-golden` and review the file."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from exporter.concerns import REGISTRY
from exporter.config import parse_config
from exporter.metrics.health import HealthState, health_samples
from exporter.metrics.render import Samples, render_text
from exporter.model import (
    BrokerVersion,
    ClusterSnapshot,
    ConfigValue,
    ConsumerGroup,
    LogDir,
    ProbeWrite,
    SourceError,
    ZkState,
)
from tests.unit.snapshots import brokers, configs, part, topic, topic_of

GOLDEN = Path(__file__).parent / "golden.prom"
CFG = parse_config(
    {
        "clusters": [
            {
                "name": "golden",
                "bootstrap_servers": "k:9092",
                "collection": {"interval_seconds": 10},
                "policy": {
                    "replication_factor": 3,
                    "min_insync_replicas": 2,
                    "expected_brokers": [1, 2, 3, 4, 5],
                    "broker_settings": {"auto.create.topics.enable": "false"},
                },
                "reassignment": {"stall_window_seconds": 30, "min_progress_bytes_per_second": 100},
                "lag": {"verdict_window_seconds": 30, "history_seconds": 600},
            }
        ]
    }
).clusters[0]
BYTES = 1_000_000


def cycle(t: float, copied: int) -> ClusterSnapshot:
    """A ZooKeeper-mode cluster of brokers 1-4 (racks a, a, b, c; 5 expected) in the middle of a migration:
    orders-0 moves to broker 4, an auto-created RF-1 topic, an under-replicated partition, a lagging group."""
    orders = topic(
        "orders",
        part("orders", 0, (1, 2, 3, 4), (1, 2, 3), adding=(4,), removing=(3,)),
        part("orders", 1, (2, 3, 1), (2, 3)),
    )
    snap_topics = (orders, topic_of("auto-created", [[1]]), topic_of("__consumer_offsets", [[1, 2, 3]]))
    dirs: dict[int, tuple[LogDir, ...]] = {
        b: (LogDir(b, "/data", None, 100 * BYTES, 40 * BYTES, {("orders", 0): BYTES}),) for b in (1, 2, 3)
    }
    dirs[4] = (LogDir(4, "/data", None, 100 * BYTES, 90 * BYTES, {("orders", 0): copied}),)
    broker_cfg = {
        b: {
            "zookeeper.connect": ConfigValue("zk:2181", False, "STATIC_BROKER_CONFIG"),
            "inter.broker.protocol.version": ConfigValue("3.9", False, "STATIC_BROKER_CONFIG"),
            "auto.create.topics.enable": ConfigValue("true" if b == 1 else "false", False, "STATIC_BROKER_CONFIG"),
            "follower.replication.throttled.rate": ConfigValue("1048576", False, "DYNAMIC_BROKER_CONFIG"),
        }
        for b in (1, 2, 3, 4)
    }
    end = 100 + int(t)
    return ClusterSnapshot(
        taken_at=t,
        cluster_id="golden-cluster",
        mode="zookeeper",
        brokers=brokers({1: "a", 2: "a", 3: "b", 4: "c"}),
        topics=snap_topics,
        reassignments_known=True,
        capabilities={
            "reassignments": "list_partition_reassignments",
            "finalized_features": None,
            "group_state": "list_groups",
        },
        metadata_controller_id=1,
        zk=ZkState(1, 7, False, (1, 2, 3, 4), {("orders", 0): (1, 2, 4)}),
        features={"metadata.version": 0},
        topic_configs={
            "orders": configs({"min.insync.replicas": "2", "follower.replication.throttled.replicas": "0:4"}),
            "auto-created": configs({"min.insync.replicas": "1"}),
            "__consumer_offsets": configs({"min.insync.replicas": "2"}),
        },
        broker_configs=broker_cfg,
        log_dirs=dirs,
        broker_versions={b: BrokerVersion("3.9", ((0, 0, 11), (3, 0, 12))) for b in (1, 2, 3, 4)},
        groups=(
            ConsumerGroup("billing", 2, "Stable", "classic", 2, {("orders", 0): 90, ("orders", 1): 100}),
            ConsumerGroup("audit", 3, "Unknown", "classic", None, {("orders", 1): 50}, stale=True),
        ),
        groups_complete=False,
        end_offsets={("orders", 0): end, ("orders", 1): end},
        start_offsets={("orders", 0): 0, ("orders", 1): 0},
        end_offsets_at=t,
        probe=(
            ProbeWrite(0, 1, None, 0.004, 0.012),
            ProbeWrite(1, 2, None, 0.005, 0.015),
            ProbeWrite(2, 3, "Broker: Not enough in-sync replicas", None, None),
            ProbeWrite(3, 4, None, 0.006, None),
        ),
        errors=(SourceError("kafka_admin", "list_groups", "broker 3: timed out"),),
        requests={("metadata", "metadata"): 1, ("kafka_admin", "list_groups"): 4},
    )


def golden_samples() -> Samples:
    histories: dict[str, Any] = {c.name: c.history() for c in REGISTRY}
    snap = cycle(0, 0)
    for t, copied in ((0, 0), (10, 2_000), (20, 4_000), (30, 4_000), (40, 4_000)):  # copying, then stalled
        snap = cycle(t, copied)
        for c in REGISTRY:
            histories[c.name] = c.advance(histories[c.name], snap, CFG)
    s = Samples()
    for c in REGISTRY:
        s.merge(c.samples(snap, histories[c.name], CFG))
    health = HealthState(cycles=5, last_duration=0.25, last_success=40.0, reachable=True)
    health.sources_up = {"metadata": True, "kafka_admin": False}
    health.errors.update({("kafka_admin", "list_groups"): 5})
    health.requests.update({("metadata", "metadata"): 5, ("kafka_admin", "list_groups"): 20})
    health.last_requests = dict(snap.requests)
    health.concerns = {c.name: (True, 0.001) for c in REGISTRY}
    build = dict.fromkeys(
        ("version", "python_version", "confluent_kafka_version", "librdkafka_version", "kafka_python_version"), "x"
    )
    s.merge(health_samples(health, build))
    return s


def exposition() -> bytes:
    return render_text(golden_samples())


def test_golden_exposition(request: pytest.FixtureRequest) -> None:
    got = exposition()
    if request.config.getoption("--update-golden"):
        GOLDEN.write_bytes(got)
    assert got.decode() == GOLDEN.read_text(), "run: pytest tests/unit/test_golden.py --update-golden, and review"


def test_every_concern_appears_in_the_golden_exposition() -> None:
    text = GOLDEN.read_text()
    for c in REGISTRY:
        shown = [d.name for d in c.metrics if f"\n{d.name}" in text or f"\n{d.name.removesuffix('_total')}" in text]
        assert shown, f"concern {c.name} has no series in the golden exposition"


def test_promtool_accepts_the_golden_exposition() -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool comes with Debian's prometheus package (scripts/setup.sh installs it)"
    out = subprocess.run(
        [promtool, "check", "metrics"], input=GOLDEN.read_bytes(), capture_output=True, timeout=30, check=False
    )
    assert out.returncode == 0, (out.stdout + out.stderr).decode()
