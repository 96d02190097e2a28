#!/usr/bin/env bash
# Webhook benchmark (issue 15), release builds on fresh embedded SQLite databases, loopback:
#  1. What webhooks cost POST /cases: wrk -t2 -c50 POST /cases, alternately, ROUNDS times each,
#     on BASE_BIN (a build from before the outbox) and on this build with no webhook; with an
#     integration client granted every case and subscribed to every event but the delivery
#     worker off (each registration writes its outbox row, nothing is sent); and with the worker
#     on (each registration also handed out and delivered to the receiver on loopback, on the
#     same two cores).
#  2. Deliveries per second: a server with its delivery worker off registers for DURATION with
#     the webhook subscribed (the events wait in the outbox); a server with the worker on is
#     started on the same file, and the time until every delivery has succeeded is measured.
# The receiver is nginx answering 204 to every POST (its access log counts what arrived).
#   BASE_BIN=/var/tmp/hotline-before-webhooks bash bench/webhooks.sh
#   BASE=f51237f bash bench/webhooks.sh      # builds that commit first (a worktree, a few minutes)
#   ROUNDS=3 DURATION=10s bash bench/webhooks.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/hotline-target}"
DURATION="${DURATION:-10s}"
ROUNDS="${ROUNDS:-2}"

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v nginx >/dev/null || { apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null 2>&1 || apt-get install -y -qq nginx >/dev/null; }
cargo build --release --quiet --bin hotline
bin="$CARGO_TARGET_DIR/release/hotline"
if [ -z "${BASE_BIN:-}" ] && [ -n "${BASE:-}" ]; then
    BASE_BIN="/var/tmp/hotline-base-$BASE"
    if [ ! -x "$BASE_BIN" ]; then
        tree="$(mktemp -d)/base"
        git worktree add --detach "$tree" "$BASE" >/dev/null 2>&1
        (cd "$tree" && cargo build --release --quiet --bin hotline)
        cp "$CARGO_TARGET_DIR/release/hotline" "$BASE_BIN"
        git worktree remove --force "$tree"
        cargo build --release --quiet --bin hotline
    fi
fi

work="$(mktemp -d)"
server=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The receiver.
receiver_port="$(free_port)"
mkdir -p "$work/nginx"
cat >"$work/nginx.conf" <<NGINX
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
    access_log $work/nginx/access.log;
    client_body_temp_path $work/nginx;
    proxy_temp_path $work/nginx;
    fastcgi_temp_path $work/nginx;
    uwsgi_temp_path $work/nginx;
    scgi_temp_path $work/nginx;
    server { listen 127.0.0.1:$receiver_port; location / { return 204; } }
}
NGINX
nginx -c "$work/nginx.conf"
received() { wc -l <"$work/nginx/access.log"; }

case_body='{"channel":"phone","kind":"complaint","title":"小区门口占道经营","description":"每天傍晚有流动摊贩在小区门口占道经营，影响通行。","address":"东城区东华门街道某小区北门","complainant":{"name":"张三","phone":"13812345678","contact_allowed":false}}'

