#!/usr/bin/env bash
# Statistics benchmark: a fresh embedded SQLite database with 1,000,000 seeded cases spread over
# the last year (CASES to change), a release server, and wrk driving the statistics endpoints as
# an analyst: the department table for the whole year (and grouped by category), trends by month,
# hot spots for the last month, the public annual report. Prints requests/s, p50 and p99 latency
# and the server's peak memory. Issue 13's floors: departments and trends p99 < 100 ms, hot spots
# p99 < 300 ms.
#   bash bench/stats.sh
#   CASES=200000 DURATION=10s CONNECTIONS=4 bash bench/stats.sh
#   KEEP=/var/tmp/large.db bash bench/stats.sh   # keep (and on later runs reuse) the seeded file
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/hotline-target}"
CASES="${CASES:-1000000}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-4}"
THREADS="${THREADS:-2}"

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
# The first sweep marks every clock the seed left running past its end (and counts each such
# case's statistics anew): done here, timed, so that the server's own sweep does not run under
# the measurements.
sweep_start=$(date +%s.%N)
DATABASE_URL="sqlite://$db" RUST_LOG=warn "$bin" sweep >/dev/null
echo "first sweep: $(python3 -c "print(f'{$(date +%s.%N) - $sweep_start:.1f}')") s"

DATABASE_URL="sqlite://$db" HOTLINE_BIND="127.0.0.1:$port" RUST_LOG=warn \
    HOTLINE_PUBLIC_RATE_LIMIT=1000000 \
    "$bin" serve >"$work/server.log" 2>&1 &
server=$!
until curl -fsS "$base/readyz" >/dev/null 2>&1; do sleep 0.05; done

token="$(curl -fsS "$base/api/v1/auth/login" -H 'content-type: application/json' \
    -d '{"username":"analyst","password":"hotline-demo-2026"}' \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
auth=(-H "Authorization: Bearer $token")
today="$(TZ=Asia/Shanghai date +%F)"
year_ago="$(TZ=Asia/Shanghai date -d '-364 days' +%F)"
month_ago="$(TZ=Asia/Shanghai date -d '-29 days' +%F)"
year="$(TZ=Asia/Shanghai date +%Y)"

declare -a rows=()
run() { # name, path
    local name="$1" path="$2"
    local out rps p50 p99 status
    status="$(curl -s -o /dev/null -w '%{http_code}' "$base$path" "${auth[@]}")"
    if [ "$status" != 200 ]; then
        rows+=("$(printf '| %-58s | %10s | %8s | %8s |' "$name" "HTTP $status" "-" "-")")
        return
    fi
    wrk -t"$THREADS" -c"$CONNECTIONS" -d2s --timeout 20s "${auth[@]}" "$base$path" >/dev/null
    out="$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout 20s --latency "${auth[@]}" "$base$path")"
    if echo "$out" | grep -q "Non-2xx"; then
        echo "$name: wrk saw non-2xx answers:" >&2; echo "$out" >&2; exit 1
    fi
    rps="$(echo "$out" | awk '/Requests\/sec/ {printf "%.0f", $2}')"
    p50="$(echo "$out" | awk '$1=="50%" {print $2}')"
    p99="$(echo "$out" | awk '$1=="99%" {print $2}')"
    rows+=("$(printf '| %-58s | %10s | %8s | %8s |' "$name" "$rps" "$p50" "$p99")")
}

run "GET /stats/departments (a year)" "/api/v1/stats/departments?from=$year_ago&to=$today"
run "GET /stats/departments?by=category (a year)" "/api/v1/stats/departments?from=$year_ago&to=$today&by=category"
run "GET /stats/departments (a month)" "/api/v1/stats/departments?from=$month_ago&to=$today"
run "GET /stats/trends?interval=month&by=kind (a year)" "/api/v1/stats/trends?from=$year_ago&to=$today&interval=month&by=kind"
run "GET /stats/trends?interval=month&by=category (a year)" "/api/v1/stats/trends?from=$year_ago&to=$today&interval=month&by=category"
run "GET /stats/trends?interval=day&by=district (a year)" "/api/v1/stats/trends?from=$year_ago&to=$today&interval=day&by=district"
run "GET /stats/hotspots (a month)" "/api/v1/stats/hotspots?from=$month_ago&to=$today"
run "GET /stats/hotspots (a year)" "/api/v1/stats/hotspots?from=$year_ago&to=$today"
run "GET /public/reports?year=$year" "/api/v1/public/reports?year=$year"

peak_kb="$(awk '/VmHWM/ {print $2}' "/proc/$server/status")"
echo
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, analyst token, $CASES cases over a year"
printf '| %-58s | %10s | %8s | %8s |\n' "request" "req/s" "p50" "p99"
printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..60})" "------------" "----------" "----------"
printf '%s\n' "${rows[@]}"
echo "server peak RSS: $((peak_kb / 1024)) MB"
