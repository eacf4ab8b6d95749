"""The exporter's own health: few log lines per outage, a failing concern costs only its families, and a broker
that did not answer is not asked again in the cycle."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
import time
from pathlib import Path
from typing import Any

import pytest

from exporter import collect
from exporter.cli import reload_config
from exporter.concerns import REGISTRY
from exporter.config import ConfigError, load_config, parse_config
from exporter.metrics import brokers as broker_metrics
from exporter.metrics import health as m
from exporter.metrics import overview
from exporter.metrics import replication as replication_metrics
from exporter.metrics.definitions import ALL, declared_in
from exporter.model import Broker, ClusterSnapshot, Partition, SourceError, Topic
from exporter.outages import CLUSTER, SUMMARY_EVERY_SECONDS, OutageLog
from exporter.runner import ClusterRunner
from exporter.sources.recorder import CycleRecorder
from tests.unit.snapshots import brokers


def test_an_outage_is_one_line_down_a_summary_every_few_minutes_and_one_line_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    out = OutageLog("prod", logging.getLogger("test.outages"))
    caplog.set_level(logging.DEBUG, "test.outages")
    down = {CLUSTER: ["metadata: Local: Broker transport failure"], "metadata": ["metadata: failed"] * 3}
    for t in range(0, 600, 10):  # ten minutes of 10 s cycles, all failing
        out.cycle(float(t), down, set())
    lines = [r.getMessage() for r in caplog.records]
    assert lines[:2] == [
        "cluster prod: unreachable: metadata: Local: Broker transport failure",
        "cluster prod: source metadata down: metadata: failed",
    ]
    summaries = lines[2:]
    assert len(summaries) == 2 * int(590 // SUMMARY_EVERY_SECONDS)  # one per source every five minutes
    assert "still unreachable after 300 s (31 failed calls" in summaries[0]
    caplog.clear()
    out.cycle(600.0, {}, {CLUSTER, "metadata"})
    assert [r.getMessage() for r in caplog.records] == [
        "cluster prod: reachable again after 600 s (60 failed calls)",
        "cluster prod: source metadata recovered after 600 s (180 failed calls)",
    ]
    assert out.down == set()


def runner() -> ClusterRunner:
    cfg = parse_config({"clusters": [{"name": "c", "bootstrap_servers": "127.0.0.1:1"}]}).clusters[0]
    return ClusterRunner(cfg)


SNAP = ClusterSnapshot(
    taken_at=1.0,
    brokers=(Broker(1, "h", 9092),),
    topics=(Topic("t", False, (Partition("t", 0, 1, (1,), (1,)),)),),
    errors=(SourceError("kafka_admin", "describe_log_dirs", "broker 1: timed out"),),
    requests={("metadata", "metadata"): 1, ("kafka_admin", "describe_log_dirs"): 1},
)


def test_a_failing_concern_drops_only_its_own_families(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any) -> Any:
        raise KeyError("a bug")

    r = runner()
    monkeypatch.setattr(replication_metrics, "replication_samples", broken)
    try:
        r._account(SNAP, 0.1)
        s = r.render(SNAP)
        assert s.value(overview.TOPICS) == 1  # overview still there
        assert s.value(m.CONCERN_SUCCESS, concern="replication") == 0
        assert s.value(m.CONCERN_SUCCESS, concern="cluster") == 1
        assert s.value(m.CONCERN_ERRORS, concern="replication") == 1
        assert s.value(m.CLUSTER_REACHABLE) == 1
        assert s.value(m.SOURCE_UP, source="kafka_admin") == 0 and s.value(m.SOURCE_UP, source="metadata") == 1
        r._account(ClusterSnapshot(taken_at=2.0, errors=(SourceError("metadata", "metadata", "timed out"),)), 0.1)
        s = r.render(ClusterSnapshot(taken_at=2.0))
        assert s.value(m.CLUSTER_REACHABLE) == 0
        assert s.value(m.SOURCE_UP, source="metadata") == 0
    finally:
        r.close()


def test_a_broker_that_did_not_answer_is_not_asked_again_in_the_cycle() -> None:
    rec = CycleRecorder(time.monotonic() + 10, 5)
    calls = []

    def hangs() -> None:
        calls.append(1)
        raise TimeoutError("timed out")

    assert rec.call("kafka_admin", "describe_log_dirs", hangs, broker=3) is None
    assert rec.call("kafka_admin", "describe_configs_broker", hangs, broker=3) is None
    assert rec.call("kafka_admin", "describe_configs_broker", lambda: "ok", broker=2) == "ok"
    assert len(calls) == 1 and rec.unresponsive == {3}
    assert [e.message for e in rec.errors] == [
        "broker 3: timed out",
        "skipped: broker 3 did not answer earlier in this cycle",
    ]

    def refuses() -> None:
        raise ValueError("an error answer is an answer")

    rec.call("kafka_admin", "describe_configs_broker", refuses, broker=2)
    assert rec.unresponsive == {3}


def test_every_metric_belongs_to_one_concern_or_to_the_exporter() -> None:
    owners: dict[str, list[str]] = {}
    for c in REGISTRY:
        for d in c.metrics:
            owners.setdefault(d.name, []).append(c.name)
    for d in declared_in(vars(m)):
        owners.setdefault(d.name, []).append("exporter")
    assert {d.name for d in ALL} == set(owners)
    assert {n: o for n, o in owners.items() if len(o) > 1} == {}


def test_a_concern_switched_off_is_neither_computed_nor_exposed() -> None:
    cfg = parse_config(
        {"clusters": [{"bootstrap_servers": "127.0.0.1:1", "concerns": {"lag": False, "replication": False}}]}
    ).clusters[0]
    r = ClusterRunner(cfg)
    try:
        assert [c.name for c in r.concerns] == ["cluster", "brokers", "controller", "reassignment"]
        r._account(SNAP, 0.1)
        s = r.render(SNAP)
        assert s.value(overview.TOPICS) == 1
        assert s.value(replication_metrics.TOPIC_RF, topic="t") is None
        assert s.value(m.CONCERN_SUCCESS, concern="lag") is None
    finally:
        r.close()
    with pytest.raises(
        ConfigError, match=r"clusters\[0\]\.concerns\.replicaton: unknown concern; did you mean 'replication'"
    ):
        parse_config({"clusters": [{"bootstrap_servers": "k:9092", "concerns": {"replicaton": False}}]})
    with pytest.raises(ConfigError, match=r"clusters\[0\]\.concerns\.lag: expected true or false"):
        parse_config({"clusters": [{"bootstrap_servers": "k:9092", "concerns": {"lag": "no"}}]})


def test_a_slow_heavy_call_does_not_mark_its_broker_unresponsive() -> None:
    # Seen in CI: a broker taking over a frozen broker's partitions answered DescribeLogDirs after the request
    # timeout; skipping it for the rest of the cycle dropped the lag of every partition it leads.
    rec = CycleRecorder(time.monotonic() + 10, 5)

    def slow() -> None:
        raise TimeoutError("timed out")

    assert rec.call("kafka_admin", "describe_log_dirs", slow, broker=1, heavy=True) is None
    assert rec.unresponsive == set()
    assert rec.call("kafka_admin", "list_offsets", lambda: 42, broker=1) == 42


def test_sighup_retires_a_broker_from_the_policy_without_a_restart(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The seed's drain: broker 3 is decommissioned; editing expected_brokers and sending SIGHUP stops it being
    reported missing at the next cycle, while a broken edit changes nothing and says why."""
    path = tmp_path / "config.yaml"

    def write(expected: str, interval: int = 10) -> None:
        path.write_text(
            "clusters:\n  - name: c\n    bootstrap_servers: 127.0.0.1:1\n"
            f"    collection: {{interval_seconds: {interval}}}\n    policy: {{expected_brokers: {expected}}}\n"
        )

    write("[1, 2, 3]")
    cfg = load_config(str(path))
    r = ClusterRunner(cfg.clusters[0])
    snap = ClusterSnapshot(taken_at=time.time(), brokers=brokers([1, 2]), topics=())
    try:
        assert r.render(snap).value(broker_metrics.BROKER_MISSING, broker_id=3) == 1
        write("[1, 2")  # a typo: nothing changes
        with caplog.at_level(logging.INFO, logger="exporter"):
            reload_config(str(path), {"c": r})
        assert "config reload:" in caplog.text and "still running the previous config" in caplog.text
        assert r.render(snap).value(broker_metrics.BROKER_MISSING, broker_id=3) == 1
        write("[1, 2]", interval=30)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="exporter"):
            reload_config(str(path), {"c": r})
        assert r.render(snap).value(broker_metrics.BROKER_MISSING, broker_id=3) is None
        assert r.cfg.collection.interval_seconds == 10  # held by the collector: a restart applies it
        assert "changes to collection take effect at the next restart" in caplog.text
    finally:
        r.close()


