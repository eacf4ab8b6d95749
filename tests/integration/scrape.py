"""Test helpers: run the exporter in-process against a real cluster and read /metrics like Prometheus."""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from prometheus_client.parser import text_string_to_metric_families

from exporter.config import ClusterConfig, parse_config
from exporter.runner import ClusterRunner
from exporter.server import make_app

Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def cluster_config(bootstrap: str, interval: float = 1.0, **extra: object) -> ClusterConfig:
    data = {
        "bootstrap_servers": bootstrap,
        "collection": {"interval_seconds": interval, "timeout_seconds": 8, "request_timeout_seconds": 4},
        **extra,
    }
    return parse_config({"clusters": [data]}).clusters[0]


def parse(text: str) -> Series:
    out: Series = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def values(series: Series, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: v for (n, labels), v in series.items() if n == name}


def one(series: Series, name: str, **labels: str) -> float | None:
    return series.get((name, tuple(sorted(labels.items()))))


@dataclass
class Exporter:
    runner: ClusterRunner
    url: str
    session: aiohttp.ClientSession

    async def scrape(self) -> Series:
        async with self.session.get(self.url + "/metrics") as r:
            assert r.status == 200
            series: Series = parse(await r.text())
            return series

    async def status(self, path: str) -> int:
        async with self.session.get(self.url + path) as r:
            return r.status

    async def next_cycles(self, n: int = 1, timeout: float = 60) -> None:
        """Wait until n more collection cycles have completed, so a scrape shows data read after now."""
        target = self.runner.health.cycles + n
        deadline = time.monotonic() + timeout
        while self.runner.health.cycles < target:
            assert time.monotonic() < deadline, "collection cycles stopped"
            await asyncio.sleep(0.1)

    async def wait_for(self, check: Callable[[Series], bool], timeout: float, what: str) -> Series:
        deadline = time.monotonic() + timeout
        last: Series = {}
        while time.monotonic() < deadline:
            last = await self.scrape()
            if check(last):
                return last
            await asyncio.sleep(0.5)
        raise AssertionError(f"within {timeout:.0f}s: {what}; last scrape had {len(last)} series")

    async def agrees_with(
        self, truth: Callable[[], Any], exported: Callable[[Series], Any], what: str, attempts: int = 10
    ) -> Series:
        """A scrape whose `exported(scrape)` equals `truth()` (blocking: Kafka's tools, the Admin API) read just
        before and just after it, so churn between the two reads cannot make the comparison flaky. Brokers apply
        new metadata at slightly different moments, so a few attempts are allowed; every attempt that is compared
        must match for this to return once the cluster has settled."""
        last = None
        for _ in range(attempts):
            before = await asyncio.to_thread(truth)
            await self.next_cycles(1)
            s = await self.scrape()
            after = await asyncio.to_thread(truth)
            if before == after:
                if exported(s) == before:
                    return s
                last = (exported(s), before)
            await asyncio.sleep(1)
        raise AssertionError(f"exporter and {what} never agreed; last compared (exporter, {what}): {last}")


@contextlib.asynccontextmanager
async def running_exporter(cfg: ClusterConfig) -> AsyncIterator[Exporter]:
    runner = ClusterRunner(cfg)
    server = TestServer(make_app({cfg.name: runner}), host="127.0.0.1")
    await server.start_server()
    task = asyncio.create_task(runner.run_forever())
    try:
        async with aiohttp.ClientSession() as session:
            yield Exporter(runner, str(server.make_url("")).rstrip("/"), session)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await server.close()
        runner.close()


def http_get(url: str) -> tuple[int, str]:
    """A plain GET of the exporter's endpoints as a probe or curl sees them: (status, body), 4xx/5xx included."""
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
