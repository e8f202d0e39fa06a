#!/usr/bin/env bash
# The end-to-end benchmark (benches/e2e/README.md): release builds, one
# machine, one run, wrk on loopback with fixed threads, connections and
# duration, ROUNDS rounds of the five rows (interleaved, so a neighbour's
# load spreads over every row alike), then the Redis-killed scenario.
# Run by hand:
#   benches/e2e/run.sh     (ROUNDS=3 DURATION=10 WARMUP=2 CONNECTIONS=32 THREADS=1)
# Prints markdown on stdout; the servers' logs stay in $WORK (printed).
# SMOKE=1 does one short round and the scenario in a few seconds (a check
# that the script runs, not a measurement).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-10} WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-32} THREADS=${THREADS:-1}
if [ "${SMOKE:-}" = 1 ]; then ROUNDS=1 DURATION=2 WARMUP=0; fi
export PATH="$PATH:/usr/sbin:/sbin"

# The tools, from Debian where missing.
missing=()
for tool in wrk:wrk redis-server:redis-server redis-cli:redis-tools curl:curl bc:bc python3:python3; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]} (Debian)" >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
fi

cargo build --release -q -p etoken --bin etoken --example session_peer
TARGET=${CARGO_TARGET_DIR:-$PWD/target}
ETOKEN=$TARGET/release/etoken PEER=$TARGET/release/examples/session_peer
WORK=$(mktemp -d /tmp/etoken-e2e.XXXXXX)
cd "$WORK"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

# wait_for FILE PATTERN: until FILE has a line matching PATTERN (10 s at most).
wait_for() {
    for _ in $(seq 200); do grep -q "$2" "$1" 2>/dev/null && return; sleep 0.05; done
    echo "no '$2' in $WORK/$1:" >&2; cat "$1" "${1%.out}.log" >&2 2>/dev/null; exit 1
}

REDIS_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
REDIS=redis://127.0.0.1:$REDIS_PORT/0
# No automatic saves; the scenario saves by hand before it kills Redis, and
# a restart loads that dump, as a persistent Redis would come back.
start_redis() {
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
        --dir "$WORK" >>redis-server.log 2>&1 &
    REDIS_PID=$!
    pids+=("$REDIS_PID")
    for _ in $(seq 200); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return; sleep 0.05; done
    echo "redis-server did not start: $WORK/redis-server.log" >&2; exit 1
}
kill_redis() { kill -KILL "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null || true; }
start_redis

"$ETOKEN" key init --dir keys >/dev/null
echo alice-pw | "$ETOKEN" user add --users users.json alice >/dev/null
echo alice-pw | "$ETOKEN" user add --directory "$REDIS" alice >/dev/null

# serve NAME ARGS...: starts etoken serve, sets URL_NAME.
serve() {
    local name=$1; shift
    "$ETOKEN" serve --keys keys --listen 127.0.0.1:0 --insecure-cookies --instance "$name" "$@" \
        >"$name.out" 2>"$name.log" &
    pids+=($!)
    wait_for "$name.out" '^listening on'
    printf -v "URL_$name" '%s' "$(sed -n 's/^listening on \(http:[^ ]*\).*/\1/p' "$name.out")"
}
serve files --users users.json
serve redis --directory "$REDIS"
serve stateful --directory "$REDIS" --mode stateful
"$PEER" 127.0.0.1:0 "$REDIS" >peer.out 2>peer.log &
pids+=($!)
wait_for peer.out '^listening on'
URL_peer=$(sed -n 's/^listening on //p' peer.out)

set_cookie() { sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p' | head -1; }
cookie_of() { # the login cookie of alice at etoken serve $1
    curl -s -o /dev/null -D - -H 'sec-fetch-site: same-origin' \
        --data 'j_username=alice&j_password=alice-pw' "$1/j_security_check" | set_cookie
}
COOKIE_files=$(cookie_of "$URL_files")
COOKIE_redis=$(cookie_of "$URL_redis")
COOKIE_stateful=$(cookie_of "$URL_stateful")
COOKIE_peer=$(curl -s -o /dev/null -D - "$URL_peer/login" | set_cookie)

labels=("1 \`/healthz\`, no authentication" "2 \`/auth\`, cookie, file directory"
    "3 \`/auth\`, cookie, Redis directory" "4 \`/auth\`, stateful mode"
    "5 axum + tower-sessions + Redis")
urls=("$URL_files/healthz" "$URL_files/auth" "$URL_redis/auth" "$URL_stateful/auth" "$URL_peer/auth")
cookies=("" "$COOKIE_files" "$COOKIE_redis" "$COOKIE_stateful" "$COOKIE_peer")
status_of() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Cookie: ${cookies[$1]}" "${urls[$1]}" || true; }
for i in "${!urls[@]}"; do
    status=$(status_of "$i")
    [ "$status" = 200 ] || { echo "row ${labels[$i]}: answers $status, not 200 ($WORK)" >&2; exit 1; }
done

# Counts answers by status in every wrk thread (only in the scenario: a
# response() hook makes wrk parse every answer, which costs throughput).
cat >count.lua <<'EOF'
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) s503 = 0; failed = 0 end
function response(status, headers, body)
    if status == 503 then s503 = s503 + 1 end
    if status >= 400 then failed = failed + 1 end
end
function done(summary, latency, requests)
    local a, b = 0, 0
    for _, t in ipairs(threads) do a = a + t:get("s503"); b = b + t:get("failed") end
    io.write(string.format("answers-503: %d\nanswers-failed: %d\n", a, b))
end
EOF

# load ROW SECONDS [wrk args...]: prints the wrk report.
load() {
    local row=$1 seconds=$2; shift 2
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${seconds}s" --latency \
        ${cookies[$row]:+-H "Cookie: ${cookies[$row]}"} "$@" "${urls[$row]}"
}
field() { # field NAME REPORT: one figure of a wrk report
    case $1 in
    rps) awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$2" ;;
    p50 | p99) awk -v p="${1#p}%" '$1 == p {print $2}' <<<"$2" ;;
    requests) awk '/requests in/ {print $1}' <<<"$2" ;;
    non2xx) awk '/Non-2xx or 3xx responses:/ {n = $5} END {print n + 0}' <<<"$2" ;;
    errors) awk '/Socket errors:/ {gsub(",", ""); n = $4 + $6 + $8 + $10} END {print n + 0}' <<<"$2" ;;
    503) awk '/^answers-503:/ {print $2}' <<<"$2" ;;
    failed) awk '/^answers-failed:/ {print $2}' <<<"$2" ;;
    esac
}

