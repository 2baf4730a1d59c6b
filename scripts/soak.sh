#!/usr/bin/env bash
# The soak run, by hand (not in CI): 30 minutes at 20k msg/s per sink through the loadgen,
# real Redis pub/sub and the loadgen's WebSocket gateway, watched by the exporter; RSS and
# CPU of both programs sampled every 10 s; the RSS slope after warm-up, the drift of the
# delivered rate and the loadgen's counts are appended to benches/soak/RESULTS.md.
#   scripts/soak.sh [--minutes 30] [--rate 20000] [--warmup-minutes 5] [--out FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --locked -p tickwatch-exporter -p tickwatch-loadgen -p tickwatch-tests \
  --bin tickwatch-exporter --bin tickwatch-loadgen --bin tickwatch-soak
exec target/release/tickwatch-soak "$@"
