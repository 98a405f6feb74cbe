#!/usr/bin/env bash
# Builds every fuzz target and runs each for SECONDS (default 60) from its seed corpus in
# corpus/<target>/; fails if any target crashes, panics (a broken invariant is a panic),
# leaks, times out or runs out of memory. A failing input is left in artifacts/<target>/;
# replay it with `cargo fuzz run <target> artifacts/<target>/<file>`.
#
#   fuzz/run.sh 15                  # the smoke run of .ci/run
#   fuzz/run.sh 3600                # an hour per target
#   FUZZ_SANITIZER=none fuzz/run.sh 600   # faster build and runs, no AddressSanitizer
#
# cargo-fuzz needs nightly compiler features; this toolchain is stable, so RUSTC_BOOTSTRAP=1
# unlocks them (the same compiler, no other toolchain is installed).
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-60}"
sanitizer="${FUZZ_SANITIZER:-address}"
export RUSTC_BOOTSTRAP=1
# The fuzz build is its own workspace with its own flags: keep it out of the main target dir.
unset CARGO_TARGET_DIR
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz is not installed: cargo install cargo-fuzz --locked" >&2
  exit 1
fi
flags=(--sanitizer "$sanitizer" --debug-assertions)
targets=$(cargo fuzz list)
echo "building: $(echo $targets)"
cargo fuzz build "${flags[@]}"
failed=()
for t in $targets; do
  # New inputs go to a scratch directory; the committed seeds are only read.
  work="$(mktemp -d)"
  echo "=== $t: ${secs}s from $(ls "corpus/$t" | wc -l) seeds"
  if ! cargo fuzz run "${flags[@]}" "$t" "$work" "corpus/$t" -- \
      -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 2>"$work.log"; then
    tail -40 "$work.log" >&2
    failed+=("$t")
  else
    grep -E '^(stat::number_of_executed_units|stat::new_units_added)' "$work.log" | tr '\n' ' '
    echo
  fi
  rm -rf "$work" "$work.log"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzz: $(echo $targets | wc -w) targets, ${secs}s each, no failure"
