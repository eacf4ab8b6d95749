"""A real Prometheus (Debian's `prometheus`) with the shipped rules and a real Alertmanager (Debian's
`prometheus-alertmanager`) with the example's routes and inhibitions, configured from alerts/ for the demo
(harness.demo) and the live alerting tests (tests/integration/test_alerting_live.py).

What differs from the shipped files is chosen by the caller and nothing else changes: every rule's `for:`
(so alerts fire in seconds, not in 15 minutes), optionally a threshold of named rules, the scrape and
evaluation interval, Alertmanager's waits, and its receivers, which become webhooks (one path per receiver).
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import yaml

from harness.tools import die_with_parent_preexec

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "alerts" / "kafka-cluster-exporter.rules.yml"
AM_EXAMPLE = ROOT / "alerts" / "alertmanager.example.yml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def daemon(argv: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A server process that dies with this one: terminated at exit, and SIGKILLed by the kernel if this
    process dies (PR_SET_PDEATHSIG; fork from a thread that lives as long as the process, e.g. the main one)."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the caller only; the caller stops it in order
            preexec_fn=die_with_parent_preexec(),  # noqa: PLW1509 -- only prctl/getppid run before exec
        )
    try:
        yield proc
    finally:
        stop_process(proc)


def stop_process(proc: subprocess.Popen[bytes], grace: float = 10) -> None:
    """SIGTERM, and SIGKILL after `grace` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _alert_rules(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for group in doc["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                yield rule


def rules_copy(tmp: Path, for_: str, replace: Mapping[str, Sequence[tuple[str, str]]] | None = None) -> Path:
    """The shipped rules with every `for:` set to `for_` and, for each alert named in `replace`, each `old`
    replaced by `new` in its expr and annotations (each `old` must occur there); nothing else changes."""
    replace = dict(replace or {})
    edited = set(replace)
    shipped = yaml.safe_load(RULES.read_text())
    rules = yaml.safe_load(RULES.read_text())
    for rule in _alert_rules(rules):
        rule["for"] = for_
        for old, new in replace.pop(rule["alert"], ()):
            texts = [rule["expr"], *rule["annotations"].values()]
            assert any(old in t for t in texts), f"{old!r} not in {rule['alert']}"
            rule["expr"] = rule["expr"].replace(old, new)
            rule["annotations"] = {k: v.replace(old, new) for k, v in rule["annotations"].items()}
    assert not replace, f"no such alerts: {sorted(replace)}"
    for r_shipped, r_copy in zip(_alert_rules(shipped), _alert_rules(rules), strict=True):
        keep = {"for", "expr", "annotations"} if r_copy["alert"] in edited else {"for"}
        assert {k: v for k, v in r_copy.items() if k not in keep} == {
            k: v for k, v in r_shipped.items() if k not in keep
        }
    path = tmp / "rules.yml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False))
    return path


def prometheus_config(tmp: Path, rules: Path, exporter: str, alertmanager: str, *, cluster: str, interval: str) -> Path:
    """Scrapes the exporter at `exporter` (host:port) as the `cluster` target label every `interval` and
    evaluates `rules` as often; alerts go to the Alertmanager at `alertmanager` (host:port)."""
    config = {
        "global": {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval},
        "rule_files": [str(rules)],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": [
            {
                "job_name": "kafka-cluster-exporter",  # KafkaExporterDown selects this job name
                "static_configs": [{"targets": [exporter], "labels": {"cluster": cluster}}],
            }
        ],
    }
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def alertmanager_config(
    tmp: Path, webhook: str, group_wait: str = "1s", group_interval: str = "1s"
) -> tuple[Path, set[str]]:
    """The example's routes and inhibitions with every route's waits shortened; each receiver becomes a
    webhook to WEBHOOK/<receiver name>."""
    config = yaml.safe_load(AM_EXAMPLE.read_text())
    names = {r["name"] for r in config["receivers"]}
    config["receivers"] = [
        {"name": n, "webhook_configs": [{"url": f"{webhook}/{n}", "send_resolved": True}]} for n in sorted(names)
    ]
    routes = [config["route"], *config["route"].get("routes", [])]
    for route in routes:
        for key, value in (("group_wait", group_wait), ("group_interval", group_interval), ("repeat_interval", "1h")):
            if key in route or route is config["route"]:
                route[key] = value
    path = tmp / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    return path, names


@dataclass(frozen=True)
class Stack:
    prometheus: str  # base URLs
    alertmanager: str
    prometheus_proc: subprocess.Popen[bytes]
    alertmanager_proc: subprocess.Popen[bytes]
    logs: Path  # prometheus.log and alertmanager.log are here

    def log_tails(self, chars: int = 3000) -> str:
        return "\n".join(
            f"--- {name} (exit code {proc.poll()}) log tail:\n{(self.logs / f'{name}.log').read_text()[-chars:]}"
            for name, proc in (("prometheus", self.prometheus_proc), ("alertmanager", self.alertmanager_proc))
        )


@contextlib.contextmanager
def monitoring_stack(
    tmp: Path,
    prometheus_config: Path,
    alertmanager_config: Path,
    *,
    prometheus_port: int,
    alertmanager_port: int,
    resend_delay: str = "1s",
) -> Iterator[Stack]:
    """Alertmanager and Prometheus on 127.0.0.1 with these configs, their data and logs in `tmp`; stopped at
    exit. It does not wait for them: see wait_ready."""
    with (
        daemon(
            [
                "prometheus-alertmanager",
                f"--config.file={alertmanager_config}",
                f"--storage.path={tmp / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{alertmanager_port}",
                "--cluster.listen-address=",  # no HA gossip port
                "--log.level=warn",
            ],
            tmp / "alertmanager.log",
        ) as am_proc,
        daemon(
            [
                "prometheus",
                f"--config.file={prometheus_config}",
                f"--storage.tsdb.path={tmp / 'prom-data'}",
                f"--web.listen-address=127.0.0.1:{prometheus_port}",
                f"--rules.alert.resend-delay={resend_delay}",
                "--log.level=warn",
            ],
            tmp / "prometheus.log",
        ) as prom_proc,
    ):
        yield Stack(
            f"http://127.0.0.1:{prometheus_port}", f"http://127.0.0.1:{alertmanager_port}", prom_proc, am_proc, tmp
        )


def wait_ready(stack: Stack, timeout: float) -> None:
    """Blocks until both answer /-/ready (for synchronous callers; the tests poll with aiohttp)."""
    deadline = time.monotonic() + timeout
    for base, proc in ((stack.prometheus, stack.prometheus_proc), (stack.alertmanager, stack.alertmanager_proc)):
        while True:
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{base}/-/ready", timeout=2) as r:
                if r.status == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{base} not ready within {timeout:.0f}s\n{stack.log_tails()}")
            time.sleep(0.5)


# --- watching it from a synchronous program (the demo) ---------------------------------------------------

# Labels every alert has or that the alert's name already says; the rest identify what is wrong.
_QUIET_LABELS = {"alertname", "cluster", "severity", "job", "instance"}


def describe(labels: Mapping[str, str]) -> str:
    """`KafkaX topic=clicks` from an alert's labels."""
    rest = " ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k not in _QUIET_LABELS)
    return f"{labels.get('alertname', '?')} {rest}".rstrip()


def get_json(url: str, **params: str) -> Any:
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    with urllib.request.urlopen(url + query, timeout=5) as r:
        return json.load(r)


def query(prometheus: str, expr: str) -> list[float]:
    """The values of an instant query's result (an empty list when it has none)."""
    return [float(s["value"][1]) for s in get_json(f"{prometheus}/api/v1/query", query=expr)["data"]["result"]]


class AlertWatch:
    """Polls Prometheus's /api/v1/alerts every `every` seconds and reports each alert that starts or stops
    firing to `log` (pending ones are not reported: their for: has not passed)."""

    def __init__(self, prometheus: str, log: Callable[[str], None], every: float = 2.0) -> None:
        self.prometheus = prometheus
        self.log = log
        self.every = every
        self.firing: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alert-watch", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def is_firing(self, name: str, **labels: str) -> bool:
        return any(
            a["alertname"] == name and all(a.get(k) == v for k, v in labels.items()) for a in list(self.firing.values())
        )

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                alerts = get_json(f"{self.prometheus}/api/v1/alerts")["data"]["alerts"]
            except (OSError, ValueError, KeyError):
                continue  # Prometheus is starting or stopping
            now = {tuple(sorted(a["labels"].items())): a["labels"] for a in alerts if a["state"] == "firing"}
            for key in sorted(now.keys() - self.firing.keys()):
                self.log(f"FIRING   {describe(now[key])} ({now[key].get('severity', '?')})")
            for key in sorted(self.firing.keys() - now.keys()):
                self.log(f"RESOLVED {describe(self.firing[key])}")
            self.firing = now
