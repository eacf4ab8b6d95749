"""Static checks of the shipped alerting rules, Alertmanager example, runbooks and dashboards.

No Prometheus server is needed: promtool checks and unit-tests the rules, amtool checks the Alertmanager
config and its routing, and every PromQL expression (rules, annotation templates, dashboard queries) must
parse and use only metric names the exporter defines (plus Prometheus' own `up` and `ALERTS`).
tests/integration/test_alerting_live.py runs the same rules and queries against a real Prometheus.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboards import generate
from exporter.concerns import all_definitions
from harness.demo import DEMO_FOR, DEMO_RULE_CHANGES
from harness.monitoring import rules_copy

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "alerts" / "kafka-cluster-exporter.rules.yml"
AM_EXAMPLE = ROOT / "alerts" / "alertmanager.example.yml"
RULE_TESTS = sorted((ROOT / "tests" / "rules").glob("*.test.yml"))
RUNBOOKS = ROOT / "docs" / "runbooks"
RUNBOOK_BASE = "https://github.com/OWNER/kafka-cluster-exporter/blob/main/"
PROMETHEUS_OWN = frozenset({"up", "ALERTS"})
SEVERITIES = ("critical", "warning", "info")


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not installed (scripts/setup.sh installs it from Debian's packages)"
    return path


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False, cwd=ROOT)


@cache
def rule_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load(RULES.read_text())["groups"]
    return groups


def alert_rules() -> list[dict[str, Any]]:
    return [r for g in rule_groups() for r in g["rules"] if "alert" in r]


ALERT_NAMES = [r["alert"] for r in alert_rules()]


def exporter_metrics() -> frozenset[str]:
    return frozenset(d.name for d in all_definitions())


# --- PromQL metric names ------------------------------------------------------------------------------

_LABEL_LISTS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless"})
_KEYWORDS |= frozenset({"offset", "bool", "inf", "nan", "atan2"})


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects: identifiers that are not functions, keywords, label names
    (in matchers or in by/on/... lists), strings, durations or numbers."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    e = re.sub(r"\{[^{}]*\}", " ", e)  # label matchers
    e = re.sub(r"\[[^\[\]]*\]", " ", e)  # ranges and subqueries
    e = _LABEL_LISTS.sub(" ", e)
    names = set()
    for m in re.finditer(r"(?<![\w:.])([A-Za-z_:][\w:]*)(\s*\()?", e):
        word, call = m.group(1), m.group(2)
        if not call and word.lower() not in _KEYWORDS:
            names.add(word)
    return names


def test_metric_name_extraction() -> None:
    expr = (
        'count by (cluster, topic) (max by (cluster, topic, partition) (kafka_partition_at_min_isr{topic=~"a|b"}) '
        "== 1 and on (cluster, topic, partition) kafka_partition_under_replicated offset 5m) "
        "or sum(rate(kafka_exporter_collection_errors_total[5m])) by (source) > 6 * 3600 "
        "unless on (cluster) up * on (group) group_left (state, type) kafka_consumer_group_info or vector(0)"
    )
    assert metric_names(expr) == {
        "kafka_partition_at_min_isr",
        "kafka_partition_under_replicated",
        "kafka_exporter_collection_errors_total",
        "up",
        "kafka_consumer_group_info",
    }


def annotation_queries(rule: dict[str, Any]) -> list[str]:
    """PromQL that annotation templates run with `query` (the printf format strings, %q filled in)."""
    out = []
    for text in rule.get("annotations", {}).values():
        for fmt in re.findall(r'printf\s+"((?:[^"\\]|\\.)*)"[^}]*\|\s*query', text):
            out.append(fmt.replace('\\"', '"').replace("%q", '"x"'))
    return out


# --- Rules ----------------------------------------------------------------------------------------------


def test_promtool_check_rules() -> None:
    r = run(tool("promtool"), "check", "rules", str(RULES))
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"SUCCESS: {sum(len(g['rules']) for g in rule_groups())} rules found" in r.stdout


def test_promtool_rule_unit_tests() -> None:
    assert RULE_TESTS, "no tests/rules/*.test.yml"
    r = run(tool("promtool"), "test", "rules", *map(str, RULE_TESTS))
    assert r.returncode == 0, r.stdout + r.stderr


def test_at_least_the_alerts_the_issue_asks_for() -> None:
    wanted = {
        "KafkaBrokerMissing",
        "KafkaOfflinePartitions",
        "KafkaUnderMinIsrPartitions",
        "KafkaAtMinIsrPartitions",
        "KafkaUnderReplicatedPartitions",
        "KafkaTopicReplicationFactorDrift",
        "KafkaTopicMinInsyncReplicasDrift",
        "KafkaBrokerSettingDrift",
        "KafkaRackLossExposure",
        "KafkaConsumerGroupLagHigh",
        "KafkaConsumerGroupStalled",
        "KafkaNoActiveController",
        "KafkaControllerFlapping",
        "KafkaReassignmentStalled",
        "KafkaReassignmentRunningLong",
        "KafkaReplicationThrottleLeftBehind",
        "KafkaExporterDown",
        "KafkaExporterSnapshotStale",
        "KafkaExporterCollectionErrors",
    }
    assert wanted <= set(ALERT_NAMES), wanted - set(ALERT_NAMES)
    assert len(ALERT_NAMES) == len(set(ALERT_NAMES)), "an alert name is used twice"


@pytest.mark.parametrize("rule", alert_rules(), ids=ALERT_NAMES)
def test_rule_is_complete(rule: dict[str, Any]) -> None:
    name = rule["alert"]
    assert re.fullmatch(r"[1-9]\d*[smh]", str(rule.get("for", ""))), f"{name}: needs a non-zero for:"
    assert rule.get("labels", {}).get("severity") in SEVERITIES, f"{name}: severity must be one of {SEVERITIES}"
    ann = rule.get("annotations", {})
    assert set(ann) == {"summary", "description", "runbook_url"}, f"{name}: annotations {sorted(ann)}"
    for key in ("summary", "description"):
        assert "$labels.cluster" in ann[key], f"{name}: {key} must name the cluster"
    # The alert's identity is named in its description: the labels of the outermost aggregation, or the
    # exporter instance for the exporter's own, unaggregated alerts.
    outer = re.match(r"\(?\s*(?:max|count|sum|min) by \(([^)]*)\)", rule["expr"])
    identity = set(re.findall(r"\w+", outer[1])) - {"cluster"} if outer else {"instance"}
    for label in identity:
        assert f"$labels.{label}" in ann["description"], f"{name}: description must name the {label}"


@pytest.mark.parametrize("rule", alert_rules(), ids=ALERT_NAMES)
def test_runbook_exists_and_explains(rule: dict[str, Any]) -> None:
    url: str = rule["annotations"]["runbook_url"]
    assert url.startswith(RUNBOOK_BASE), url
    path = ROOT / url.removeprefix(RUNBOOK_BASE)
    assert path.parent == RUNBOOKS and path.is_file(), f"{rule['alert']}: no runbook at {path}"
    text = path.read_text()
    assert text.startswith(f"# {rule['alert']}\n"), f"{path.name} must start with '# {rule['alert']}'"
    for section in ("## What it means", "## How to confirm", "## What to do"):
        assert section in text, f"{path.name}: missing {section!r}"
    assert f"**Severity:** {rule['labels']['severity']}" in text, f"{path.name}: states another severity"


def test_one_runbook_per_alert_and_no_orphans() -> None:
    urls = [r["annotations"]["runbook_url"].removeprefix(RUNBOOK_BASE) for r in alert_rules()]
    assert len(urls) == len(set(urls)), "two alerts share a runbook"
    pages = {f"docs/runbooks/{p.name}" for p in RUNBOOKS.glob("*.md") if p.name != "README.md"}
    assert pages == set(urls), f"runbooks without alert: {pages - set(urls)}"
    index = (RUNBOOKS / "README.md").read_text()
    for r in alert_rules():
        assert f"| {r['alert']} | {r['labels']['severity']} |" in index, f"{r['alert']} not in runbooks index"


def test_thresholds_table_matches_the_rules() -> None:
    """alerts/README.md documents every alert with the severity and for: the rules really have."""
    rows = {
        m[0]: (m[1], m[2])
        for m in re.findall(
            r"^\| (Kafka\w+) \| (\w+) \| .* \| (\w+) \|$", (ROOT / "alerts/README.md").read_text(), re.M
        )
    }
    assert rows == {r["alert"]: (r["labels"]["severity"], r["for"]) for r in alert_rules()}


def test_every_alert_has_a_firing_and_a_quiet_promtool_case() -> None:
    firing: dict[str, list[dict[str, Any]]] = {}
    quiet: set[str] = set()
    for path in RULE_TESTS:
        doc = yaml.safe_load(path.read_text())
        assert doc["rule_files"] == ["../../alerts/kafka-cluster-exporter.rules.yml"], f"{path.name} tests other rules"
        for t in doc["tests"]:
            for case in t.get("alert_rule_test", []):
                if case.get("exp_alerts"):
                    firing.setdefault(case["alertname"], []).extend(case["exp_alerts"])
                else:
                    quiet.add(case["alertname"])
    assert set(ALERT_NAMES) - set(firing) == set(), "alerts never tested firing"
    assert set(ALERT_NAMES) - quiet == set(), "alerts never tested quiet"
    rules = {r["alert"]: r for r in alert_rules()}
    for name, expected in firing.items():
        for alert in expected:
            # Exact annotations and the severity: a case cannot pass with a wrong runbook or severity.
            assert set(alert["exp_annotations"]) == {"summary", "description", "runbook_url"}, name
            assert alert["exp_labels"]["severity"] == rules[name]["labels"]["severity"], name
            assert "cluster" in alert["exp_labels"], name


@pytest.mark.parametrize("rule", alert_rules(), ids=ALERT_NAMES)
def test_rule_uses_only_exporter_metrics(rule: dict[str, Any]) -> None:
    known = exporter_metrics() | PROMETHEUS_OWN
    used = metric_names(rule["expr"])
    assert used, f"{rule['alert']}: no metric found in its expression"
    assert used <= known, f"{rule['alert']}: unknown metrics {sorted(used - known)}"
    for q in annotation_queries(rule):
        assert metric_names(q) <= known, f"{rule['alert']}: annotation query {q!r} uses unknown metrics"


def test_annotation_queries_parse(tmp_path: Path) -> None:
    exprs = [q for r in alert_rules() for q in annotation_queries(r)]
    assert exprs, "expected the drift alerts to look up actual and desired values"
    assert_parse(tmp_path, exprs)


# --- Alertmanager ---------------------------------------------------------------------------------------


def test_amtool_check_config() -> None:
    r = run(tool("amtool"), "check-config", str(AM_EXAMPLE))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["severity=critical", "alertname=KafkaBrokerMissing", "cluster=prod"], "kafka-pager"),
        (["severity=critical", "alertname=KafkaExporterDown", "cluster=prod"], "kafka-pager"),
        (["severity=warning", "alertname=KafkaUnderReplicatedPartitions", "cluster=prod"], "kafka-team"),
        (["severity=info", "alertname=KafkaReassignmentRunningLong", "cluster=prod"], "kafka-info"),
        (["alertname=SomethingElse"], "kafka-team"),
    ],
)
def test_amtool_routes(labels: list[str], receiver: str) -> None:
    r = run(
        tool("amtool"),
        "config",
        "routes",
        "test",
        f"--config.file={AM_EXAMPLE}",
        f"--verify.receivers={receiver}",
        *labels,
    )
    assert r.returncode == 0, f"{labels} routed to {r.stdout.strip()}, expected {receiver}"


def _alertnames(matchers: list[str]) -> set[str]:
    out: set[str] = set()
    for m in matchers:
        found = re.fullmatch(r'alertname\s*(=~|=)\s*"([^"]*)"', m)
        assert found, f"matcher {m!r}: inhibitions here match on alertname"
        out |= set(found[2].split("|"))
    return out


def inhibit_rules() -> Iterator[tuple[set[str], set[str], list[str]]]:
    for rule in yaml.safe_load(AM_EXAMPLE.read_text())["inhibit_rules"]:
        yield _alertnames(rule["source_matchers"]), _alertnames(rule["target_matchers"]), rule["equal"]


def test_inhibitions_name_real_alerts_and_never_mute_data_loss() -> None:
    for sources, targets, equal in inhibit_rules():
        assert (sources | targets) <= set(ALERT_NAMES), (
            f"unknown alerts in inhibition: {(sources | targets) - set(ALERT_NAMES)}"
        )
        assert "cluster" in equal, "an inhibition must stay within one cluster"
        assert not sources & targets
    muted_by_broker = {t for s, ts, _ in inhibit_rules() if "KafkaBrokerMissing" in s for t in ts}
    assert {"KafkaUnderReplicatedPartitions", "KafkaConsumerGroupLagHigh"} <= muted_by_broker
    # Writes failing now must page even when a missing broker explains them.
    assert not muted_by_broker & {"KafkaOfflinePartitions", "KafkaUnderMinIsrPartitions", "KafkaNoActiveController"}


# --- Dashboards -----------------------------------------------------------------------------------------


@cache
def dashboard_files() -> dict[str, dict[str, Any]]:
    return {b.file: json.loads((ROOT / "dashboards" / b.file).read_text()) for b in generate.boards()}


def json_queries(d: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expr) of every query Grafana would run for the dashboard, read from the JSON."""
    out = [(p["title"], t["expr"]) for p in d["panels"] for t in p.get("targets", [])]
    out += [(f"annotation: {a['name']}", a["expr"]) for a in d.get("annotations", {}).get("list", []) if "expr" in a]
    return out


