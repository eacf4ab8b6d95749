"""Launch throwaway Kafka clusters on 127.0.0.1 for tests and demos.

    with ZkCluster([1, 2, 3]) as cluster:        # Kafka 3.9 + ZooKeeper 3.8
        cluster.kill(2)
        cluster.wait_ready([1, 3])
    with KraftCluster([1, 2, 3]) as cluster:     # Kafka 4.1, combined broker+controller nodes
        ...

Everything lives in a fresh temporary directory (kept when KEEP_CLUSTER_DIR=1) on free ports.

No JVM may outlive the Python process: each JVM runs in its own process group with PR_SET_PDEATHSIG=SIGKILL
(covers SIGKILL of Python), live clusters are stopped at interpreter exit and when garbage-collected
(weakref.finalize). Linux sends PDEATHSIG when the *thread* that forked the child exits, so long-lived
JVMs are forked by one dedicated daemon thread that lives as long as the interpreter: calling start() or
start_broker() from a short-lived thread (asyncio.to_thread, a thread pool) is therefore safe.
"""

from __future__ import annotations

import abc
import base64
import contextlib
import logging
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from queue import SimpleQueue
from types import TracebackType
from typing import Any, Literal, NamedTuple, Self

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from kazoo.client import KazooClient
from kazoo.handlers.threading import KazooTimeoutError

from harness.jars import KafkaVersion, cds_archive_path, classpath, install_cds_archive, java_binary, uses_log4j2
from harness.tools import STORAGE_TOOL, die_with_parent_preexec, logging_jvm_opt, tool_argv

Mode = Literal["zookeeper", "kraft"]
ConfigValue = str | int | bool

BROKER_JVM_OPTS: tuple[str, ...] = (
    "-Xms64m",
    "-Xmx320m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",  # C1 only: much faster warm-up, plenty for test traffic
    "-XX:ActiveProcessorCount=1",  # keeps JVM/Kafka thread pools small on a 2-core box
    "-XX:+ExitOnOutOfMemoryError",  # a dead broker is easier to diagnose than a limping one
    "-XX:-UsePerfData",  # no /tmp/hsperfdata files
    "-Xshare:auto",
    "-Djava.awt.headless=true",
)
ZOOKEEPER_JVM_OPTS: tuple[str, ...] = ("-Xms32m", "-Xmx128m", *BROKER_JVM_OPTS[2:])


def broker_heap_opts() -> tuple[str, ...]:
    """KCE_BROKER_HEAP (e.g. 1g) raises the brokers' heap for benchmark clusters (bench/): the default 320 MiB
    runs out at about 10,000 partitions. The later -Xmx wins."""
    heap = os.environ.get("KCE_BROKER_HEAP")
    return (f"-Xmx{heap}",) if heap else ()


SESSION_TIMEOUT_MS = 6000  # ZK session / KRaft broker session: how fast a dead broker is noticed
START_TIMEOUT = 120.0
# Stopping a whole cluster gracefully buys nothing (its data is thrown away) and the last KRaft voter or
# ZooKeeper controller always waits for peers that are already gone; don't wait long for it.
STOP_GRACE = 3.0

_log = logging.getLogger(__name__)
# librdkafka/kazoo complain loudly about brokers we killed on purpose; route them to quiet loggers.
_client_log = logging.getLogger("harness.cluster.clients")


class ClusterError(RuntimeError):
    """A cluster operation failed; the message says what and usually includes broker log tails."""


class ClusterStartError(ClusterError):
    """A process failed to start or the cluster did not become ready."""


class PortConflictError(ClusterStartError):
    """A process could not bind its port (another process took it between allocation and bind)."""


# --- processes ----------------------------------------------------------------------------------------


class _Spawner:
    """Forks long-lived JVMs from one daemon thread that lives as long as the interpreter (see module doc)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: SimpleQueue[tuple[Callable[[], subprocess.Popen[bytes]], Future[subprocess.Popen[bytes]]]]
        self._queue = SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def spawn(self, start: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
        with self._lock:
            if self._thread is None or not self._thread.is_alive() or self._pid != os.getpid():
                self._queue = SimpleQueue()
                self._thread = threading.Thread(
                    target=self._run, args=(self._queue,), name="harness-jvm-spawner", daemon=True
                )
                self._thread.start()
                self._pid = os.getpid()
            queue = self._queue
        result: Future[subprocess.Popen[bytes]] = Future()
        queue.put((start, result))
        try:
            return result.result()
        except BaseException:  # e.g. KeyboardInterrupt or a test timeout: nobody will track the JVM
            result.add_done_callback(_kill_orphan)
            raise

    @staticmethod
    def _run(
        queue: SimpleQueue[tuple[Callable[[], subprocess.Popen[bytes]], Future[subprocess.Popen[bytes]]]],
    ) -> None:
        while True:
            start, result = queue.get()
            if not result.set_running_or_notify_cancel():
                continue
            try:
                result.set_result(start())
            except BaseException as exc:  # handed to the caller's thread
                result.set_exception(exc)


def _kill_orphan(result: Future[subprocess.Popen[bytes]]) -> None:
    if not result.cancelled() and result.exception() is None:
        proc = result.result()
        proc.kill()
        proc.wait()


_spawner = _Spawner()


def _spawn_jvm(argv: Sequence[str], cwd: Path, console: Path) -> subprocess.Popen[bytes]:
    with console.open("ab") as out:
        preexec = die_with_parent_preexec()

        def start() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                list(argv),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: signals to it never hit pytest
                preexec_fn=preexec,  # noqa: PLW1509 -- only prctl/getppid run between fork and exec
            )

        return _spawner.spawn(start)


def _signal(proc: subprocess.Popen[bytes], sig: int) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)


def _terminate(procs: Sequence[subprocess.Popen[bytes]], grace: float) -> None:
    """SIGTERM all at once, SIGKILL whatever is still alive after `grace` seconds."""
    alive = [p for p in procs if p.poll() is None]
    for proc in alive:
        _signal(proc, signal.SIGCONT)  # a frozen JVM would never act on SIGTERM
        _signal(proc, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in alive:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal(proc, signal.SIGKILL)
            proc.wait()


def _free_ports(count: int) -> list[int]:
    """Ports the kernel considers free right now (all held open together, so they are distinct)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(sock)
            sock.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()


