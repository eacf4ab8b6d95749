"""The demo: a local 3-broker Kafka cluster (ZooKeeper mode by default, --kraft for KRaft), topics of which
one has a single replica, a producer, a consumer group that falls behind, the exporter watching it all, and a
real Prometheus (the shipped alerting rules, `for:` shortened) and Alertmanager (the example's routing, its
receivers replaced by this demo printing what it is sent). Firing alerts are printed as they change; --story
then plays a small migration with a lost broker, a reassignment, a stall and its recovery.
Ctrl-C stops and removes everything."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

from harness import monitoring
from harness.cluster import Cluster, ConfigValue, KraftCluster, ZkCluster
from harness.monitoring import AlertWatch, describe
from harness.story import BROKER_CONFIG, Story

TOPICS = [("orders", 6, 3), ("payments", 3, 3), ("clicks", 3, 1)]  # (name, partitions, replication factor)
CLUSTER = "demo"  # the exporter's cluster name and Prometheus's `cluster` target label
DEMO_FOR = "10s"  # every alert's for: in the demo's copy of the rules (shipped: 1 to 30 minutes)
# KafkaConsumerGroupLagHigh fires above 300 s of lag: more than the exporter's age for the demo's first
# minutes (lag in seconds is measured from the exporter's own samples), so the demo's copy says 30 s.
DEMO_RULE_CHANGES = {
    "KafkaConsumerGroupLagHigh": [("> 300", "> 30"), ("(threshold 5m)", "(threshold 30s in this demo)")]
}


# librdkafka logs each lost connection to stderr; --story kills a broker on purpose: critical messages only.
QUIET = {"log_level": 2}


def produce(bootstrap: str, stop: threading.Event) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50, "acks": "all", **QUIET})
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
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "billing", "auto.offset.reset": "earliest", **QUIET})
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


class Log:
    """Timestamped lines: wall clock and time since the demo's monitoring started."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self._lock = threading.Lock()

    def __call__(self, text: str) -> None:
        secs = int(time.monotonic() - self.t0)
        with self._lock:
            print(f"[{time.strftime('%H:%M:%S')} +{secs // 60}:{secs % 60:02d}] {text}", flush=True)


