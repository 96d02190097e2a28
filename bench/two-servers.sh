#!/usr/bin/env bash
# Two API servers on one PostgreSQL database (issue 17): a fresh database with the demo
# organisation and SEED_CASES seeded cases, two release servers sharing the JWT signing key, and
# one wrk per server at the same time (each -t1, CONNECTIONS each): POST /api/v1/cases as the demo
# operator, then GET /api/v1/cases/{id} over random seeded ids as the dispatcher (each read is
# recorded in the personal-data read log, SPEC 5.3). Prints each server's requests/s and p99 and
# their sum (issue 17's floors: POST at least 2,000/s together, GET at least 10,000/s together),
# and what the database sessions were waiting on during each run (sampled from pg_stat_activity
# every half second: row locks there mean the servers queue behind one another).
# The servers reach PostgreSQL over loopback without TLS (PG_SSLMODE, default disable): on one
# machine encryption only burns the cores both sides share; across hosts keep TLS on.
#   bash bench/two-servers.sh
#   CONNECTIONS=32 DURATION=20s bash bench/two-servers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/hotline-target}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-16}"
SEED_CASES="${SEED_CASES:-100000}"
PG_ADMIN="${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}"
PG_SSLMODE="${PG_SSLMODE:-disable}"
SERVERS=2

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
if [ -n "${BIN:-}" ]; then bin="$(realpath "$BIN")"; else
    cargo build --release --quiet --bin hotline
    bin="$CARGO_TARGET_DIR/release/hotline"
fi
work="$(mktemp -d)"
pg_name="two_servers_$(python3 -c 'import secrets; print(secrets.token_hex(4))')"
url="${PG_ADMIN%/*}/$pg_name"
servers=()
cleanup() {
    for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS \"$pg_name\" WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
psql -q "$PG_ADMIN" -c "CREATE DATABASE \"$pg_name\""
seed_line="$(DATABASE_URL="$url" RUST_LOG=warn "$bin" seed --cases "$SEED_CASES")"
echo "$seed_line"
DATABASE_URL="$url" RUST_LOG=warn "$bin" sweep >/dev/null
psql -q "$url" -c "VACUUM ANALYZE" >/dev/null

# Every server signs and verifies with the same key (README: several servers).
export HOTLINE_JWT_SIGNING_KEY="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
ports=()
for i in $(seq 1 "$SERVERS"); do
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    DATABASE_URL="$url?sslmode=$PG_SSLMODE" HOTLINE_BIND="127.0.0.1:$port" RUST_LOG=warn HOTLINE_PUBLIC_RATE_LIMIT=0 \
        "$bin" serve >"$work/server-$i.log" 2>&1 &
    servers+=($!)
    ports+=("$port")
done
for port in "${ports[@]}"; do
    until curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; do sleep 0.05; done
done
login() { # user, port
    curl -fsS "http://127.0.0.1:$2/api/v1/auth/login" -H 'content-type: application/json' \
        -d "{\"username\":\"$1\",\"password\":\"hotline-demo-2026\"}" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
# Signed by the first server, used on both.
operator="$(login operator "${ports[0]}")"
dispatcher="$(login dispatcher "${ports[0]}")"
max_id="$(psql "$url" -tAc "SELECT max(id) FROM cases")"

cat >"$work/register.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"channel":"phone","kind":"complaint","title":"小区门口占道经营","description":"每天傍晚有流动摊贩在小区门口占道经营，影响通行。","address":"东城区东华门街道某小区北门","complainant":{"name":"张三","phone":"13812345678","contact_allowed":false}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $operator"
LUA
cat >"$work/read.lua" <<LUA
math.randomseed(os.time())
wrk.headers["Authorization"] = "Bearer $dispatcher"
request = function()
    return wrk.format("GET", "/api/v1/cases/" .. math.random(1, $max_id))
end
LUA

declare -a rows=() waits=()
measure() { # name, script
    local name="$1" script="$2" i total=0 line="" loads=()
    for i in "${!ports[@]}"; do
        wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$script" \
            "http://127.0.0.1:${ports[$i]}/api/v1/cases" >"$work/wrk-$i.txt" &
        loads+=($!)
    done
    : >"$work/waits.txt"
    while kill -0 "${loads[0]}" 2>/dev/null; do
        psql "$url" -tAc "SELECT coalesce(wait_event_type || ':' || wait_event, 'running') \
            FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' \
            AND pid <> pg_backend_pid()" >>"$work/waits.txt" 2>/dev/null || true
        sleep 0.5
    done
    wait "${loads[@]}"
    waits+=("$name: $(sort "$work/waits.txt" | uniq -c | sort -rn | awk '{printf "%s%s %d", sep, $2, $1; sep=", "}')")
    for i in "${!ports[@]}"; do
        if grep -q "Non-2xx" "$work/wrk-$i.txt"; then
            echo "$name on server $((i + 1)): non-2xx answers" >&2; cat "$work/wrk-$i.txt" >&2; exit 1
        fi
        rps="$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$work/wrk-$i.txt")"
        p99="$(awk '$1=="99%" {print $2}' "$work/wrk-$i.txt")"
        total=$((total + rps))
        line+="$(printf ' %8s/s p99 %7s |' "$rps" "$p99")"
    done
    rows+=("$(printf '| %-30s |%s %9s/s |' "$name" "$line" "$total")")
}
measure "POST /api/v1/cases" "$work/register.lua"
measure "GET /api/v1/cases/{id}" "$work/read.lua"
registered="$(psql "$url" -tAc "SELECT count(*) FROM cases")"

echo
echo "hotline $(git rev-parse --short HEAD 2>/dev/null || echo '?') — release, PostgreSQL $(psql "$url" -tAc 'SHOW server_version'), $SERVERS servers, loopback (sslmode=$PG_SSLMODE), $(nproc) cores, one wrk -t1 -c$CONNECTIONS -d$DURATION per server, $(date -u +%FT%TZ)"
echo "$seed_line; $registered cases at the end"
echo "PostgreSQL settings: $(bash bench/pg-settings.sh "$url")"
echo
echo "| request                        |          server 1          |          server 2          |   together  |"
echo "|--------------------------------|---------------------------:|---------------------------:|------------:|"
printf '%s\n' "${rows[@]}"
echo
echo "active database sessions sampled every 0.5 s, by what they waited on:"
printf -- '- %s\n' "${waits[@]}"
