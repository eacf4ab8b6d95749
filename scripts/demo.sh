#!/usr/bin/env bash
# The main job: a local real Kafka cluster with a producer and a lagging consumer, and the exporter
# watching it. Ctrl-C stops and removes everything.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m harness.demo "$@"
