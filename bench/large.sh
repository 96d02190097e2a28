#!/usr/bin/env bash
# Large-data benchmark: builds the release binary, fills a fresh embedded SQLite database with
# `hotline seed` (1,000,000 cases unless CASES says otherwise), then drives the case list with wrk:
# filtered by status and department, and keyword searches (a common phrase of 3+ characters, which
# the trigram index answers, and a 2-character word, which is scanned), and the follow-up queue. Prints the seed rate, the
# database size, requests/s, p50 and p99 latency, and the server's peak memory.
#   bash bench/large.sh
#   CASES=200000 DURATION=20s bash bench/large.sh
#   KEEP=/var/tmp/large.db bash bench/large.sh   # keep (and on later runs reuse) the seeded file
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/hotline-target}"
CASES="${CASES:-1000000}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-50}"
THREADS="${THREADS:-2}"
QUERY="${QUERY:-道路积水}"
SHORT_QUERY="${SHORT_QUERY:-噪音}"

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet --bin hotline
bin="$CARGO_TARGET_DIR/release/hotline"

work="$(mktemp -d)"
db="${KEEP:-$work/large.db}"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
server=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

if [ -n "${KEEP:-}" ] && [ -e "$db" ]; then
    seed_line="(reused $db)"
else
    seed_line="$(DATABASE_URL="sqlite://$db" RUST_LOG=warn "$bin" seed --cases "$CASES")"
fi
echo "$seed_line"
db_mb=$(( ($(stat -c %s "$db") + $(stat -c %s "$db-wal" 2>/dev/null || echo 0)) / 1024 / 1024 ))

DATABASE_URL="sqlite://$db" HOTLINE_BIND="127.0.0.1:$port" RUST_LOG=warn \
    "$bin" serve >"$work/server.log" 2>&1 &
server=$!
until curl -fsS "$base/readyz" >/dev/null 2>&1; do sleep 0.05; done

token="$(curl -fsS "$base/api/v1/auth/login" -H 'content-type: application/json' \
    -d '{"username":"dispatcher","password":"hotline-demo-2026"}' \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
auth=(-H "Authorization: Bearer $token")
# The city's bureau of urban management (城管局), which the most cases go to.
department="$(curl -fsS "$base/api/v1/departments?limit=200" "${auth[@]}" \
    | python3 -c 'import json,sys; print(next(d["id"] for d in json.load(sys.stdin)["items"] if d["code"]=="CGJ"))')"
urlencode() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$1"; }

declare -a rows=()
run() { # name, path[, connections]
    local name="$1" path="$2" connections="${3:-$CONNECTIONS}"
    local out rps p50 p99 count
    count="$(curl -fsS "$base$path" "${auth[@]}" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')"
    # Two seconds unrecorded first: right after seeding the pages are not in memory yet.
    wrk -t"$THREADS" -c"$connections" -d2s "${auth[@]}" "$base$path" >/dev/null
    out="$(wrk -t"$THREADS" -c"$connections" -d"$DURATION" --latency "${auth[@]}" "$base$path")"
    if echo "$out" | grep -q "Non-2xx"; then
        echo "$name: wrk saw non-2xx answers:" >&2; echo "$out" >&2; exit 1
    fi
    rps="$(echo "$out" | awk '/Requests\/sec/ {printf "%.0f", $2}')"
    p50="$(echo "$out" | awk '$1=="50%" {print $2}')"
    p99="$(echo "$out" | awk '$1=="99%" {print $2}')"
    rows+=("$(printf '| %-52s | %4s | %10s | %8s | %8s |' "$name" "$count" "$rps" "$p50" "$p99")")
}

run "GET /cases?status=in_progress&department_id=CGJ" \
    "/api/v1/cases?status=in_progress&department_id=$department&limit=50"
run "GET /cases?q=$QUERY" "/api/v1/cases?q=$(urlencode "$QUERY")&limit=50"
run "GET /cases?q=$SHORT_QUERY (2 characters: no index)" "/api/v1/cases?q=$(urlencode "$SHORT_QUERY")&limit=50"
run "GET /cases?status=in_progress&q=$QUERY" "/api/v1/cases?status=in_progress&q=$(urlencode "$QUERY")&limit=50"
# The centre's follow-up work queue: each page shows 50 complainants in full, so each request
# also records 50 personal-data reads.
run "GET /follow-up-queue (first 50, reads recorded)" "/api/v1/follow-up-queue?limit=50"
run "GET /follow-up-queue, 10 clients (-c10)" "/api/v1/follow-up-queue?limit=50" 10

peak_kb=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")
echo
echo "hotline $(git rev-parse --short HEAD 2>/dev/null || echo '?') — release, SQLite, loopback, $(nproc) cores, wrk -t$THREADS -c$CONNECTIONS -d$DURATION"
echo "$seed_line; database ${db_mb} MB"
echo
echo "| endpoint                                             | rows | requests/s |      p50 |      p99 |"
echo "|------------------------------------------------------|-----:|-----------:|---------:|---------:|"
printf '%s\n' "${rows[@]}"
echo
echo "server memory: peak $((peak_kb / 1024)) MB RSS"
