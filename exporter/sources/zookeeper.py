"""ZooKeeper (kazoo), for ZooKeeper-mode clusters: /controller, /controller_epoch, /brokers/ids,
/admin/reassign_partitions and, as fallbacks, the adding/removing replicas in /brokers/topics/<topic> and the ISR
in /brokers/topics/<topic>/partitions/<p>/state. Blocking client: called from the collection thread."""

from __future__ import annotations

import functools
import json
import logging
import sys
import threading
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import AuthFailedError, KazooException, NoNodeError, SASLException, SessionClosedRequireSaslError

from exporter.clients import AUTHENTICATE
from exporter.config import ZooKeeperConfig
from exporter.model import ZkState
from exporter.sources import ZOOKEEPER
from exporter.sources.recorder import CycleRecorder

SOURCE = ZOOKEEPER
log = logging.getLogger(__name__)


def _json(data: bytes | None) -> Any:
    return json.loads(data.decode()) if data else None


def parse_controller(data: bytes | None) -> tuple[int | None, bool]:
    """(controller broker id, whether it is a KRaft controller) from the /controller znode."""
    doc = _json(data)
    if not doc:
        return None, False
    # During a ZooKeeper-to-KRaft migration the KRaft controller writes its own id and its epoch; a ZooKeeper
    # controller of Kafka 3.4+ writes "kraftControllerEpoch": -1.
    return int(doc["brokerid"]), int(doc.get("kraftControllerEpoch", -1)) >= 0


def parse_reassign_request(data: bytes | None) -> dict[tuple[str, int], tuple[int, ...]]:
    doc = _json(data) or {}
    return {(p["topic"], int(p["partition"])): tuple(p["replicas"]) for p in doc.get("partitions", [])}


def parse_topic_reassignments(
    topic: str, data: bytes | None
) -> dict[tuple[str, int], tuple[tuple[int, ...], tuple[int, ...]]]:
    doc = _json(data) or {}
    adding, removing = doc.get("adding_replicas") or {}, doc.get("removing_replicas") or {}
    out = {}
    for pid in set(adding) | set(removing):
        a, r = tuple(adding.get(pid, ())), tuple(removing.get(pid, ()))
        if a or r:
            out[(topic, int(pid))] = (a, r)
    return out


def parse_isr(data: bytes | None) -> tuple[int, ...] | None:
    doc = _json(data)
    return None if not doc else tuple(int(b) for b in doc.get("isr", ()))


class _KazooLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """kazoo's logger for one client. kazoo tells why ZooKeeper refused it only in its log: a refused SASL login
    as the exception that ends its connection loop, a failed TLS handshake as a dropped connection it retries.
    Keep that cause for the cycle to report."""

    def __init__(self, user: str | None) -> None:
        super().__init__(logging.getLogger("kazoo"), {})
        self._who = f"the SASL login of user {user!r}" if user else "this client (it needs sasl: credentials)"
        self.auth_failure: str | None = None

    def exception(self, msg: object, *args: object, **kwargs: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, AuthFailedError | SessionClosedRequireSaslError | SASLException):
            self.auth_failure = f"ZooKeeper refused {self._who}: {type(exc).__name__}" + (
                f": {exc}" if str(exc) else ""
            )
        super().exception(msg, *args, **kwargs)

    def warning(self, msg: object, *args: object, **kwargs: Any) -> None:
        try:
            text = str(msg) % args if args else str(msg)
        except (TypeError, ValueError):
            text = str(msg)
        if "SSL" in text or "certificate" in text:
            self.auth_failure = f"TLS to ZooKeeper failed: {text}"
        super().warning(msg, *args, **kwargs)


def quiet_connection_loop_deaths() -> None:
    """kazoo's connection loop logs why it ended (a refused login: reported by the cycle as one line) and then
    lets its thread die with the exception, which Python prints as a traceback: not for kazoo's own errors."""
    default = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        name = args.thread.name if args.thread is not None else ""
        if not (isinstance(args.exc_value, KazooException) and "zk_loop" in name):
            default(args)

    threading.excepthook = hook


def _raise_disconnected() -> None:
    raise ConnectionError("not connected to ZooKeeper (kazoo is reconnecting)")