def test_dashboards_regenerate_identically() -> None:
    for b in generate.boards():
        committed = (ROOT / "dashboards" / b.file).read_text()
        assert committed == generate.render(b.json()), (
            f"dashboards/{b.file} is stale: run python -m dashboards.generate"
        )
    assert {p.name for p in (ROOT / "dashboards").glob("*.json")} == {b.file for b in generate.boards()}


def test_three_dashboards() -> None:
    titles = {d["title"] for d in dashboard_files().values()}
    assert titles == {"Kafka / Cluster overview", "Kafka / Migration & reassignments", "Kafka / Consumer lag"}
    assert len({d["uid"] for d in dashboard_files().values()}) == 3


@pytest.mark.parametrize("file", [b.file for b in generate.boards()])
def test_dashboard_variables_units_and_datasource(file: str) -> None:
    d = dashboard_files()[file]
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert variables["cluster"]["type"] == "query" and "cluster)" in variables["cluster"]["query"]
    panels = [p for p in d["panels"] if p["type"] != "row"]
    assert panels
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for p in panels:
        assert p["fieldConfig"]["defaults"].get("unit") in generate.UNITS, f"{p['title']}: unit"
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        assert p.get("description"), f"{p['title']}: description"
        assert p["targets"], f"{p['title']}: no query"
        for t in p["targets"]:
            assert 'cluster="$cluster"' in t["expr"], f"{p['title']}: {t['expr']} ignores the cluster variable"
    for _, expr in json_queries(d):
        assert 'cluster="$cluster"' in expr


