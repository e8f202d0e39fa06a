#!/usr/bin/env bash
# Builds the WebAssembly package from the core: wasm/pkg/node (for Node,
# `--target nodejs`) and wasm/pkg/web (an ES module, for workers and
# browsers, `--target web`). Installs what it needs only when missing:
# the wasm32 target (rustup) and wasm-bindgen-cli of exactly the version
# Cargo.lock holds (cargo install); shrinks with wasm-opt (Debian's
# binaryen) when present. Prints the .wasm size.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
cd "$root"

target=wasm32-unknown-unknown
rustup target list --installed | grep -qx "$target" || rustup target add "$target"

# The CLI must be the library's exact version: the glue it writes and the
# bindings compiled into the module speak one private protocol.
version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3 }' Cargo.lock)
[ -n "$version" ] || { echo "build.sh: no wasm-bindgen in Cargo.lock" >&2; exit 1; }
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $version" ]; then
    echo "build.sh: installing wasm-bindgen-cli $version"
    # --locked first; if the registry lacks a version the CLI's lock file
    # pins (a yanked or unmirrored crate), resolve afresh rather than fail.
    cargo install --locked --quiet wasm-bindgen-cli --version "$version" ||
        cargo install --quiet wasm-bindgen-cli --version "$version"
fi

cargo build --quiet -p encapsulated-token-wasm --profile wasm --target "$target"
module="${CARGO_TARGET_DIR:-$root/target}/$target/wasm/encapsulated_token_wasm.wasm"

# wasm-opt before wasm-bindgen: Debian's binaryen (108) corrupts the
# externref table wasm-bindgen adds, so it shrinks Rust's output and
# wasm-bindgen runs last. Rust's wasm32 target emits these proposals by
# default; binaryen must be told it may keep them.
if command -v wasm-opt >/dev/null 2>&1; then
    wasm-opt -Os --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
        --enable-nontrapping-float-to-int --enable-reference-types --enable-multivalue \
        --strip-debug --strip-producers -o "${module%.wasm}.opt.wasm" "$module"
    module="${module%.wasm}.opt.wasm"
else
    echo "build.sh: wasm-opt not found (Debian package binaryen): the module is not shrunk"
fi

rm -rf "$here/pkg/node" "$here/pkg/web"
wasm-bindgen --target nodejs --out-dir "$here/pkg/node" --out-name encapsulated_token "$module"
wasm-bindgen --target web --out-dir "$here/pkg/web" --out-name encapsulated_token "$module"

# Node reads pkg/node/package.json; `"type": "commonjs"` keeps the glue
# CommonJS whatever a parent package.json says.
for dir in node web; do
    type=commonjs main=encapsulated_token.js
    [ "$dir" = web ] && type=module
    cat >"$here/pkg/$dir/package.json" <<JSON
{
  "name": "encapsulated-token-$dir",
  "version": "0.1.0",
  "private": true,
  "type": "$type",
  "main": "$main",
  "types": "encapsulated_token.d.ts"
}
JSON
done
printf 'build.sh: %s bytes (pkg/node/encapsulated_token_bg.wasm)\n' \
    "$(wc -c <"$here/pkg/node/encapsulated_token_bg.wasm")"
