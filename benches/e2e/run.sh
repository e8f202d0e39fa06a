#!/usr/bin/env bash
# The end-to-end benchmark (benches/e2e/README.md): release builds, one
# machine, one run, wrk on loopback with fixed connections and duration,
# three rounds of five rows, then the Redis-killed scenario. Run by hand:
#   benches/e2e/run.sh            (ROUNDS=3 DURATION=10s CONNECTIONS=32 THREADS=2)
# Prints markdown tables on stdout; servers' logs stay in $WORK.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-10s} CONNECTIONS=${CONNECTIONS:-32} THREADS=${THREADS:-2}
export PATH="$PATH:/usr/sbin:/sbin"

for tool in wrk redis-server curl; do
    command -v "$tool" >/dev/null 2>&1 && continue
    package=$tool; [ "$tool" = wrk ] && package=wrk
    echo "installing $package (Debian)" >&2
    apt-get install -y -qq --no-install-recommends "$package" >/dev/null
done

cargo build --release -q -p etoken --bin etoken --example session_peer
ETOKEN=$PWD/target/release/etoken PEER=$PWD/target/release/examples/session_peer
WORK=$(mktemp -d /tmp/etoken-e2e.XXXXXX)
cd "$WORK"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
REDIS_PORT=$(free_port)
REDIS=redis://127.0.0.1:$REDIS_PORT/0
start_redis() {
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" >redis.log 2>&1 &
    pids+=($!)
    until redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; do sleep 0.05; done
}
stop_redis() { redis-cli -p "$REDIS_PORT" shutdown save >/dev/null 2>&1 || true; }
start_redis

"$ETOKEN" key init --dir keys >/dev/null
echo alice-pw | "$ETOKEN" user add --users users.json alice >/dev/null
echo alice-pw | "$ETOKEN" user add --directory "$REDIS" alice >/dev/null

# serve NAME ARGS...: starts etoken serve, sets URL_NAME.
serve() {
    local name=$1; shift
    "$ETOKEN" serve --keys keys --listen 127.0.0.1:0 --insecure-cookies "$@" >"$name.out" 2>"$name.log" &
    pids+=($!)
    until grep -q '^listening on' "$name.out" 2>/dev/null; do sleep 0.05; done
    printf -v "URL_$name" '%s' "$(sed -n 's/^listening on \(http:[^ ]*\).*/\1/p' "$name.out")"
}
serve files --users users.json
serve redis --directory "$REDIS"
serve stateful --directory "$REDIS" --mode stateful
"$PEER" 127.0.0.1:0 "$REDIS" >peer.out 2>peer.log &
pids+=($!)
until grep -q '^listening on' peer.out 2>/dev/null; do sleep 0.05; done
URL_peer=$(sed -n 's/^listening on //p' peer.out)

cookie_of() { # the login cookie of alice at etoken serve $1
    curl -s -o /dev/null -D - -H 'sec-fetch-site: same-origin' \
        --data 'j_username=alice&j_password=alice-pw' "$1/j_security_check" |
        sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p' | head -1
}
COOKIE_files=$(cookie_of "$URL_files")
COOKIE_redis=$(cookie_of "$URL_redis")
COOKIE_stateful=$(cookie_of "$URL_stateful")
COOKIE_peer=$(curl -s -o /dev/null -D - "$URL_peer/login" | sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p' | head -1)
for row in files redis stateful peer; do
    url=URL_$row cookie=COOKIE_$row
    status=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: ${!cookie}" "${!url}/auth")
    [ "$status" = 200 ] || { echo "row $row: /auth answers $status, not 200" >&2; exit 1; }
done

# load URL COOKIE: "rps p50 p99 non2xx errors"
load() {
    local out
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency ${2:+-H "Cookie: $2"} "$1")
    local rps p50 p99 non2xx errors
    rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5}' <<<"$out")
    errors=$(awk '/Socket errors:/ {gsub(",", ""); print $4+$6+$8+$10}' <<<"$out")
    echo "$rps ${p50:--} ${p99:--} ${non2xx:-0} ${errors:-0}"
}

labels=("1 etoken /healthz, no authentication" "2 /auth, cookie, file directory"
    "3 /auth, cookie, Redis directory" "4 /auth, stateful mode (Redis per request)"
    "5 axum + tower-sessions + Redis store")
targets=("$URL_files/healthz|" "$URL_files/auth|$COOKIE_files" "$URL_redis/auth|$COOKIE_redis"
    "$URL_stateful/auth|$COOKIE_stateful" "$URL_peer/auth|$COOKIE_peer")

echo "## $(date -u +%FT%TZ), $(nproc) vCPU, wrk -t$THREADS -c$CONNECTIONS -d$DURATION"
echo
echo "| row | round | req/s | p50 | p99 | non-2xx | socket errors |"
echo "|---|---|---|---|---|---|---|"
declare -A total
for round in $(seq 1 "$ROUNDS"); do
    for i in "${!targets[@]}"; do
        IFS='|' read -r url cookie <<<"${targets[$i]}"
        read -r rps p50 p99 non2xx errors <<<"$(load "$url" "$cookie")"
        total[$i]=$(( ${total[$i]:-0} + rps ))
        echo "| ${labels[$i]} | $round | $rps | $p50 | $p99 | $non2xx | $errors |"
    done
done
echo
r() { echo "scale=3; ${total[$1]} / ${total[$2]}" | bc; }
echo "Means over $ROUNDS rounds: row 2 / row 1 = $(r 1 0) (target >= 0.95); row 3 / row 2 = $(r 2 1) (target 0.95..1.05); row 2 / row 5 = $(r 1 4) (target >= 1.5)."
echo

# Redis killed after half the run, for rows 3, 4 and 5.
echo "### Redis killed after half of a $DURATION run"
echo
echo "| row | req/s | non-2xx | socket errors | /auth after the kill |"
echo "|---|---|---|---|---|"
seconds=${DURATION%s}
for i in 2 3 4; do
    IFS='|' read -r url cookie <<<"${targets[$i]}"
    load "$url" "$cookie" >killed.txt &
    loader=$!
    sleep $((seconds / 2))
    stop_redis
    wait "$loader"
    read -r rps _ _ non2xx errors <killed.txt
    after=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Cookie: $cookie" "$url" || true)
    echo "| ${labels[$i]} | $rps | $non2xx | $errors | $after |"
    start_redis
    sleep 1 # the followers reconnect and reload
done
