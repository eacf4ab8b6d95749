"""Kafka APIs confluent-kafka does not offer, through kafka-python: ListPartitionReassignments (and, as
they land, DescribeLogDirs and DescribeQuorum). Blocking client: called from the collection thread."""

from __future__ import annotations

import logging
from typing import Any

from kafka.admin import KafkaAdminClient

from exporter.sources.recorder import CycleRecorder

SOURCE = "kafka_api"
log = logging.getLogger(__name__)

# librdkafka setting -> kafka-python setting, for the settings both clients share (security).
_TRANSLATE = {
    "security.protocol": "security_protocol",
    "sasl.mechanism": "sasl_mechanism",
    "sasl.mechanisms": "sasl_mechanism",
    "sasl.username": "sasl_plain_username",
    "sasl.password": "sasl_plain_password",
    "ssl.ca.location": "ssl_cafile",
    "ssl.certificate.location": "ssl_certfile",
    "ssl.key.location": "ssl_keyfile",
    "ssl.key.password": "ssl_password",
}


def kafka_python_config(bootstrap_servers: str, client: dict[str, str], timeout_s: float) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "bootstrap_servers": [s.strip() for s in bootstrap_servers.split(",") if s.strip()],
        "client_id": "kafka-cluster-exporter",
        "request_timeout_ms": int(timeout_s * 1000),
        "bootstrap_timeout_ms": int(timeout_s * 1000),
    }
    for key, value in client.items():
        if key in _TRANSLATE:
            conf[_TRANSLATE[key]] = value
    if "security_protocol" in conf:
        conf["security_protocol"] = conf["security_protocol"].upper()
    return conf


class KafkaApiSource:
    """Holds one kafka-python admin client, created on first use and re-created after it fails."""

    def __init__(self, bootstrap_servers: str, client: dict[str, str], timeout_s: float) -> None:
        self._conf = kafka_python_config(bootstrap_servers, client, timeout_s)
        self._admin: Any = None

    def _client(self) -> Any:
        if self._admin is None:
            self._admin = KafkaAdminClient(**self._conf)
        return self._admin

    def reset(self) -> None:
        if self._admin is not None:
            try:
                self._admin.close()
            except Exception as e:  # closing a broken client must not fail the cycle
                log.debug("closing kafka-python admin: %s", e)
            self._admin = None

    def close(self) -> None:
        self.reset()

    def list_reassignments(
        self, rec: CycleRecorder
    ) -> dict[tuple[str, int], tuple[tuple[int, ...], tuple[int, ...]]] | None:
        """(topic, partition) -> (adding, removing) for every reassignment in progress; None if unknown."""

        def call() -> Any:
            return self._client().list_partition_reassignments(timeout_ms=int(rec.timeout() * 1000))

        raw = rec.call(SOURCE, "list_partition_reassignments", call)
        if raw is None:
            self.reset()
            return None
        return {
            (tp.topic, tp.partition): (tuple(v["adding_replicas"]), tuple(v["removing_replicas"]))
            for tp, v in raw.items()
        }