def test_dashboard_json_and_generator_queries_agree() -> None:
    in_json = sorted((f, title, e) for f, d in dashboard_files().items() for title, e in json_queries(d))
    in_code = sorted((q.dashboard, q.panel, q.query.expr) for q in generate.queries())
    assert in_json == in_code


def test_dashboard_queries_use_only_exporter_metrics() -> None:
    known = exporter_metrics() | PROMETHEUS_OWN
    for q in generate.queries():
        used = metric_names(generate.expand(q.query.expr, {"cluster": "x", **generate.TEST_VARIABLES}))
        assert used, f"{q.panel}: no metric in {q.query.expr}"
        assert used <= known, f"{q.dashboard} / {q.panel}: unknown metrics {sorted(used - known)}"


def test_dashboard_queries_parse(tmp_path: Path) -> None:
    exprs = [generate.expand(q.query.expr, {"cluster": "x", **generate.TEST_VARIABLES}) for q in generate.queries()]
    assert not [e for e in exprs if "$" in e], "a Grafana variable was left unexpanded"
    assert_parse(tmp_path, exprs)


def test_required_dashboard_content() -> None:
    """The panels the issue asks for, by what they query."""
    exprs = {f: " ".join(e for _, e in json_queries(d)) for f, d in dashboard_files().items()}
    migration = exprs["kafka-migration.json"]
    for metric in (
        "kafka_brokers_expected",
        "kafka_broker_replicas",
        "kafka_broker_leaders",
        "kafka_reassignment_partitions",
        "kafka_reassignment_stalled_partitions",
        "kafka_reassignment_remaining_bytes",
        "kafka_reassignment_eta_seconds",
        "kafka_controller_id",
        "kafka_topic_under_replicated_partitions",
        "kafka_topic_under_min_isr_partitions",
        "kafka_partition_at_min_isr",
        "kafka_topic_replication_factor_drift",
    ):
        assert metric in migration, metric
    lag = exprs["kafka-consumer-lag.json"]
    for metric in (
        "topk(10, max by (group) (kafka_consumer_group_topic_lag_seconds",
        "kafka_consumer_group_topic_lag{",
        "kafka_consumer_group_verdict",
        "kafka_consumer_group_lag_seconds",
    ):
        assert metric in lag, metric