class ZooKeeperSource:
    def __init__(self, cfg: ZooKeeperConfig) -> None:
        self._connect = cfg.connect
        self._timeout = cfg.timeout_seconds
        sasl = cfg.sasl
        self._sasl = {"mechanism": "DIGEST-MD5", "username": sasl.username, "password": sasl.password} if sasl else None
        tls = cfg.tls
        self._tls: dict[str, Any] = (
            {
                "use_ssl": True,
                "ca": tls.ca_file,
                "certfile": tls.cert_file,
                "keyfile": tls.key_file,
                "keyfile_password": tls.key_password,
                "verify_certs": True,
                "check_hostname": tls.check_hostname,
            }
            if tls
            else {}
        )
        self._zk: KazooClient | None = None
        self._log = _KazooLog(sasl.username if sasl else None)

    def _client(self) -> KazooClient:
        if self._zk is None:
            zk = KazooClient(
                hosts=self._connect,
                timeout=self._timeout,
                read_only=True,
                logger=self._log,
                sasl_options=self._sasl,
                **self._tls,
            )
            try:
                zk.start(timeout=self._timeout)
            except Exception:
                zk.stop()
                zk.close()
                raise
            self._zk = zk
        return self._zk

    def close(self) -> None:
        if self._zk is not None:
            try:
                self._zk.stop()
                self._zk.close()
            except Exception as e:  # closing a broken client must not fail shutdown
                log.debug("closing ZooKeeper client: %s", e)
            self._zk = None

    def _get(self, path: str) -> bytes | None:
        try:
            data, _ = self._client().get(path)
            return data  # type: ignore[no-any-return]
        except NoNodeError:
            return None

    def read(self, rec: CycleRecorder, fallback_topics: list[str] | None) -> ZkState | None:
        """The cluster's state in ZooKeeper. `fallback_topics`: topics whose adding/removing replicas must be
        read from their znodes because ListPartitionReassignments did not answer (None: not needed)."""
        if not self._connected(rec):
            return None
        controller = rec.call(SOURCE, "get_controller", lambda: self._get("/controller"))
        epoch = rec.call(SOURCE, "get_controller_epoch", lambda: self._get("/controller_epoch"))
        ids = rec.call(SOURCE, "get_broker_ids", lambda: self._client().get_children("/brokers/ids"))
        request = rec.call(SOURCE, "get_reassign_partitions", lambda: self._get("/admin/reassign_partitions"))
        if rec.failed(SOURCE):
            self._refused(rec)
            return None
        controller_id, kraft = parse_controller(controller)
        moving: dict[tuple[str, int], tuple[tuple[int, ...], tuple[int, ...]]] = {}
        for topic in fallback_topics or []:
            data = rec.call(SOURCE, "get_topic", functools.partial(self._get, f"/brokers/topics/{topic}"))
            moving.update(parse_topic_reassignments(topic, data))
        return ZkState(
            controller_id=controller_id,
            controller_epoch=int(epoch.decode()) if epoch else None,
            kraft_controller=kraft,
            registered_brokers=tuple(sorted(int(i) for i in ids or [])),
            reassign_request=parse_reassign_request(request),
            topic_reassignments=moving,
        )

    def _connected(self, rec: CycleRecorder) -> bool:
        """Whether reads can be made now; a client that is not connected is recorded as a connect error. kazoo
        reconnects in the background, and reads while disconnected would only wait out timeouts."""
        zk = rec.call(SOURCE, "connect", self._client, requests=0)  # a request only when it (re)connects
        if self._refused(rec):
            return False
        if zk is not None and not zk.connected:
            rec.call(SOURCE, "connect", _raise_disconnected, requests=0)
        return zk is not None and zk.connected

    def _refused(self, rec: CycleRecorder) -> bool:
        """Whether ZooKeeper refused the login (kazoo logs in after the session is up, so a refusal can come
        just after connecting); then it is recorded with its cause and the client replaced next cycle."""
        if self._log.auth_failure is None:
            return False
        rec.error(SOURCE, AUTHENTICATE, f"authentication failed: {self._log.auth_failure}")
        self._log.auth_failure = None
        self.close()  # its connection loop has ended: a new client, with a new login, next cycle
        return True

    def reassign_request(self, rec: CycleRecorder) -> dict[tuple[str, int], tuple[int, ...]] | None:
        """/admin/reassign_partitions: (topic, partition) -> target replicas; None if not read."""
        if not self._connected(rec):
            return None
        data = rec.call(SOURCE, "get_reassign_partitions", lambda: self._get("/admin/reassign_partitions"))
        return None if rec.failed(SOURCE) else parse_reassign_request(data)

    def isr(self, rec: CycleRecorder, partitions: list[tuple[str, int]]) -> dict[tuple[str, int], tuple[int, ...]]:
        """The ISR the controller last wrote for each partition (read only for the few Metadata left empty)."""
        out: dict[tuple[str, int], tuple[int, ...]] = {}
        if not partitions or not self._connected(rec):
            return out
        for topic, partition in partitions:
            path = f"/brokers/topics/{topic}/partitions/{partition}/state"
            isr = parse_isr(rec.call(SOURCE, "get_partition_state", functools.partial(self._get, path)))
            if isr is not None:
                out[(topic, partition)] = isr
        return out
