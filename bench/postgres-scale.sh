#!/usr/bin/env bash
# PostgreSQL at scale (issue 17): a PostgreSQL database with CASES seeded cases (default
# 1,000,000; 10,000,000 for the issue's plan) and ARTICLES knowledge articles, swept once (timed:
# the first sweep of the seeded backlog), then
#   1. the EXPLAIN (ANALYZE, BUFFERS) plan of every statement behind each measured read path, as
#      the server itself runs it (auto_explain on this database's sessions only, read back from
#      the PostgreSQL server log), kept in bench/output/postgres-plans-<CASES>.txt;
#   2. each read path driven by wrk against one release server: a case by id (random ids), the
#      case list filtered by status and department, Chinese keyword searches, the department
#      table for a year, the follow-up queue, the Open311 request list, the knowledge search.
# Prints seed rate, database size, sweep time, and requests/s, p50, p99 per path (also written
# to bench/output/postgres-scale-<CASES>.md).
#   bash bench/postgres-scale.sh
#   CASES=10000000 bash bench/postgres-scale.sh
#   KEEP_PG=1 CASES=10000000 bash bench/postgres-scale.sh   # reuse the database seeded before
# The PostgreSQL server log must be readable here (PG_LOG); the database is left in place
# (PG_DB, default hotline_scale_<CASES>) for reruns with KEEP_PG=1; DROP it when done.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/hotline-target}"
CASES="${CASES:-1000000}"
ARTICLES="${ARTICLES:-2000}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-8}"
THREADS="${THREADS:-2}"
PG_ADMIN="${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}"
PG_DB="${PG_DB:-hotline_scale_$CASES}"
PG_LOG="${PG_LOG:-$(ls /var/log/postgresql/postgresql-*-main.log 2>/dev/null | head -1)}"
OUT="${OUT:-bench/output}"

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
if [ -n "${BIN:-}" ]; then bin="$(realpath "$BIN")"; else
    cargo build --release --quiet --bin hotline
    bin="$CARGO_TARGET_DIR/release/hotline"
fi
mkdir -p "$OUT"
work="$(mktemp -d)"
url="${PG_ADMIN%/*}/$PG_DB"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
server=""
stop_server() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    server=""
}
cleanup() {
    stop_server
    psql -q "$PG_ADMIN" -c "ALTER DATABASE \"$PG_DB\" RESET ALL" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

if [ -n "${KEEP_PG:-}" ] && psql "$PG_ADMIN" -tAc "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'" | grep -q 1; then
    seed_line="(reused $PG_DB)"
    DATABASE_URL="$url" RUST_LOG=warn "$bin" migrate >/dev/null
    sweep_line="(swept when seeded)"
else
    psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" -c "CREATE DATABASE \"$PG_DB\""
    seed_line="$(DATABASE_URL="$url" RUST_LOG=warn "$bin" seed --cases "$CASES" --articles "$ARTICLES")"
    psql -q "$url" -c "VACUUM ANALYZE" >/dev/null
    # The first sweep marks every clock the seed left running past its end: timed here, so that
    # the server's own sweep does not run under the measurements.
    start=$(date +%s.%N)
    report="$(DATABASE_URL="$url" RUST_LOG=warn "$bin" sweep)"
    sweep_line="first sweep $(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')") s: $report"
fi
echo "$seed_line"
echo "$sweep_line"
db_size="$(psql "$url" -tAc "SELECT pg_size_pretty(pg_database_size(current_database()))")"
pg_settings="$(bash bench/pg-settings.sh "$url")"