def assert_parse(tmp_path: Path, exprs: list[str]) -> None:
    """promtool parses each expression (as a recording rule): a syntax error names the expression."""
    rules = {"groups": [{"name": "parse", "rules": [{"record": f"q:{i}", "expr": e} for i, e in enumerate(exprs)]}]}
    path = tmp_path / "queries.rules.yml"
    path.write_text(yaml.safe_dump(rules))
    r = run(tool("promtool"), "check", "rules", str(path))
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_demos_rules_differ_from_the_shipped_ones_only_as_it_says(tmp_path: Path) -> None:
    """harness.demo prints that its copy sets every for: to DEMO_FOR and the lag threshold to 30 s: so it is
    (rules_copy itself checks that nothing else differs), and promtool accepts it."""
    path = rules_copy(tmp_path, DEMO_FOR, DEMO_RULE_CHANGES)
    copy = {r["alert"]: r for g in yaml.safe_load(path.read_text())["groups"] for r in g["rules"] if "alert" in r}
    assert {r["for"] for r in copy.values()} == {DEMO_FOR}
    lag = copy["KafkaConsumerGroupLagHigh"]
    assert lag["expr"].rstrip().endswith("> 30") and "(threshold 30s in this demo)" in lag["annotations"]["description"]
    r = run(tool("promtool"), "check", "rules", str(path))
    assert r.returncode == 0, r.stdout + r.stderr
    with pytest.raises(AssertionError, match="not in KafkaConsumerGroupLagHigh"):
        rules_copy(tmp_path, DEMO_FOR, {"KafkaConsumerGroupLagHigh": [("> 301", "> 30")]})