def test_every_call_the_sources_make_has_an_error_counter_from_the_start() -> None:
    """increase() over a counter that appears at its first failure misses that failure (an alert once said 1
    failed call where 4 had failed): each counter the exporter can raise exists at 0 from the first cycle."""
    named = set()
    for path in Path(collect.__file__).parent.joinpath("sources").glob("*.py"):
        src = path.read_text()
        named |= set(re.findall(r'rec\.(?:call|error)\(\w+, "(\w+)"', src))
        named |= set(re.findall(r'_parallel\(rec, \w+, "(\w+)"', src))
    known = {"metadata", *collect.KAFKA_CALLS, *collect.LAG_CALLS, *collect.KRAFT_CALLS, *collect.ZOOKEEPER_CALLS}
    known |= set(collect.PROBE_CALLS)
    assert named and named <= known, named - known

    cfg = parse_config(
        {"clusters": [{"bootstrap_servers": "127.0.0.1:1", "zookeeper": {"connect": "127.0.0.1:2"}}]}
    ).clusters[0]
    r = ClusterRunner(cfg)
    try:
        r._account(ClusterSnapshot(taken_at=time.time(), mode="zookeeper"), 0.1)
        s = m.health_samples(r.health, m.build_info_labels())
        assert s.value(m.ERRORS, source="kafka_admin", call="list_offsets") == 0
        assert s.value(m.ERRORS, source="zookeeper", call="get_controller") == 0
        assert s.value(m.ERRORS, source="kafka_admin", call="describe_quorum") is None  # KRaft only
    finally:
        r.close()


