"""The Helm chart (deploy/helm/kafka-cluster-exporter): lint, render, and check what it renders.

helm comes from `scripts/setup.sh --helm` (built from the Go module proxy into a cache outside the repository, see
helm_binary). Every rendered object is validated: core Kubernetes kinds against the API's schemas
(kubernetes-validate, strict: unknown fields are errors), the Prometheus Operator's ServiceMonitor and
PrometheusRule against tests/unit/schemas/monitoring.coreos.com-v1.json, a minimal hand-written schema (strict on
unknown fields, durations, enums), and against the types generated from the Operator's own CRDs (v0.80.1, as
pydantic models in cloudcoil-models-prometheus-operator): every field's type, and no field the CRD lacks.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pydantic
import pytest
import yaml
from cloudcoil.models.prometheus_operator import v1 as operator

from deploy.helm import generate
from exporter.config import Config, load_config

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "kafka-cluster-exporter"
FULL_VALUES = CHART / "ci" / "full-values.yaml"
CRD_SCHEMAS = Path(__file__).parent / "schemas" / "monitoring.coreos.com-v1.json"
K8S_VERSION = kubernetes_validate.latest_version()  # the newest API the pinned kubernetes-validate knows
SECRETS_DIR = "/etc/kafka-cluster-exporter/secrets"


def helm_binary() -> str | None:
    """$HELM, else where scripts/setup.sh installs it, else one on PATH."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    for candidate in (os.environ.get("HELM"), str(cache / "kafka-cluster-exporter" / "bin" / "helm")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("helm")


HELM = helm_binary()
needs_helm = pytest.mark.skipif(HELM is None, reason="helm not installed: run scripts/setup.sh --helm (it builds helm)")


def helm(*args: str | Path) -> subprocess.CompletedProcess[str]:
    assert HELM is not None
    # Helm's own cache and config under a throwaway home: the tests never touch the user's repositories.
    env = {**os.environ, "HELM_CACHE_HOME": "/tmp/kce-helm/cache", "HELM_CONFIG_HOME": "/tmp/kce-helm/config"}
    return subprocess.run([HELM, *map(str, args)], capture_output=True, text=True, env=env, timeout=60, check=False)


def render(*values: Path, sets: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    args: list[str | Path] = ["template", "kafka-exporter", CHART, "--namespace", "monitoring"]
    for v in values:
        args += ["-f", v]
    for s in sets:
        args += ["--set", s]
    out = helm(*args)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def by_kind(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] == kind]


def exporter_config(objs: list[dict[str, Any]]) -> str:
    (cm,) = [o for o in by_kind(objs, "ConfigMap") if "config.yaml" in o["data"]]
    text: str = cm["data"]["config.yaml"]
    return text


@pytest.fixture(scope="module")
def default_objs() -> list[dict[str, Any]]:
    return render()


@pytest.fixture(scope="module")
def full_objs() -> list[dict[str, Any]]:
    return render(FULL_VALUES)


