"""HTTP: /metrics (last rendered exposition, per cluster), /healthz, /ready, and a landing page.
Handlers only read what the runners rendered; none of them calls Kafka. The exporter serves this app from a
process of its own (exporter/serving.py); tests also serve it in-process from ClusterRunners."""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping
from typing import Protocol
from urllib.parse import quote

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from exporter import __version__
from exporter.web_config import WebSecurity, middleware


class Exposed(Protocol):
    """One cluster as the handlers see it: a ClusterRunner, or what the serving process was sent of one."""

    @property
    def ready(self) -> bool: ...

    def exposition(self, gzip: bool) -> bytes: ...


RUNNERS = web.AppKey[Mapping[str, Exposed]]("runners")


def _pick(request: web.Request) -> Exposed:
    runners = request.app[RUNNERS]
    name = request.query.get("cluster")
    if name is None:
        if len(runners) == 1:
            return next(iter(runners.values()))
        raise web.HTTPBadRequest(
            text=f"several clusters are configured; choose one with ?cluster=NAME ({', '.join(sorted(runners))})\n"
        )
    if name not in runners:
        raise web.HTTPNotFound(text=f"unknown cluster {name!r}; configured: {', '.join(sorted(runners))}\n")
    return runners[name]


async def metrics(request: web.Request) -> web.Response:
    runner = _pick(request)
    gz = "gzip" in request.headers.get("Accept-Encoding", "")
    body = runner.exposition(gzip=gz)
    headers = {"Content-Type": CONTENT_TYPE_PLAIN_0_0_4}
    if gz:
        headers["Content-Encoding"] = "gzip"
    return web.Response(body=body, headers=headers)


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def ready(request: web.Request) -> web.Response:
    waiting = [name for name, r in request.app[RUNNERS].items() if not r.ready]
    if waiting:
        return web.Response(status=503, text=f"no successful collection yet for: {', '.join(sorted(waiting))}\n")
    return web.Response(text="ready\n")


async def index(request: web.Request) -> web.Response:
    names: list[str] = sorted(request.app[RUNNERS].keys())
    links = "".join(
        f'<li><a href="/metrics?cluster={quote(n)}">/metrics?cluster={html.escape(n)}</a></li>' for n in names
    )
    page = (
        "<html><head><title>kafka-cluster-exporter</title></head><body>"
        f"<h1>kafka-cluster-exporter {__version__}</h1><ul>{links}"
        '<li><a href="/healthz">/healthz</a></li><li><a href="/ready">/ready</a></li></ul></body></html>'
    )
    return web.Response(text=page, content_type="text/html")


class _ClientErrors(logging.Filter):
    """aiohttp logs a malformed request (a client's fault, already answered with a 4xx) at ERROR with a
    traceback: any client could flood the log. Such records are dropped unless the log level is debug."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError) and 400 <= (exc.code or 400) < 500:
            return logging.getLogger("exporter").isEnabledFor(logging.DEBUG)
        return True


def make_app(runners: Mapping[str, Exposed], security: WebSecurity | None = None) -> web.Application:
    """The app; with `security` (--web.config.file), basic auth on every path but /healthz and /ready, and its
    extra response headers (TLS is the listening socket's: see cli.serve)."""
    app = web.Application(middlewares=[middleware(security)] if security is not None else [])
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, _ClientErrors) for f in server_log.filters):
        server_log.addFilter(_ClientErrors())
    app[RUNNERS] = runners
    app.router.add_get("/", index)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/ready", ready)
    return app
