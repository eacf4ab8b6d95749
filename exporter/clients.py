"""Both Kafka client libraries' settings from the one `client:` block of a cluster's config.

The block takes librdkafka's setting names (as most Kafka tools document them). librdkafka (confluent-kafka)
reads Metadata and describes KIP-848 groups; kafka-python makes every other request, so every setting that
decides whether or how a connection is made must reach it too. A setting kafka-python cannot honour is a config
error at start, never silently dropped; settings that only tune librdkafka's own client are allowed."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaError

CLIENT_ID = "kafka-cluster-exporter"

# librdkafka setting -> kafka-python setting.
KAFKA_PYTHON_EQUIVALENT = {
    "security.protocol": "security_protocol",
    "sasl.mechanism": "sasl_mechanism",
    "sasl.mechanisms": "sasl_mechanism",
    "sasl.username": "sasl_plain_username",
    "sasl.password": "sasl_plain_password",
    "ssl.ca.location": "ssl_cafile",
    "ssl.certificate.location": "ssl_certfile",
    "ssl.key.location": "ssl_keyfile",
    "ssl.key.password": "ssl_password",
    "ssl.crl.location": "ssl_crlfile",
    "ssl.endpoint.identification.algorithm": "ssl_check_hostname",
    "sasl.kerberos.service.name": "sasl_kerberos_service_name",
    "client.dns.lookup": "client_dns_lookup",
}
# Settings that tune only librdkafka's own client (its Metadata requests); kafka-python has its own defaults.
LIBRDKAFKA_ONLY = frozenset(
    {
        "debug",
        "log_level",
        "socket.timeout.ms",
        "socket.keepalive.enable",
        "socket.connection.setup.timeout.ms",
        "socket.send.buffer.bytes",
        "socket.receive.buffer.bytes",
        "reconnect.backoff.ms",
        "reconnect.backoff.max.ms",
        "broker.address.family",
        "topic.metadata.refresh.interval.ms",
        "metadata.max.age.ms",
    }
)


def unsupported(client: Mapping[str, str]) -> list[str]:
    """The settings of a `client:` block that kafka-python cannot honour (and that are not librdkafka-only)."""
    return sorted(k for k in client if k not in KAFKA_PYTHON_EQUIVALENT and k not in LIBRDKAFKA_ONLY)


# A call that failed because the cluster refused the exporter's credentials or certificate records this call
# (source, AUTHENTICATE) with the cause: requests themselves only fail with "transport failure" or a timeout.
AUTHENTICATE = "authenticate"
_AUTH_CODES = frozenset({KafkaError._AUTHENTICATION, KafkaError._SSL, KafkaError.SASL_AUTHENTICATION_FAILED})


class AuthFailures:
    """The last authentication or TLS failure librdkafka reported for one cluster (through its error_cb, the only
    place it says why a connection was refused), until a request succeeds again."""

    def __init__(self) -> None:
        self.last: str | None = None

    def error_cb(self, err: KafkaError) -> None:
        if err.code() in _AUTH_CODES:
            self.last = err.str()


def librdkafka_config(
    bootstrap_servers: str, client: Mapping[str, str], auth: AuthFailures | None = None
) -> dict[str, Any]:
    return {
        "bootstrap.servers": bootstrap_servers,
        "client.id": CLIENT_ID,
        # librdkafka logs every failed connection attempt; route it to Python logging so it obeys log_level.
        "logger": logging.getLogger("librdkafka"),
        **({"error_cb": auth.error_cb} if auth is not None else {}),
        **client,
    }


def kafka_python_config(bootstrap_servers: str, client: Mapping[str, str], timeout_s: float) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "bootstrap_servers": [s.strip() for s in bootstrap_servers.split(",") if s.strip()],
        "client_id": CLIENT_ID,
        "request_timeout_ms": int(timeout_s * 1000),
        "bootstrap_timeout_ms": int(timeout_s * 1000),
        # kafka-python backs a failed broker off for up to 30 s; a broker that comes back must be asked within
        # a cycle. One reconnect attempt a second to a dead broker costs little.
        "reconnect_backoff_max_ms": 1000,
    }
    for key, value in client.items():
        name = KAFKA_PYTHON_EQUIVALENT.get(key)
        if name == "ssl_check_hostname":
            conf[name] = value.strip().lower() == "https"
        elif name is not None:
            conf[name] = value
    if "security_protocol" in conf:
        conf["security_protocol"] = conf["security_protocol"].upper()
    return conf
