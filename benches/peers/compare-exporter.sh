#!/usr/bin/env bash
# Reruns the side-by-side comparison with the peer exporters on this machine, one command:
#   benches/peers/compare-exporter.sh        # SIZES=1000,10000 ONLY=redis by default
# Builds the release exporter, copies the peer kit (read-only in ../shared/peers/exporters;
# PEER_KIT=DIR for another copy) to a temporary folder, runs it with tickwatch-exporter as
# the candidate (exporter-candidate.sh), and prints the machine with the kit's summary:
# every figure of one run, redis_exporter's and ours, so the ratios are of one run.
# The kit installs what it needs (its setup.sh: apt packages, venvs under /tmp).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
kit="${PEER_KIT:-$repo/../shared/peers/exporters}"
[ -x "$kit/run.sh" ] || { echo "no peer kit at $kit: set PEER_KIT to the kit's folder" >&2; exit 2; }
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
cargo build --release --locked -p tickwatch-exporter --manifest-path "$repo/Cargo.toml"
cp -r "$kit/." "$work/"
. "$repo/benches/peers/machine.sh"
machine
(cd "$work" && SKIP_CELERY_EXPORTER="${SKIP_CELERY_EXPORTER:-1}" ONLY="${ONLY:-redis}" SIZES="${SIZES:-1000,10000}" \
  CANDIDATE_CMD="$repo/benches/peers/exporter-candidate.sh {redis_url} {port} {queues_file}" ./run.sh >&2)
machine
cat "$work/results/latest/summary.md"