@pytest.fixture(scope="module")
def crd_validators() -> Iterator[dict[str, jsonschema.Draft202012Validator]]:
    schema = json.loads(CRD_SCHEMAS.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    yield {
        kind: jsonschema.Draft202012Validator({**schema, "$ref": f"#/$defs/{kind}"})
        for kind in ("ServiceMonitor", "PrometheusRule")
    }


def test_chart_copies_match_sources() -> None:
    # deploy/helm/generate.py --check, as scripts/test.sh runs it: the rules and dashboards have one source.
    assert generate.stale() == [], "run python -m deploy.helm.generate"
    assert generate.main(["--check"]) == 0


def test_check_fails_on_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A copy of the sources; generate, then drift each way: an edited rule, a dashboard gone from dashboards/.
    for rel in (generate.RULES, *(Path("dashboards") / p.name for p in (ROOT / "dashboards").glob("*.json"))):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    root = ["--root", str(tmp_path)]
    assert generate.main(["--check", *root]) == 1  # nothing generated yet
    assert generate.main(root) == 0
    assert generate.main(["--check", *root]) == 0
    rules = tmp_path / generate.RULES
    rules.write_text(rules.read_text().replace("for: 5m", "for: 6m", 1))
    assert generate.main(["--check", *root]) == 1
    assert "kafka-cluster-exporter.rules.yml" in capsys.readouterr().err
    assert generate.main(root) == 0
    (tmp_path / "dashboards" / "kafka-migration.json").unlink()
    assert generate.stale(tmp_path) == [str(generate.CHART / "files" / "dashboards" / "kafka-migration.json")]
    assert generate.main(root) == 0
    assert not (tmp_path / generate.CHART / "files" / "dashboards" / "kafka-migration.json").exists()
    assert generate.main(["--check", *root]) == 0


@needs_helm
@pytest.mark.parametrize("values", [None, FULL_VALUES], ids=["default", "full"])
def test_lint(values: Path | None) -> None:
    extra: list[str | Path] = ["-f", values] if values else []
    out = helm("lint", "--strict", CHART, *extra)
    assert out.returncode == 0, out.stdout + out.stderr


@needs_helm
def test_default_render_is_the_exporter_alone(default_objs: list[dict[str, Any]]) -> None:
    assert sorted(o["kind"] for o in default_objs) == ["ConfigMap", "Deployment", "Service"]


@needs_helm
def test_every_object_validates(
    default_objs: list[dict[str, Any]],
    full_objs: list[dict[str, Any]],
    crd_validators: dict[str, jsonschema.Draft202012Validator],
) -> None:
    kinds: dict[str, int] = {}
    for obj in default_objs + full_objs:
        kinds[obj["kind"]] = kinds.get(obj["kind"], 0) + 1
        if obj["apiVersion"].startswith("monitoring.coreos.com/"):
            errors = [f"{list(e.absolute_path)}: {e.message}" for e in crd_validators[obj["kind"]].iter_errors(obj)]
            assert not errors, f"{obj['kind']} {obj['metadata']['name']}: {errors}"
        else:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    # Default: ConfigMap, Deployment, Service; full: those, ServiceMonitor, PrometheusRule, 3 dashboards.
    assert kinds == {"ConfigMap": 5, "Deployment": 2, "Service": 2, "ServiceMonitor": 1, "PrometheusRule": 1}


@needs_helm
def test_crd_schema_rejects_what_the_operator_would_not_take(
    full_objs: list[dict[str, Any]], crd_validators: dict[str, jsonschema.Draft202012Validator]
) -> None:
    # The hand-written schema bites: a misspelt field, a bad duration, a rule with neither alert nor record.
    (sm,) = by_kind(full_objs, "ServiceMonitor")
    bad_sm = json.loads(json.dumps(sm))
    bad_sm["spec"]["endpoints"][0]["intervall"] = "30s"
    assert not crd_validators["ServiceMonitor"].is_valid(bad_sm)
    (rule,) = by_kind(full_objs, "PrometheusRule")
    bad_rule = json.loads(json.dumps(rule))
    bad_rule["spec"]["groups"][0]["rules"][0]["for"] = "5 minutes"
    assert not crd_validators["PrometheusRule"].is_valid(bad_rule)
    bad_rule = json.loads(json.dumps(rule))
    del bad_rule["spec"]["groups"][0]["rules"][0]["alert"]
    assert not crd_validators["PrometheusRule"].is_valid(bad_rule)


@needs_helm
def test_kubernetes_schemas_reject_a_misspelt_field(default_objs: list[dict[str, Any]]) -> None:
    (dep,) = by_kind(default_objs, "Deployment")
    bad = json.loads(json.dumps(dep))
    bad["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {"path": "/ready"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)


@needs_helm
def test_prometheus_rule_is_the_rules_file_exactly(full_objs: list[dict[str, Any]]) -> None:
    # Annotations such as "{{ $labels.cluster }}" must reach Prometheus untouched by Helm's templating.
    (rule,) = by_kind(full_objs, "PrometheusRule")
    source = yaml.safe_load((ROOT / "alerts" / "kafka-cluster-exporter.rules.yml").read_text())
    assert rule["spec"]["groups"] == source["groups"]
    annotations = [r["annotations"]["summary"] for g in rule["spec"]["groups"] for r in g["rules"]]
    assert "Kafka exporter for cluster {{ $labels.cluster }} is down" in annotations
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"


@needs_helm
def test_runbook_base_url_is_replaced() -> None:
    objs = render(FULL_VALUES, sets=("prometheusRule.runbookBaseUrl=https://git.example.com/kce/",))
    (rule,) = by_kind(objs, "PrometheusRule")
    urls = [r["annotations"]["runbook_url"] for g in rule["spec"]["groups"] for r in g["rules"]]
    assert urls and all(u.startswith("https://git.example.com/kce/docs/runbooks/") for u in urls)


@needs_helm
def test_dashboards_are_the_generated_json(full_objs: list[dict[str, Any]]) -> None:
    boards = {p.name: json.loads(p.read_text()) for p in (ROOT / "dashboards").glob("*.json")}
    cms = [o for o in by_kind(full_objs, "ConfigMap") if o["metadata"].get("labels", {}).get("grafana_dashboard")]
    rendered: dict[str, Any] = {}
    for cm in cms:
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"  # the Grafana sidecar's label
        assert cm["metadata"]["annotations"] == {"grafana_folder": "Kafka"}
        assert len(json.dumps(cm)) < 1024 * 1024  # a ConfigMap holds at most 1 MiB
        for name, text in cm["data"].items():
            rendered[name] = json.loads(text)
    assert rendered == boards


@needs_helm
def test_deployment_probes_and_security(default_objs: list[dict[str, Any]]) -> None:
    (dep,) = by_kind(default_objs, "Deployment")
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert dep["spec"]["replicas"] == 1
    assert c["ports"] == [{"name": "metrics", "containerPort": 9340, "protocol": "TCP"}]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "metrics"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert c["securityContext"] == {
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert c["resources"]["requests"]["memory"] and c["resources"]["limits"]["memory"]
    # The image's ENTRYPOINT reads /etc/kafka-cluster-exporter/config.yaml: the chart passes no --config.
    assert "args" not in c
    mount = next(m for m in c["volumeMounts"] if m["name"] == "config")
    assert mount["mountPath"] == "/etc/kafka-cluster-exporter/config.yaml"


@needs_helm
def test_service_and_service_monitor(full_objs: list[dict[str, Any]]) -> None:
    (svc,) = by_kind(full_objs, "Service")
    assert svc["spec"]["ports"] == [{"name": "metrics", "port": 9340, "targetPort": "metrics", "protocol": "TCP"}]
    (sm,) = by_kind(full_objs, "ServiceMonitor")
    # KafkaExporterDown selects job="kafka-cluster-exporter": the job is the Service's label named by jobLabel.
    assert svc["metadata"]["labels"][sm["spec"]["jobLabel"]] == "kafka-cluster-exporter"
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    # One endpoint per configured cluster, each scraping ?cluster=NAME and labelled cluster=NAME.
    eps = sm["spec"]["endpoints"]
    assert [e["params"] for e in eps] == [{"cluster": ["prod"]}, {"cluster": ["staging"]}]
    assert [e["relabelings"] for e in eps] == [
        [{"targetLabel": "cluster", "replacement": name, "action": "replace"}] for name in ("prod", "staging")
    ]
    assert {e["port"] for e in eps} == {"metrics"}
    # The full values put TLS and basic auth on the endpoint: Prometheus scrapes with HTTPS and logs in.
    assert {e["scheme"] for e in eps} == {"https"}
    assert all(e["basicAuth"]["password"] == {"name": "kafka-exporter-scrape", "key": "password"} for e in eps)
    assert all(e["tlsConfig"]["serverName"] == "kafka-exporter" for e in eps)


@needs_helm
def test_web_config_secret(full_objs: list[dict[str, Any]], default_objs: list[dict[str, Any]]) -> None:
    (dep,) = by_kind(full_objs, "Deployment")
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["args"] == ["--web.config.file", "/etc/kafka-cluster-exporter/web/web.yml"]
    mount = next(m for m in c["volumeMounts"] if m["name"] == "web-config")
    assert mount["mountPath"] == "/etc/kafka-cluster-exporter/web"
    volume = next(v for v in pod["volumes"] if v["name"] == "web-config")
    assert volume["secret"]["secretName"] == "kafka-exporter-web"
    # /healthz and /ready need no basic auth, but with TLS the kubelet must speak HTTPS.
    assert c["livenessProbe"]["httpGet"]["scheme"] == c["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"
    (sm,) = by_kind(render(sets=("serviceMonitor.enabled=true",)), "ServiceMonitor")
    assert {"scheme", "tlsConfig", "basicAuth"}.isdisjoint(sm["spec"]["endpoints"][0])


@needs_helm
def test_rendered_config_loads_and_secrets_stay_out_of_config_maps(
    full_objs: list[dict[str, Any]], default_objs: list[dict[str, Any]], tmp_path: Path
) -> None:
    # Stand-ins for the mounted Secrets, with values that must never show up in a ConfigMap.
    values = {
        "kafka-exporter-sasl/password": "sasl-s3cret",
        "kafka-exporter-tls/key-password": "key-s3cret",
        "kafka-exporter-zk/password": "zk-s3cret",
    }
    for rel, value in values.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(value + "\n")
    text = exporter_config(full_objs)
    # Every file the config names is under a Secret the Deployment mounts where the config says.
    (dep,) = by_kind(full_objs, "Deployment")
    mounts = {m["mountPath"] for m in dep["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]}
    for rel in values:
        assert f"{SECRETS_DIR}/{rel}" in text
        assert f"{SECRETS_DIR}/{rel.split('/')[0]}" in mounts
    # The exporter's own loader, as the CLI runs it on the mounted file (the secret paths moved to tmp_path).
    (tmp_path / "config.yaml").write_text(text.replace(SECRETS_DIR, str(tmp_path)))
    cfg: Config = load_config(tmp_path / "config.yaml")
    prod = cfg.clusters[0]
    assert [c.name for c in cfg.clusters] == ["prod", "staging"]
    assert prod.client["sasl.password"] == "sasl-s3cret"
    assert prod.client["ssl.key.password"] == "key-s3cret"
    assert prod.zookeeper is not None and prod.zookeeper.sasl is not None
    assert prod.zookeeper.sasl.password == "zk-s3cret"
    assert prod.policy.expected_brokers == (0, 1, 2)
    assert prod.concern_on("probe")
    (tmp_path / "default.yaml").write_text(exporter_config(default_objs))
    assert load_config(tmp_path / "default.yaml").clusters[0].bootstrap_servers == "kafka:9092"
    for cm in by_kind(full_objs + default_objs, "ConfigMap"):
        dumped = json.dumps(cm)
        assert not [v for v in values.values() if v in dumped], cm["metadata"]["name"]
    assert not by_kind(full_objs, "Secret")  # the chart references Secrets, never makes one


@needs_helm
@pytest.mark.parametrize(
    "setting",
    [
        "config.clusters[0].client.sasl\\.password=hunter2",
        "config.clusters[0].client.ssl\\.key\\.password=hunter2",
        "config.clusters[0].zookeeper.sasl.password=hunter2",
    ],
)
def test_inline_password_fails_the_render(setting: str) -> None:
    out = helm("template", "kafka-exporter", CHART, "-f", FULL_VALUES, "--set", setting)
    assert out.returncode != 0
    assert "do not write a password in the config" in out.stderr
    assert "hunter2" not in out.stdout


@needs_helm
def test_password_from_the_environment_is_allowed() -> None:
    # ${VAR} is a reference (filled from extraEnv's secretKeyRef at start), not a password.
    objs = render(sets=("config.clusters[0].client.sasl\\.password=${KAFKA_PASSWORD}",))
    assert "sasl.password: ${KAFKA_PASSWORD}" in exporter_config(objs)


@needs_helm
def test_config_change_rolls_the_pod(default_objs: list[dict[str, Any]]) -> None:
    def checksum(objs: list[dict[str, Any]]) -> str:
        (dep,) = by_kind(objs, "Deployment")
        value: str = dep["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        return value

    changed = render(sets=("config.clusters[0].policy.replication_factor=2",))
    assert checksum(changed) != checksum(default_objs)
    assert checksum(render()) == checksum(default_objs)  # and only a change does


def _dropped(given: Any, kept: Any, path: str = "") -> list[str]:
    """The keys of `given` that the model did not keep: fields the CRD does not define (pydantic ignores them)."""
    if isinstance(given, dict):
        out: list[str] = []
        for k, v in given.items():
            out += (
                [f"{path}.{k}"] if not isinstance(kept, dict) or k not in kept else _dropped(v, kept[k], f"{path}.{k}")
            )
        return out
    if isinstance(given, list) and isinstance(kept, list):
        return [d for i, (g, k) in enumerate(zip(given, kept, strict=True)) for d in _dropped(g, k, f"{path}[{i}]")]
    return []


OPERATOR_MODELS: dict[str, type[pydantic.BaseModel]] = {
    "ServiceMonitor": operator.ServiceMonitor,
    "PrometheusRule": operator.PrometheusRule,
}


@needs_helm
def test_operator_objects_parse_as_the_operators_own_crd_types(full_objs: list[dict[str, Any]]) -> None:
    # Beside the hand-written schema: pydantic models generated from the Prometheus Operator's CRDs (cloudcoil,
    # v0.80.1) check every field's type; a round trip shows a field the CRD does not have (the model drops it).
    for kind, model in OPERATOR_MODELS.items():
        (obj,) = by_kind(full_objs, kind)
        kept = model.model_validate(obj).model_dump(by_alias=True, exclude_unset=True, mode="json")
        assert _dropped(obj, kept) == [], kind
    (sm,) = by_kind(full_objs, "ServiceMonitor")
    bad = json.loads(json.dumps(sm))
    bad["spec"]["endpoints"][0]["intervall"] = "30s"
    kept = operator.ServiceMonitor.model_validate(bad).model_dump(by_alias=True, exclude_unset=True, mode="json")
    assert _dropped(bad, kept) == [".spec.endpoints[0].intervall"]
    bad["spec"]["endpoints"] = {"port": "metrics"}  # a list in the CRD
    with pytest.raises(pydantic.ValidationError):
        operator.ServiceMonitor.model_validate(bad)
