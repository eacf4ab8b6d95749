"""Real-cluster tests of the launcher: what the exporter's tests rely on (broker ids, fault injection that
the Admin API notices, restart, ZooKeeper outage, growing a cluster, no leaked JVMs)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.cimpl import NewTopic  # confluent_kafka.admin re-exports it without __all__

import harness.cluster
from harness.cluster import SESSION_TIMEOUT_MS, Cluster, ClusterStartError, KraftCluster, ZkCluster
from harness.jars import JavaNotFoundError
from harness.tools import METADATA_QUORUM_COMMAND, TOPIC_COMMAND, run_tool
from tests.conftest import ClusterFactory

# Tests using cluster fixtures get the `cluster` marker from conftest; the others here set it themselves.
pytestmark = pytest.mark.timeout(300)

# A dead broker must vanish from the Admin API within the session timeout plus controller reaction time.
DETECTION_LIMIT = SESSION_TIMEOUT_MS / 1000 + 12
REPO = Path(__file__).resolve().parents[2]


def admin_view(cluster: Cluster) -> dict[int, str | None]:
    """Broker id -> rack as DescribeCluster reports them."""
    admin = cluster.admin_client()  # must outlive the future: a collected client cancels its requests
    result = admin.describe_cluster(request_timeout=10).result()
    return {node.id: node.rack for node in result.nodes}


def create_topic(cluster: Cluster, name: str, partitions: int, replication: int, timeout: float = 30) -> None:
    """Create a topic, retrying while the controller is still catching up (e.g. after a ZooKeeper restart)."""
    admin = cluster.admin_client()
    deadline = time.monotonic() + timeout
    while True:
        future = admin.create_topics([NewTopic(name, partitions, replication)], request_timeout=10)[name]
        try:
            future.result()
            return
        except KafkaException as exc:
            if exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:  # an earlier attempt got through
                return
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.5)


def timed(action: Callable[[], None]) -> float:
    start = time.monotonic()
    action()
    return time.monotonic() - start


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def test_zookeeper_mode_faults_and_growth(cluster_factory: ClusterFactory) -> None:
    racks = {1001: "rack-a", 1002: "rack-b", 1003: "rack-c"}
    cluster = cluster_factory("zookeeper", [1001, 1002, 1003], racks=racks)
    assert cluster.mode == "zookeeper"
    assert admin_view(cluster) == racks
    assert cluster.bootstrap_servers == ",".join(f"127.0.0.1:{cluster.port(i)}" for i in (1001, 1002, 1003))
    assert cluster.config(1001)["reserved.broker.max.id"] == "100000"
    assert "started (kafka.server.KafkaServer)" in cluster.log_path(1001).read_text()
    create_topic(cluster, "replicated", 3, 3)
    described = run_tool("3.9", TOPIC_COMMAND, ["--bootstrap-server", cluster.bootstrap_servers, "--describe"])
    assert described.returncode == 0, described.stderr
    assert "ReplicationFactor: 3" in described.stdout

    # SIGKILL: the ZooKeeper session expires, the controller drops the broker.
    cluster.kill(1002)
    gone = timed(lambda: cluster.wait_ready([1001, 1003], timeout=DETECTION_LIMIT))
    back = timed(lambda: cluster.start_broker(1002))
    assert set(admin_view(cluster)) == {1001, 1002, 1003}

    # SIGSTOP: same from the outside, and the broker rejoins on SIGCONT with a new session.
    cluster.freeze(1003)
    assert cluster.running_ids == [1001, 1002]
    frozen_gone = timed(lambda: cluster.wait_ready([1001, 1002], timeout=DETECTION_LIMIT))
    cluster.thaw(1003)
    cluster.wait_ready([1001, 1002, 1003], timeout=60)

    # ZooKeeper outage: brokers keep serving metadata; after the restart the controller works again.
    cluster.stop_zookeeper()
    zk_port = int(cluster.zk_connect.rsplit(":", 1)[1])
    assert not port_open(zk_port)
    cluster.wait_ready([1001, 1002, 1003], timeout=10)
    cluster.start_zookeeper()
    create_topic(cluster, "after-zk-restart", 3, 3)

    cluster.add_broker(1004, rack="rack-a")
    assert admin_view(cluster) == {**racks, 1004: "rack-a"}
    assert cluster.broker_ids == [1001, 1002, 1003, 1004]

    cluster.stop_broker(1004)
    assert cluster.running_ids == [1001, 1002, 1003]
    cluster.wait_ready(timeout=DETECTION_LIMIT)

    with pytest.raises(ClusterStartError, match=r"brokers \[9999\] are not managed") as info:
        cluster.wait_ready([1001, 1002, 1003, 9999], timeout=1)
    assert "broker 1001: sees [1001, 1002, 1003]" in str(info.value)
    print(f"\nzookeeper: kill noticed in {gone:.1f}s, restart {back:.1f}s, freeze noticed in {frozen_gone:.1f}s")


def test_kraft_mode_kill_restart_and_growth(cluster_factory: ClusterFactory) -> None:
    cluster = cluster_factory("kraft", [1, 2, 3])
    assert cluster.mode == "kraft"
    assert set(admin_view(cluster)) == {1, 2, 3}
    assert cluster.config(1)["process.roles"] == "broker,controller"
    create_topic(cluster, "replicated", 3, 3)
    quorum = run_tool(
        "4", METADATA_QUORUM_COMMAND, ["--bootstrap-server", cluster.bootstrap_servers, "describe", "--status"]
    )
    assert quorum.returncode == 0, quorum.stderr
    assert cluster.controller_quorum_voters.count("@127.0.0.1:") == 3
    assert '"id": 3' in quorum.stdout  # all three nodes are voters

    # SIGKILL: the broker is fenced after broker.session.timeout.ms; 2 of 3 voters keep the quorum.
    cluster.kill(2)
    gone = timed(lambda: cluster.wait_ready([1, 3], timeout=DETECTION_LIMIT))
    back = timed(lambda: cluster.start_broker(2))
    assert set(admin_view(cluster)) == {1, 2, 3}

    cluster.add_broker(4)  # broker-only node: the voter set stays static
    assert set(admin_view(cluster)) == {1, 2, 3, 4}
    cluster.stop_broker(4)
    cluster.wait_ready([1, 2, 3], timeout=DETECTION_LIMIT)
    print(f"\nkraft: kill noticed in {gone:.1f}s, restart {back:.1f}s")


def test_broker_that_cannot_start_fails_fast_with_its_log(cluster_factory: ClusterFactory) -> None:
    start = time.monotonic()
    with pytest.raises(ClusterStartError, match="exited with code") as info:
        cluster_factory("zookeeper", [5], broker_config={"log.retention.hours": "not-a-number"})
    assert "log.retention.hours" in str(info.value)
    assert time.monotonic() - start < 60  # did not sit out the readiness timeout


def test_shared_fixtures_are_up(zk_cluster: ZkCluster, kraft_cluster: KraftCluster) -> None:
    assert set(admin_view(zk_cluster)) == {1, 2, 3}
    assert set(admin_view(kraft_cluster)) == {1, 2, 3}
    kraft_cluster.freeze(1)  # healed by the fixture after the test


@pytest.mark.cluster
def test_port_taken_between_allocation_and_bind_is_retried(
    cluster_factory: ClusterFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        real_free_ports = harness.cluster._free_ports
        allocations: list[list[int]] = []

        def first_allocation_conflicts(count: int) -> list[int]:
            ports = real_free_ports(count)
            if not allocations:
                ports[1] = taken  # broker 1's port: [ZooKeeper, brokers..., ZooKeeper TLS]
            allocations.append(ports)
            return ports

        monkeypatch.setattr(harness.cluster, "_free_ports", first_allocation_conflicts)
        cluster = cluster_factory("zookeeper", [1])
    assert len(allocations) == 2
    assert cluster.port(1) != taken


def test_missing_java_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAVA_HOME", "/nonexistent-jdk")
    with pytest.raises(JavaNotFoundError, match="JAVA_HOME=/nonexistent-jdk has no executable bin/java"):
        ZkCluster([1]).start()


_CHILD = """
import json, time
from harness.cluster import ZkCluster
cluster = ZkCluster([7]).start()
print(json.dumps({"pids": [cluster.zookeeper_pid, cluster.pid(7)], "dir": str(cluster.dir)}), flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


@pytest.mark.cluster
def test_jvms_die_with_a_sigkilled_python() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", _CHILD], stdout=subprocess.PIPE, text=True, env=env, cwd=REPO)
    assert child.stdout is not None
    line = child.stdout.readline()
    info = json.loads(line) if line else {}
    pids = [int(p) for p in info.get("pids", [])]
    cluster_dir = str(info.get("dir", ""))
    try:
        assert pids, f"child failed to start a cluster (exit {child.wait()})"
        child.send_signal(signal.SIGKILL)  # no atexit, no finalizers: only PR_SET_PDEATHSIG can help
        child.wait()
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in pids if _alive(p)]
    finally:
        for pid in pids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if cluster_dir:
            shutil.rmtree(cluster_dir, ignore_errors=True)
        if child.poll() is None:
            child.kill()
            child.wait()
