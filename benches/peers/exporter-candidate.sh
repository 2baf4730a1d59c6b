#!/usr/bin/env bash
# Runs tickwatch-exporter as the "candidate" of the peer exporter kit
# (../shared/peers/exporters): it writes a config for the kit's Redis and queue list and
# execs the release binary. Usage, from a writable copy of the kit:
#   CANDIDATE_CMD="$REPO/benches/peers/exporter-candidate.sh {redis_url} {port} {queues_file}" ./run.sh
set -euo pipefail
redis_url="$1" port="$2" queues_file="${3:-}"
repo="$(cd "$(dirname "$0")/../.." && pwd)"
config="$(mktemp --suffix=.toml)"
{
  printf '[web]\nlisten_address = "127.0.0.1:%s"\n' "$port"
  printf '[[redis]]\nname = "redis"\nurl = "%s"\nstreams = ["stream:*"]\n' "$redis_url"
  printf '[[celery]]\nname = "broker"\nbroker = "%s"\n' "$redis_url"
  if [ -n "$queues_file" ] && [ -s "$queues_file" ]; then
    printf 'queues = ['
    awk 'NF { printf "%s\"%s\"", (n++ ? "," : ""), $0 }' "$queues_file"
    printf ']\n'
  else
    printf 'discover = true\n'
  fi
} > "$config"
exec "$repo/target/release/tickwatch-exporter" --config "$config" --log.level warn
