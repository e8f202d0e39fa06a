#!/usr/bin/env bash
# The front-door benchmark (benches/nginx/README.md): one nginx (Debian's,
# one worker) serving the same static page four ways, wrk on loopback with
# fixed threads, connections and duration, ROUNDS rounds of the four rows
# in one run. Run by hand, as root (it installs what is missing):
#   benches/nginx/run.sh          (ROUNDS=3 DURATION=10s CONNECTIONS=16 THREADS=1)
# Prints markdown on stdout; nginx's and the servers' logs stay in $WORK.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-10s} CONNECTIONS=${CONNECTIONS:-16} THREADS=${THREADS:-1}
export PATH="$PATH:/usr/sbin:/sbin"

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v curl >/dev/null 2>&1 || missing+=(curl)
dpkg -s libnginx-mod-http-js >/dev/null 2>&1 || missing+=(libnginx-mod-http-js)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing ${missing[*]} (Debian)" >&2
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[ -f contrib/nginx-module/ngx_http_etoken_module.so ] || contrib/nginx-module/build.sh >&2
if [ -z "${ETOKEN:-}" ]; then # ETOKEN=path: a binary already built
    cargo build --release -q -p etoken --bin etoken
    ETOKEN=$PWD/target/release/etoken
fi
MODULE=$PWD/contrib/nginx-module/ngx_http_etoken_module.so
NJS_SCRIPT=$PWD/contrib/nginx-njs/etoken.js
WORK=$(mktemp -d /tmp/etoken-nginx-bench.XXXXXX)
cd "$WORK"
pids=()
cleanup() {
    [ -f nginx.pid ] && kill -TERM "$(cat nginx.pid)" 2>/dev/null || true
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

"$ETOKEN" key init --dir keys >/dev/null
"$ETOKEN" key export --dir keys --out ring.json 2>/dev/null
echo alice-pw | "$ETOKEN" user add --users users.json alice >/dev/null
TOKEN=$("$ETOKEN" mint --keys keys --user alice --ttl 12h)
COOKIE="login-token=$TOKEN"
mkdir -p www logs
# A small static page, the same bytes for every row.
printf '<!doctype html><title>page</title><p>%s</p>\n' "$(head -c 600 /dev/zero | tr '\0' x)" >www/index.html

# Two etoken serve instances behind auth_request, as the farm runs them.
farm=()
for i in 1 2; do
    "$ETOKEN" serve --keys keys --users users.json --listen 127.0.0.1:0 --insecure-cookies \
        >"serve$i.out" 2>"serve$i.log" &
    pids+=($!)
    until grep -q '^listening on' "serve$i.out" 2>/dev/null; do sleep 0.05; done
    farm+=("$(sed -n 's|^listening on http://\([^/ ]*\).*|\1|p' "serve$i.out")")
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
OPEN=$(free_port) NATIVE=$(free_port) NJS=$(free_port) AUTH=$(free_port)
cat >nginx.conf <<EOF
load_module $MODULE;
load_module /usr/lib/nginx/modules/ngx_http_js_module.so;
# root: the ring and users files are 0600, owned by the user running this.
user root root;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $WORK/body; proxy_temp_path $WORK/proxy;
    fastcgi_temp_path $WORK/fastcgi; uwsgi_temp_path $WORK/uwsgi; scgi_temp_path $WORK/scgi;
    root $WORK/www;

    js_import etoken from $NJS_SCRIPT;
    js_var \$etoken_ring $WORK/ring.json;
    js_set \$etoken_js_user etoken.user;

    upstream etoken_farm {
        server ${farm[0]};
        server ${farm[1]};
        keepalive 32;
    }

    server { listen 127.0.0.1:$OPEN; }
    server {
        listen 127.0.0.1:$NATIVE;
        etoken_ring $WORK/ring.json;
        etoken_users $WORK/users.json;
        etoken_require on;
    }
    server {
        listen 127.0.0.1:$NJS;
        location / {
            if (\$etoken_js_user = "") { return 401; }
        }
    }
    server {
        listen 127.0.0.1:$AUTH;
        location / { auth_request /_auth; }
        location = /_auth {
            internal;
            proxy_pass http://etoken_farm/auth;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
        }
    }
}
EOF
nginx -p "$WORK" -c "$WORK/nginx.conf"
until curl -s -o /dev/null "http://127.0.0.1:$OPEN/"; do sleep 0.05; done

