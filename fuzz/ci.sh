#!/usr/bin/env bash
# The fuzzing step of CI: installs cargo-fuzz when missing, seeds the corpora
# from tests/vectors, runs every fuzz target for a short time (20 seconds
# unless given) on nightly, prints one line per target, and fails on any
# crash. Usage: fuzz/ci.sh [seconds-per-target]
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-20}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install --locked cargo-fuzz
fi
python3 seed.py
cargo +nightly fuzz build

# Inputs longer than the format's bounds are refused up front; a little
# beyond them is all a target needs.
declare -A max_len=([verify]=1100 [decode]=800 [roundtrip]=1200 [key_dir]=4200 [base64_simd]=1100)

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
summary=()
failed=0
for target in $(cargo +nightly fuzz list); do
    log="$logs/$target.log"
    if cargo +nightly fuzz run "$target" -- \
        -max_total_time="$seconds" -max_len="${max_len[$target]:-4096}" \
        -print_final_stats=1 >"$log" 2>&1; then
        done_line="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1)"
        runs="$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$done_line")"
        cov="$(sed -nE 's/.*cov: ([0-9]+).*/\1/p' <<<"$done_line")"
        ft="$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$done_line")"
        corp="$(sed -nE 's/.*corp: ([0-9]+\/[0-9]+[a-zA-Z]*).*/\1/p' <<<"$done_line")"
        summary+=("fuzz $target: ok, ${runs:-?} runs in ${seconds}s, cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}, 0 crashes")
    else
        failed=1
        echo "---- fuzz $target failed; last lines of its log:" >&2
        tail -n 60 "$log" >&2
        artifact="$(grep -oE 'Test unit written to [^ ]+' "$log" | tail -n 1 | cut -d' ' -f5 || true)"
        summary+=("fuzz $target: CRASH${artifact:+, input in $artifact}")
    fi
done
printf '%s\n' "${summary[@]}"
exit "$failed"