# One signing key for every server this script starts (it restarts the server for the plans).
export HOTLINE_JWT_SIGNING_KEY="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
start_server() {
    DATABASE_URL="$url" HOTLINE_BIND="127.0.0.1:$port" RUST_LOG=warn HOTLINE_PUBLIC_RATE_LIMIT=0 \
        HOTLINE_SWEEP_INTERVAL_SECS=0 "$bin" serve >>"$work/server.log" 2>&1 &
    server=$!
    until curl -fsS "$base/readyz" >/dev/null 2>&1; do sleep 0.05; done
}
login() {
    curl -fsS "$base/api/v1/auth/login" -H 'content-type: application/json' \
        -d "{\"username\":\"$1\",\"password\":\"hotline-demo-2026\"}" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
urlencode() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$1"; }

start_server
dispatcher="$(login dispatcher)"
analyst="$(login analyst)"
department="$(curl -fsS "$base/api/v1/departments?limit=200" -H "Authorization: Bearer $dispatcher" \
    | python3 -c 'import json,sys; print(next(d["id"] for d in json.load(sys.stdin)["items"] if d["code"]=="CGJ"))')"
max_id="$(psql "$url" -tAc "SELECT max(id) FROM cases")"
today="$(TZ=Asia/Shanghai date +%F)"
year_ago="$(TZ=Asia/Shanghai date -d '-364 days' +%F)"

# name | token | path [| connections] (the case by id is the one path with a random id: a Lua
# script; the statistics are read by a few analysts: 4 connections, as in bench/stats.sh)
paths=(
    "GET /cases/{id} (random ids)|dispatcher|/api/v1/cases/1"
    "GET /cases?status=in_progress&department_id=CGJ|dispatcher|/api/v1/cases?status=in_progress&department_id=$department&limit=50"
    "GET /cases?q=道路积水|dispatcher|/api/v1/cases?q=$(urlencode 道路积水)&limit=50"
    "GET /cases?status=in_progress&q=道路积水|dispatcher|/api/v1/cases?status=in_progress&q=$(urlencode 道路积水)&limit=50"
    "GET /cases?q=噪音 (2 characters)|dispatcher|/api/v1/cases?q=$(urlencode 噪音)&limit=50"
    "GET /stats/departments, a year|analyst|/api/v1/stats/departments?from=$year_ago&to=$today|4"
    "GET /follow-up-queue (first 50)|dispatcher|/api/v1/follow-up-queue?limit=50"
    "GET /open311/v2/requests.json|none|/open311/v2/requests.json"
    "GET /knowledge/search?q=社保|dispatcher|/api/v1/knowledge/search?q=$(urlencode 社保)&limit=20"
)
token_of() { case "$1" in dispatcher) echo "$dispatcher" ;; analyst) echo "$analyst" ;; *) echo "" ;; esac; }
cat >"$work/random-case.lua" <<LUA
math.randomseed(os.time())
request = function()
    return wrk.format("GET", "/api/v1/cases/" .. math.random(1, $max_id))
end
LUA

# 1. The plans, one request per path, with auto_explain switched on for this database's new
# sessions only (a fresh server, so that its pool's connections load it).
plans="$OUT/postgres-plans-$CASES.txt"
if [ -n "$PG_LOG" ] && [ -r "$PG_LOG" ]; then
    stop_server
    psql -q "$PG_ADMIN" \
        -c "ALTER DATABASE \"$PG_DB\" SET session_preload_libraries = 'auto_explain'" \
        -c "ALTER DATABASE \"$PG_DB\" SET auto_explain.log_min_duration = 0" \
        -c "ALTER DATABASE \"$PG_DB\" SET auto_explain.log_analyze = on" \
        -c "ALTER DATABASE \"$PG_DB\" SET auto_explain.log_buffers = on" \
        -c "ALTER DATABASE \"$PG_DB\" SET auto_explain.log_timing = on"
    start_server
    {
        echo "# EXPLAIN (ANALYZE, BUFFERS) of the statements behind each read path, $CASES cases"
        echo "# hotline $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(date -u +%FT%TZ), $seed_line"
        echo "# database $db_size; PostgreSQL $(psql "$url" -tAc 'SHOW server_version'); $pg_settings"
    } >"$plans"
    for entry in "${paths[@]}"; do
        IFS='|' read -r name who path _ <<<"$entry"
        token="$(token_of "$who")"
        [[ "$name" == GET\ /cases/\{id\}* ]] && path="/api/v1/cases/$((max_id / 2))"
        # A first request warms the pages and the prepared statements; the second is recorded.
        curl -fsS -o /dev/null ${token:+-H "Authorization: Bearer $token"} "$base$path"
        offset=$(stat -c %s "$PG_LOG")
        curl -fsS -o /dev/null ${token:+-H "Authorization: Bearer $token"} "$base$path"
        sleep 0.3
        {
            printf '\n\n======== %s\n======== %s\n' "$name" "$path"
            # Each log entry starts with a timestamp; keep this database's entries (the prefix
            # names user@database), continuation lines with them.
            tail -c +"$((offset + 1))" "$PG_LOG" | awk -v db="@$PG_DB " '
                /^[0-9]{4}-[0-9]{2}-[0-9]{2} / { keep = index($0, db) > 0 }
                keep { print }'
        } >>"$plans"
    done
    stop_server
    psql -q "$PG_ADMIN" -c "ALTER DATABASE \"$PG_DB\" RESET ALL"
    start_server
    echo "plans: $plans"
