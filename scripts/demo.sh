#!/usr/bin/env bash
# The tickwatch demo: installs what is missing, builds, and runs tickwatch-demo (real
# Redis, MongoDB-wire server, Celery worker, exporter, Prometheus and Alertmanager, a
# scenario with faults planted, and the alerts that fire). Runs until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release -p tickwatch-exporter -p tickwatch-loadgen -p tickwatch-tests --bin tickwatch-exporter --bin tickwatch-loadgen --bin tickwatch-demo
exec target/release/tickwatch-demo
