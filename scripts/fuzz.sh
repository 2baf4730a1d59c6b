#!/usr/bin/env bash
# Runs the cargo-fuzz targets in fuzz/fuzz_targets, each for SECONDS (default 20), from
# its seed corpus in fuzz/corpus/TARGET. New inputs go to a scratch corpus under
# fuzz/target/corpus (the seeds in the repo stay as they are); a crash is saved under
# fuzz/artifacts/TARGET and fails the script. Prints each target's executions.
#   scripts/fuzz.sh [SECONDS] [TARGET...]     # every target when none is named
# Builds in release with debug assertions and overflow checks and without a sanitizer
# (the code is safe Rust, so AddressSanitizer has little to find and costs speed), on the stable toolchain
# (RUSTC_BOOTSTRAP lets it take the instrumentation flags). Installs cargo-fuzz if missing.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-20}"; shift || true
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked --version 0.13.2
export RUSTC_BOOTSTRAP=1
build=(--release --debug-assertions --sanitizer none)
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || mapfile -t targets < <(cargo fuzz list)
cargo fuzz build "${build[@]}"
failed=0
for target in "${targets[@]}"; do
  scratch="target/corpus/$target"; mkdir -p "$scratch" "artifacts/$target"
  log="target/fuzz-$target.log"
  if cargo fuzz run "${build[@]}" "$target" "$scratch" "corpus/$target" -- \
       -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
    echo "fuzz: $target: ${runs:-?} executions in ${seconds} s, no crash"
  else
    failed=1
    echo "fuzz: $target FAILED; the input is under fuzz/artifacts/$target; the end of $log:" >&2
    tail -40 "$log" >&2
  fi
done
exit "$failed"
