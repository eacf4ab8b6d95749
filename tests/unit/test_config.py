"""Config parsing: operator mistakes become one clear line naming the field; good configs keep defaults."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from exporter.clients import kafka_python_config, librdkafka_config
from exporter.config import CONCERN_NAMES, ConfigError, load_config, parse_config
from exporter.redact import redact_logs


def minimal(**extra: object) -> dict[str, object]:
    return {"clusters": [{"bootstrap_servers": "127.0.0.1:9092", **extra}]}


def test_minimal_config_takes_defaults() -> None:
    cfg = parse_config(minimal())
    c = cfg.clusters[0]
    assert c.name == "default"
    assert c.collection.interval_seconds == 30.0
    assert c.policy.replication_factor == 3
    assert c.policy.min_insync_replicas == 2
    assert c.policy.broker_settings["auto.create.topics.enable"] == "false"
    assert cfg.web.listen_address == "0.0.0.0:9340"
    # Every concern is on but the write probe, which writes to the cluster: it is switched on explicitly.
    assert [n for n in CONCERN_NAMES if not c.concern_on(n)] == ["probe"]
    assert parse_config(minimal(concerns={"probe": True})).clusters[0].concern_on("probe")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (minimal(colection={}), "clusters[0].colection: unknown key; did you mean 'collection'?"),
        (
            minimal(collection={"interval_seconds": "fast"}),
            "clusters[0].collection.interval_seconds: expected a number",
        ),
        ({"clusters": [{}]}, "clusters[0].bootstrap_servers: required key is missing"),
        ({"clusters": []}, "clusters: list at least one cluster"),
        (minimal(zookeeper={"conect": "x"}), "clusters[0].zookeeper.conect: unknown key; did you mean 'connect'?"),
        (minimal(policy={"topics": [{"replication_factor": 3}]}), "give exactly one of 'name'"),
        (minimal(policy={"exclude_topics": ["("]}), "clusters[0].policy.exclude_topics[0]: not a valid regular"),
        ({"clusters": [{"bootstrap_servers": "a:1"}, {"bootstrap_servers": "b:1"}]}, "'default' is used twice"),
        ({**minimal(), "web": {"listen_address": "9340"}}, "web.listen_address: expected host:port"),
        (minimal(collection={"timeout_seconds": 5, "request_timeout_seconds": 10}), "not above timeout_seconds"),
        (minimal(probe={"topic": "my probe"}), "clusters[0].probe.topic: 'my probe' is not a valid Kafka topic"),
        (minimal(probe={"replication_factor": 0}), "clusters[0].probe.replication_factor: must be at least 1"),
        (minimal(concerns={"prob": True}), "clusters[0].concerns.prob: unknown concern; did you mean 'probe'?"),
    ],
)
def test_bad_config_names_field_and_fix(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_config(data)
    assert message in str(e.value)


def test_env_interpolation_for_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_PASSWORD", "s3cret")
    cfg = parse_config(minimal(client={"sasl.password": "${KAFKA_PASSWORD}", "sasl.username": "${U:-alice}"}))
    assert cfg.clusters[0].client == {"sasl.password": "s3cret", "sasl.username": "alice"}
    with pytest.raises(ConfigError, match=r"clusters\[0\]\.client\.x: environment variable NOPE_NOT_SET"):
        parse_config(minimal(client={"x": "${NOPE_NOT_SET}"}))


def test_empty_policy_settings_turn_the_check_off() -> None:
    assert parse_config(minimal(policy={"broker_settings": {}})).clusters[0].policy.broker_settings == {}


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("clusters:\n  - bootstrap_servers: [oops\n")
    with pytest.raises(ConfigError, match=r"not valid YAML at line \d+"):
        load_config(p)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("clusters:\n  - bootstrap_servers: a:1\n    intervall: 3\n", "clusters[0].intervall: unknown key"),
        ("clusters:\n  - bootstrap_servers: a:1\n    collection: {interval_seconds: [1]}\n", "expected a number"),
    ],
)
def test_cli_bad_config_exits_2_with_one_line(tmp_path: Path, text: str, needle: str) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    r = subprocess.run(
        [sys.executable, "-m", "exporter", "--config", str(p)], check=False, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert needle in lines[0]
    assert "Traceback" not in r.stderr


def test_readme_config_example_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = text.split("### Configuration", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    monkeypatch.setenv("KAFKA_EXPORTER_PASSWORD", "x")
    monkeypatch.setenv("ZK_PASSWORD", "y")
    cfg = parse_config(yaml.safe_load(block))
    assert cfg.clusters[0].policy.topics[0].regex == r"audit\..*"
    assert cfg.clusters[0].zookeeper is not None


def test_a_client_setting_kafka_python_cannot_honour_is_an_error_and_security_settings_reach_both() -> None:
    with pytest.raises(ConfigError, match=r"clusters\[0\]\.client\.sasl\.oauthbearer\.method: kafka-python"):
        parse_config({"clusters": [{"bootstrap_servers": "k:9092", "client": {"sasl.oauthbearer.method": "oidc"}}]})
    client = {
        "security.protocol": "sasl_ssl",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "exporter",
        "sasl.password": "secret",
        "ssl.endpoint.identification.algorithm": "none",
        "socket.keepalive.enable": "true",
    }
    cfg = parse_config({"clusters": [{"bootstrap_servers": "k:9092", "client": client}]}).clusters[0]
    kp = kafka_python_config(cfg.bootstrap_servers, cfg.client, 5)
    assert (kp["security_protocol"], kp["sasl_mechanism"], kp["sasl_plain_username"]) == (
        "SASL_SSL",
        "SCRAM-SHA-512",
        "exporter",
    )
    assert kp["ssl_check_hostname"] is False and "socket.keepalive.enable" not in kp
    assert librdkafka_config(cfg.bootstrap_servers, cfg.client)["socket.keepalive.enable"] == "true"


def test_secrets_from_files_are_read_at_start_and_named_not_shown_when_missing(tmp_path: Path) -> None:
    (tmp_path / "kafka").write_text("kafka-secret\n")  # as a mounted Kubernetes secret often ends
    (tmp_path / "zk").write_text("zk-secret")
    c = parse_config(
        minimal(
            client={
                "security.protocol": "SASL_SSL",
                "sasl.username": "u",
                "sasl.password_file": str(tmp_path / "kafka"),
            },
            zookeeper={"connect": "zk:2181", "sasl": {"username": "u", "password_file": str(tmp_path / "zk")}},
        )
    ).clusters[0]
    assert c.client["sasl.password"] == "kafka-secret" and "sasl.password_file" not in c.client
    assert c.zookeeper is not None and c.zookeeper.sasl is not None and c.zookeeper.sasl.password == "zk-secret"
    assert kafka_python_config("b:9092", c.client, 5)["sasl_plain_password"] == "kafka-secret"
    assert "kafka-secret" not in repr(c) and "zk-secret" not in repr(c)  # a config printed by mistake
    with pytest.raises(ConfigError, match=r"clusters\[0\].client.sasl.password_file: cannot read the secret file"):
        parse_config(minimal(client={"sasl.password_file": str(tmp_path / "missing")}))
    with pytest.raises(ConfigError, match=r"give sasl.password or sasl.password_file, not both"):
        parse_config(minimal(client={"sasl.password": "x", "sasl.password_file": str(tmp_path / "kafka")}))
    with pytest.raises(ConfigError, match=r"zookeeper.sasl.password: give password or password_file"):
        parse_config(minimal(zookeeper={"connect": "zk:2181", "sasl": {"username": "u"}}))
    with pytest.raises(ConfigError, match=r"zookeeper.sasl.mechanism: only DIGEST-MD5"):
        parse_config(
            minimal(zookeeper={"connect": "zk:2181", "sasl": {"username": "u", "password": "p", "mechanism": "GSSAPI"}})
        )


def test_secrets_are_masked_in_every_log_line(caplog: pytest.LogCaptureFixture) -> None:
    cfg = parse_config(
        minimal(
            client={"sasl.password": "hunter2-long", "ssl.key.password": "hunter2"},
            zookeeper={"connect": "zk:2181", "sasl": {"username": "u", "password": "zk-pw"}},
        )
    )
    redact_logs(cfg, [caplog.handler])
    log = logging.getLogger("kafka.protocol.parser")
    with caplog.at_level(logging.DEBUG):
        log.debug("Send: %r", b"\x00user\x00hunter2-long and hunter2 and zk-pw")
    assert caplog.records[0].getMessage() == r"Send: b'\x00user\x00[secret] and [secret] and [secret]'"


def test_zookeeper_tls_needs_cert_and_key_together_and_reads_the_key_password_file(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("key-pw\n")
    tls = {"ca_file": "ca.pem", "cert_file": "c.pem", "key_file": "k.pem", "key_password_file": str(tmp_path / "pw")}
    zk = parse_config(minimal(zookeeper={"connect": "zk:2182", "tls": tls})).clusters[0].zookeeper
    assert zk is not None and zk.tls is not None and zk.tls.key_password == "key-pw" and zk.tls.check_hostname
    with pytest.raises(ConfigError, match=r"zookeeper.tls.key_file: mutual TLS needs cert_file and key_file"):
        parse_config(minimal(zookeeper={"connect": "zk:2182", "tls": {"cert_file": "c.pem"}}))
