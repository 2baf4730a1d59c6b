#!/usr/bin/env bash
# The whole test suite, exactly what CI runs (.ci/run calls this script):
#   1. scripts/setup.sh installs the real servers the tests talk to (idempotent);
#   2. formatting and clippy stay clean;
#   3. every test of the workspace, against real servers started on loopback ports;
#   4. the criterion benches in quick mode, so a bench that stops building or running fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
cargo bench -p tickwatch-benches --locked -- --quick
