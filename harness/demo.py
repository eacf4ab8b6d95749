"""The demo: a local 3-broker Kafka cluster (ZooKeeper mode by default, --kraft for KRaft), topics of which
one has a single replica, a producer, a consumer group that falls behind, and the exporter watching it all.
Ctrl-C stops and removes everything."""

from __future__ import annotations

import argparse
import contextlib
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

from harness.cluster import Cluster, KraftCluster, ZkCluster

TOPICS = [("orders", 6, 3), ("payments", 3, 3), ("clicks", 3, 1)]  # (name, partitions, replication factor)


def produce(bootstrap: str, stop: threading.Event) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50, "acks": "all"})
    n = 0
    while not stop.is_set():
        for topic, _, _ in TOPICS:
            p.produce(topic, key=str(n % 97).encode(), value=f"event {n}".encode())
        n += 1
        p.poll(0)
        time.sleep(0.02)  # ~50 messages/s per topic
    p.flush(5)


def consume_slowly(bootstrap: str, stop: threading.Event) -> None:
    # Reads ~10 messages/s of the ~50/s produced to "orders": the group "billing" falls behind.
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "billing", "auto.offset.reset": "earliest"})
    c.subscribe(["orders"])
    while not stop.is_set():
        c.poll(0.1)
        time.sleep(0.1)
    c.close()


def wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            urllib.request.urlopen(url, timeout=2).read()
            return
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--kraft", action="store_true", help="run Kafka 4 in KRaft mode instead of ZooKeeper mode")
    ap.add_argument("--port", type=int, default=9340, help="port the exporter listens on (default 9340)")
    args = ap.parse_args()

    cluster: Cluster = KraftCluster([1, 2, 3]) if args.kraft else ZkCluster([1, 2, 3])
    print(f"starting a 3-broker {cluster.mode} cluster ...", flush=True)
    stop = threading.Event()
    exporter: subprocess.Popen[bytes] | None = None
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` cleans up like Ctrl-C does
    with cluster, tempfile.TemporaryDirectory(prefix="kce-demo-") as tmp:
        admin = cluster.admin_client()
        for f in admin.create_topics([NewTopic(n, p, r) for n, p, r in TOPICS]).values():
            f.result()
        threads = [
            threading.Thread(target=produce, args=(cluster.bootstrap_servers, stop), daemon=True),
            threading.Thread(target=consume_slowly, args=(cluster.bootstrap_servers, stop), daemon=True),
        ]
        for t in threads:
            t.start()
        cfg = Path(tmp) / "config.yaml"
        zk = f"    zookeeper: {{connect: '{cluster.zk_connect}'}}\n" if isinstance(cluster, ZkCluster) else ""
        cfg.write_text(
            f"web: {{listen_address: '127.0.0.1:{args.port}'}}\n"
            "clusters:\n"
            f"  - name: demo\n    bootstrap_servers: '{cluster.bootstrap_servers}'\n{zk}"
            "    collection: {interval_seconds: 5, timeout_seconds: 4, request_timeout_seconds: 3}\n"
            "    lag: {verdict_window_seconds: 60}  # short, so the demo shows a verdict within minutes\n"
        )
        exporter = subprocess.Popen([sys.executable, "-m", "exporter", "--config", str(cfg)])
        try:
            wait_http(f"http://127.0.0.1:{args.port}/ready", 60)
            print(
                f"\nkafka-cluster-exporter is watching the demo cluster ({cluster.bootstrap_servers}).\n"
                f"  metrics:  http://127.0.0.1:{args.port}/metrics\n"
                f"  config:   {cfg}\n"
                "Topic 'clicks' has one replica (policy wants 3); group 'billing' falls behind on 'orders'.\n"
                "Press Ctrl-C to stop and clean up.",
                flush=True,
            )
            while exporter.poll() is None:
                time.sleep(1)
            print(f"the exporter exited with code {exporter.returncode}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("\nstopping ...", flush=True)
            return 0
        finally:
            stop.set()
            if exporter.poll() is None:
                exporter.terminate()
                try:
                    exporter.wait(10)
                except subprocess.TimeoutExpired:
                    exporter.kill()
            for t in threads:
                t.join(10)


if __name__ == "__main__":
    sys.exit(main())
