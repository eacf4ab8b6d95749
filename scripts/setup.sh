#!/usr/bin/env bash
# Installs what the demo and the tests need, and only what is missing: Debian packages (Java, Maven,
# Prometheus, Alertmanager), a Python virtualenv with the package and its dev tools, the Kafka jars, and with
# --helm (scripts/test.sh passes it; the demo does not need it) helm for the chart's tests.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v java >/dev/null || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need_apt+=(maven)
command -v prometheus >/dev/null || need_apt+=(prometheus)
command -v prometheus-alertmanager >/dev/null || need_apt+=(prometheus-alertmanager)
if ((${#need_apt[@]})); then
  echo "setup: installing ${need_apt[*]}" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  python3 -m venv .venv
fi
stamp=.venv/.installed-$(sha1sum pyproject.toml | cut -c1-12)
if [ ! -f "$stamp" ]; then
  echo "setup: installing Python packages" >&2
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e ".[dev]"
  rm -f .venv/.installed-*; touch "$stamp"
fi

for d in harness/kafka*; do  # every Kafka release of the version matrix (tests/integration/test_versions.py)
  if [ -z "$(ls "$d/target/lib" 2>/dev/null)" ]; then
    echo "setup: fetching Kafka jars for $d (Maven Central)" >&2
    (cd "$d" && mvn -q -B package)
  fi
done

[ "${1:-}" = --helm ] || exit 0
# helm, for the chart's tests (tests/unit/test_helm_chart.py): built from the Go module proxy, pinned, into a cache
# outside the repository so later runs (and CI on the same machine) reuse it. The first build takes 5-10 minutes
# on 2 cores.
HELM_VERSION=v4.3.2
helm_bin="${XDG_CACHE_HOME:-$HOME/.cache}/kafka-cluster-exporter/bin"
# A stamp names the version built (a `go install`ed helm reports only "v4.3").
if [ ! -x "$helm_bin/helm" ] || [ "$(cat "$helm_bin/helm.version" 2>/dev/null)" != "$HELM_VERSION" ]; then
  go=$(command -v go || echo /usr/local/go/bin/go)
  if [ -x "$go" ]; then
    echo "setup: building helm $HELM_VERSION into $helm_bin (Go module proxy)" >&2
    mkdir -p "$helm_bin"
    GOBIN="$helm_bin" "$go" install "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
    echo "$HELM_VERSION" > "$helm_bin/helm.version"
  else
    echo "setup: no Go toolchain; the Helm chart tests will be skipped" >&2
  fi
fi
