"""The shipped alerts and dashboards against the real programs, in ZooKeeper mode and KRaft: a real Kafka
cluster -> the exporter -> a real Prometheus (Debian's `prometheus`) with alerts/kafka-cluster-exporter.rules.yml
loaded -> a real Alertmanager (Debian's `prometheus-alertmanager`) with the routes and inhibitions of
alerts/alertmanager.example.yml -> a webhook in this test.

Test-only settings, nothing else changed: every rule's `for:` becomes FOR, Prometheus scrapes and
evaluates every second, Alertmanager groups and waits 1 s, and its receivers become webhooks to this test
(one path per receiver, so routing by severity is checked too).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
import pytest
import yaml
from aiohttp import web
from aiohttp.test_utils import TestServer
from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.admin import NewTopic as KNewTopic

from dashboards import generate
from harness.cluster import Cluster, ZkCluster
from harness.monitoring import (
    RULES,
    alertmanager_config,
    free_port,
    monitoring_stack,
    prometheus_config,
    rules_copy,
)
from tests.integration.scrape import Series, cluster_config, one, running_exporter
from tests.integration.test_migration import reassign

pytestmark = pytest.mark.cluster

RUNBOOK_BASE = "https://github.com/OWNER/kafka-cluster-exporter/blob/main/docs/runbooks/"
CLUSTER = "live"  # the `cluster` target label
FOR = "2s"  # every rule's for:, test only
GROUP = "alerting-live-readers"
# The harness notices a dead broker after its 6 s session timeout; a busy 2-core machine adds some.
DETECT_S = 60.0
T = TypeVar("T")


# --- processes ----------------------------------------------------------------------------------------


async def eventually(check: Callable[[], Awaitable[T | None]], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = await check()
            if result is not None and result is not False:
                return result
        except (aiohttp.ClientError, AssertionError) as e:
            last = e
        await asyncio.sleep(0.5)
    raise AssertionError(f"not within {timeout:.0f}s: {what}" + (f" (last error: {last})" if last else ""))


# --- configuration derived from the shipped files -------------------------------------------------------


def rules_for_test(tmp: Path, for_: str = FOR) -> Path:
    """The shipped rules with every `for:` set to `for_`; nothing else changes."""
    return rules_copy(tmp, for_)


# --- Kafka setup ----------------------------------------------------------------------------------------


def create_assigned(bootstrap: str, topics: dict[str, tuple[list[list[int]], int]]) -> None:
    """topic -> (replicas of each partition, min.insync.replicas)."""
    kadmin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","))
    try:
        kadmin.create_topics(
            [
                KNewTopic(
                    name,
                    replica_assignments=dict(enumerate(parts)),
                    topic_configs={"min.insync.replicas": str(min_isr)},
                )
                for name, (parts, min_isr) in topics.items()
            ]
        )
    finally:
        kadmin.close()


def produce_and_commit(cluster: Cluster, topic: str, partitions: int) -> None:
    """20 records per partition, and a group that committed 5 of each: a group with lag and no members."""
    p = Producer({"bootstrap.servers": cluster.bootstrap_servers})
    for part in range(partitions):
        for i in range(20):
            p.produce(topic, value=b"r%d" % i, partition=part)
    assert p.flush(30) == 0
    admin = cluster.admin_client()
    deadline = time.monotonic() + 30
    while True:
        tps = [TopicPartition(topic, part, 5) for part in range(partitions)]
        done = admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(GROUP, tps)])[GROUP].result(30)
        if not [tp for tp in done.topic_partitions if tp.error is not None]:
            return
        assert time.monotonic() < deadline, "could not commit offsets"
        time.sleep(0.5)


# --- the receiving end ----------------------------------------------------------------------------------


@dataclass
class Webhook:
    url: str = ""
    # (receiver, alert) for every alert of every notification, in arrival order.
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        for alert in body["alerts"]:
            self.received.append((request.match_info["receiver"], alert))
        return web.Response(text="ok")

    def find(self, status: str, **labels: str) -> list[tuple[str, dict[str, Any]]]:
        return [
            (receiver, a)
            for receiver, a in self.received
            if a["status"] == status and all(a["labels"].get(k) == v for k, v in labels.items())
        ]


@contextlib.asynccontextmanager
async def webhook_server() -> AsyncIterator[Webhook]:
    hook = Webhook()
    app = web.Application()
    app.router.add_post("/{receiver}", hook.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    hook.url = str(server.make_url("")).rstrip("/")
    try:
        yield hook
    finally:
        await server.close()


@dataclass
class Api:
    session: aiohttp.ClientSession
    prometheus: str
    alertmanager: str

    async def _get(self, url: str, **params: str) -> Any:
        async with self.session.get(url, params=params) as r:
            body = await r.json()
            assert r.status == 200 and body["status"] == "success", f"{url} {params}: {r.status} {body}"
            return body["data"]

    async def query(self, expr: str) -> list[dict[str, Any]]:
        data = await self._get(f"{self.prometheus}/api/v1/query", query=expr)
        result: list[dict[str, Any]] = data["result"]
        return result

    async def query_range(self, expr: str, seconds: float) -> list[dict[str, Any]]:
        now = time.time()
        data = await self._get(
            f"{self.prometheus}/api/v1/query_range", query=expr, start=str(now - seconds), end=str(now), step="2"
        )
        result: list[dict[str, Any]] = data["result"]
        return result

    async def alerts_all(self) -> list[dict[str, Any]]:
        data = await self._get(f"{self.prometheus}/api/v1/alerts")
        alerts: list[dict[str, Any]] = data["alerts"]
        return alerts

    async def alerts(self, name: str, state: str = "firing") -> list[dict[str, Any]]:
        return [a for a in await self.alerts_all() if a["labels"]["alertname"] == name and a["state"] == state]

    async def rules(self) -> list[dict[str, Any]]:
        data = await self._get(f"{self.prometheus}/api/v1/rules")
        return [r for g in data["groups"] for r in g["rules"]]

    async def am_alerts(self, name: str) -> list[dict[str, Any]]:
        async with self.session.get(
            f"{self.alertmanager}/api/v2/alerts", params={"filter": f'alertname="{name}"'}
        ) as r:
            assert r.status == 200
            alerts: list[dict[str, Any]] = await r.json()
            return alerts

    async def ready(self, base: str) -> bool:
        async with self.session.get(f"{base}/-/ready") as r:
            return r.status == 200


def shipped_annotation(alert: str) -> dict[str, Any]:
    rule = next(r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if r.get("alert") == alert)
    annotations: dict[str, Any] = rule["annotations"]
    return annotations


# --- the test -------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def alerting_stack(tmp_path: Path, exporter_url: str, for_: str = FOR) -> AsyncIterator[tuple[Api, Webhook]]:
    """A real Prometheus (the shipped rules, every for: set to `for_`) scraping the exporter at `exporter_url`,
    and a real Alertmanager (the example's routes and inhibitions) delivering to a webhook; their log tails are
    printed when the body fails."""
    prom_port, am_port = free_port(), free_port()
    async with (
        webhook_server() as hook,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
    ):
        am_config, receivers = alertmanager_config(tmp_path, hook.url)
        assert receivers == {"kafka-pager", "kafka-team", "kafka-info"}
        prom_config = prometheus_config(
            tmp_path,
            rules_for_test(tmp_path, for_),
            urlsplit(exporter_url).netloc,
            f"127.0.0.1:{am_port}",
            cluster=CLUSTER,
            interval="1s",
        )
        with monitoring_stack(
            tmp_path, prom_config, am_config, prometheus_port=prom_port, alertmanager_port=am_port
        ) as stack:
            api = Api(session, stack.prometheus, stack.alertmanager)
            try:
                for base in (api.prometheus, api.alertmanager):
                    await eventually(functools.partial(api.ready, base), 60, f"{base} ready")
                yield api, hook
            except BaseException:
                print(stack.log_tails())
                raise


@pytest.mark.timeout(420)
@pytest.mark.parametrize("mode", ["zookeeper", "kraft"])
async def test_broker_loss_pages_through_alertmanager_and_resolves(
    mode: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    cluster: Cluster = request.getfixturevalue("zk_cluster" if mode == "zookeeper" else "kraft_cluster")
    started = time.monotonic()
    suffix = uuid.uuid4().hex[:6]
    rf2 = f"alerts-rf2-{suffix}"  # RF 2 = min ISR 2 on brokers 1 and 2: losing 2 stops acks=all writes
    rf3 = f"alerts-rf3-{suffix}"  # RF 3, min ISR 2: losing 2 leaves it at min ISR, one loss from refusing
    rf1 = f"alerts-rf1-{suffix}"  # RF 1 = min ISR 1 on broker 3: "at min ISR" by Kafka's definition, forever
    create_assigned(
        cluster.bootstrap_servers,
        {rf2: ([[1, 2], [2, 1]], 2), rf3: ([[1, 2, 3], [2, 3, 1], [3, 1, 2]], 2), rf1: ([[3]], 1)},
    )
    await asyncio.to_thread(produce_and_commit, cluster, rf3, 3)

    zookeeper = {"zookeeper": {"connect": cluster.zk_connect}} if isinstance(cluster, ZkCluster) else {}
    # Broker 4 is expected but gone and holds nothing: a broker drained and decommissioned, not yet retired from
    # the policy (the seed's brokers 1001-1005 at the end of their migration).
    # With the write probe on (so its panels are checked against real data too); its topic goes afterwards.
    probe = {"concerns": {"probe": True}, "probe": {"topic": f"alerts-probe-{suffix}"}}
    cfg = cluster_config(
        cluster.bootstrap_servers, 1.0, policy={"expected_brokers": [1, 2, 3, 4]}, **zookeeper, **probe
    )
    try:
        async with running_exporter(cfg) as exp, alerting_stack(tmp_path, exp.url) as (api, hook):
            await run_scenario(api, hook, cluster, rf1=rf1, rf2=rf2, rf3=rf3)
    finally:
        admin = cluster.admin_client()  # held until the futures resolve: a collected client cancels them
        for fut in admin.delete_topics([cfg.probe.topic]).values():
            fut.result(timeout=30)
    print(f"alerting live test took {time.monotonic() - started:.0f}s")


async def run_scenario(api: Api, hook: Webhook, cluster: Cluster, *, rf1: str, rf2: str, rf3: str) -> None:
    async def healthy() -> bool:
        brokers = await api.query(f'kafka_brokers{{cluster="{CLUSTER}"}}')
        urp = await api.query(f'kafka_topic_under_replicated_partitions{{cluster="{CLUSTER}", topic=~"{rf2}|{rf3}"}}')
        lag = await api.query(f'kafka_consumer_group_lag_seconds{{cluster="{CLUSTER}", group="{GROUP}"}}')
        # A few scrapes of history, so rate() and increase() over a minute have samples to work with.
        scrapes = await api.query(f'count_over_time(up{{cluster="{CLUSTER}"}}[1m]) >= 5')
        return (
            bool(scrapes)
            and [float(s["value"][1]) for s in brokers] == [3.0]
            and len(urp) == 2
            and all(float(s["value"][1]) == 0 for s in urp)
            and len(lag) == 3
        )

    await eventually(
        healthy, 90, "Prometheus has 5 scrapes, 3 brokers, the new topics fully in sync and the group's lag"
    )

    # The shipped rules are loaded and evaluate without error against real data.
    async def rules_evaluated() -> list[dict[str, Any]] | None:
        rules = await api.rules()
        return rules if all(r["health"] == "ok" for r in rules) else None

    rules = await eventually(rules_evaluated, 30, "every rule evaluated with health ok")
    shipped = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "alert" in r}
    assert {r["name"] for r in rules if r["type"] == "alerting"} == shipped

    await check_dashboard_queries(api)

    # Kafka calls the RF-1 topic "at min ISR"; the alert, which also needs a lost replica, stays quiet.
    assert await api.query(f'kafka_partition_at_min_isr{{cluster="{CLUSTER}", topic="{rf1}"}}'), "precondition"
    at_min_now = await api.alerts("KafkaAtMinIsrPartitions", "pending") + await api.alerts("KafkaAtMinIsrPartitions")
    assert not [a for a in at_min_now if a["labels"]["topic"] in (rf1, rf2, rf3)]
    assert not await api.alerts("KafkaBrokerMissing", "pending") + await api.alerts("KafkaBrokerMissing")
    # An alert with an annotation template that queries Prometheus, on real data: the RF-1 topic is 2 below
    # the policy's RF 3.
    drift = await eventually(
        lambda: _first(api.alerts("KafkaTopicReplicationFactorDrift"), topic=rf1),
        30,
        "RF drift fires for the RF-1 topic",
    )
    assert drift["annotations"]["description"] == (
        f"Topic {rf1} in Kafka cluster {CLUSTER} has partitions with fewer replicas than the replication factor "
        "the policy wants (3): replication factor minus desired is -2."
    )

    # A planned drain does not page: the drained broker warns the team, and KafkaBrokerMissing stays quiet.
    receiver, alert = await eventually(
        lambda: _delivered(hook, "firing", alertname="KafkaBrokerMissingDrained", broker_id="4"),
        30,
        "KafkaBrokerMissingDrained for the drained broker 4 delivered",
    )
    assert receiver == "kafka-team" and alert["labels"]["severity"] == "warning"
    # RF 2 = min ISR 2: any restart blocks acks=all writes to it, and the rule says so on real data.
    assert await eventually(
        lambda: _first(api.alerts("KafkaTopicReplicationFactorNotAboveMinIsr"), topic=rf2),
        30,
        f"KafkaTopicReplicationFactorNotAboveMinIsr for {rf2}",
    )
    assert not [a for a in await api.alerts("KafkaTopicReplicationFactorNotAboveMinIsr") if a["labels"]["topic"] == rf3]

    # --- SIGKILL broker 2 ---
    killed = time.monotonic()
    cluster.kill(2)
    missing = await eventually(
        lambda: _delivered(hook, "firing", alertname="KafkaBrokerMissing", broker_id="2"),
        DETECT_S,
        "KafkaBrokerMissing for broker 2 delivered to a receiver",
    )
    under = await eventually(
        lambda: _delivered(hook, "firing", alertname="KafkaUnderMinIsrPartitions", topic=rf2),
        DETECT_S,
        f"KafkaUnderMinIsrPartitions for {rf2} delivered to a receiver",
    )
    print(f"broker loss paged after {time.monotonic() - killed:.1f}s")
    receiver, alert = missing
    assert receiver == "kafka-pager", "critical alerts page"
    assert alert["labels"] == {
        "alertname": "KafkaBrokerMissing",
        "broker_id": "2",
        "cluster": CLUSTER,
        "severity": "critical",
    }
    assert alert["annotations"]["summary"] == f"Kafka broker 2 of cluster {CLUSTER} is missing"
    assert alert["annotations"]["runbook_url"] == RUNBOOK_BASE + "kafka-broker-missing.md"
    receiver, alert = under
    assert receiver == "kafka-pager"
    assert alert["labels"] == {
        "alertname": "KafkaUnderMinIsrPartitions",
        "cluster": CLUSTER,
        "topic": rf2,
        "severity": "critical",
    }
    assert alert["annotations"]["description"].startswith(f"2 partitions of topic {rf2} in Kafka cluster {CLUSTER} ")
    assert alert["annotations"]["runbook_url"] == shipped_annotation("KafkaUnderMinIsrPartitions")["runbook_url"]

    # At min ISR after losing a replica: fires in Prometheus for the RF-3 topic only, and Alertmanager holds it
    # back (inhibited by the missing broker), as it does the under-replicated alert.
    at_min = await eventually(
        lambda: _first(api.alerts("KafkaAtMinIsrPartitions"), topic=rf3), 30, f"KafkaAtMinIsrPartitions for {rf3}"
    )
    assert at_min["value"] in ("3", "3e+00")
    assert not [a for a in await api.alerts("KafkaAtMinIsrPartitions") if a["labels"]["topic"] in (rf1, rf2)]
    for name, topic in (("KafkaAtMinIsrPartitions", rf3), ("KafkaUnderReplicatedPartitions", rf3)):
        suppressed = await eventually(
            functools.partial(_inhibited, api, name, topic),
            30,
            f"{name} for {topic} inhibited in Alertmanager by KafkaBrokerMissing",
        )
        assert suppressed["status"]["inhibitedBy"], suppressed
    # Every alert Prometheus holds now (the two pages, drift, exposure, ...) rendered its templates.
    for a in await api.alerts_all():
        for text in a["annotations"].values():
            for failure in ("{{", "<error expanding template", "<no value>"):
                assert failure not in text, a

    # --- restart broker 2: both alerts resolve, and the receiver hears it ---
    restarted = time.monotonic()
    await asyncio.to_thread(cluster.start_broker, 2)
    await eventually(
        lambda: _delivered(hook, "resolved", alertname="KafkaBrokerMissing", broker_id="2"),
        90,
        "KafkaBrokerMissing resolved notification",
    )
    await eventually(
        lambda: _delivered(hook, "resolved", alertname="KafkaUnderMinIsrPartitions", topic=rf2),
        90,
        f"KafkaUnderMinIsrPartitions for {rf2} resolved notification",
    )
    print(f"resolved {time.monotonic() - restarted:.1f}s after the restart began")
    # Over the whole test, at min ISR never even went pending for the RF-1 topic (healthy, yet "at min ISR"
    # by Kafka's definition) nor for the RF-2 one (under min ISR, not at it).
    assert not await api.query(
        f'count_over_time(ALERTS{{alertname="KafkaAtMinIsrPartitions", topic=~"{rf1}|{rf2}"}}[10m])'
    )
    assert not await api.alerts("KafkaBrokerMissing")
    assert not [a for a in await api.alerts("KafkaUnderMinIsrPartitions") if a["labels"]["topic"] == rf2]
    # The drained broker never paged, not even pending, over the whole test.
    assert not await api.query('count_over_time(ALERTS{alertname="KafkaBrokerMissing", broker_id="4"}[10m])')


async def check_dashboard_queries(api: Api) -> None:
    """Every dashboard query runs without error, as an instant query and over the last minute; those on
    series that exist on this cluster (presence "always" and "configured") return data."""
    variables = {"cluster": CLUSTER, **generate.TEST_VARIABLES}
    empty = []
    for q in generate.queries():
        expr = generate.expand(q.query.expr, variables)
        instant = await api.query(expr)
        await api.query_range(expr, 60)
        if q.query.presence != "event" and not instant:
            empty.append(f"{q.dashboard} / {q.panel}: {expr}")
    assert not empty, "queries without data:\n" + "\n".join(empty)


async def _first(alerts: Awaitable[list[dict[str, Any]]], **labels: str) -> dict[str, Any] | None:
    return next((a for a in await alerts if all(a["labels"].get(k) == v for k, v in labels.items())), None)


async def _delivered(hook: Webhook, status: str, **labels: str) -> tuple[str, dict[str, Any]] | None:
    found = hook.find(status, **labels)
    return found[0] if found else None


async def _inhibited(api: Api, name: str, topic: str) -> dict[str, Any] | None:
    for a in await api.am_alerts(name):
        if a["labels"].get("topic") == topic and a["status"]["state"] == "suppressed":
            return a
    return None


# --- The seed's migration, watched by the shipped rules -----------------------------------------------------
MIGRATION_FOR = "15s"  # every rule's for: here: far shorter than shipped (1-15 min), so stricter than production


def all_partitions(cluster: Cluster) -> list[tuple[str, int]]:
    """Every partition, internal topics included: a drain that forgets __consumer_offsets is no drain."""
    md = cluster.admin_client().list_topics(timeout=10)
    return sorted((t, p) for t, tmd in md.topics.items() for p in tmd.partitions)


@pytest.mark.timeout(480)
async def test_the_seeds_migration_never_pages(cluster_factory: Any, tmp_path: Path) -> None:
    """Brokers 1001-1003 (RF 3, min ISR 2) replaced by 0-2 as the seed's team did it: add the new brokers, move
    every partition in three steps that keep two replicas on brokers that hold the data, stop the old brokers,
    retire them from the policy (SIGHUP's reload). Prometheus evaluates the shipped rules with every for: at 15 s;
    no critical alert may fire at any moment; the drained brokers warn until they are retired."""
    cluster: ZkCluster = cluster_factory("zookeeper", [1001, 1002, 1003])
    bs = cluster.bootstrap_servers
    create_assigned(bs, {t: ([[1001, 1002, 1003], [1002, 1003, 1001]], 2) for t in ("m-orders", "m-prices")})
    await asyncio.to_thread(produce_and_commit, cluster, "m-orders", 2)  # a group: __consumer_offsets exists
    old, new = [1001, 1002, 1003], [0, 1, 2]
    policy = {"replication_factor": 3, "min_insync_replicas": 2, "expected_brokers": old}
    cfg = cluster_config(bs, 1.0, policy=policy, zookeeper={"connect": cluster.zk_connect})
    started = time.monotonic()
    async with (
        running_exporter(cfg) as exp,
        alerting_stack(tmp_path, exp.url, MIGRATION_FOR) as (api, hook),
    ):
        for b in new:
            await asyncio.to_thread(cluster.add_broker, b)
        # The team adds the new brokers to the policy and reloads (KafkaBrokerUnexpected, info, until then).
        exp.runner.reload(
            dataclasses.replace(cfg, policy=cluster_config(bs, policy=policy | {"expected_brokers": old + new}).policy)
        )
        await exp.wait_for(lambda s: one(s, "kafka_brokers") == 6, 60, "six live brokers")
        for step, target in enumerate(([0, 1003, 1002], [0, 1, 1003], [0, 1, 2]), 1):
            plan = dict.fromkeys(await asyncio.to_thread(all_partitions, cluster), target)
            await asyncio.to_thread(reassign, cluster, tmp_path, plan)

            def moved(s: Series, target: list[int] = target, n: int = len(plan)) -> bool:
                held = {b: one(s, "kafka_broker_replicas", broker_id=str(b)) or 0 for b in old + new}
                return one(s, "kafka_reassignment_partitions") == 0 and held == {
                    b: (n if b in target else 0) for b in held
                }

            await exp.wait_for(moved, 120, f"step {step}: every partition on {target}")
        for b in old:
            await asyncio.to_thread(cluster.stop_broker, b)  # controlled shutdown, as in a decommission
        drained = [
            await eventually(
                functools.partial(_firing, api, "KafkaBrokerMissingDrained", broker_id=str(b)),
                90,
                f"KafkaBrokerMissingDrained for {b}",
            )
            for b in old
        ]
        assert all(a["labels"]["severity"] == "warning" for a in drained)
        retired = cluster_config(bs, policy=policy | {"expected_brokers": new}).policy
        exp.runner.reload(dataclasses.replace(cfg, policy=retired))  # retire them
        await eventually(
            functools.partial(_none, "KafkaBrokerMissingDrained", api), 60, "the drained brokers retired: no alert"
        )
        fired = await api.query('count by (alertname, severity) (count_over_time(ALERTS{alertstate="firing"}[15m]))')
        seen = sorted((a["metric"]["alertname"], a["metric"]["severity"]) for a in fired)
        took = time.monotonic() - started
        print(f"\nthe seed's migration in {took:.0f}s, for: {MIGRATION_FOR}; alerts that fired: {seen}")
        assert not [a for a in seen if a[1] == "critical"], seen
        assert not [r for r, _ in hook.received if r == "kafka-pager"], "nothing was paged"
        assert ("KafkaBrokerMissingDrained", "warning") in seen


async def _none(name: str, api: Api) -> bool:
    return not await api.alerts(name)


async def _firing(api: Api, name: str, **labels: str) -> dict[str, Any] | None:
    return await _first(api.alerts(name), **labels)