echo "## $(date -u +%FT%TZ): $(nproc) vCPU, wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s (after ${WARMUP}s of warm-up per row), $ROUNDS rounds"
echo
echo "Load before: \`$(uptime)\`"
echo
declare -A rps line
for round in $(seq 1 "$ROUNDS"); do
    # Each round starts one row later, so no row always follows the same one.
    for k in "${!urls[@]}"; do
        i=$(((k + round - 1) % ${#urls[@]}))
        if [ "$WARMUP" -gt 0 ]; then load "$i" "$WARMUP" >/dev/null; fi
        report=$(load "$i" "$DURATION")
        rps[$round,$i]=$(field rps "$report")
        line[$round,$i]="| ${labels[$i]} | $round | ${rps[$round,$i]} | $(field p50 "$report") | $(field p99 "$report") | $(field non2xx "$report") | $(field errors "$report") |"
    done
done
echo "| row | round | req/s | p50 | p99 | non-2xx | socket errors |"
echo "|---|---|---|---|---|---|---|"
for i in "${!urls[@]}"; do
    for round in $(seq 1 "$ROUNDS"); do echo "${line[$round,$i]}"; done
done
echo
echo "Load after: \`$(uptime)\`"
echo
ratio() { echo "scale=3; $1 / $2" | bc | sed 's/^\./0./'; }
echo "| ratio | target | $(for r in $(seq 1 "$ROUNDS"); do printf 'round %s | ' "$r"; done)mean of rounds |"
echo "|---|---|$(for _ in $(seq 1 "$ROUNDS"); do printf -- '---|'; done)---|"
for pair in "2/1:>= 0.95" "3/2:0.95 to 1.05" "2/5:>= 1.5" "4/2:(none)"; do
    a=${pair%%/*} rest=${pair#*/} b=${rest%%:*} target=${pair#*:}
    line="| row $a / row $b | $target |" sum=0
    for round in $(seq 1 "$ROUNDS"); do
        x=$(ratio "${rps[$round,$((a - 1))]}" "${rps[$round,$((b - 1))]}")
        line+=" $x |" sum=$(echo "$sum + $x" | bc)
    done
    echo "$line $(ratio "$sum" "$ROUNDS") |"
done
echo

# Redis killed (SIGKILL) after half of a run, rows 3, 4 and 5.
echo "### Redis killed $(echo "$DURATION / 2" | bc -l | sed 's/\.\?0*$//') s into a ${DURATION} s run (wrk counting answers by status)"
echo
echo "| row | requests | req/s | failed (4xx/5xx) | of which 503 | socket errors (timeouts incl.) | \`/auth\` just after the kill |"
echo "|---|---|---|---|---|---|---|"
for i in 2 3 4; do
    redis-cli -p "$REDIS_PORT" save >/dev/null
    load "$i" "$DURATION" -s count.lua >killed.txt &
    loader=$!
    sleep "$(echo "$DURATION / 2" | bc -l)"
    kill_redis
    after=$(status_of "$i")
    wait "$loader"
    report=$(cat killed.txt)
    echo "| ${labels[$i]} | $(field requests "$report") | $(field rps "$report") | $(field failed "$report") | $(field 503 "$report") | $(field errors "$report") | $after |"
    start_redis
    # The follower reloads, the stateful instance reconnects (the peer's
    # pool does not: it comes last).
    if [ "$i" -lt 4 ]; then
        for _ in $(seq 100); do [ "$(status_of "$i")" = 200 ] && break; sleep 0.1; done
    fi
done
echo
echo "Logs: $WORK"