labels=("open page, no authentication" "native module (etoken_require, users file)"
    "njs (etoken.js, js_set)" "auth_request to two etoken serve")
ports=("$OPEN" "$NATIVE" "$NJS" "$AUTH")
for i in 1 2 3; do
    status=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $COOKIE" "http://127.0.0.1:${ports[$i]}/")
    refused=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${ports[$i]}/")
    [ "$status.$refused" = 200.401 ] || {
        echo "${labels[$i]}: $status with the cookie, $refused without (want 200, 401)" >&2
        exit 1
    }
done

# CPU time (clock ticks, user + system) the processes PIDS... used so far.
ticks() { local t=0 pid; for pid in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done; echo "$t"; }
WORKER=$(pgrep -P "$(cat nginx.pid)")
HZ=$(getconf CLK_TCK)

# load PORT PIDS...: "rps p50 p99 non2xx errors cpu_us_per_request", the
# CPU counted over nginx's worker and PIDS (the etoken serve instances
# for auth_request): what a request costs the front door, whatever else
# the shared machine runs.
load() {
    local port=$1 out rps p50 p99 non2xx errors requests before after
    shift
    before=$(ticks "$WORKER" "$@")
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "Cookie: $COOKIE" "http://127.0.0.1:$port/")
    after=$(ticks "$WORKER" "$@")
    rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' <<<"$out")
    requests=$(awk '/requests in/ {print $1}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $5}' <<<"$out")
    errors=$(awk '/Socket errors:/ {gsub(",", ""); print $4+$6+$8+$10}' <<<"$out")
    cpu=$(echo "scale=1; ($after - $before) * 1000000 / $HZ / $requests" | bc)
    echo "$rps ${p50:--} ${p99:--} ${non2xx:-0} ${errors:-0} $cpu"
}

echo "## $(date -u +%FT%TZ), $(nproc) vCPU, nginx $(nginx -v 2>&1 | sed 's|.*/||'), one worker, wrk -t$THREADS -c$CONNECTIONS -d$DURATION"
echo
echo "uptime before: $(uptime)"
echo
echo "| row | round | req/s | share of open | CPU µs/request | share of open by CPU | p50 | p99 | non-2xx | socket errors |"
echo "|---|---|---|---|---|---|---|---|---|---|"
declare -A total cpu_total
for round in $(seq 1 "$ROUNDS"); do
    open_rps= open_cpu=
    for i in "${!ports[@]}"; do
        others=()
        [ "$i" = 3 ] && others=("${pids[@]}")
        read -r rps p50 p99 non2xx errors cpu <<<"$(load "${ports[$i]}" "${others[@]}")"
        [ -n "$open_rps" ] || { open_rps=$rps; open_cpu=$cpu; }
        total[$i]=$(( ${total[$i]:-0} + rps ))
        cpu_total[$i]=$(echo "${cpu_total[$i]:-0} + $cpu" | bc)
        share=$(echo "scale=2; $rps / $open_rps" | bc)
        cpu_share=$(echo "scale=2; $open_cpu / $cpu" | bc)
        echo "| ${labels[$i]} | $round | $rps | ${share}x | $cpu | ${cpu_share}x | $p50 | $p99 | $non2xx | $errors |"
    done
done
echo
echo "uptime after: $(uptime)"
echo
r() { echo "scale=2; ${total[$1]} / ${total[0]}" | bc; }
c() { echo "scale=2; ${cpu_total[0]} / ${cpu_total[$1]}" | bc; }
echo "Means over $ROUNDS rounds, share of the open page's requests/s: native $(r 1)x (target >= 0.9), njs $(r 2)x (target >= 0.45), auth_request $(r 3)x."
echo "By CPU per request (open's CPU / the row's, nginx's worker plus, for auth_request, both etoken serve): native $(c 1)x, njs $(c 2)x, auth_request $(c 3)x."
