"""Command line: `kafka-cluster-exporter [run] --config FILE`. Exit 2 on any error the user can fix."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys

from aiohttp import web

from exporter import __version__
from exporter.analysis.violations import Violation, violations
from exporter.collect import ClusterCollector
from exporter.config import Config, ConfigError, load_config
from exporter.runner import ClusterRunner
from exporter.server import make_app

log = logging.getLogger("exporter")
SHUTDOWN_WAIT_SECONDS = 1.0
# The client libraries' own loggers: they log every retry and reconnect, which reach us as recorded errors
# (counted, and logged once per outage); their chatter is shown only at log_level: debug.
CLIENT_LOGGERS = ("kafka", "librdkafka", "kazoo")


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
    check = sub.add_parser(
        "check",
        help="collect once and print every policy violation and at-risk partition; "
        "exit 1 if there is any, 0 if clean, 2 on error",
    )
    check.add_argument("--config", "-c", help="YAML config file (see README)")
    check.add_argument("--cluster", help="check only this cluster (default: all configured)")
    return p


def reload_config(path: str, runners: dict[str, ClusterRunner]) -> None:
    """SIGHUP: re-read the config file and apply what can change in place (each cluster's policy and
    reassignment settings); a bad file changes nothing. Other changes are named and wait for a restart."""
    try:
        new = load_config(path)
    except ConfigError as e:
        log.error("config reload: %s; still running the previous config", e)
        return
    by_name = {c.name: c for c in new.clusters}
    for name, runner in runners.items():
        if name not in by_name:
            log.warning("config reload: cluster %s is no longer in %s; it is removed at the next restart", name, path)
            continue
        pending = runner.reload(by_name[name])
        log.info(
            "config reload: cluster %s: policy and reassignment settings applied%s",
            name,
            f"; changes to {', '.join(pending)} take effect at the next restart" if pending else "",
        )
    for name in sorted(set(by_name) - set(runners)):
        log.warning("config reload: cluster %s is new in %s; it is watched from the next restart", name, path)


async def serve(cfg: Config, listen: str, path: str | None = None) -> None:
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
    if path is not None:
        loop.add_signal_handler(signal.SIGHUP, reload_config, path, runners)
    await stop.wait()
    log.info("shutting down")
    for t in tasks:
        t.cancel()
    for t in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await t
    await app_runner.cleanup()

    # Kubernetes kills 30 s after SIGTERM: give in-flight collections a moment, no more. A call to a hung or
    # unreachable broker can hold its thread for a whole request timeout, and Python (asyncio.run included)
    # would wait for it at exit: then end the process at once. Nothing is lost: no state outlives it.
    def close_all() -> bool:
        return all([r.close(SHUTDOWN_WAIT_SECONDS) for r in runners.values()])

    try:
        closed = await asyncio.wait_for(asyncio.to_thread(close_all), SHUTDOWN_WAIT_SECONDS + 0.5)
    except TimeoutError:
        closed = False
    if not closed:
        log.info("exiting without waiting for calls still in flight")
        logging.shutdown()
        os._exit(0)


def run_check(cfg: Config, only: str | None) -> int:
    clusters = [c for c in cfg.clusters if only is None or c.name == only]
    if not clusters:
        names = ", ".join(c.name for c in cfg.clusters)
        print(f"error: --cluster {only!r} is not in the config (configured: {names})", file=sys.stderr)
        return 2
    worst = 0
    for c in clusters:
        try:
            collector = ClusterCollector(c)
        except ValueError as e:
            print(f"error: clusters.client: {e}", file=sys.stderr)
            return 2
        try:
            snap = collector.collect()
        finally:
            collector.close()
        print(f"cluster {c.name} ({c.bootstrap_servers})")
        if snap.brokers is None:
            reason = "; ".join(f"{err.call}: {err.message}" for err in snap.errors) or "no answer"
            print(f"  error: the cluster could not be read: {reason}", file=sys.stderr)
            worst = 2
            continue
        for err in snap.errors:
            print(f"  note: {err.source} {err.call} failed, so checks that need it were skipped: {err.message}")
        rows = violations(snap, c.policy)
        print(format_violations(rows))
        if rows and worst == 0:
            worst = 1
    return worst


def format_violations(rows: list[Violation]) -> str:
    if not rows:
        return "  no violations: every check passed"
    head = ("SEVERITY", "KIND", "SUBJECT", "DETAIL")
    table = [head, *((v.severity, v.kind, v.subject, v.detail) for v in rows)]
    widths = [max(len(r[i]) for r in table) for i in range(3)]
    lines = ["  " + "  ".join(r[i].ljust(widths[i]) for i in range(3)) + "  " + r[3] for r in table]
    return "\n".join(lines)


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
        for name in CLIENT_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)
    if args.command == "check":
        # One collection: the table says what failed.
        logging.getLogger("exporter").setLevel(logging.ERROR)
        return run_check(cfg, args.cluster)
    try:
        asyncio.run(serve(cfg, args.listen or cfg.web.listen_address, args.config))
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
