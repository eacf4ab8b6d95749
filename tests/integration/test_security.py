"""Secured clusters, on real brokers: SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) over TLS, mutual TLS with an
encrypted client key, a ZooKeeper that requires SASL digest logins (the seed's jaas files), wrong credentials,
and one process watching several clusters that cannot hurt each other."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import serialization

from exporter.config import ClusterConfig, parse_config
from exporter.redact import redact_logs
from exporter.runner import ClusterRunner
from exporter.server import make_app
from harness.cluster import Cluster, KraftCluster, ZkCluster
from harness.tools import run_tool
from tests.integration.scrape import Series, one, parse, values
from tests.integration.test_lag import commit_offsets, create_topics, produce

USER, PASSWORD, WRONG = "exporter", "s3cret-Pa55", "not-the-password"
KEY_PASSWORD = "key-Pa55"
ZK_PASSWORD = "zk-Pa55"
LISTENERS = {"SECURE": "SASL_SSL", "MTLS": "SSL"}


@dataclass
class Pki:
    ca: Path  # the CA the brokers' certificate is signed by
    other_ca: Path  # a CA nobody signed with: "untrusted certificate"
    client_cert: Path
    client_key: Path  # PKCS#8, encrypted with KEY_PASSWORD
    broker_config: dict[str, str]
    zookeeper_tls: dict[str, str]  # ZooKeeper's secure port: same CA, client certificates required


def make_pki(d: Path) -> Pki:
    ca, other = trustme.CA(key_type=trustme.KeyType.RSA), trustme.CA(key_type=trustme.KeyType.RSA)
    server = ca.issue_cert("127.0.0.1")  # not "localhost": a client that connects by that name must refuse it
    client = ca.issue_cert("exporter.example")

    def pkcs8(cert: trustme.LeafCert, password: str | None) -> bytes:
        key = serialization.load_pem_private_key(cert.private_key_pem.bytes(), None)
        encryption: serialization.KeySerializationEncryption = serialization.NoEncryption()
        if password is not None:
            encryption = serialization.BestAvailableEncryption(password.encode())
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)

    (d / "ca.pem").write_bytes(ca.cert_pem.bytes())
    (d / "other-ca.pem").write_bytes(other.cert_pem.bytes())
    (d / "client.pem").write_bytes(b"".join(c.bytes() for c in client.cert_chain_pems))
    (d / "client.key").write_bytes(pkcs8(client, KEY_PASSWORD))
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    broker_config = {
        # Inline: a PEM keystore file needs an encrypted key, and Java 17 cannot read cryptography's (PBES2).
        "ssl.keystore.type": "PEM",
        "ssl.keystore.key": pkcs8(server, None).decode(),
        "ssl.keystore.certificate.chain": b"".join(c.bytes() for c in server.cert_chain_pems).decode(),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(d / "ca.pem"),
        "listener.name.mtls.ssl.client.auth": "required",
        "listener.name.secure.sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
        "listener.name.secure.plain.sasl.jaas.config": (
            f'org.apache.kafka.common.security.plain.PlainLoginModule required user_{USER}="{PASSWORD}";'
        ),
        "listener.name.secure.scram-sha-256.sasl.jaas.config": scram,
        "listener.name.secure.scram-sha-512.sasl.jaas.config": scram,
    }
    (d / "zk.pem").write_bytes(pkcs8(server, None) + b"".join(c.bytes() for c in server.cert_chain_pems))
    zookeeper_tls = {
        "ssl.keyStore.location": str(d / "zk.pem"),
        "ssl.keyStore.type": "PEM",
        "ssl.trustStore.location": str(d / "ca.pem"),
        "ssl.trustStore.type": "PEM",
        "ssl.clientAuth": "need",
    }
    return Pki(d / "ca.pem", d / "other-ca.pem", d / "client.pem", d / "client.key", broker_config, zookeeper_tls)


def add_scram_user(cluster: Cluster, mechanisms: tuple[str, ...] = ("SCRAM-SHA-256", "SCRAM-SHA-512")) -> None:
    """The SCRAM credentials, with Kafka's own kafka-configs (AlterUserScramCredentials; KRaft takes one
    mechanism per request)."""
    for mechanism in mechanisms:
        args = ["--bootstrap-server", cluster.bootstrap_servers, "--alter", "--add-config"]
        args += [f"{mechanism}=[password={PASSWORD}]", "--entity-type", "users", "--entity-name", USER]
        run_tool(cluster.version, "kafka.admin.ConfigCommand", args, check=True)


INTERVAL = 2.0


def target(bootstrap: str, client: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "bootstrap_servers": bootstrap,
        "client": client,
        "collection": {"interval_seconds": INTERVAL, "timeout_seconds": 8, "request_timeout_seconds": 4},
        **extra,
    }


def sasl(mechanism: str, password: str, ca: Path, user: str = USER) -> dict[str, str]:
    return {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": mechanism,
        "sasl.username": user,
        "sasl.password": password,
        "ssl.ca.location": str(ca),
    }


def mtls(pki: Pki, key_password_file: Path, ca: Path | None = None) -> dict[str, str]:
    return {
        "security.protocol": "SSL",
        "ssl.ca.location": str(ca or pki.ca),
        "ssl.certificate.location": str(pki.client_cert),
        "ssl.key.location": str(pki.client_key),
        "ssl.key.password_file": str(key_password_file),
    }


@dataclass
class Process:
    runners: dict[str, ClusterRunner]
    url: str
    session: aiohttp.ClientSession

    async def scrape(self, cluster: str) -> tuple[Series, float]:
        started = time.perf_counter()
        async with self.session.get(f"{self.url}/metrics", params={"cluster": cluster}) as r:
            assert r.status == 200
            text = await r.text()
        return parse(text), time.perf_counter() - started


@contextlib.asynccontextmanager
async def one_process(clusters: list[ClusterConfig]) -> AsyncIterator[Process]:
    """Several clusters in one process, as `kafka-cluster-exporter --config` with a list of clusters runs them."""
    runners = {c.name: ClusterRunner(c) for c in clusters}
    server = TestServer(make_app(runners), host="127.0.0.1")
    await server.start_server()
    tasks = [asyncio.create_task(r.run_forever()) for r in runners.values()]
    try:
        async with aiohttp.ClientSession() as session:
            yield Process(runners, str(server.make_url("")).rstrip("/"), session)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.close()
        for r in runners.values():
            r.close(0)


def families(s: Series) -> set[str]:
    return {name for name, _ in s}


def seed(cluster: Cluster) -> None:
    admin = cluster.admin_client()
    create_topics(admin, [("orders", 3, len(cluster.broker_ids))])
    produce(cluster.bootstrap_servers, {"orders": (30, 3)})
    commit_offsets(admin, "billing", {("orders", p): 5 for p in range(3)})


async def test_secured_clusters_wrong_credentials_and_a_frozen_cluster_side_by_side(
    cluster_factory: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """One process watching two secured clusters (ZooKeeper mode with a ZooKeeper requiring SASL, and KRaft) in
    every way in, plus a wrong password and an untrusted certificate; then the KRaft cluster freezes whole."""
    pki = make_pki(tmp_path)
    key_password = tmp_path / "key-password"  # a mounted secret: the file's one trailing newline is not part of it
    key_password.write_text(KEY_PASSWORD + "\n")
    zk_cluster = cluster_factory.start(
        ZkCluster(
            [1, 2],
            broker_config=pki.broker_config,
            listeners=LISTENERS,
            zookeeper_users={"kafka": "kafka-Pa55", USER: ZK_PASSWORD},
            zookeeper_tls=pki.zookeeper_tls,
        )
    )
    kraft = cluster_factory.start(KraftCluster([1], broker_config=pki.broker_config, listeners=LISTENERS))
    add_scram_user(zk_cluster)
    add_scram_user(kraft, ("SCRAM-SHA-512",))  # KRaft takes one mechanism per request
    seed(zk_cluster)
    seed(kraft)
    secure, mutual = zk_cluster.listener_bootstrap("SECURE"), zk_cluster.listener_bootstrap("MTLS")
    zk = {"connect": zk_cluster.zk_connect, "sasl": {"username": USER, "password": ZK_PASSWORD}}
    zk_tls = {  # mutual TLS to ZooKeeper too, and SASL over it
        **zk,
        "connect": zk_cluster.zk_secure_connect,
        "tls": {
            "ca_file": str(pki.ca),
            "cert_file": str(pki.client_cert),
            "key_file": str(pki.client_key),
            "key_password_file": str(key_password),
        },
    }
    good = {
        "plaintext": target(zk_cluster.bootstrap_servers, {}, zookeeper=zk),
        "scram-sha-512": target(secure, sasl("SCRAM-SHA-512", PASSWORD, pki.ca), zookeeper=zk),
        "scram-sha-256": target(secure, sasl("SCRAM-SHA-256", PASSWORD, pki.ca), zookeeper=zk),
        "plain": target(secure, sasl("PLAIN", PASSWORD, pki.ca), zookeeper=zk),
        "mutual-tls": target(mutual, mtls(pki, key_password), zookeeper=zk_tls),
    }
    on_kraft = {
        "kraft-plaintext": target(kraft.bootstrap_servers, {}),
        "kraft-scram-sha-512": target(kraft.listener_bootstrap("SECURE"), sasl("SCRAM-SHA-512", PASSWORD, pki.ca)),
        "kraft-mutual-tls": target(kraft.listener_bootstrap("MTLS"), mtls(pki, key_password)),
    }
    for name, t in {**good, **on_kraft}.items():  # the probe: librdkafka's producer and consumer, secured too
        t["concerns"], t["probe"] = {"probe": True}, {"topic": f"probe-{name}"}
    bad = {
        "wrong-password": target(
            secure,
            sasl("SCRAM-SHA-512", WRONG, pki.ca),
            zookeeper={"connect": zk_cluster.zk_connect, "sasl": {"username": USER, "password": WRONG}},
        ),
        "unknown-user": target(secure, sasl("SCRAM-SHA-512", PASSWORD, pki.ca, user="nobody")),
        # The certificate names 127.0.0.1 only; the hostname check is on by default.
        "wrong-hostname": target(secure.replace("127.0.0.1", "localhost"), sasl("SCRAM-SHA-512", PASSWORD, pki.ca)),
        "untrusted-certificate": target(
            mutual,
            mtls(pki, key_password, ca=pki.other_ca),
            zookeeper={**zk_tls, "tls": {**zk_tls["tls"], "ca_file": str(pki.other_ca)}},
        ),
    }
    everyone = {**good, **on_kraft, **bad}
    cfg = parse_config({"clusters": [{"name": n, **t} for n, t in everyone.items()]})
    caplog.set_level(logging.DEBUG)  # the worst case: log_level debug, every client library's debug lines too
    redact_logs(cfg, [caplog.handler])  # as the command does for its handlers
    phases: dict[str, dict[str, Any]] = {}
    async with one_process(list(cfg.clusters)) as p:
        deadline = time.monotonic() + 90
        while True:
            scrapes = {n: (await p.scrape(n))[0] for n in {**good, **on_kraft}}
            if all(
                values(s, "kafka_consumer_group_lag") and values(s, "kafka_probe_write_success")
                for s in scrapes.values()
            ):
                break
            assert time.monotonic() < deadline, {n: len(s) for n, s in scrapes.items()}
            await asyncio.sleep(1)
        # Every secured way in yields what the plaintext listener does: the same families, the same cluster.
        for names, base in ((good, scrapes["plaintext"]), (on_kraft, scrapes["kraft-plaintext"])):
            for n in names:
                s = scrapes[n]
                assert families(s) == families(base), (n, families(base) ^ families(s))
                for name in ("kafka_brokers", "kafka_topic_partitions", "kafka_consumer_group_lag"):
                    assert values(s, name) == values(base, name), (n, name)
                assert set(values(s, "kafka_exporter_source_up").values()) == {1.0}, n
                assert one(s, "kafka_exporter_authentication_failed", source="metadata") == 0, n
                assert set(values(s, "kafka_probe_write_success").values()) == {1.0}, n
                assert set(values(s, "kafka_probe_read_success").values()) == {1.0}, n
        assert one(scrapes["plaintext"], "kafka_brokers") == 2
        for n in good:
            assert one(scrapes[n], "kafka_exporter_authentication_failed", source="zookeeper") == 0, n
            assert one(scrapes[n], "kafka_exporter_source_up", source="zookeeper") == 1, n
        for n in on_kraft:
            assert one(scrapes[n], "kafka_controller_quorum_voters") == 1, n  # DescribeQuorum, forwarded

        async def watch(phase: str, seconds: float) -> None:
            logins, started = failed_logins(zk_cluster), time.monotonic()
            cycles = {n: r.health.cycles for n, r in p.runners.items()}
            latencies: dict[str, list[float]] = {n: [] for n in good}
            longest = dict.fromkeys(good, 0.0)
            while time.monotonic() - started < seconds:
                for n in good:
                    latencies[n].append((await p.scrape(n))[1])
                    longest[n] = max(longest[n], p.runners[n].health.last_duration or 0.0)
                await asyncio.sleep(0.5)
            ms = sorted(x * 1000 for n in good for x in latencies[n])
            phases[phase] = {
                "cycles": {n: r.health.cycles - cycles[n] for n, r in p.runners.items()},
                "failed logins": failed_logins(zk_cluster) - logins,
                "scrapes": len(ms),
                "scrape p50 ms": round(ms[len(ms) // 2], 1),
                "scrape max ms": round(ms[-1], 1),
                "longest healthy cycle s": round(max(longest.values()), 2),
            }
            print(f"{phase} ({seconds:.0f} s): {phases[phase]}")

        await watch("all running", 12)
        kraft.freeze(1)
        try:
            await watch("KRaft cluster frozen", 20)
            frozen = {n: (await p.scrape(n))[0] for n in on_kraft}
        finally:
            kraft.thaw(1)
        scrapes = {n: (await p.scrape(n))[0] for n in everyone}
        texts = [await (await p.session.get(f"{p.url}/metrics", params={"cluster": n})).text() for n in everyone]
        total = {n: r.health.cycles for n, r in p.runners.items()}

    # Each target reports its own state: the frozen cluster is unreachable, its series are gone.
    for n, s in frozen.items():
        assert one(s, "kafka_exporter_cluster_reachable") == 0, n
        assert not values(s, "kafka_brokers"), n
    # Wrong credentials: said by source, once in the log with the cause and the cluster, and no retry storm.
    wrong, untrusted = scrapes["wrong-password"], scrapes["untrusted-certificate"]
    assert one(wrong, "kafka_exporter_authentication_failed", source="metadata") == 1
    assert one(wrong, "kafka_exporter_authentication_failed", source="zookeeper") == 1
    assert one(wrong, "kafka_exporter_cluster_reachable") == 0
    assert one(untrusted, "kafka_exporter_authentication_failed", source="metadata") == 1
    assert one(untrusted, "kafka_exporter_authentication_failed", source="zookeeper") == 1
    for n in ("unknown-user", "wrong-hostname"):
        assert one(scrapes[n], "kafka_exporter_authentication_failed", source="metadata") == 1, n
    # Kafka itself was not asked by kafka-python while it refused the credentials (only librdkafka, once a cycle).
    assert (one(wrong, "kafka_exporter_collection_errors_total", source="kafka_admin", call="metadata") or 0) <= 1
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("exporter") and r.levelno >= logging.WARNING]
    down = [line for line in lines if line.startswith("cluster wrong-password: unreachable")]
    assert len(down) == 1 and "invalid credentials with SASL mechanism SCRAM-SHA-512" in down[0], lines
    zk_down = [line for line in lines if line.startswith("cluster wrong-password: source zookeeper down")]
    assert len(zk_down) == 1 and f"ZooKeeper refused the SASL login of user '{USER}'" in zk_down[0], lines
    tls = [line for line in lines if line.startswith("cluster untrusted-certificate: unreachable")]
    assert len(tls) == 1 and "certificate verify failed" in tls[0], lines
    zk_cert = [line for line in lines if line.startswith("cluster untrusted-certificate: source zookeeper down")]
    assert len(zk_cert) == 1 and "TLS to ZooKeeper failed" in zk_cert[0], lines
    assert "CERTIFICATE_VERIFY_FAILED" in zk_cert[0], lines
    unknown = [line for line in lines if line.startswith("cluster unknown-user: unreachable")]
    assert len(unknown) == 1 and "SASL authentication error" in unknown[0], lines
    host = [line for line in lines if line.startswith("cluster wrong-hostname: unreachable")]
    assert len(host) == 1 and "certificate verify failed" in host[0], lines
    assert not [line for line in lines if line.startswith(tuple(f"cluster {n}:" for n in good))], lines
    # Not in /metrics, not in any log line at any level (kafka-python's debug logs carry SaslAuthenticate).
    hidden = (PASSWORD, WRONG, KEY_PASSWORD, ZK_PASSWORD)
    assert not any(x in t for x in hidden for t in texts), "a secret reached /metrics"
    leaks = {(r.name, r.levelname) for r in caplog.records for x in hidden if x in r.getMessage()}
    assert not leaks, f"a secret reached the log: {leaks}"
    # Backing off: over the whole run the refused targets ran far fewer cycles than the healthy ones beside them.
    assert max(total[n] for n in bad) * 3 <= min(total[n] for n in good), total
    for phase, seconds in (("all running", 12), ("KRaft cluster frozen", 20)):
        ran = phases[phase]["cycles"]
        # The healthy ones kept their interval and fast scrapes whatever the others did.
        assert min(ran[n] for n in good) >= seconds / INTERVAL / 3, (phase, ran)  # 10 targets share 2 cores
        assert phases[phase]["scrape max ms"] < 1000, phases[phase]  # a scrape waiting on Kafka would take seconds


def failed_logins(cluster: Cluster) -> int:
    return sum(cluster.log_path(b).read_text().count("Failed authentication") for b in cluster.broker_ids)