def _tail_file(path: Path, lines: int) -> list[str]:
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 256 * lines))  # lines of Kafka logs are rarely longer
            return f.read().decode("utf-8", "replace").splitlines()[-lines:]
    except FileNotFoundError:
        return []


def _write_properties(path: Path, props: Mapping[str, str]) -> None:
    def escape(v: str) -> str:  # java.util.Properties reads \\ and \n back (e.g. inline PEM keys)
        return v.replace("\\", "\\\\").replace("\n", "\\n")

    path.write_text("".join(f"{k}={escape(v)}\n" for k, v in props.items()))


def _config_str(value: ConfigValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _jaas(section: str, options: Mapping[str, str]) -> str:
    """A JAAS file with one DIGEST-MD5 login section (ZooKeeper's Server or its clients' Client)."""
    module = "org.apache.zookeeper.server.auth.DigestLoginModule"
    opts = "".join(f'\n  {k}="{v}"' for k, v in options.items())
    return f"{section} {{\n  {module} required{opts};\n}};\n"


def _random_cluster_id() -> str:
    # Kafka's Uuid.toString(): unpadded URL-safe base64; Kafka never issues ids starting with '-'.
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


class BrokerView(NamedTuple):
    """One broker's metadata: broker id -> rack, and the controller id (-1 when it knows none)."""

    brokers: dict[int, str | None]
    controller: int


def _metadata_v1(port: int, timeout: float) -> BrokerView:
    """Send Metadata v1 (no topics) to 127.0.0.1:port and parse the brokers and controller.

    librdkafka cannot be told which broker to ask, so readiness checks speak the protocol themselves.
    v1 is the oldest version with ControllerId and still accepted by Kafka 3.9 and 4.1.
    """
    client_id = b"harness"
    # header v1: api_key=3 (Metadata), api_version=1, correlation_id, client_id; body: topics=[] (none)
    request = struct.pack(">hhih", 3, 1, 1, len(client_id)) + client_id + struct.pack(">i", 0)
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(struct.pack(">i", len(request)) + request)
        (size,) = struct.unpack(">i", _recv_exactly(sock, 4))
        data = _recv_exactly(sock, size)
    pos = 4  # correlation id
    (count,) = struct.unpack_from(">i", data, pos)
    pos += 4
    brokers: dict[int, str | None] = {}
    for _ in range(count):
        node_id, host_len = struct.unpack_from(">ih", data, pos)
        pos += 6 + host_len + 4  # node id, host, port
        (rack_len,) = struct.unpack_from(">h", data, pos)
        pos += 2
        rack = None if rack_len < 0 else data[pos : pos + rack_len].decode()
        pos += max(0, rack_len)
        brokers[node_id] = rack
    (controller,) = struct.unpack_from(">i", data, pos)
    return BrokerView(brokers, controller)


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = []
    while size > 0:
        chunk = sock.recv(min(size, 65536))
        if not chunk:
            raise ConnectionError("connection closed mid-response")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


# --- logging configs ----------------------------------------------------------------------------------

# Loggers that flood the log at INFO without helping to debug a test.
_QUIET_LOGGERS = (
    "kafka.request.logger",
    "kafka.network.RequestChannel$",
    "kafka.authorizer.logger",
    "state.change.logger",
    "kafka.log.LogCleaner",
    "kafka.server.KafkaConfig",  # dumps every config at start (see server.properties instead)
    "org.apache.kafka.clients",  # internal clients' config dumps and reconnect chatter
    "org.apache.kafka.common.config",
    "org.apache.kafka.common.utils.AppInfoParser",
    "org.apache.kafka.common.metrics",
    "org.apache.zookeeper",  # the brokers' ZooKeeper client
    "kafka.utils.Log4jControllerRegistration$",
    # Per-thread "Starting/Stopped/Shutdown completed" lines.
    "org.apache.kafka.server.purgatory.DelayedOperationPurgatory$ExpiredOperationReaper",
    "kafka.server.DelayedOperationPurgatory$ExpiredOperationReaper",
    "kafka.server.ClientQuotaManager$ThrottledChannelReaper",
    "org.apache.kafka.server.util.timer.SystemTimerReaper$Reaper",
    "org.apache.kafka.coordinator.common.runtime.MultiThreadedEventProcessor$EventProcessorThread",
)


def _log4j_properties(log_file: Path, quiet: Iterable[str]) -> str:
    lines = [
        "log4j.rootLogger=INFO, file",
        "log4j.appender.file=org.apache.log4j.FileAppender",
        f"log4j.appender.file.File={log_file}",
        "log4j.appender.file.layout=org.apache.log4j.PatternLayout",
        "log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n",
        *(f"log4j.logger.{name}=WARN" for name in quiet),
    ]
    return "\n".join(lines) + "\n"


def _log4j2_xml(log_file: Path, quiet: Iterable[str]) -> str:
    loggers = "\n".join(f'    <Logger name="{name}" level="WARN"/>' for name in quiet)
    return f"""\
<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders>
    <File name="file" fileName="{log_file}"><PatternLayout pattern="[%d] %p %m (%c)%n"/></File>
  </Appenders>
  <Loggers>
    <Root level="INFO"><AppenderRef ref="file"/></Root>
{loggers}
  </Loggers>
</Configuration>
"""


# --- class-data sharing -------------------------------------------------------------------------------

# AppCDS halves the CPU a broker needs to start (measured ~1.8 s -> ~1.0 s), which matters with 5 JVMs
# starting at once on 2 cores. The first broker started without an archive records one when it exits
# cleanly; later brokers map it. HARNESS_CDS=0 turns this off.
_CDS_QUIET = "-Xlog:cds=off,cds+dynamic=off"  # "Skipping ..." dump chatter and mismatch warnings
_cds_lock = threading.Lock()
_cds_training: set[KafkaVersion] = set()


@dataclass
class _CdsTraining:
    version: KafkaVersion
    dump: Path


def _cds_opts(version: KafkaVersion) -> tuple[list[str], _CdsTraining | None]:
    if os.environ.get("HARNESS_CDS", "1") == "0":
        return [], None
    archive = cds_archive_path(version)
    if archive.is_file():
        return [f"-XX:SharedArchiveFile={archive}", _CDS_QUIET], None
    with _cds_lock:
        if version in _cds_training:
            return [], None
        _cds_training.add(version)
    archive.parent.mkdir(exist_ok=True)
    dump = archive.with_name(f"{archive.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    return [f"-XX:ArchiveClassesAtExit={dump}", _CDS_QUIET], _CdsTraining(version, dump)


def _finish_cds(node: _Node) -> None:
    """After a training JVM exited: keep its archive if it exited by itself (not SIGKILLed mid-dump)."""
    training = node.cds
    if training is None or node.proc is None or node.proc.poll() is None:
        return
    node.cds = None
    try:
        if node.proc.returncode >= 0 and training.dump.is_file():
            try:
                install_cds_archive(training.version, training.dump)
            except (OSError, subprocess.SubprocessError) as exc:
                _log.warning("could not install class-data archive %s: %s", training.dump, exc)
    finally:
        training.dump.unlink(missing_ok=True)
        with _cds_lock:
            _cds_training.discard(training.version)


# --- cluster state ------------------------------------------------------------------------------------


@dataclass
class _Node:
    """One JVM: a broker (or KRaft node), or ZooKeeper (id 0)."""

    id: int
    dir: Path
    port: int
    controller_port: int | None = None  # KRaft controller listener (combined nodes only)
    rack: str | None = None
    proc: subprocess.Popen[bytes] | None = None
    frozen: bool = False
    stopped_on_purpose: bool = False  # ZooKeeper: stop_zookeeper() was called
    unclean_exit: bool = False  # last exit was SIGKILL: its ZooKeeper session may still be alive
    cds: _CdsTraining | None = None  # this JVM dumps the class-data archive when it exits
    listener_ports: dict[str, int] = field(default_factory=dict)  # extra listeners by name (Cluster listeners=)

    @property
    def config_path(self) -> Path:
        return self.dir / "server.properties"

    @property
    def log_path(self) -> Path:
        return self.dir / "server.log"

    @property
    def console_path(self) -> Path:
        return self.dir / "console.log"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, lines: int) -> str:
        text = _tail_file(self.log_path, lines)
        console = [line for line in _tail_file(self.console_path, lines) if line.strip()]
        if console:  # JVM errors (bad flags, missing class, OOM) only reach stdout/stderr
            text += ["--- stdout/stderr ---", *console]
        return "\n".join(text) if text else f"(no log output in {self.dir})"

    def describe_state(self) -> str:
        if self.proc is None:
            return "not started"
        code = self.proc.poll()
        if code is not None:
            return f"exited with code {code}"
        return f"pid {self.proc.pid}, frozen" if self.frozen else f"pid {self.proc.pid}, running"


@dataclass
class _State:
    """Everything cleanup needs, kept apart from the cluster object so weakref.finalize can hold it."""

    dir: Path
    brokers: dict[int, _Node] = field(default_factory=dict)
    zookeeper: _Node | None = None

    def shutdown(self, grace: float) -> None:
        if any(n.cds is not None and n.running for n in self.brokers.values()):
            grace = max(grace, 20.0)  # once per machine: let the JVM write its class-data archive
        # Brokers first: with ZooKeeper gone they would hang in controlled shutdown until the grace ends.
        _terminate([n.proc for n in self.brokers.values() if n.proc is not None], grace)
        for node in self.brokers.values():
            _finish_cds(node)
        if self.zookeeper is not None and self.zookeeper.proc is not None:
            _terminate([self.zookeeper.proc], grace)
        if os.environ.get("KEEP_CLUSTER_DIR") == "1":
            print(f"KEEP_CLUSTER_DIR=1: kept cluster directory {self.dir}", file=sys.stderr)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


# --- clusters -----------------------------------------------------------------------------------------


class Cluster(abc.ABC):
    """Common API of ZkCluster and KraftCluster. Broker ids are the caller's; all ports are free ports."""

    mode: Mode
    version: KafkaVersion

    def __init__(
        self,
        broker_ids: Sequence[int],
        racks: Mapping[int, str] | None = None,
        broker_config: Mapping[str, ConfigValue] | None = None,
        listeners: Mapping[str, str] | None = None,
        jaas: str | None = None,
    ) -> None:
        """`listeners`: extra listeners by name -> security protocol (e.g. {"SECURE": "SASL_SSL"}), each on its
        own port besides the PLAINTEXT one brokers and the harness use; their ssl./sasl. settings come with
        `broker_config` (listener.name.secure.*). `jaas`: a JAAS file's text for every broker JVM."""
        ids = list(broker_ids)
        if not ids:
            raise ValueError("a cluster needs at least one broker id")
        if len(set(ids)) != len(ids) or any(i < 0 for i in ids):
            raise ValueError(f"broker ids must be distinct non-negative integers, got {ids}")
        unknown = set(racks or {}) - set(ids)
        if unknown:
            raise ValueError(f"racks given for unknown broker ids {sorted(unknown)}")
        self._initial_ids = ids
        self._racks = dict(racks or {})
        self._overrides = {k: _config_str(v) for k, v in (broker_config or {}).items()}
        self._listeners = dict(listeners or {})
        if any(not name.isidentifier() or name.upper() in ("PLAINTEXT", "CONTROLLER") for name in self._listeners):
            raise ValueError(f"listener names must be identifiers other than PLAINTEXT and CONTROLLER: {listeners}")
        self._jaas = jaas
        self._state: _State | None = None
        self._finalizer: weakref.finalize[[float], Cluster] | None = None
        self._lock = threading.RLock()  # one topology change at a time

    # -- lifecycle --

    def start(self, timeout: float = START_TIMEOUT) -> Self:
        """Start all processes (brokers in parallel) and block until the Admin API sees every broker."""
        with self._lock:
            if self._state is not None:
                return self
            java_binary()  # fail with a clear message before creating anything
            classpath(self.version)
            for attempt in range(3):
                state = _State(Path(tempfile.mkdtemp(prefix=f"kafka-{self.mode}-")))
                self._state = state
                # Not holding `self`: the finalizer must not keep the cluster alive.
                self._finalizer = weakref.finalize(self, state.shutdown, 2.0)
                try:
                    self._start_all(timeout)
                    return self
                except PortConflictError as exc:
                    self.stop(grace=0)
                    if attempt == 2:
                        raise
                    _log.warning("port conflict, retrying cluster start with new ports: %s", exc)
                except BaseException:
                    self.stop(grace=0)
                    raise
            raise AssertionError("unreachable")

    def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop every process (SIGTERM, SIGKILL after `grace` s) and delete the directory (see KEEP_CLUSTER_DIR)."""
        with self._lock:
            if self._finalizer is not None:
                self._finalizer.detach()
            if self._state is not None:
                self._state.shutdown(grace)
            self._state = None
            self._finalizer = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.bootstrap_servers if self._state is not None else "stopped"
        return f"<{type(self).__name__} {self.mode} brokers={self.broker_ids} {where}>"

    # -- properties --

    @property
    def started(self) -> bool:
        return self._state is not None

    @property
    def dir(self) -> Path:
        return self._st.dir

    @property
    def broker_ids(self) -> list[int]:
        """All member broker ids (running or not), in the order they were added."""
        return list(self._st.brokers) if self._state is not None else list(self._initial_ids)

    @property
    def running_ids(self) -> list[int]:
        """Brokers whose process is alive and not frozen."""
        return [n.id for n in self._st.brokers.values() if n.running and not n.frozen]

    @property
    def bootstrap_servers(self) -> str:
        """`127.0.0.1:<port>` of every member broker, comma-separated."""
        return ",".join(f"127.0.0.1:{n.port}" for n in self._st.brokers.values())

    def listener_bootstrap(self, listener: str) -> str:
        """host:port of every running broker's extra listener `listener` (see `listeners=`)."""
        return ",".join(f"127.0.0.1:{n.listener_ports[listener]}" for n in self._st.brokers.values() if n.running)

    def port(self, broker_id: int) -> int:
        return self._node(broker_id).port

    def pid(self, broker_id: int) -> int:
        node = self._node(broker_id)
        if node.proc is None or not node.running:
            raise ClusterError(f"broker {broker_id} is not running ({node.describe_state()})")
        return node.proc.pid

    def log_path(self, broker_id: int) -> Path:
        return self._node(broker_id).log_path

    def log_tail(self, broker_id: int, lines: int = 50) -> str:
        """Last lines of the broker's log, plus its stdout/stderr when the JVM wrote anything there."""
        return self._node(broker_id).tail(lines)

    def config(self, broker_id: int) -> dict[str, str]:
        """The broker's server.properties as written (after broker_config overrides)."""
        lines = self._node(broker_id).config_path.read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line)

    # -- faults --

    def kill(self, broker_id: int) -> None:
        """SIGKILL the broker (no controlled shutdown, its ZooKeeper session lingers until timeout)."""
        with self._lock:
            node = self._node(broker_id)
            proc = self._require_running(node)
            _signal(proc, signal.SIGKILL)
            proc.wait()
            node.frozen = False
            node.unclean_exit = True
            _finish_cds(node)

    def freeze(self, broker_id: int) -> None:
        """SIGSTOP the broker: sockets stay open but nothing answers (a hung/GC-paused broker)."""
        with self._lock:
            node = self._node(broker_id)
            _signal(self._require_running(node), signal.SIGSTOP)
            node.frozen = True

    def thaw(self, broker_id: int) -> None:
        """SIGCONT a frozen broker (it does not wait for the broker to rejoin; use wait_ready)."""
        with self._lock:
            node = self._node(broker_id)
            _signal(self._require_running(node), signal.SIGCONT)
            node.frozen = False

    def stop_broker(self, broker_id: int, timeout: float = 60.0) -> None:
        """Graceful SIGTERM (controlled shutdown) and wait for exit; SIGKILL if it takes over `timeout`."""
        with self._lock:
            node = self._node(broker_id)
            proc = self._require_running(node)
            _signal(proc, signal.SIGCONT)
            _signal(proc, signal.SIGTERM)
            try:
                proc.wait(timeout)
                node.unclean_exit = False
            except subprocess.TimeoutExpired:
                _log.warning("broker %s ignored SIGTERM for %ss; killing it", broker_id, timeout)
                _signal(proc, signal.SIGKILL)
                proc.wait()
                node.unclean_exit = True
            node.frozen = False
            _finish_cds(node)

    def start_broker(self, broker_id: int, *, wait: bool = True, timeout: float = START_TIMEOUT) -> None:
        """Restart a stopped or killed broker with its config and data; waits until the Admin API sees it."""
        with self._lock:
            node = self._node(broker_id)
            if node.running:
                raise ClusterError(f"broker {broker_id} is already running ({node.describe_state()})")
            deadline = time.monotonic() + timeout
            self._before_restart(node, timeout)
            self._spawn_broker(node)
            node.unclean_exit = False
            if wait:
                self.wait_ready(self.running_ids, timeout=max(1.0, deadline - time.monotonic()), exact=False)

    def add_broker(
        self, broker_id: int, rack: str | None = None, *, wait: bool = True, timeout: float = START_TIMEOUT
    ) -> None:
        """Start a new broker that joins the running cluster."""
        with self._lock:
            state = self._st
            if broker_id in state.brokers or broker_id < 0:
                raise ValueError(f"broker id {broker_id} is already used or negative")
            node = self._new_added_node(broker_id, rack)
            state.brokers[broker_id] = node
            self._spawn_broker(node)
            if wait:
                self.wait_ready(self.running_ids, timeout=timeout, exact=False)

    def heal(self, timeout: float = START_TIMEOUT) -> None:
        """Undo fault injection: thaw frozen brokers, restart ZooKeeper and every stopped or killed broker,
        then wait until the Admin API sees all members."""
        with self._lock:
            deadline = time.monotonic() + timeout
            for node in self._st.brokers.values():
                if node.frozen and node.running:
                    self.thaw(node.id)
            self._heal_dependencies(timeout)
            for node in self._st.brokers.values():
                if not node.running:
                    self.start_broker(node.id, wait=False, timeout=max(1.0, deadline - time.monotonic()))
            self.wait_ready(self.broker_ids, timeout=max(1.0, deadline - time.monotonic()))

    # -- readiness --

    def admin_client(self, **config: str | int) -> AdminClient:
        """confluent-kafka AdminClient for this cluster with quick reconnects and librdkafka logs kept quiet."""
        conf: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "reconnect.backoff.max.ms": 500,  # a restarted broker is back on the same port
            "socket.connection.setup.timeout.ms": 3000,
            "logger": _client_log,
        }
        conf.update(config)
        return AdminClient(conf)

    def broker_view(self, broker_id: int, timeout: float = 2.0) -> BrokerView:
        """The cluster as this one broker's metadata cache describes it (a Metadata v1 request to it alone)."""
        return _metadata_v1(self._node(broker_id).port, timeout)

    def wait_ready(
        self, expected_ids: Iterable[int] | None = None, timeout: float = 60.0, *, exact: bool = True
    ) -> None:
        """Block until the metadata of every expected broker and of a confluent-kafka AdminClient
        (list_topics) list exactly `expected_ids` (default: running_ids) and name a controller. With
        exact=False other brokers may be listed too (e.g. a frozen one whose session has not expired yet).

        Each broker is asked itself because their caches converge at different times: right after a start a
        broker the controller has not updated yet answers with no controller, and a client that bootstraps
        from it then waits for one in vain. Raises ClusterStartError with each broker's view and the log
        tails of those that did not answer; fails early when an expected broker's process has exited.
        """
        expected = set(self.running_ids if expected_ids is None else expected_ids)
        if not expected:
            raise ValueError("wait_ready needs at least one expected broker id")

        def matches(seen: Iterable[int], controller: int) -> bool:
            seen = set(seen)
            return (seen == expected or (not exact and expected <= seen)) and controller >= 0

        managed = sorted(expected & set(self._st.brokers))
        views: dict[int, str] = {}  # broker -> what it reported, for the error message
        # list_topics() rather than describe_cluster(): librdkafka sends DescribeCluster to the controller of
        # its cached metadata, which in KRaft is a random broker and may be the one just killed, so it times
        # out again and again until that cache is refreshed.
        admin = self.admin_client()
        deadline = time.monotonic() + timeout
        while True:
            self._check_processes(expected)
            ready = bool(managed)
            for broker_id in managed:
                try:
                    view = self.broker_view(broker_id, timeout=max(0.5, min(2.0, deadline - time.monotonic())))
                except (OSError, struct.error) as exc:
                    views[broker_id] = f"no answer ({exc!r})"
                    ready = False
                    continue
                views[broker_id] = f"sees {sorted(view.brokers)}, controller {view.controller}"
                ready = ready and matches(view.brokers, view.controller)
            if ready:
                try:
                    metadata = admin.list_topics(timeout=max(1.0, min(5.0, deadline - time.monotonic())))
                    views[-1] = f"sees {sorted(metadata.brokers)}, controller {metadata.controller_id}"
                    if matches(metadata.brokers, metadata.controller_id):
                        return
                except KafkaException as exc:
                    views[-1] = f"failed: {exc}"
            if time.monotonic() >= deadline:
                raise self._not_ready_error(expected, views, timeout)
            time.sleep(0.25)

    # -- internals --

    @property
    def _st(self) -> _State:
        if self._state is None:
            raise ClusterError(f"{type(self).__name__} is not started; call start() or use it as a context manager")
        return self._state

    def _node(self, broker_id: int) -> _Node:
        try:
            return self._st.brokers[broker_id]
        except KeyError:
            raise ClusterError(f"no broker {broker_id} in this cluster (brokers: {self.broker_ids})") from None

    @staticmethod
    def _require_running(node: _Node) -> subprocess.Popen[bytes]:
        if node.proc is None or not node.running:
            raise ClusterError(f"broker {node.id} is not running ({node.describe_state()})")
        return node.proc

    def _make_node(self, broker_id: int, rack: str | None, port: int, controller_port: int | None) -> _Node:
        node_dir = self._st.dir / f"broker-{broker_id}"
        node_dir.mkdir()
        node = _Node(broker_id, node_dir, port, controller_port, rack)
        taken = {port, controller_port}
        while self._listeners and len(node.listener_ports) < len(self._listeners):
            free = [p for p in _free_ports(len(self._listeners)) if p not in taken]
            node.listener_ports = dict(zip(self._listeners, free, strict=False))
        (node_dir / "data").mkdir()
        return node

    def _listener_props(self, node: _Node, own: Mapping[str, str]) -> dict[str, str]:
        """listeners, advertised.listeners and the protocol map: `own` (name -> protocol, PLAINTEXT first) and
        the extra ones; only PLAINTEXT is advertised by the harness's own listeners and CONTROLLER never."""
        ports = {"PLAINTEXT": node.port, "CONTROLLER": node.controller_port, **node.listener_ports}
        names = [n for n in own if ports.get(n) is not None] + list(self._listeners)
        advertised = [n for n in names if n != "CONTROLLER"]
        return {
            "listeners": ",".join(f"{n}://127.0.0.1:{ports[n]}" for n in names),
            "advertised.listeners": ",".join(f"{n}://127.0.0.1:{ports[n]}" for n in advertised),
            # Every protocol, also CONTROLLER's on a broker-only node: it connects to the controllers with it.
            "listener.security.protocol.map": ",".join(f"{n}:{p}" for n, p in {**own, **self._listeners}.items()),
        }

    def _shared_defaults(self, replication: int) -> dict[str, str]:
        rf = str(min(3, replication))
        return {
            "offsets.topic.replication.factor": rf,
            "offsets.topic.num.partitions": "5",
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "5",
            "group.initial.rebalance.delay.ms": "0",
            "num.partitions": "1",
            "default.replication.factor": "1",
            "auto.create.topics.enable": "true",
            # Small pools and buffers: fast start and small RSS with 5 brokers on 2 cores.
            "num.network.threads": "1",
            "num.io.threads": "2",
            "num.recovery.threads.per.data.dir": "1",
            "num.replica.fetchers": "1",
            "background.threads": "2",
            "log.cleaner.dedupe.buffer.size": str(2 * 1024 * 1024),  # default 128 MiB is allocated on heap
            "log.cleaner.threads": "1",
        }

    def _write_node_files(self, node: _Node, props: dict[str, str]) -> None:
        props.update(self._overrides)
        _write_properties(node.config_path, props)
        if self._jaas is not None:
            (node.dir / "jaas.conf").write_text(self._jaas)
        self._write_log_config(node)

    def _write_log_config(self, node: _Node) -> Path:
        if uses_log4j2(self.version):
            path = node.dir / "log4j2.xml"
            path.write_text(_log4j2_xml(node.log_path, _QUIET_LOGGERS))
        else:
            path = node.dir / "log4j.properties"
            path.write_text(_log4j_properties(node.log_path, _QUIET_LOGGERS))
        return path

    def _spawn_broker(self, node: _Node) -> None:
        _finish_cds(node)  # the previous JVM may have died on its own
        log_config = node.dir / ("log4j2.xml" if uses_log4j2(self.version) else "log4j.properties")
        cds_opts, node.cds = _cds_opts(self.version)
        argv = [
            java_binary(),
            *BROKER_JVM_OPTS,
            *broker_heap_opts(),
            *([f"-Djava.security.auth.login.config={node.dir / 'jaas.conf'}"] if self._jaas is not None else []),
            *cds_opts,
            logging_jvm_opt(self.version, log_config),
            "-cp",
            classpath(self.version),
            "kafka.Kafka",
            str(node.config_path),
        ]
        try:
            node.proc = _spawn_jvm(argv, node.dir, node.console_path)
        except BaseException:
            if node.cds is not None:
                with _cds_lock:
                    _cds_training.discard(node.cds.version)
                node.cds = None
            raise
        node.frozen = False

    def _check_processes(self, expected: set[int]) -> None:
        """Fail fast when ZooKeeper (unless stopped on purpose) or an expected broker has exited."""
        state = self._st
        dead = [n for i in expected if (n := state.brokers.get(i)) is not None and n.proc and not n.running]
        zk = state.zookeeper
        if zk is not None and zk.proc is not None and not zk.running and not zk.stopped_on_purpose:
            dead.insert(0, zk)
        for node in dead:
            what = "ZooKeeper" if node is zk else f"broker {node.id}"
            tail = node.tail(40)
            message = f"{what} ({self.mode}, dir {node.dir}) {node.describe_state()}; log tail:\n{tail}"
            if "Address already in use" in tail or "BindException" in tail:
                raise PortConflictError(f"port {node.port} is taken by another process: {message}")
            raise ClusterStartError(message)

    def _not_ready_error(self, expected: set[int], views: Mapping[int, str], timeout: float) -> ClusterStartError:
        unmanaged = sorted(expected - set(self._st.brokers))
        lines = [
            f"{self.mode} cluster ({self.bootstrap_servers}) not ready after {timeout:.0f}s: expected brokers "
            f"{sorted(expected)} with a controller in each expected broker's metadata"
            + (f"; brokers {unmanaged} are not managed by this harness" if unmanaged else ""),
            *(f"  {'AdminClient' if i < 0 else f'broker {i}'}: {view}" for i, view in sorted(views.items())),
        ]
        for broker_id, node in self._st.brokers.items():
            view = views.get(broker_id, "")
            if broker_id in expected and view.startswith("sees") and not view.endswith("controller -1"):
                continue  # it answered; its log is not where the problem is
            if broker_id not in expected and not node.running:
                continue
            lines.append(f"--- broker {broker_id} ({node.describe_state()}), {node.log_path}:\n{node.tail(50)}")
        return ClusterStartError("\n".join(lines))

    @abc.abstractmethod
    def _start_all(self, timeout: float) -> None: ...

    @abc.abstractmethod
    def _new_added_node(self, broker_id: int, rack: str | None) -> _Node: ...

    def _before_restart(self, node: _Node, timeout: float) -> None:  # noqa: B027 -- optional hook
        """Hook: wait for whatever must happen before a stopped broker can start again."""

    def _heal_dependencies(self, timeout: float) -> None:  # noqa: B027 -- optional hook
        """Hook: restart non-broker processes the brokers need (ZooKeeper)."""


