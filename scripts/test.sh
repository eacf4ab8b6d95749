#!/usr/bin/env bash
# The whole test suite: lint, types, docs and Helm chart drift, then pytest (unit layer and real-cluster tests).
# Extra arguments go to pytest, e.g. `scripts/test.sh -m "not cluster"` for the fast unit layer alone.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --helm
PY=.venv/bin/python
echo "== ruff"; $PY -m ruff check . && $PY -m ruff format --check .
echo "== mypy"; $PY -m mypy
echo "== docs"; $PY -m exporter.docs --check && $PY -m deploy.helm.generate --check
echo "== pytest"; exec $PY -m pytest --durations=15 "$@"  # the slowest tests: the suite must stay under 30 min