else
    echo "PostgreSQL log not readable (PG_LOG=$PG_LOG): no plans recorded" >&2
fi

# 2. The load, after a checkpoint (the seed's and the sweep's dirty pages are not written out
# under the measurements).
psql -q "$url" -c "CHECKPOINT"
declare -a rows=()
for entry in "${paths[@]}"; do
    IFS='|' read -r name who path connections <<<"$entry"
    connections="${connections:-$CONNECTIONS}"
    token="$(token_of "$who")"
    auth=(); [ -n "$token" ] && auth=(-H "Authorization: Bearer $token")
    script=(); [[ "$name" == GET\ /cases/\{id\}* ]] && script=(-s "$work/random-case.lua")
    wrk -t"$THREADS" -c"$connections" -d2s "${auth[@]}" "${script[@]}" "$base$path" >/dev/null
    out="$(wrk -t"$THREADS" -c"$connections" -d"$DURATION" --latency "${auth[@]}" "${script[@]}" "$base$path")"
    if echo "$out" | grep -q "Non-2xx"; then
        echo "$name: wrk saw non-2xx answers:" >&2; echo "$out" >&2; exit 1
    fi
    rps="$(echo "$out" | awk '/Requests\/sec/ {printf "%.0f", $2}')"
    p50="$(echo "$out" | awk '$1=="50%" {print $2}')"
    p99="$(echo "$out" | awk '$1=="99%" {print $2}')"
    rows+=("$(printf '| %-52s | %3s | %8s | %8s | %8s |' "$name" "$connections" "$rps" "$p50" "$p99")")
done
peak_kb=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")

table="$OUT/postgres-scale-$CASES.md"
{
    echo "hotline $(git rev-parse --short HEAD 2>/dev/null || echo '?') — release, PostgreSQL $(psql "$url" -tAc 'SHOW server_version'), loopback, $(nproc) cores, wrk -t$THREADS -d$DURATION, $(date -u +%FT%TZ)"
    echo "$seed_line; database $db_size"
    echo "PostgreSQL settings: $pg_settings"
    echo "$sweep_line"
    echo
    echo "| read path                                            |  -c | requests/s |      p50 |      p99 |"
    echo "|------------------------------------------------------|----:|-----------:|---------:|---------:|"
    printf '%s\n' "${rows[@]}"
    echo
    echo "server memory: peak $((peak_kb / 1024)) MB RSS"
    echo
    echo "largest tables (with their indexes and TOAST):"
    echo
    echo "| table | rows (estimate) | table | indexes | total |"
    echo "|---|---:|---:|---:|---:|"
    psql "$url" -tA -F '|' -c "SELECT c.relname, c.reltuples::bigint,
            pg_size_pretty(pg_table_size(c.oid)), pg_size_pretty(pg_indexes_size(c.oid)),
            pg_size_pretty(pg_total_relation_size(c.oid))
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r' AND n.nspname = 'public'
        ORDER BY pg_total_relation_size(c.oid) DESC LIMIT 12" | sed 's/^/| /; s/$/ |/; s/|/ | /g; s/  */ /g'
} | tee "$table"
