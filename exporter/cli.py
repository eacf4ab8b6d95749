"""Command line: `kafka-cluster-exporter [run] --config FILE`. Exit 2 on any error the user can fix."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from exporter import __version__
from exporter.analysis.drain_plan import plan_drain
from exporter.analysis.gate import GateError, StopVerdict, brokers_of, stop_verdict
from exporter.analysis.rf_plan import RfPlan, plan_replication_factor
from exporter.analysis.violations import Violation, violations
from exporter.collect import ClusterCollector
from exporter.config import ClusterConfig, Config, ConfigError, load_config
from exporter.interpreter import tune_for_serving
from exporter.model import ClusterSnapshot
from exporter.redact import redact_logs
from exporter.runner import ClusterRunner
from exporter.serving import Feed, fork_server, listen_sockets, watch_exit
from exporter.sources.zookeeper import quiet_connection_loop_deaths
from exporter.web_config import WebSecurity, load_web_config, ssl_context

log = logging.getLogger("exporter")
SHUTDOWN_WAIT_SECONDS = 1.0
# The serving process answers the requests in hand once its pipe is closed, then exits.
SERVER_EXIT_WAIT_SECONDS = 5.0
DEFAULT_THROTTLE = 10_000_000  # bytes/s per receiving broker, for `plan drain`'s duration estimates
# The client libraries' own loggers: they log every retry and reconnect, which reach us as recorded errors
# (counted, and logged once per outage); their chatter is shown only at log_level: debug.
CLIENT_LOGGERS = ("kafka", "librdkafka", "kazoo")


def _one_shot(sub: Any, name: str, help: str) -> argparse.ArgumentParser:
    """A command that collects once: --config, and --cluster (required by those about one cluster when several
    are configured)."""
    q: argparse.ArgumentParser = sub.add_parser(name, help=help)
    # SUPPRESS: a --config given before the command (the image's ENTRYPOINT does) is not reset to None by it.
    q.add_argument("--config", "-c", default=argparse.SUPPRESS, help="YAML config file (see README)")
    q.add_argument("--cluster", help="the cluster (default for check: all configured; else the only one)")
    return q


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kafka-cluster-exporter", description="Prometheus exporter for Apache Kafka clusters."
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command")
    run = sub.add_parser("run", help="collect in the background and serve /metrics (the default)")
    for q, default in ((p, None), (run, argparse.SUPPRESS)):  # `--config X run` keeps X (see _one_shot)
        q.add_argument("--config", "-c", default=default, help="YAML config file (see README)")
        q.add_argument("--listen", default=default, help="host:port to listen on; overrides web.listen_address")
        q.add_argument(
            "--web.config.file",
            dest="web_config",
            default=default,
            metavar="FILE",
            help="TLS and basic auth for the endpoint, in the format every Prometheus exporter shares",
        )
    check = _one_shot(
        sub,
        "check",
        "collect once and print every policy violation and at-risk partition; "
        "exit 1 if there is any, 0 if clean, 2 on error",
    )
    stop = check.add_mutually_exclusive_group()
    stop.add_argument(
        "--stop-broker",
        type=int,
        metavar="ID",
        help="instead: exit 0 if stopping this broker now leaves every partition writable with acks=all, else 1 "
        "listing the partitions that would not be (for scripts that restart brokers one at a time)",
    )
    stop.add_argument("--stop-rack", metavar="NAME", help="the same for every live broker of a rack (a zone)")
    plan = sub.add_parser(
        "plan", help="print a reassignment plan for Kafka's kafka-reassign-partitions (never runs it)"
    )
    kind = plan.add_subparsers(dest="plan", required=True)
    rf = _one_shot(
        kind,
        "replication-factor",
        "bring every topic whose RF differs from the policy to it: JSON on stdout, a summary on stderr",
    )
    rf.add_argument("--topics", nargs="+", default=(), metavar="REGEX", help="only topics whose whole name matches")
    rf.add_argument("--batch-size", type=int, metavar="N", help="at most N partitions per reassignment file")
    rf.add_argument("--output-dir", metavar="DIR", help="write plan-001.json, ... there instead of stdout")
    drain = _one_shot(
        kind,
        "drain",
        "move every replica off some brokers onto others in steps that keep min.insync.replicas replicas on "
        "brokers holding the data: one reassignment file per step",
    )
    drain.add_argument("--from", dest="drained", required=True, metavar="IDS", help="brokers to empty, e.g. 1001,1002")
    drain.add_argument("--to", dest="targets", required=True, metavar="IDS", help="brokers to move to, e.g. 0,1,2")
    drain.add_argument("--output-dir", required=True, metavar="DIR", help="where drain-step-1.json, ... go")
    drain.add_argument(
        "--throttle", type=int, default=DEFAULT_THROTTLE, metavar="BYTES_PER_S", help="for the duration estimates"
    )
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


def bind(listen: str) -> list[socket.socket]:
    host, _, port = listen.rpartition(":")
    try:
        return listen_sockets(host.strip("[]") or "0.0.0.0", int(port))
    except (OSError, ValueError) as e:
        why = e.strerror if isinstance(e, OSError) else f"{port!r} is not a port number"
        raise ConfigError(f"web.listen_address: cannot listen on {listen}: {why}") from None


async def serve(cfg: Config, listen: str, feed: Feed, path: str | None = None, how: str = "http") -> int:
    """Collect in the background and feed the serving process (forked already: see exporter/serving.py) until
    SIGINT or SIGTERM (0), or until the serving process ends on its own (1: the exporter must be restarted)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    failed: list[str] = []

    def server_ended(why: str) -> None:
        if not stop.is_set():
            log.error("the process serving /metrics ended (%s); exiting", why)
            failed.append(why)
            stop.set()

    ended = watch_exit(feed.pid, loop, server_ended)
    try:
        try:
            runners = {c.name: ClusterRunner(c) for c in cfg.clusters}
        except ValueError as e:
            raise ConfigError(f"clusters.client: {e}") from None
        for r in runners.values():
            feed.send(r.cfg.name, r.rendered, r.ready)
            r.on_publish = feed.send
        log.info(
            "kafka-cluster-exporter %s listening on %s (%s) for clusters %s",
            __version__,
            listen,
            how,
            ", ".join(runners),
        )
        tasks = [asyncio.create_task(r.run_forever(), name=f"collect-{n}") for n, r in runners.items()]
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
    finally:
        stop.set()  # from here the serving process's end is expected
        feed.close()  # it reads end-of-file, answers what it has in hand and exits
        try:
            await asyncio.wait_for(asyncio.shield(ended), SERVER_EXIT_WAIT_SECONDS)
        except TimeoutError:
            os.kill(feed.pid, signal.SIGKILL)
    status = 1 if failed else 0

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
        os._exit(status)
    return status


