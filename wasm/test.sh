#!/usr/bin/env bash
# The WebAssembly package's tests, from a clean clone: builds it
# (wasm/build.sh), then runs Node's test runner over every vector and the
# API (wasm/tests/), and the edge worker in a real workerd
# (examples/edge-worker/test/). Installs only what is missing: binaryen
# (Debian) for wasm-opt, the worker's npm packages (from its lock file).
# The tests run the real `etoken`, built here in debug.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

if ! command -v wasm-opt >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
    echo "wasm/test.sh: installing binaryen (wasm-opt)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends binaryen >/dev/null
fi
wasm/build.sh
cargo build --quiet -p etoken
export ETOKEN="${CARGO_TARGET_DIR:-$root/target}/debug/etoken"
node --test wasm/tests/
cd examples/edge-worker
[ -x node_modules/.bin/workerd ] || npm ci --no-audit --no-fund --loglevel=error
node --test test/
