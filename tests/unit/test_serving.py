"""/metrics is served by a process of its own (exporter/serving.py): the real command, against a cluster that
does not answer (no Kafka needed: the exporter's own metrics are what is served and fed through the pipe)."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from exporter.serving import COLLECTOR_NICENESS
from harness.monitoring import free_port
from tests.integration.scrape import one, parse


def get(url: str, gz: bool = False, timeout: float = 3) -> tuple[bytes, dict[str, str]]:
    req = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"} if gz else {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.read(), dict(r.headers)


def children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def nice(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_for(what: str, check: object, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} within {timeout} s")


class Running:
    def __init__(self, proc: subprocess.Popen[bytes], port: int) -> None:
        self.proc, self.url = proc, f"http://127.0.0.1:{port}"

    def cycles(self) -> float:
        return one(parse(get(self.url + "/metrics")[0].decode()), "kafka_exporter_collection_cycles_total") or 0

    def output(self) -> str:
        out, _ = self.proc.communicate(timeout=30)
        return out.decode()


@pytest.fixture
def exporter(tmp_path: Path) -> Iterator[Running]:
    port = free_port()
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"web: {{listen_address: '127.0.0.1:{port}'}}\n"
        f"clusters:\n  - bootstrap_servers: '127.0.0.1:{free_port()}'\n"
        "    collection: {interval_seconds: 1, jitter_seconds: 0, timeout_seconds: 2, request_timeout_seconds: 1}\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "exporter", "--config", str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    running = Running(proc, port)

    def answering() -> bool:
        try:
            return running.cycles() >= 0
        except OSError:
            return False

    try:
        wait_for("the exporter answers", answering)
        yield running
    finally:
        for pid in [proc.pid, *(children(proc.pid) if alive(proc.pid) else [])]:
            if alive(pid):
                os.kill(pid, signal.SIGCONT)
                os.kill(pid, signal.SIGKILL)
        proc.communicate(timeout=30)


def test_scrapes_answer_while_the_collector_is_frozen(exporter: Running) -> None:
    """The server is its own process, fed after every cycle: each cycle reaches it, and while the collecting
    process cannot run at all (frozen: the limit of a cycle holding the interpreter), scrapes are still answered
    at once, with the last cycle's metrics, plain or gzip."""
    (server,) = children(exporter.proc.pid)
    assert nice(exporter.proc.pid) == nice(server) + COLLECTOR_NICENESS, "the collector does not yield the CPU"
    before = exporter.cycles()
    wait_for("two more cycles are served", lambda: exporter.cycles() >= before + 2)
    os.kill(exporter.proc.pid, signal.SIGSTOP)
    try:
        time.sleep(0.5)
        # (A server in the collector's process would not answer at all: these would time out.)
        plain, _ = get(exporter.url + "/metrics", timeout=2)
        zipped, headers = get(exporter.url + "/metrics", gz=True, timeout=2)
        assert headers.get("Content-Encoding") == "gzip"
        frozen = [parse(plain.decode()), parse(gzip.decompress(zipped).decode())]
        cycles = {one(s, "kafka_exporter_collection_cycles_total") for s in frozen}
        assert len(cycles) == 1, "the plain and gzip bodies differ"
        assert (cycles.pop() or 0) >= before + 2, "not the last cycle's metrics"
        assert alive(server)
    finally:
        os.kill(exporter.proc.pid, signal.SIGCONT)
    now = exporter.cycles()
    wait_for("cycles are served again after the freeze", lambda: exporter.cycles() > now)


def test_the_server_dying_ends_the_exporter_with_an_error(exporter: Running) -> None:
    """A dead /metrics server cannot be replaced from a running collector (threads exist): the exporter exits 1
    saying why, so that its supervisor restarts it, rather than collecting on with nothing served."""
    (server,) = children(exporter.proc.pid)
    os.kill(server, signal.SIGKILL)
    wait_for("the exporter exits", lambda: exporter.proc.poll() is not None, timeout=15)
    out = exporter.output()
    assert exporter.proc.returncode == 1, out[-2000:]
    assert "the process serving /metrics ended (signal SIGKILL); exiting" in out
    assert "Traceback" not in out


def test_sigterm_stops_both_and_a_dead_collector_takes_the_server_with_it(exporter: Running) -> None:
    (server,) = children(exporter.proc.pid)
    os.kill(exporter.proc.pid, signal.SIGTERM)
    wait_for("the exporter exits", lambda: exporter.proc.poll() is not None, timeout=15)
    out = exporter.output()
    assert exporter.proc.returncode == 0, out[-2000:]
    assert not alive(server) and "Traceback" not in out


def test_a_killed_collector_leaves_no_server_behind(exporter: Running) -> None:
    """However the collector ends (here SIGKILL: no clean-up runs), the server reads the pipe's end and exits,
    freeing the port for the restarted exporter."""
    (server,) = children(exporter.proc.pid)
    os.kill(exporter.proc.pid, signal.SIGKILL)
    exporter.proc.wait(10)
    wait_for("the server exits", lambda: not alive(server), timeout=10)
    with pytest.raises(OSError):
        get(exporter.url + "/metrics", timeout=1)