def run_gate(cfg: Config, only: str | None, broker: int | None, rack: str | None) -> int:
    """check --stop-broker / --stop-rack: one collection, then the verdict. Exit 0 safe, 1 not, 2 cannot tell."""
    got = collect_one(cfg, only)
    if got is None:
        return 2
    c, snap = got
    try:
        target, brokers = brokers_of(snap, broker=broker, rack=rack)
        v = stop_verdict(snap, c.policy, target, brokers)
    except GateError as e:
        reason = "; ".join(f"{err.call}: {err.message}" for err in snap.errors[:3])
        print(f"error: cluster {c.name}: {e}" + (f" ({reason})" if reason else ""), file=sys.stderr)
        return 2
    print(format_verdict(c.name, v))
    if v.min_isr_unknown:
        return 2
    return 0 if v.safe else 1


def format_verdict(cluster: str, v: StopVerdict) -> str:
    head = f"cluster {cluster}: stopping {v.target} (brokers {', '.join(map(str, v.brokers))}) now"
    if v.min_isr_unknown:
        return f"{head}: cannot tell: min.insync.replicas of some topics was not read (see the log); do not stop"
    if v.safe:
        return f"{head}: SAFE: every partition stays writable with acks=all"
    rows = [
        *((t, p, "would go offline (no in-sync replica left to lead)") for t, p in v.would_go_offline),
        *((t, p, "would fall under min.insync.replicas (acks=all writes fail)") for t, p in v.would_go_under_min_isr),
        *((t, p, "already offline or under min.insync.replicas") for t, p in v.already_unwritable),
    ]
    n = len(v.would_go_offline) + len(v.would_go_under_min_isr)
    lines = [
        f"{head}: NOT SAFE: {n} partitions would stop taking acks=all writes, {len(v.already_unwritable)} already do"
    ]
    width = max(len(t) for t, _, _ in rows)
    lines += [f"  {t.ljust(width)}  {p:>4}  {why}" for t, p, why in rows]
    return "\n".join(lines)


def collect_one(cfg: Config, only: str | None) -> tuple[ClusterConfig, ClusterSnapshot] | None:
    """One collection of the one cluster a command is about; None (with the error printed) if it cannot be read."""
    clusters = [c for c in cfg.clusters if only is None or c.name == only]
    if len(clusters) != 1:
        names = ", ".join(c.name for c in cfg.clusters)
        print(f"error: name one cluster with --cluster (configured: {names})", file=sys.stderr)
        return None
    c = clusters[0]
    try:
        collector = ClusterCollector(c)
    except ValueError as e:
        print(f"error: clusters.client: {e}", file=sys.stderr)
        return None
    try:
        snap = collector.collect()
    finally:
        collector.close()
    if snap.brokers is None or snap.topics is None:
        reason = "; ".join(f"{err.call}: {err.message}" for err in snap.errors[:3]) or "no answer"
        print(f"error: cluster {c.name} could not be read: {reason}", file=sys.stderr)
        return None
    return c, snap


def broker_ids(text: str, flag: str) -> set[int] | None:
    try:
        ids = {int(x) for x in text.split(",") if x.strip()}
    except ValueError:
        ids = set()
    if not ids:
        print(f"error: {flag} wants broker ids separated by commas, e.g. 1001,1002 (got {text!r})", file=sys.stderr)
        return None
    return ids


