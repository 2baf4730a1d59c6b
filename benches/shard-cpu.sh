#!/usr/bin/env bash
# CPU of one shard of N against the single process, for one scenario (issue #14's figure):
#   benches/shard-cpu.sh [trades|chains] [N] [RATE]
# Runs target/release/tickwatch-loadgen (build it first: cargo build --release -p
# tickwatch-loadgen) into a file sink on /dev/null, each run pinned to one core, and
# prints user+system seconds of the single process and of every shard, with the ratio;
# then of a single process at RATE/N, the floor: what sending a shard's share costs with
# no other shard's slots to pass.
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:-trades}"; shards="${2:-3}"; rate_arg="${3:-}"
bin=target/release/tickwatch-loadgen
dir="$(mktemp -d)"; trap 'rm -rf "$dir"' EXIT
case "$kind" in
  trades) source='kind = "synthetic-trades"
symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "AAPL", "NIFTY", "BANKNIFTY"]'; rate=200000; seconds=5 ;;
  chains) source='kind = "synthetic-chains"
symbols = ["NIFTY", "BANKNIFTY", "SPY"]'; rate=3000; seconds=5 ;;
  *) echo "usage: $0 [trades|chains] [N] [RATE]" >&2; exit 2 ;;
esac
rate="${rate_arg:-$rate}"
scenario() { # scenario.toml at rate $1
cat <<TOML
name = "shard-cpu"
seed = 1
[[source]]
name = "feed"
$source
[[sink]]
name = "out"
source = "feed"
kind = "file"
path = "/dev/null"
[[phase]]
name = "steady"
duration = "${seconds}s"
rate = $1
TOML
}
scenario "$rate" > "$dir/scenario.toml"
scenario "$((rate / shards))" > "$dir/share.toml"
cpu() { # user+system seconds of one run of scenario file $1
  local file="$1"; shift
  /usr/bin/time -f "%U %S" -o "$dir/time" taskset -c 0 "$bin" run "$file" "$@" 2>/dev/null >/dev/null
  awk '{print $1 + $2}' "$dir/time"
}
model="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "machine: $model, $(nproc) cores; $kind at $rate msg/s for ${seconds}s"
single="$(cpu "$dir/scenario.toml")"
echo "single process: ${single} s CPU"
for ((i = 0; i < shards; i++)); do
  s="$(cpu "$dir/scenario.toml" --shard "$i/$shards")"
  echo "shard $i/$shards: ${s} s CPU, $(awk -v a="$s" -v b="$single" 'BEGIN {printf "%.2f", a / b}') of the single process"
done
share="$(cpu "$dir/share.toml")"
echo "single process at $((rate / shards)) msg/s: ${share} s CPU, $(awk -v a="$share" -v b="$single" 'BEGIN {printf "%.2f", a / b}') of the single process"
