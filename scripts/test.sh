#!/usr/bin/env bash
# The whole test suite, exactly what CI runs (.ci/run calls this script):
#   1. scripts/setup.sh installs the real servers the tests talk to (idempotent);
#   2. formatting and clippy stay clean;
#   3. the alert and recording rules pass promtool's checks and unit tests;
#   4. every test of the workspace, against real servers started on loopback ports;
#   5. every cargo-fuzz target for 20 s from its seed corpus (scripts/fuzz.sh), so a decoder
#      that learns to crash on outside input fails;
#   6. every criterion bench once, in criterion's test mode and the test build, so a bench
#      that stops building or running fails (figures come from `cargo bench` run by hand).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --all -- --check
cargo fmt --manifest-path fuzz/Cargo.toml -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
promtool check rules dashboards/prometheus/alerts.yml
promtool test rules dashboards/prometheus/alerts.test.yml
cargo test --workspace --locked
scripts/fuzz.sh 20
cargo test -p tickwatch-benches --benches --locked