# Starts `$1` on database `$2` with the extra environment in the rest; sets $server and $base.
start() {
    local binary="$1" db="$2"; shift 2
    local port; port="$(free_port)"
    base="http://127.0.0.1:$port"
    env DATABASE_URL="sqlite://$db" HOTLINE_BIND="127.0.0.1:$port" RUST_LOG=warn HOTLINE_PUBLIC_RATE_LIMIT=0 \
        HOTLINE_SWEEP_INTERVAL_SECS=0 HOTLINE_WEBHOOK_ALLOW_PRIVATE=true HOTLINE_WEBHOOK_HTTP_HOSTS=127.0.0.1 \
        HOTLINE_WEBHOOK_KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f \
        HOTLINE_JWT_SIGNING_KEY=bench-signing-key-0123456789abcdef-0123 "$@" \
        "$binary" serve >>"$work/server.log" 2>&1 &
    server=$!
    until curl -fsS "$base/readyz" >/dev/null 2>&1; do sleep 0.05; done
}
stop() { kill "$server"; wait "$server" 2>/dev/null || true; server=""; }
login() {
    curl -fsS "$base/api/v1/auth/login" -H 'content-type: application/json' \
        -d "{\"username\":\"$1\",\"password\":\"hotline-demo-2026\"}" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
# An integration client granted every case, subscribed to every event type, to the receiver.
subscribe() {
    local admin client
    admin="$(login admin)"
    client="$(curl -fsS "$base/api/v1/integration-clients" -H "Authorization: Bearer $admin" \
        -H 'content-type: application/json' -d '{"name":"城市数据平台"}' |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
    curl -fsS -X PATCH "$base/api/v1/integration-clients/$client" -H "Authorization: Bearer $admin" \
        -H 'content-type: application/json' -d '{"all_cases":true}' >/dev/null
    curl -fsS "$base/api/v1/webhooks" -H "Authorization: Bearer $admin" -H 'content-type: application/json' \
        -d "{\"client_id\":$client,\"url\":\"http://127.0.0.1:$receiver_port/hook\"}" >/dev/null
}
# wrk POST /cases for DURATION as the operator; prints requests/s.
register() {
    local token; token="$(login operator)"
    cat >"$work/register.lua" <<LUA
wrk.method = "POST"
wrk.body = '$case_body'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
LUA
    local out; out="$(wrk -t2 -c50 -d"$DURATION" --latency -s "$work/register.lua" "$base/api/v1/cases")"
    if echo "$out" | grep -q "Non-2xx"; then echo "$out" >&2; exit 1; fi
    echo "$out" | awk '/Requests\/sec/ {printf "%.0f", $2}'
}
# A server of `$1` on a new database with the demo organisation (extra environment after it).
fresh_on() { local binary="$1"; shift; local db="$work/db-$RANDOM$RANDOM.db"
    DATABASE_URL="sqlite://$db" RUST_LOG=warn "$binary" demo >/dev/null
    start "$binary" "$db" "$@"; last_db="$db"; }

declare -a head_rps=() idle_rps=() outbox_rps=() base_rps=()
delivered_meanwhile=0
for round in $(seq "$ROUNDS"); do
    if [ -n "${BASE_BIN:-}" ]; then fresh_on "$BASE_BIN"; base_rps+=("$(register)"); stop; fi
    fresh_on "$bin"; idle_rps+=("$(register)"); stop
    fresh_on "$bin" HOTLINE_WEBHOOK_WORKER=false; subscribe; outbox_rps+=("$(register)"); stop
    fresh_on "$bin"; subscribe; before="$(received)"; head_rps+=("$(register)")
    sleep 1; delivered_meanwhile=$(( delivered_meanwhile + $(received) - before )); stop
done

# Deliveries per second: the outbox filled with the worker off, then drained.
fresh_on "$bin" HOTLINE_WEBHOOK_WORKER=false
subscribe
queued_rps="$(register)"
stop
events="$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from webhook_events').fetchone()[0])" "$last_db")"
before="$(received)"
start_ns=$(date +%s%N)
start "$bin" "$last_db" HOTLINE_WEBHOOK_POLL_MS=50
until [ "$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"select count(*) from webhook_deliveries where state='succeeded'\").fetchone()[0])" "$last_db")" -ge "$events" ]; do
    sleep 0.1
done
elapsed_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
arrived=$(( $(received) - before ))
peak_kb=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")
stop

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }
echo
echo "hotline $(git rev-parse --short HEAD 2>/dev/null || echo '?') — release, SQLite, loopback, $(nproc) cores, wrk -t2 -c50 -d$DURATION"
echo
echo "| measurement | result |"
echo "|---|---:|"
pct() { python3 -c "print(f'{(1 - $1 / $2) * 100:.1f} %')"; }
h="$(median "${head_rps[@]}")"; i="$(median "${idle_rps[@]}")"; o="$(median "${outbox_rps[@]}")"
if [ -n "${BASE_BIN:-}" ]; then
    b="$(median "${base_rps[@]}")"
    echo "| POST /cases, the build before the outbox | ${base_rps[*]} req/s (median $b) |"
fi
echo "| POST /cases, no webhook | ${idle_rps[*]} req/s (median $i)${b:+; $(pct "$i" "$b") below the build before} |"
echo "| POST /cases, a client subscribed to every case, worker off (the outbox written) | ${outbox_rps[*]} req/s (median $o)${b:+; $(pct "$o" "$b") below} |"
echo "| POST /cases, subscribed, worker on ($delivered_meanwhile deliveries arrived meanwhile) | ${head_rps[*]} req/s (median $h)${b:+; $(pct "$h" "$b") below} |"
echo "| outbox drained: $events events to one webhook (registered at $queued_rps req/s, worker off) | $(python3 -c "print(round($events * 1000 / $elapsed_ms))") deliveries/s ($elapsed_ms ms; $arrived arrived at the receiver) |"
echo "| server peak RSS while draining | $((peak_kb / 1024)) MB |"
