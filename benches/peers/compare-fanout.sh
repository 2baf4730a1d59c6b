#!/usr/bin/env bash
# Fan-out side by side on this machine, one command:
#   benches/peers/compare-fanout.sh          # SUBSCRIBERS=100 RATES="10000 0" SECONDS_=10
# The peer kit's raw broadcaster (`wsbench bcast`, ../shared/peers/loadgen/sink) and
# tickwatch-loadgen's websocket-server sink each serve SUBSCRIBERS `wsbench sub`
# connections, the server on CPU 0 and the subscribers on CPU 1 (the kit's pinning).
# Per rate (messages/s the producer makes; 0 = as fast as it can): deliveries/s counted
# by the subscribers (median of their half-second intervals with every subscriber
# connected, first and last left out), and for the loadgen its own deliveries report
# (sent, failed, dropped subscribers), so the ratio is of one run on one machine.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
kit="${PEER_KIT:-$repo/../shared/peers/loadgen}"
subscribers="${SUBSCRIBERS:-100}"
seconds="${SECONDS_:-10}"
work="$(mktemp -d)"; trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
. "$repo/benches/peers/machine.sh"
cargo build --release --locked -p tickwatch-loadgen --manifest-path "$repo/Cargo.toml" >&2
cargo build --release --manifest-path "$kit/sink/Cargo.toml" --target-dir "$work/kit-target" >&2
wsbench="$work/kit-target/release/wsbench"
loadgen="$repo/target/release/tickwatch-loadgen"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The median interval rate of a `wsbench sub` log with every subscriber connected.
sub_rate() {
  python3 - "$1" "$subscribers" <<'PY'
import json, statistics, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
rates = [l["rate"] for l in lines if l.get("role") == "sub" and l.get("conns") == int(sys.argv[2])]
rates = [r for r in rates[1:-1] if r > 0]
print(f"{statistics.median(rates):.0f}" if rates else "0")
PY
}

machine
printf '| producer rate | raw broadcaster deliveries/s | tickwatch gateway deliveries/s | ratio | gateway: sent, failed, dropped subscribers |\n|---|---|---|---|---|\n' > "$work/table.md"
for rate in ${RATES:-10000 0}; do
  p="$(port)"
  taskset -c 0 "$wsbench" bcast --addr "127.0.0.1:$p" --rate "$rate" --wait-conns "$subscribers" \
    --interval-ms 500 --max-seconds $((seconds + 60)) > "$work/bcast.log" 2>&1 &
  bcast=$!
  sleep 0.5
  taskset -c 1 "$wsbench" sub --url "ws://127.0.0.1:$p/" --conns "$subscribers" --duration "$seconds" \
    --interval-ms 500 > "$work/sub-raw.log"
  kill "$bcast"; wait "$bcast" 2>/dev/null || true
  raw="$(sub_rate "$work/sub-raw.log")"

  p="$(port)"
  target="$rate"; [ "$rate" = 0 ] && target=5000000
  cat > "$work/fanout.toml" <<TOML
name = "fanout"
seed = 1
[[source]]
name = "trades"
kind = "synthetic-trades"
symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
[[sink]]
name = "gateway"
source = "trades"
kind = "websocket-server"
listen = "127.0.0.1:$p"
[[phase]]
name = "connect"
duration = "3s"
rate = 0
[[phase]]
name = "steady"
duration = "${seconds}s"
rate = $target
TOML
  taskset -c 0 "$loadgen" run "$work/fanout.toml" --report-dir "$work/report" > "$work/loadgen.log" 2>&1 &
  gateway=$!
  sleep 1
  taskset -c 1 "$wsbench" sub --url "ws://127.0.0.1:$p/" --conns "$subscribers" --duration $((seconds + 4)) \
    --interval-ms 500 > "$work/sub-gateway.log"
  wait "$gateway" || true
  ours="$(sub_rate "$work/sub-gateway.log")"
  report="$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))["sinks"]["gateway"]["deliveries"]; print(d["sent"], d["failed"], d["dropped_subscribers"], sep=", ")' "$work/report/summary.json")"
  ratio="$(python3 -c "print(f'{$ours / max($raw, 1):.2f}x')")"
  shown="$rate"; [ "$rate" = 0 ] && shown="unpaced"
  echo "| $shown | $raw | $ours | $ratio | $report |" >> "$work/table.md"
done
machine
cat "$work/table.md"