@pytest.mark.timeout(60)
async def test_cancelling_the_collection_loop_always_ends_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # Shutdown (SIGTERM) cancels each cluster's loop and waits for it. On Python 3.11, asyncio.wait_for returns
    # the result of a future that finished in the same loop iteration as the cancellation, and so swallows the
    # cancellation: the loop then ran on and shutdown waited forever. Cycles of no time make that moment common.
    class Stop(BaseException):  # ends a loop that ignored its cancellation, so the test fails instead of hanging
        pass

    stop = False

    def collect() -> ClusterSnapshot:
        if stop:
            raise Stop
        return SNAP

    r = runner()
    monkeypatch.setattr(r._collector, "collect", collect)
    monkeypatch.setattr(r, "_publish", lambda snap: None)
    r.cfg = dataclasses.replace(
        r.cfg, collection=dataclasses.replace(r.cfg.collection, interval_seconds=0.0, jitter_seconds=0.0)
    )
    hung = 0
    for i in range(300):
        task = asyncio.create_task(r.run_forever())
        for _ in range(i % 7):
            await asyncio.sleep(0)
        await asyncio.sleep(0.0005 * (i % 5))
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=2)
        if not done:
            hung += 1
            stop = True
            with contextlib.suppress(Stop):
                await task
            break
    assert hung == 0, f"loop {i} went on running after its cancellation"


def test_refused_credentials_are_the_reported_cause_and_cycles_back_off(caplog: pytest.LogCaptureFixture) -> None:
    cfg = parse_config(
        {
            "clusters": [
                {
                    "name": "prod",
                    "bootstrap_servers": "127.0.0.1:1",
                    "collection": {"interval_seconds": 30, "jitter_seconds": 0},
                    "zookeeper": {"connect": "127.0.0.1:2", "sasl": {"username": "u", "password": "p"}},
                }
            ]
        }
    ).clusters[0]
    r = ClusterRunner(cfg)
    sasl = "authentication failed: SASL authentication error: invalid credentials with SASL mechanism SCRAM-SHA-512"
    refused = ClusterSnapshot(
        taken_at=time.time(),
        errors=(
            SourceError("metadata", "metadata", "Failed to get metadata: Local: Broker transport failure"),
            SourceError("metadata", "authenticate", sasl),
            SourceError("zookeeper", "get_controller", "ConnectionLoss"),
            SourceError("zookeeper", "authenticate", "authentication failed: ZooKeeper refused the SASL login"),
        ),
        requests={("metadata", "metadata"): 1, ("zookeeper", "get_controller"): 1},
    )
    caplog.set_level(logging.INFO, "exporter.runner")
    assert r.pause(1.0) == 29.0
    waits = []
    for _ in range(5):
        r._account(refused, 1.0)
        waits.append(r.pause(1.0))
    assert waits == [60.0, 120.0, 240.0, 300.0, 300.0]  # doubling, at most 5 minutes
    lines = [rec.getMessage() for rec in caplog.records]
    assert lines[:3] == [
        f"cluster prod: unreachable: authenticate: {sasl}",  # the cause, not the failed request
        f"cluster prod: source metadata down: authenticate: {sasl}",
        "cluster prod: source zookeeper down: authenticate: authentication failed: ZooKeeper refused the SASL login",
    ]
    s = m.health_samples(r.health, m.build_info_labels())
    assert s.value(m.AUTH_FAILED, source="metadata") == 1 and s.value(m.AUTH_FAILED, source="zookeeper") == 1
    r._account(dataclasses.replace(SNAP, errors=()), 1.0)  # the credentials fixed (a restart, or on the brokers)
    assert r.pause(1.0) == 29.0
    assert m.health_samples(r.health, m.build_info_labels()).value(m.AUTH_FAILED, source="metadata") == 0
