#!/usr/bin/env bash
# Builds ngx_http_etoken_module.so for the Debian nginx installed here.
#
# nginx-dev ships nginx's source and the flags Debian configured it with
# (conf_flags) but no objs/: the tree is copied, configured with those
# flags (as Debian's own module helper does), and the `ngx` crate's
# bindings are generated from the copy (NGINX_SOURCE_DIR), so the module's
# compat signature is Debian's and `load_module` accepts it. Fails loudly
# when anything is missing and cannot be installed.
#
# `build.sh clippy` lints the module's workspace instead (its build script
# needs the same configured tree), as .ci/run does.
set -euo pipefail
mode=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
src=/usr/share/nginx/src

missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
[ -f "$src/conf_flags" ] || missing+=(nginx-dev)
dpkg -s libclang-dev >/dev/null 2>&1 || missing+=(libclang-dev)
command -v clang >/dev/null 2>&1 || missing+=(clang)
if [ ${#missing[@]} -gt 0 ]; then
    echo "build.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}"
fi

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$here/target}
tree=$CARGO_TARGET_DIR/nginx-src
version=$(dpkg-query -W -f='${Version}' nginx-dev)
if [ "$(cat "$tree/.debian-version" 2>/dev/null)" != "$version" ]; then
    rm -rf "$tree"
    mkdir -p "$tree"
    cp -a "$src/." "$tree/"
    # shellcheck disable=SC1091 # Debian's file: NGX_CONF_FLAGS=( ... )
    source "$tree/conf_flags"
    (cd "$tree" && ./configure "${NGX_CONF_FLAGS[@]}" >configure.log 2>&1) || {
        tail -30 "$tree/configure.log" >&2
        echo "build.sh: configure of Debian's nginx $version failed" >&2
        exit 1
    }
    echo "$version" >"$tree/.debian-version"
fi

export NGINX_SOURCE_DIR=$tree NGINX_BUILD_DIR=$tree/objs CARGO_INCREMENTAL=0
if [ "$mode" = clippy ]; then
    cargo clippy --release --locked --all-targets --manifest-path "$here/Cargo.toml" -- -D warnings
    exit
fi
cargo build --release --locked --manifest-path "$here/Cargo.toml"
# The safe half (credential extraction, the users file), without nginx.
cargo test --release --locked --lib --manifest-path "$here/Cargo.toml"
cp "$CARGO_TARGET_DIR/release/libngx_http_etoken_module.so" "$here/ngx_http_etoken_module.so"
echo "built $here/ngx_http_etoken_module.so for nginx $version"
