"""Command line: `kafka-cluster-exporter [run] --config FILE`. Exit 2 on any error the user can fix."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from aiohttp import web

from exporter import __version__
from exporter.config import Config, ConfigError, load_config
from exporter.runner import ClusterRunner
from exporter.server import make_app

log = logging.getLogger("exporter")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kafka-cluster-exporter", description="Prometheus exporter for Apache Kafka clusters."
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command")
    run = sub.add_parser("run", help="collect in the background and serve /metrics (the default)")
    for q in (p, run):
        q.add_argument("--config", "-c", help="YAML config file (see README)")
        q.add_argument("--listen", help="host:port to listen on; overrides web.listen_address")
    return p


async def serve(cfg: Config, listen: str) -> None:
    try:
        runners = {c.name: ClusterRunner(c) for c in cfg.clusters}
    except ValueError as e:
        raise ConfigError(f"clusters.client: {e}") from None
    host, _, port = listen.rpartition(":")
    app = make_app(runners)
    app_runner = web.AppRunner(app, access_log=None)
    await app_runner.setup()
    site = web.TCPSite(app_runner, host or "0.0.0.0", int(port))
    try:
        await site.start()
    except OSError as e:
        await app_runner.cleanup()
        raise ConfigError(f"web.listen_address: cannot listen on {listen}: {e.strerror}") from None
    log.info("kafka-cluster-exporter %s listening on %s for clusters %s", __version__, listen, ", ".join(runners))
    tasks = [asyncio.create_task(r.run_forever(), name=f"collect-{n}") for n, r in runners.items()]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down")
    for t in tasks:
        t.cancel()
    for t in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await t
    await app_runner.cleanup()
    for r in runners.values():
        r.close()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not args.config:
        print("error: --config FILE is required (see README for an example)", file=sys.stderr)
        return 2
    try:
        cfg = load_config(args.config)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=cfg.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    if cfg.log_level != "debug":
        # kafka-python logs every connection at INFO; its failures reach us as recorded errors anyway.
        logging.getLogger("kafka").setLevel(logging.WARNING)
    try:
        asyncio.run(serve(cfg, args.listen or cfg.web.listen_address))
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