def run_plan_drain(cfg: Config, args: argparse.Namespace) -> int:
    drained, targets = broker_ids(args.drained, "--from"), broker_ids(args.targets, "--to")
    if drained is None or targets is None:
        return 2
    if drained & targets or args.throttle < 1:
        print("error: --from and --to must not share brokers, and --throttle must be positive", file=sys.stderr)
        return 2
    got = collect_one(cfg, args.cluster)
    if got is None:
        return 2
    c, snap = got
    plan = plan_drain(snap, c.policy, drained, sorted(targets))
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"cluster {c.name}: drain {sorted(drained)} onto {sorted(targets)} in {len(plan.steps)} steps"]
    for i, step in enumerate(plan.steps, 1):
        path = out / f"drain-step-{i}.json"
        path.write_text(json.dumps(step.document(), indent=1) + "\n")
        per = ", ".join(f"{b}: {n}" for b, n in sorted(step.bytes_to.items()))
        lines.append(
            f"  step {i}: {path} moves {len(step.moves)} partitions; bytes per receiving broker {{{per}}}; "
            f"at --throttle {args.throttle} about {step.seconds_at(args.throttle):.1f} s"
        )
    lines.append(f"  preferred leaders after: {dict(sorted(plan.leaders_after.items()))}")
    if plan.unknown_size:
        lines.append(f"  {plan.unknown_size} moved replicas have no size (their log dirs were not read)")
    lines += [f"  note: {n}" for n in plan.notes]
    lines.append(
        "  run each step with kafka-reassign-partitions --execute --throttle, wait for --verify to report it "
        "complete (which also clears the throttle), check that nothing is under min ISR, then the next"
    )
    print("\n".join(lines), file=sys.stderr)
    return 0


def run_plan_rf(cfg: Config, args: argparse.Namespace) -> int:
    got = collect_one(cfg, args.cluster)
    if got is None:
        return 2
    c, snap = got
    if args.batch_size is not None and args.batch_size < 1:
        print("error: --batch-size must be 1 or more", file=sys.stderr)
        return 2
    plan = plan_replication_factor(snap, c.policy, args.topics)
    docs = plan.batches(args.batch_size)
    if args.output_dir:
        out = Path(args.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        for i, doc in enumerate(docs, 1):
            (out / f"plan-{i:03d}.json").write_text(json.dumps(doc, indent=1) + "\n")
    elif len(docs) > 1:
        print("error: --batch-size makes several files: give --output-dir", file=sys.stderr)
        return 2
    else:
        print(json.dumps(docs[0]))
    print(rf_summary(c.name, plan, len(docs)), file=sys.stderr)
    return 0


def rf_summary(cluster: str, plan: RfPlan, files: int) -> str:
    ids = sorted(set(plan.replicas_before) | set(plan.replicas_after))
    lines = [f"cluster {cluster}: {len(plan.moves)} partitions change, in {files} reassignment file(s)"]
    lines.append("  broker  replicas before -> after  preferred leaders before -> after  bytes to copy in")
    for b in ids:
        lines.append(
            f"  {b:>6}  {plan.replicas_before[b]:>7} -> {plan.replicas_after[b]:<7}"
            f"  {plan.leaders_before[b]:>17} -> {plan.leaders_after[b]:<15}  {plan.bytes_to[b]}"
        )
    if plan.unknown_size:
        lines.append(f"  {plan.unknown_size} added replicas have no size (their log dirs were not read)")
    lines += [f"  note: {n}" for n in plan.notes]
    lines.append(
        "  apply with kafka-reassign-partitions --execute --throttle BYTES_PER_SECOND, then "
        "kafka-leader-election --election-type PREFERRED for the leaders"
    )
    return "\n".join(lines)


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
    redact_logs(cfg, logging.getLogger().handlers)
    quiet_connection_loop_deaths()
    if cfg.log_level != "debug":
        for name in CLIENT_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)
    if args.command == "plan":
        logging.getLogger("exporter").setLevel(logging.ERROR)
        return run_plan_rf(cfg, args) if args.plan == "replication-factor" else run_plan_drain(cfg, args)
    if args.command == "check":
        # One collection: the table says what failed.
        logging.getLogger("exporter").setLevel(logging.ERROR)
        if args.stop_broker is not None or args.stop_rack is not None:
            return run_gate(cfg, args.cluster, args.stop_broker, args.stop_rack)
        return run_check(cfg, args.cluster)
    try:
        web_config = getattr(args, "web_config", None)
        security = load_web_config(web_config) if web_config else WebSecurity()
        tls = security.tls_server_config
        context = ssl_context(tls, Path(web_config).parent) if tls is not None and web_config else None
        listen = args.listen or cfg.web.listen_address
        socks = bind(listen)
        tune_for_serving()
        # Before any thread or Kafka client exists (see exporter/serving.py).
        feed = fork_server(socks, context, security, [c.name for c in cfg.clusters])
        how = ("https" if context else "http") + (", basic auth" if security.basic_auth_users else "")
        return asyncio.run(serve(cfg, listen, feed, args.config, how))
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
