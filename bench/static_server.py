"""bench.py's floor: a server that does nothing but answer /metrics with one file's bytes (gzip-encoded), in a
process of its own. Scraped like the exporter, on the same machine with the same cluster (and the exporter's
collection) running, its latency is the least any server could achieve there.

    python bench/static_server.py PORT FILE
"""

from __future__ import annotations

import sys
from pathlib import Path

from aiohttp import web


def main() -> None:
    port, body = int(sys.argv[1]), Path(sys.argv[2]).read_bytes()

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=body, headers={"Content-Encoding": "gzip", "Content-Type": "text/plain"})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
