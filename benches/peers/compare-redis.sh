#!/usr/bin/env bash
# The loadgen's Redis sinks beside redis-benchmark on this machine, one command:
#   benches/peers/compare-redis.sh           # COMMANDS="publish xadd" N=4000000
# The kit's method (../shared/peers/loadgen): redis-server on CPU 0, the load tool on
# CPU 1, loopback, the kit's 156-byte tick as redis-benchmark's payload. Per command:
# redis-benchmark with 50 clients at pipeline 16; tickwatch-loadgen with 50 `redis` sinks
# of one connection each at max_batch = 16, and with one sink at the default batch; the
# loadgen's rate is messages sent over the wall-clock time it took to send them all (none
# may fail), and Redis's own CPU per command is from INFO commandstats. One run on one
# machine, so the ratios are what to read. LOADGEN=BINARY measures another build (an
# older commit's, for a before and after).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
kit="${PEER_KIT:-$repo/../shared/peers/loadgen}"
n="${N:-4000000}"
work="$(mktemp -d)"; trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
. "$repo/benches/peers/machine.sh"
loadgen="${LOADGEN:-$repo/target/release/tickwatch-loadgen}"
[ -n "${LOADGEN:-}" ] || cargo build --release --locked -p tickwatch-loadgen --manifest-path "$repo/Cargo.toml" >&2
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
taskset -c 0 redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
  --logfile "$work/redis.log" --dir "$work" &
until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.1; done
tick="$(cat "$kit/lib/tick.json")"
cli() { redis-cli -p "$port" "$@" >/dev/null; }

# usec_per_call of COMMAND in INFO commandstats.
usec_per_call() {
  redis-cli -p "$port" info commandstats | tr -d '\r' | grep "^cmdstat_$1:" | sed 's/.*usec_per_call=\([0-9.]*\).*/\1/'
}

# Runs SINKS loadgen sinks of COMMAND at BATCH, N messages in all; prints sent/s.
loadgen_rate() {
  local command="$1" sinks="$2" batch="$3" per_sink=$((n / $2))
  local rate=$((per_sink / 2))
  {
    printf 'name = "redis-peer"\nseed = 1\n[[source]]\nname = "trades"\nkind = "synthetic-trades"\nsymbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]\n'
    for i in $(seq 1 "$sinks"); do
      printf '[[sink]]\nname = "s%s"\nsource = "trades"\nkind = "redis"\nurl = "redis://127.0.0.1:%s/"\nmode = "%s"\nkey = "ticks"\nmaxlen = 100000\nmax_batch = %s\ntimeout = "30s"\n' \
        "$i" "$port" "$command" "$batch"
    done
    printf '[[phase]]\nname = "steady"\nduration = "2s"\nrate = %s\n' "$rate"
  } > "$work/redis.toml"
  rm -rf "$work/report"
  taskset -c 1 "$loadgen" run "$work/redis.toml" --report-dir "$work/report" > "$work/loadgen.log" 2>&1
  python3 - "$work/report/summary.json" <<'PY'
import json, sys
sinks = json.load(open(sys.argv[1]))["sinks"].values()
sent, failed = sum(s["sent"] for s in sinks), sum(s["failed"] for s in sinks)
wall = max(s["wall_seconds"] for s in sinks)
assert failed == 0, f"{failed} failed"
print(f"{sent / wall:.0f}")
PY
}

machine
echo "| command | redis-benchmark, 50 clients, pipeline 16 | loadgen, 50 connections, pipeline 16 | ratio | loadgen, 1 connection, default batch | Redis usec per call |" > "$work/table.md"
echo "|---|---|---|---|---|---|" >> "$work/table.md"
for command in ${COMMANDS:-publish xadd}; do
  cli flushall; cli config resetstat
  case "$command" in
    publish) bench=(PUBLISH ticks "$tick") ;;
    xadd) bench=(XADD ticks MAXLEN '~' 100000 '*' data "$tick") ;;
  esac
  peer="$(taskset -c 1 redis-benchmark -p "$port" -c 50 -P 16 -n "$n" -q "${bench[@]}" | tr '\r' '\n' \
    | python3 -c 'import re, sys; print(re.findall(r"([0-9.]+) requests per second", sys.stdin.read())[-1])')"
  cli flushall; cli config resetstat
  ours="$(loadgen_rate "$command" 50 16)"
  usec="$(usec_per_call "$command")"
  one="$(loadgen_rate "$command" 1 1024)"
  ratio="$(python3 -c "print(f'{$ours / $peer:.2f}x')")"
  echo "| ${command^^} | ${peer%.*} | $ours | $ratio | $one | $usec |" >> "$work/table.md"
done
machine
cat "$work/table.md"