class ZkCluster(Cluster):
    """Apache Kafka brokers in ZooKeeper mode (3.9 by default; 2.1, 2.8 and 3.6 too) and the ZooKeeper server
    their release ships (3.8 for 3.6 and 3.9, 3.5 for 2.1 and 2.8)."""

    mode: Mode = "zookeeper"

    def __init__(
        self,
        broker_ids: Sequence[int] = (1, 2, 3),
        racks: Mapping[int, str] | None = None,
        broker_config: Mapping[str, ConfigValue] | None = None,
        version: KafkaVersion = "3.9",
        *,
        listeners: Mapping[str, str] | None = None,
        zookeeper_users: Mapping[str, str] | None = None,
        zookeeper_tls: Mapping[str, str] | None = None,
    ) -> None:
        """`zookeeper_users` (user -> password): ZooKeeper requires SASL DIGEST-MD5 from every client (the seed's
        zoo_jaas.conf); brokers and the harness log in as the user "kafka", which must be one of them.
        `zookeeper_tls`: ZooKeeper's ssl.* settings (keyStore, trustStore, clientAuth) for a TLS port besides
        the plaintext one the brokers use (`zk_secure_connect`)."""
        if version == "4":
            raise ValueError("Kafka 4 has no ZooKeeper mode; use KraftCluster")
        self.version = version
        self.zookeeper_users = dict(zookeeper_users or {})
        self.zookeeper_tls = dict(zookeeper_tls or {})
        jaas = None
        if self.zookeeper_users:
            if "kafka" not in self.zookeeper_users:
                raise ValueError("zookeeper_users needs the user 'kafka' for the brokers")
            jaas = _jaas("Client", {"username": "kafka", "password": self.zookeeper_users["kafka"]})
        super().__init__(broker_ids, racks, broker_config, listeners, jaas)

    @property
    def zk_connect(self) -> str:
        return f"127.0.0.1:{self._zk.port}"

    @property
    def zk_secure_connect(self) -> str:
        port = self._zk.listener_ports.get("TLS")
        if port is None:
            raise ClusterError("ZooKeeper has no TLS port: give zookeeper_tls")
        return f"127.0.0.1:{port}"

    @property
    def zookeeper_pid(self) -> int:
        zk = self._zk
        if zk.proc is None or not zk.running:
            raise ClusterError(f"ZooKeeper is not running ({zk.describe_state()})")
        return zk.proc.pid

    @property
    def zookeeper_log_path(self) -> Path:
        return self._zk.log_path

    def zookeeper_log_tail(self, lines: int = 50) -> str:
        return self._zk.tail(lines)

    def stop_zookeeper(self, timeout: float = 30.0) -> None:
        """Stop ZooKeeper gracefully; brokers keep running and keep serving cached metadata."""
        with self._lock:
            zk = self._zk
            if zk.proc is None or not zk.running:
                raise ClusterError(f"ZooKeeper is not running ({zk.describe_state()})")
            zk.stopped_on_purpose = True
            _terminate([zk.proc], timeout)

    def start_zookeeper(self, *, wait: bool = True, timeout: float = 60.0) -> None:
        """Restart ZooKeeper on the same port and data; with wait, also until running brokers re-register."""
        with self._lock:
            zk = self._zk
            if zk.running:
                raise ClusterError("ZooKeeper is already running")
            deadline = time.monotonic() + timeout
            self._spawn_zookeeper(zk)
            zk.stopped_on_purpose = False
            self._wait_zookeeper(zk, timeout)
            if wait:
                self._wait_registered(set(self.running_ids), max(1.0, deadline - time.monotonic()))

    # -- internals --

    @property
    def _zk(self) -> _Node:
        zk = self._st.zookeeper
        assert zk is not None
        return zk

    def _heal_dependencies(self, timeout: float) -> None:
        if not self._zk.running:
            self.start_zookeeper(wait=False, timeout=timeout)

    def _start_all(self, timeout: float) -> None:
        state = self._st
        deadline = time.monotonic() + timeout
        ports = _free_ports(len(self._initial_ids) + 2)
        zk_dir = state.dir / "zookeeper"
        (zk_dir / "data").mkdir(parents=True)
        zk = _Node(0, zk_dir, ports[0])
        tls: dict[str, str] = {}
        if self.zookeeper_tls:
            zk.listener_ports["TLS"] = ports[-1]
            tls = {
                "secureClientPort": str(ports[-1]),
                "secureClientPortAddress": "127.0.0.1",
                "serverCnxnFactory": "org.apache.zookeeper.server.NettyServerCnxnFactory",
                **self.zookeeper_tls,
            }
        state.zookeeper = zk
        _write_properties(
            zk.config_path,
            {
                "tickTime": "500",  # session expiry is checked once per tick
                "initLimit": "10",
                "syncLimit": "5",
                "dataDir": str(zk_dir / "data"),
                "clientPort": str(zk.port),
                "clientPortAddress": "127.0.0.1",
                "maxClientCnxns": "0",
                "minSessionTimeout": "1000",
                "maxSessionTimeout": "60000",
                "admin.enableServer": "false",
                "4lw.commands.whitelist": "*",
                "preAllocSize": "4096",  # KiB; default 64 MiB per transaction log
                **(
                    {
                        "authProvider.sasl": "org.apache.zookeeper.server.auth.SASLAuthenticationProvider",
                        "sessionRequireClientSASLAuth": "true",  # ZooKeeper 3.6+: no session without SASL
                    }
                    if self.zookeeper_users
                    else {}
                ),
                **tls,
            },
        )
        if self.zookeeper_users:
            users = {f"user_{u}": p for u, p in self.zookeeper_users.items()}
            (zk_dir / "jaas.conf").write_text(_jaas("Server", users))
        (zk_dir / "log4j.properties").write_text(_log4j_properties(zk.log_path, ()))
        self._spawn_zookeeper(zk)
        for broker_id, port in zip(self._initial_ids, ports[1:-1], strict=True):
            node = self._make_node(broker_id, self._racks.get(broker_id), port, None)
            self._write_broker_config(node, len(self._initial_ids))
            state.brokers[broker_id] = node
        # Brokers only retry ZooKeeper for zookeeper.connection.timeout.ms, so wait for it first.
        self._wait_zookeeper(zk, timeout)
        for node in state.brokers.values():
            self._spawn_broker(node)
        self.wait_ready(self._initial_ids, timeout=max(1.0, deadline - time.monotonic()))

    def _write_broker_config(self, node: _Node, cluster_size: int) -> None:
        props = {
            "broker.id": str(node.id),
            "reserved.broker.max.id": "100000",  # auto-generated ids start above it; ours may be e.g. 1001
            **self._listener_props(node, {"PLAINTEXT": "PLAINTEXT"}),
            "inter.broker.listener.name": "PLAINTEXT",
            "zookeeper.connect": self.zk_connect,
            "zookeeper.session.timeout.ms": str(SESSION_TIMEOUT_MS),
            "zookeeper.connection.timeout.ms": "30000",
            # When the whole cluster stops at once the last broker's controlled shutdown cannot move its
            # leaders and retries every 5 s by default; fail over to an unclean shutdown quickly instead.
            "controlled.shutdown.retry.backoff.ms": "500",
            "log.dirs": str(node.dir / "data"),
            **self._shared_defaults(cluster_size),
        }
        if node.rack is not None:
            props["broker.rack"] = node.rack
        self._write_node_files(node, props)

    def _new_added_node(self, broker_id: int, rack: str | None) -> _Node:
        node = self._make_node(broker_id, rack, _free_ports(1)[0], None)
        self._write_broker_config(node, len(self._initial_ids))
        return node

    def _spawn_zookeeper(self, zk: _Node) -> None:
        archive = cds_archive_path(self.version)  # brokers' archive covers most of ZooKeeper's classes too
        cds_opts = [f"-XX:SharedArchiveFile={archive}", _CDS_QUIET] if archive.is_file() else []
        argv = [
            java_binary(),
            *ZOOKEEPER_JVM_OPTS,
            *cds_opts,
            f"-Dlog4j.configuration=file:{zk.dir / 'log4j.properties'}",
            "-Dzookeeper.jmx.log4j.disable=true",
            *([f"-Djava.security.auth.login.config={zk.dir / 'jaas.conf'}"] if self.zookeeper_users else []),
            "-cp",
            classpath(self.version),
            "org.apache.zookeeper.server.quorum.QuorumPeerMain",
            str(zk.config_path),
        ]
        zk.proc = _spawn_jvm(argv, zk.dir, zk.console_path)

    def _wait_zookeeper(self, zk: _Node, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self._check_processes(set())
            if "Zookeeper version" in _four_letter_word(zk.port, b"srvr"):
                return
            if time.monotonic() >= deadline:
                raise ClusterStartError(
                    f"ZooKeeper on 127.0.0.1:{zk.port} not serving after {timeout:.0f}s; log tail:\n{zk.tail(50)}"
                )
            time.sleep(0.1)

    def _kazoo(self) -> KazooClient:
        sasl = (
            {"mechanism": "DIGEST-MD5", "username": "kafka", "password": self.zookeeper_users["kafka"]}
            if self.zookeeper_users
            else None
        )
        client = KazooClient(hosts=self.zk_connect, timeout=5.0, logger=_client_log, sasl_options=sasl)
        try:
            client.start(timeout=10)
        except KazooTimeoutError:
            client.close()
            raise ClusterError(f"cannot connect to ZooKeeper at {self.zk_connect} (is it stopped?)") from None
        return client

    def _before_restart(self, node: _Node, timeout: float) -> None:
        # After SIGKILL the broker's /brokers/ids/<id> znode lives until its session times out; a broker
        # starting before that fails with NodeExistsException and exits.
        if not node.unclean_exit:
            return
        client = self._kazoo()
        try:
            limit = min(timeout, SESSION_TIMEOUT_MS / 1000 * 3 + 10)
            deadline = time.monotonic() + limit
            while client.exists(f"/brokers/ids/{node.id}") is not None:
                if time.monotonic() >= deadline:
                    raise ClusterError(
                        f"/brokers/ids/{node.id} (the killed broker's registration) still exists after waiting "
                        f"{limit:.0f}s for its ZooKeeper session to expire"
                    )
                time.sleep(0.2)
        finally:
            client.stop()
            client.close()

    def _wait_registered(self, ids: set[int], timeout: float) -> None:
        client = self._kazoo()
        try:
            deadline = time.monotonic() + timeout
            while True:
                registered = {int(c) for c in client.get_children("/brokers/ids")}
                if ids <= registered:
                    return
                if time.monotonic() >= deadline:
                    missing = sorted(ids - registered)
                    tails = "\n".join(f"--- broker {i}:\n{self.log_tail(i)}" for i in missing)
                    raise ClusterError(
                        f"brokers {missing} did not re-register in ZooKeeper within {timeout:.0f}s\n{tails}"
                    )
                time.sleep(0.2)
        finally:
            client.stop()
            client.close()


class KraftCluster(Cluster):
    """Apache Kafka 4.1 in KRaft mode: every initial node is a combined broker+controller and a voter."""

    mode: Mode = "kraft"
    version: KafkaVersion = "4"

    def __init__(
        self,
        node_ids: Sequence[int] = (1, 2, 3),
        racks: Mapping[int, str] | None = None,
        broker_config: Mapping[str, ConfigValue] | None = None,
        listeners: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(node_ids, racks, broker_config, listeners)
        self.cluster_id = _random_cluster_id()

    @property
    def controller_quorum_voters(self) -> str:
        return ",".join(f"{n.id}@127.0.0.1:{n.controller_port}" for n in self._st.brokers.values() if n.controller_port)

    def controller_port(self, node_id: int) -> int:
        port = self._node(node_id).controller_port
        if port is None:
            raise ClusterError(f"node {node_id} is broker-only (added with add_broker)")
        return port

    def _start_all(self, timeout: float) -> None:
        state = self._st
        deadline = time.monotonic() + timeout
        ports = _free_ports(2 * len(self._initial_ids))
        for i, node_id in enumerate(self._initial_ids):
            node = self._make_node(node_id, self._racks.get(node_id), ports[2 * i], ports[2 * i + 1])
            state.brokers[node_id] = node
        for node in state.brokers.values():
            self._write_kraft_config(node)
        self._format(list(state.brokers.values()))
        for node in state.brokers.values():
            self._spawn_broker(node)
        self.wait_ready(self._initial_ids, timeout=max(1.0, deadline - time.monotonic()))

    def _write_kraft_config(self, node: _Node) -> None:
        combined = node.controller_port is not None
        rf = min(3, len(self._initial_ids))
        props = {
            "process.roles": "broker,controller" if combined else "broker",
            "node.id": str(node.id),
            "controller.quorum.voters": self.controller_quorum_voters,
            "controller.listener.names": "CONTROLLER",
            **self._listener_props(node, {"PLAINTEXT": "PLAINTEXT", "CONTROLLER": "PLAINTEXT"}),
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(node.dir / "data"),
            "broker.session.timeout.ms": str(SESSION_TIMEOUT_MS),
            "broker.heartbeat.interval.ms": "1000",
            "share.coordinator.state.topic.replication.factor": str(rf),
            "share.coordinator.state.topic.min.isr": "1",
            **self._shared_defaults(len(self._initial_ids)),
        }
        if node.rack is not None:
            props["broker.rack"] = node.rack
        self._write_node_files(node, props)

    def _format(self, nodes: Sequence[_Node]) -> None:
        """Format the log dirs with the cluster id (the StorageTool JVMs run in parallel)."""
        procs: list[subprocess.Popen[bytes]] = []
        try:
            for node in nodes:
                args = ["format", "-t", self.cluster_id, "-c", str(node.config_path)]
                with (node.dir / "format.log").open("wb") as out:
                    procs.append(
                        subprocess.Popen(
                            tool_argv(self.version, STORAGE_TOOL, args),
                            stdout=out,
                            stderr=subprocess.STDOUT,
                            preexec_fn=die_with_parent_preexec(),  # noqa: PLW1509 -- prctl only
                        )
                    )
            for node, proc in zip(nodes, procs, strict=True):
                if proc.wait(120) != 0:
                    output = (node.dir / "format.log").read_text(errors="replace")
                    raise ClusterStartError(f"formatting node {node.id} failed (exit {proc.returncode}):\n{output}")
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()

    def _new_added_node(self, broker_id: int, rack: str | None) -> _Node:
        # A broker-only node: joining the static voter set would need a quorum reconfiguration.
        node = self._make_node(broker_id, rack, _free_ports(1)[0], None)
        self._write_kraft_config(node)
        self._format([node])
        return node


def _four_letter_word(port: int, word: bytes) -> str:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(word)
            chunks = []
            while chunk := sock.recv(4096):
                chunks.append(chunk)
            return b"".join(chunks).decode("utf-8", "replace")
    except OSError:
        return ""
