"""The HTTP surface: one process, several clusters, each its own Prometheus target; scrapes only read."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from exporter.config import parse_config
from exporter.model import Broker, ClusterSnapshot
from exporter.runner import ClusterRunner
from exporter.server import make_app


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, dict[str, ClusterRunner]]]:
    cfg = parse_config(
        {
            "clusters": [
                {"name": "east", "bootstrap_servers": "127.0.0.1:1"},
                {"name": "west", "bootstrap_servers": "127.0.0.1:1"},
            ]
        }
    )
    runners = {c.name: ClusterRunner(c) for c in cfg.clusters}
    # Publish a snapshot by hand for "east" only: no Kafka involved, and no collection loop runs.
    east = ClusterSnapshot(taken_at=1.0, brokers=(Broker(1, "h", 9092),), topics=())
    runners["east"]._account(east, 0.1)
    runners["east"]._publish(east)
    srv = TestServer(make_app(runners), host="127.0.0.1")
    await srv.start_server()
    yield str(srv.make_url("")).rstrip("/"), runners
    await srv.close()
    for r in runners.values():
        r.close()


async def get(url: str, **headers: str) -> tuple[int, bytes, dict[str, str]]:
    headers = {"Accept-Encoding": "identity", **headers}  # aiohttp's client asks for gzip by default
    async with aiohttp.ClientSession(auto_decompress=False) as s, s.get(url, headers=headers) as r:
        return r.status, await r.read(), dict(r.headers)


async def test_each_cluster_is_its_own_target(server: tuple[str, dict[str, ClusterRunner]]) -> None:
    base, _ = server
    status, east, _ = await get(base + "/metrics?cluster=east")
    assert status == 200 and b"kafka_brokers 1.0" in east
    status, west, _ = await get(base + "/metrics?cluster=west")
    assert status == 200 and b"kafka_brokers" not in west  # never collected: no invented data
    assert b"kafka_exporter_build_info" in west
    status, body, _ = await get(base + "/metrics")
    assert status == 400 and b"?cluster=NAME" in body and b"east" in body
    status, body, _ = await get(base + "/metrics?cluster=north")
    assert status == 404 and b"unknown cluster" in body


async def test_gzip_and_snapshot_age(server: tuple[str, dict[str, ClusterRunner]]) -> None:
    base, _ = server
    status, body, headers = await get(base + "/metrics?cluster=east", **{"Accept-Encoding": "gzip"})
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    text = gzip.decompress(body).decode()
    assert "kafka_brokers 1.0" in text
    age = next(line for line in text.splitlines() if line.startswith("kafka_exporter_snapshot_age_seconds "))
    assert float(age.split()[1]) > 1_000_000  # the hand-made snapshot is from 1970: its age shows it


async def test_ready_waits_for_every_cluster_and_landing_page_links(
    server: tuple[str, dict[str, ClusterRunner]],
) -> None:
    base, _ = server
    status, body, _ = await get(base + "/ready")
    assert status == 503 and b"west" in body and b"east" not in body
    assert (await get(base + "/healthz"))[0] == 200
    status, page, _ = await get(base + "/")
    assert status == 200 and b"/metrics?cluster=east" in page and b"/metrics?cluster=west" in page
