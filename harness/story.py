"""`scripts/demo.sh --story`: the seed's migration in small, played on the demo cluster so the dashboards and the
alerts can be watched through it. Four steps of under a minute each, printed with a timestamp and what to look
at: a broker lost (killed, then restarted), a reassignment giving "clicks" the policy's 3 replicas (planned by
`kafka-cluster-exporter plan replication-factor`, run by Kafka's own kafka-reassign-partitions), the move
stalling under a throttle lowered to almost nothing, and its recovery when the throttle is raised again.

Each step waits for what it shows (an alert firing, the move done) with a timeout, then goes on: a slow
machine makes the story longer, not wrong.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from confluent_kafka import Producer

from harness.cluster import Cluster, ConfigValue
from harness.monitoring import AlertWatch, query
from harness.tools import REASSIGN_PARTITIONS_COMMAND, run_tool

KIB, MIB = 1024, 1024 * 1024
# A replica fetch carries up to 1 MiB per partition by default: with the few MiB a demo can afford, one fetch
# copies a whole partition and a throttle shows only as bursts. 64 KiB fetches give the throttle a grip
# (tests/integration/test_change.py does the same); normal replication of the demo's traffic is unaffected.
BROKER_CONFIG: dict[str, ConfigValue] = {
    "replica.fetch.max.bytes": 64 * KIB,
    "replica.fetch.response.max.bytes": 256 * KIB,
}
FILL_PER_PARTITION = 12 * MIB  # of "clicks", before it is moved: 24 MiB for each broker to receive
THROTTLE_MOVING = 512 * KIB  # bytes/s per broker: the move takes ~50 s
THROTTLE_STALLED = 1 * KIB  # far below the demo's stall threshold (64 KiB/s over 20 s, see harness.demo)
THROTTLE_RECOVERED = 50 * MIB
TOPIC = ("--topics", "clicks")


class Story:
    def __init__(
        self,
        cluster: Cluster,
        config: Path,
        tmp: Path,
        *,
        log: Callable[[str], None],
        watch: AlertWatch,
        prometheus: str,
    ) -> None:
        self.cluster = cluster
        self.config = config
        self.tmp = tmp
        self.log = log
        self.watch = watch
        self.prometheus = prometheus
        self.started = time.monotonic()

    def play(self) -> None:
        self.log("THE STORY: waiting for the demo's standing alerts (clicks off the policy's RF) before it starts")
        self.wait_firing("KafkaTopicReplicationFactorDrift", 150, topic="clicks")
        self.started = time.monotonic()
        self.broker_lost()
        plan = self.reassignment()
        self.stall(plan)
        self.recovery(plan)
        self.log(f"THE STORY ends after {time.monotonic() - self.started:.0f} s")

    # --- the steps ---------------------------------------------------------------------------------------

    def broker_lost(self) -> None:
        self.step(
            1,
            "a broker is lost: broker 3 is killed (SIGKILL, no controlled shutdown)",
            [
                "kafka_brokers drops from 3 to 2 once its session expires (6 s)",
                "KafkaBrokerMissing broker_id=3 fires (critical: Alertmanager routes it to kafka-pager)",
                "KafkaOfflinePartitions topic=clicks: its partition on broker 3 has no other replica",
                "orders and payments under-replicated (Alertmanager mutes those behind KafkaBrokerMissing)",
                "KafkaExporterCollectionErrors: the exporter's calls to broker 3 failed (they stay 5 minutes)",
                "dashboard 'Kafka cluster overview': Live brokers, Missing brokers, Offline partitions",
            ],
        )
        self.cluster.kill(3)
        self.wait_firing("KafkaBrokerMissing", 120, broker_id="3")
        self.wait_firing("KafkaOfflinePartitions", 30, topic="clicks")
        self.hold(20)
        self.log("broker 3 restarts (its data is intact) ...")
        self.cluster.start_broker(3)
        self.log("broker 3 is back: look at the alerts resolving as its replicas catch up")

        def healed() -> bool:
            urp = self.values("sum(kafka_topic_under_replicated_partitions)")
            return urp == [0.0] and not self.watch.is_firing("KafkaBrokerMissing")

        self.wait("no broker missing, no under-replicated partition", healed, 120)

    def reassignment(self) -> Path:
        self.step(
            2,
            f"a reassignment: clicks gets the policy's 3 replicas, throttled to {THROTTLE_MOVING // KIB} KiB/s",
            [
                "kafka_reassignment_partitions = 3; kafka_reassignment_remaining_bytes falls",
                "kafka_broker_reassignment_progress_bytes_per_second: each receiving broker copying",
                "dashboard 'Kafka migration'",
            ],
        )
        mib = FILL_PER_PARTITION * 3 // MIB
        self.log(f"writing {mib} MiB to clicks first, so that the copy takes a while ...")
        fill(self.cluster.bootstrap_servers, "clicks", 3, FILL_PER_PARTITION)
        self.log("planning: kafka-cluster-exporter plan replication-factor --topics clicks")
        plan_json = subprocess.run(
            [sys.executable, "-m", "exporter", "plan", "replication-factor", "--config", str(self.config), *TOPIC],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        plan = self.tmp / "clicks-rf3.json"
        plan.write_text(plan_json)
        for p in json.loads(plan_json)["partitions"]:
            self.log(f"  plan: {p['topic']}-{p['partition']} -> replicas {p['replicas']}")
        self.reassign(plan, "--execute", "--throttle", str(THROTTLE_MOVING))
        self.log("kafka-reassign-partitions --execute: the move runs")
        deadline = time.monotonic() + 25
        while time.monotonic() < deadline:
            time.sleep(5)
            left = self.values("sum(kafka_reassignment_remaining_bytes)")
            rate = self.values("sum(kafka_reassignment_progress_bytes_per_second)")
            if left and rate:
                self.log(f"  moving: {left[0] / MIB:.1f} MiB left, copying {rate[0] / KIB:.0f} KiB/s")
        return plan

    def stall(self, plan: Path) -> None:
        self.step(
            3,
            f"the move stalls: the throttle drops to {THROTTLE_STALLED} B/s (kafka-reassign-partitions --additional)",
            [
                "kafka_broker_reassignment_progress_bytes_per_second falls to (almost) 0",
                "after the stall window (20 s in this demo): kafka_partition_reassignment_stalled = 1",
                "KafkaReassignmentStalled broker_id=... fires for each receiving broker (warning: kafka-team)",
            ],
        )
        self.reassign(plan, "--execute", "--additional", "--throttle", str(THROTTLE_STALLED))
        self.wait_firing("KafkaReassignmentStalled", 150)
        self.hold(15)

    def recovery(self, plan: Path) -> None:
        self.step(
            4,
            f"recovery: the throttle is raised to {THROTTLE_RECOVERED // MIB} MiB/s; --verify clears it at the end",
            [
                "the copy rate jumps, kafka_reassignment_partitions returns to 0",
                "KafkaReassignmentStalled and KafkaTopicReplicationFactorDrift topic=clicks resolve",
                "kafka_replication_throttles_left_behind: > 0 until --verify removes the throttles",
            ],
        )
        self.reassign(plan, "--execute", "--additional", "--throttle", str(THROTTLE_RECOVERED))
        self.wait("the move done", lambda: self.values("max(kafka_reassignment_partitions)") == [0.0], 120)
        self.reassign(plan, "--verify")
        self.log("kafka-reassign-partitions --verify: the move is complete, throttles removed")

        def clean() -> bool:
            return not self.watch.is_firing("KafkaReassignmentStalled") and not self.watch.is_firing(
                "KafkaTopicReplicationFactorDrift", topic="clicks"
            )

        self.wait("the reassignment's and clicks' RF alerts resolved", clean, 90)

    # --- helpers ---------------------------------------------------------------------------------------

    def step(self, n: int, title: str, look: Sequence[str]) -> None:
        self.log(f"STEP {n}/4 (story +{time.monotonic() - self.started:.0f} s): {title}")
        for line in look:
            print(f"      look at: {line}", flush=True)

    def hold(self, seconds: float) -> None:
        """Time to look at the dashboards before the next change."""
        self.log(f"  {seconds:.0f} s to look around ...")
        time.sleep(seconds)

    def wait(self, what: str, done: Callable[[], bool], timeout: float) -> bool:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if done():
                self.log(f"  seen after {time.monotonic() - started:.0f} s: {what}")
                return True
            time.sleep(2)
        self.log(f"  NOT seen within {timeout:.0f} s: {what}; going on")
        return False

    def values(self, expr: str) -> list[float]:
        try:
            return query(self.prometheus, expr)
        except (OSError, ValueError, KeyError):
            return []

    def wait_firing(self, name: str, timeout: float, **labels: str) -> bool:
        what = " ".join([name, *(f"{k}={v}" for k, v in labels.items()), "firing"])
        return self.wait(what, lambda: self.watch.is_firing(name, **labels), timeout)

    def reassign(self, plan: Path, *args: str) -> None:
        run_tool(
            self.cluster.version,
            REASSIGN_PARTITIONS_COMMAND,
            ["--bootstrap-server", self.cluster.bootstrap_servers, "--reassignment-json-file", str(plan), *args],
            timeout=120,
            check=True,
        )


def fill(bootstrap: str, topic: str, partitions: int, bytes_each: int) -> None:
    """Write about `bytes_each` bytes of incompressible-sized records to each partition (acks=all)."""
    p = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 20, "acks": "all", "compression.type": "none", "log_level": 2}
    )
    chunk = b"x" * 20_000
    for part in range(partitions):
        for _ in range(bytes_each // len(chunk)):
            p.produce(topic, chunk, partition=part)
            p.poll(0)
    if p.flush(60):
        raise RuntimeError(f"could not write {bytes_each} bytes to each partition of {topic}")