def notification_printer(log: Log) -> type[BaseHTTPRequestHandler]:
    """A webhook receiver for Alertmanager: one line per notification, naming the receiver it was routed to."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            receiver = self.path.strip("/")
            alerts = body.get("alerts", [])
            parts = [
                f"{status}: {', '.join(describe(a['labels']) for a in alerts if a.get('status') == status)}"
                for status in ("firing", "resolved")
                if any(a.get("status") == status for a in alerts)
            ]
            log(f"  Alertmanager -> {receiver}: {'; '.join(parts)}")
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # no access log on the terminal

    return Handler


def check_port_free(port: int, what: str) -> None:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            sys.exit(f"port {port} ({what}) is in use; pick another with --{what}-port")


def exporter_config(path: Path, cluster: Cluster, port: int) -> None:
    zk = f"    zookeeper: {{connect: '{cluster.zk_connect}'}}\n" if isinstance(cluster, ZkCluster) else ""
    path.write_text(
        f"web: {{listen_address: '127.0.0.1:{port}'}}\n"
        "clusters:\n"
        f"  - name: {CLUSTER}\n    bootstrap_servers: '{cluster.bootstrap_servers}'\n{zk}"
        "    collection: {interval_seconds: 5, timeout_seconds: 4, request_timeout_seconds: 3}\n"
        "    policy: {expected_brokers: [1, 2, 3]}  # so a lost broker is named: KafkaBrokerMissing\n"
        "    lag: {verdict_window_seconds: 60}  # short, so the demo shows a verdict within minutes\n"
        # Short, so --story's throttled copy counts as stalled within a minute (default: 1 KiB/s over 300 s).
        "    reassignment: {stall_window_seconds: 20, min_progress_bytes_per_second: 65536}\n"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--kraft", action="store_true", help="run Kafka 4 in KRaft mode instead of ZooKeeper mode")
    ap.add_argument("--port", type=int, default=9340, help="port the exporter listens on (default 9340)")
    ap.add_argument("--prometheus-port", type=int, default=9090, help="port Prometheus listens on (default 9090)")
    ap.add_argument("--alertmanager-port", type=int, default=9093, help="Alertmanager's port (default 9093)")
    ap.add_argument("--story", action="store_true", help="then play a small migration: see harness/story.py")
    args = ap.parse_args()
    for port, what in ((args.prometheus_port, "prometheus"), (args.alertmanager_port, "alertmanager")):
        check_port_free(port, what)

    # The policy the exporter checks by default (RF 3, min ISR 2, auto.create.topics.enable=false) holds
    # everywhere but on "clicks", so the alerts that fire are the demo's problems, not the harness's defaults.
    broker_config: dict[str, ConfigValue] = {"auto.create.topics.enable": False, "min.insync.replicas": 2}
    if args.story:
        broker_config.update(BROKER_CONFIG)
    cluster: Cluster = (
        KraftCluster([1, 2, 3], broker_config=broker_config)
        if args.kraft
        else ZkCluster([1, 2, 3], broker_config=broker_config)
    )
    print(f"starting a 3-broker {cluster.mode} cluster ...", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` cleans up like Ctrl-C does
    # Ctrl-C, also where SIGINT came ignored (a shell's background job passes SIG_IGN on, and Python then installs
    # no KeyboardInterrupt handler: seen in CI, where the demo test's Ctrl-C went unheard).
    signal.signal(signal.SIGINT, _interrupt)
    try:
        with contextlib.ExitStack() as stack:
            stack.enter_context(cluster)
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kce-demo-")))
            admin = cluster.admin_client()
            # A single replica cannot meet min ISR 2: clicks keeps 1, or acks=all writes to it would fail.
            new = [NewTopic(n, p, r, config={} if r > 1 else {"min.insync.replicas": "1"}) for n, p, r in TOPICS]
            for f in admin.create_topics(new).values():
                f.result()
            threads = [
                threading.Thread(target=produce, args=(cluster.bootstrap_servers, stop), daemon=True),
                threading.Thread(target=consume_slowly, args=(cluster.bootstrap_servers, stop), daemon=True),
            ]
            for t in threads:
                t.start()
            stack.callback(_join, threads, stop)  # before the cluster stops: the clients close cleanly
            cfg = tmp / "config.yaml"
            exporter_config(cfg, cluster, args.port)
            exporter = subprocess.Popen([sys.executable, "-m", "exporter", "--config", str(cfg)])
            stack.callback(monitoring.stop_process, exporter)
            wait_http(f"http://127.0.0.1:{args.port}/ready", 60)

            log = Log()
            hooks = ThreadingHTTPServer(("127.0.0.1", 0), notification_printer(log))
            threading.Thread(target=hooks.serve_forever, name="demo-webhook", daemon=True).start()
            stack.callback(hooks.server_close)
            stack.callback(hooks.shutdown)
            am_config, _ = monitoring.alertmanager_config(
                tmp, f"http://127.0.0.1:{hooks.server_port}", group_wait="5s", group_interval="10s"
            )
            prom_config = monitoring.prometheus_config(
                tmp,
                monitoring.rules_copy(tmp, DEMO_FOR, DEMO_RULE_CHANGES),
                f"127.0.0.1:{args.port}",
                f"127.0.0.1:{args.alertmanager_port}",
                cluster=CLUSTER,
                interval="5s",
            )
            mon = stack.enter_context(
                monitoring.monitoring_stack(
                    tmp,
                    prom_config,
                    am_config,
                    prometheus_port=args.prometheus_port,
                    alertmanager_port=args.alertmanager_port,
                )
            )
            monitoring.wait_ready(mon, 60)
            print(
                f"\nkafka-cluster-exporter is watching the demo cluster ({cluster.bootstrap_servers}).\n"
                f"  metrics:       http://127.0.0.1:{args.port}/metrics\n"
                f"  Prometheus:    {mon.prometheus}/alerts  (scrapes the exporter every 5 s)\n"
                f"  Alertmanager:  {mon.alertmanager}  (the routes of alerts/alertmanager.example.yml; its\n"
                "                 receivers are replaced by this demo, which prints what it is sent)\n"
                f"  configs:       {tmp}\n"
                f"NOTE: the demo's copy of alerts/kafka-cluster-exporter.rules.yml sets every for: to {DEMO_FOR}\n"
                "      (shipped: 1m to 30m) and KafkaConsumerGroupLagHigh's threshold to 30 s (shipped: 300 s),\n"
                "      so alerts fire within a minute or two; nothing else differs.\n"
                "Topic 'clicks' has one replica (policy wants 3); group 'billing' falls behind on 'orders'.\n"
                "Firing alerts are printed as they change. Press Ctrl-C to stop and clean up.\n",
                flush=True,
            )
            watch = stack.enter_context(AlertWatch(mon.prometheus, log))
            stack.callback(_shield)
            if args.story:
                Story(cluster, cfg, tmp, log=log, watch=watch, prometheus=mon.prometheus).play()
                log("the story is over; everything keeps running to look around. Ctrl-C stops and cleans up.")
            while exporter.poll() is None:
                for name, proc in (("prometheus", mon.prometheus_proc), ("alertmanager", mon.alertmanager_proc)):
                    if proc.poll() is not None:
                        print(f"{name} exited with code {proc.returncode}\n{mon.log_tails()}", file=sys.stderr)
                        return 1
                time.sleep(1)
            print(f"the exporter exited with code {exporter.returncode}", file=sys.stderr)
            return 1
    except KeyboardInterrupt:
        print("\nstopped; everything it started is gone.", flush=True)
        return 0


def _shield() -> None:
    """A second Ctrl-C (or `kill`) must not cut the cleanup short and leave processes behind."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _join(threads: list[threading.Thread], stop: threading.Event) -> None:
    stop.set()
    for t in threads:
        t.join(10)


if __name__ == "__main__":
    sys.exit(main())
