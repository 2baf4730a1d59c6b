#!/usr/bin/env bash
# The loadgen's observers at scale, by hand: CONNECTIONS WebSocket clients observe the
# loadgen's own gateway sink (tickwatch protocol, every symbol), in one process, at RATE
# messages a second for SECONDS; the same run with one connection gives the baseline.
# Appends each run's figures (counts, e2e latency, the loadgen's peak RSS, the machine)
# to benches/observers/RESULTS.md.
#
#   benches/observers/connections.sh [CONNECTIONS=5000] [RATE=20] [SECONDS=30]
set -euo pipefail
cd "$(dirname "$0")/../.."
connections=${1:-5000}
rate=${2:-20}
seconds=${3:-30}
cargo build --release -p tickwatch-loadgen
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
mhz=$(grep -m1 'cpu MHz' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//' | cut -d. -f1)

run() {
  local n=$1 dir="$work/$1"
  mkdir -p "$dir"
  cat > "$dir/s.toml" <<TOML
name = "observers-$n"
[[source]]
name = "trades"
kind = "synthetic-trades"
symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
[[sink]]
name = "gateway"
source = "trades"
kind = "websocket-server"
listen = "127.0.0.1:$port"
wait_for_subscribers = $n
[[observe]]
name = "clients"
source = "trades"
kind = "websocket"
url = "ws://127.0.0.1:$port/"
subscribe = '{"op":"subscribe","symbols":["BTCUSDT","ETHUSDT","SOLUSDT"]}'
connections = $n
connect_rate = 1000
deadline = "5s"
[[phase]]
name = "steady"
duration = "${seconds}s"
rate = $rate
TOML
  /usr/bin/time -v target/release/tickwatch-loadgen run "$dir/s.toml" --report-dir "$dir/report" \
    > "$dir/out" 2> "$dir/err" || true
  local rss_kb
  rss_kb=$(grep 'Maximum resident set size' "$dir/err" | awk '{print $NF}')
  python3 - "$dir/report/summary.json" "$n" "$rss_kb" <<'PY'
import json, sys
summary, n, rss_kb = json.load(open(sys.argv[1])), int(sys.argv[2]), int(sys.argv[3])
o = summary["observers"]["clients"]
l = o["latency_ms"]
print(f"| {n} | {summary['sinks']['gateway']['sent']} | {o['expected']} | {o['delivered']} | {o['lost']} "
      f"| {o['duplicated']} | {l['p50']} | {l['p99']} | {l['max']} | {o['skew_ms']['p99']} | {rss_kb / 1024:.1f} |")
PY
}

{
  echo
  echo "## $(date -u +%Y-%m-%dT%H:%MZ): $connections connections, $rate msg/s, ${seconds}s"
  echo
  echo "Machine: $cpu, ${mhz} MHz, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg). One process: the loadgen's"
  echo "gateway sink fans out to the observer's connections; RSS is the process's peak."
  echo
  echo "| connections | sent | expected | delivered | lost | duplicated | e2e p50 ms | e2e p99 ms | e2e max ms | skew p99 ms | peak RSS MiB |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
  run 1
  run "$connections"
} | tee -a benches/observers/RESULTS.md
