"""/metrics is served by a process of its own, forked at start-up before any thread or Kafka client exists, and
fed each cluster's rendered exposition through a pipe after every cycle.

Why a process: a collection cycle is Python work (parsing, analysis, rendering) that holds the interpreter's
lock; a scrape served in the same process waited its turn for that lock several times over, so scrapes landing
in a cycle took 5-20 ms at 10,000 partitions against 0.3 ms between cycles (bench/bench.py). The serving
process has its own interpreter and does nothing but answer from the last bytes it was sent. Being a fork, it
shares the parent's pages from start-up until either writes to one; with its HTTP state and one gzip-compressed
exposition per cluster, the pair's memory counted once at 10,000 partitions was 10-12 MiB above the single
process's when idle and -5 to +8 MiB under scrape load (the collector no longer keeps the plain text);
bench/bench.py reports both processes.

The pipe is the only link: when the parent exits, however it ends, the child reads end-of-file and exits; when
the child dies, the parent stops and exits 1 so that the exporter is restarted whole."""

from __future__ import annotations

import asyncio
import gc
import logging
import math
import os
import signal
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Sequence

from aiohttp import web

from exporter.runner import Rendered
from exporter.server import make_app
from exporter.web_config import WebSecurity

log = logging.getLogger(__name__)
# name length, body length, data_taken_at (NaN: none yet), ready
_HEADER = struct.Struct("!HId?")
BACKLOG = 128  # asyncio's and aiohttp's default
# Added to the collecting process's nice value. Within a cgroup with its own CPU weight (a container, a systemd
# unit) this ranks the collector below its own server only; outside one, also below the machine's other
# processes of default priority (a broker on the same host), which a monitor should yield to anyway.
COLLECTOR_NICENESS = 10


def listen_sockets(host: str, port: int) -> list[socket.socket]:
    """Bound, listening sockets for host:port, one per address family it resolves to, as asyncio's create_server
    makes them (SO_REUSEADDR; IPv6 sockets IPv6-only). Bound here, before the fork, so that a port in use is the
    start-up error it always was."""
    infos = dict.fromkeys(
        (family, kind, proto, addr)
        for family, kind, proto, _, addr in socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    )
    socks: list[socket.socket] = []
    try:
        for family, kind, proto, addr in infos:
            s = socket.socket(family, kind, proto)
            socks.append(s)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind(addr)
            s.listen(BACKLOG)
            s.setblocking(False)
    except OSError:
        for s in socks:
            s.close()
        raise
    return socks


class Served:
    """What the serving process knows of one cluster: its last exposition and whether a cycle has succeeded
    (the interface make_app reads, as it reads a ClusterRunner's)."""

    def __init__(self) -> None:
        self.rendered = Rendered(b"", b"", None)
        self.ready = False

    def exposition(self, gzip: bool) -> bytes:
        return self.rendered.body(gzip)


class Feed:
    """The parent's end of the pipe. `send` is called from each cluster's publishing thread."""

    def __init__(self, fd: int, pid: int) -> None:
        self.pid = pid
        self._fd = fd
        self._lock = threading.Lock()
        self._broken = False

    def send(self, name: str, rendered: Rendered, ready: bool) -> None:
        key = name.encode()
        taken = math.nan if rendered.data_taken_at is None else rendered.data_taken_at
        frame = memoryview(_HEADER.pack(len(key), len(rendered.gzipped), taken, ready) + key + rendered.gzipped)
        with self._lock:
            if self._broken:
                return
            try:
                while frame:
                    frame = frame[os.write(self._fd, frame) :]
            except OSError as e:  # the child is gone: the exit watcher reports it and stops the exporter
                self._broken = True
                log.debug("serving process: pipe closed: %s", e)

    def close(self) -> None:
        """Close the pipe: the child then exits. A send blocked on a child that stopped reading (frozen) holds
        the lock: the child is killed, which ends that send."""
        if not self._lock.acquire(timeout=1.0):
            os.kill(self.pid, signal.SIGKILL)
            self._lock.acquire()
        try:
            if self._fd >= 0:
                os.close(self._fd)
            self._fd = -1
            self._broken = True
        finally:
            self._lock.release()


def fork_server(
    socks: Sequence[socket.socket],
    context: ssl.SSLContext | None,
    security: WebSecurity,
    names: Sequence[str],
) -> Feed:
    """Fork the serving process. Must be called before any thread starts: a fork copies only the calling
    thread, and any lock another thread held would stay locked in the child forever."""
    if threading.active_count() != 1:
        raise RuntimeError("fork_server called with other threads running")
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the caller's code
        status = 1
        try:
            os.close(write_fd)
            _as_child()
            asyncio.run(_serve(read_fd, socks, context, security, names))
            status = 0
        except BaseException:
            log.exception("the process serving /metrics failed")
        finally:
            logging.shutdown()
            os._exit(status)
    os.close(read_fd)
    for s in socks:
        s.close()
    # The collector yields the CPU to the server (threads inherit it): on a busy machine a scrape waited for a
    # core behind the cycle's threads (curl, 50 scrapes/s, 10,000 partitions, 2 cores: p99 5.5-6.2 ms without,
    # 4.9-5.1 ms with; a static file server 4.9-5.4 ms).
    os.nice(COLLECTOR_NICENESS)
    return Feed(write_fd, pid)


def watch_exit(pid: int, loop: asyncio.AbstractEventLoop, on_exit: Callable[[str], None]) -> asyncio.Future[str]:
    """A future resolved (on `loop`) with how the child ended; `on_exit` is called there too. A daemon thread
    waits for it: nothing else in the parent reaps children."""
    done: asyncio.Future[str] = loop.create_future()

    def resolve(how: str) -> None:
        if not done.done():
            done.set_result(how)
            on_exit(how)

    def wait() -> None:
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        how = f"exit status {code}" if code >= 0 else f"signal {signal.Signals(-code).name}"
        loop.call_soon_threadsafe(resolve, how)

    threading.Thread(target=wait, name="serving-process-watch", daemon=True).start()
    return done


def _as_child() -> None:
    # The parent decides when to stop (Ctrl-C reaches the whole process group); the pipe's end says so.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    # The parent turned automatic collection off for its large cycles; this process's own heap is small. What it
    # inherited stays frozen: a collection would write to every inherited object and so copy every page the
    # fork shares.
    gc.enable()


async def _serve(
    read_fd: int,
    socks: Sequence[socket.socket],
    context: ssl.SSLContext | None,
    security: WebSecurity,
    names: Sequence[str],
) -> None:
    served = {n: Served() for n in names}
    reader = asyncio.StreamReader(limit=2**16)
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", buffering=0, closefd=True)
    )

    async def receive() -> str:
        key_len, body_len, taken, ready = _HEADER.unpack(await reader.readexactly(_HEADER.size))
        name = (await reader.readexactly(key_len)).decode()
        body = await reader.readexactly(body_len)
        target = served.get(name)
        if target is not None:
            target.rendered = Rendered(None, body, None if math.isnan(taken) else taken)
            target.ready = ready
        return name

    app_runner = web.AppRunner(make_app(served, security), access_log=None)
    try:
        # Each cluster's first rendering (sent as its runner starts) before the first answer: until then
        # connections wait in the listening socket's queue.
        waiting = set(names)
        while waiting:
            waiting.discard(await receive())
        await app_runner.setup()
        for s in socks:
            await web.SockSite(app_runner, s, ssl_context=context).start()
        while True:
            await receive()
    except asyncio.IncompleteReadError:
        pass  # the parent closed the pipe (stopping) or is gone
    await app_runner.cleanup()
