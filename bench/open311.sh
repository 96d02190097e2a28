#!/usr/bin/env bash
# Open311 benchmark (issue 15): GET /open311/v2/requests at 1,000,000 seeded cases over a year, on
# the embedded SQLite database: the default query (the last 90 days, the newest 1,000), in JSON
# and in XML, and with a service and status filter. Prints requests/s, p50 and p99 (floor: p99
# under 50 ms for requests.json) and the server's peak memory.
#   bash bench/open311.sh
#   KEEP=/var/tmp/large1m.db bash bench/open311.sh     # keep (and on later runs reuse) the file
#   CONNECTIONS=8 DURATION=20s bash bench/open311.sh
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
db="${KEEP:-$work/open311.db}"
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
    DATABASE_URL="sqlite://$db" RUST_LOG=warn "$bin" migrate >/dev/null
else
    seed_line="$(DATABASE_URL="sqlite://$db" RUST_LOG=warn "$bin" seed --cases "$CASES")"
fi
DATABASE_URL="sqlite://$db" HOTLINE_BIND="127.0.0.1:$port" HOTLINE_PUBLIC_RATE_LIMIT=0 RUST_LOG=warn \
    HOTLINE_SWEEP_INTERVAL_SECS=0 "$bin" serve >"$work/server.log" 2>&1 &
server=$!
until curl -fsS "$base/readyz" >/dev/null 2>&1; do sleep 0.05; done
# The service of the newest request: a filter that finds something.
code="$(curl -fsS "$base/open311/v2/requests.json" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["service_code"])')"

declare -a rows=()
run() { # name, path
    local name="$1" path="$2" out rps p50 p99 count
    count="$(curl -fsS "$base$path" | python3 -c '
import json, sys
body = sys.stdin.read()
print(len(json.loads(body)) if body.startswith("[") else body.count("<request>") + body.count("<service>"))')"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d2s "$base$path" >/dev/null
    out="$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$base$path")"
    if echo "$out" | grep -q "Non-2xx"; then echo "$name: non-2xx answers" >&2; echo "$out" >&2; exit 1; fi
    rps="$(echo "$out" | awk '/Requests\/sec/ {printf "%.0f", $2}')"
    p50="$(echo "$out" | awk '$1=="50%" {print $2}')"
    p99="$(echo "$out" | awk '$1=="99%" {print $2}')"
    rows+=("$(printf '| %-58s | %6s | %8s | %8s | %8s |' "$name" "$count" "$rps" "$p50" "$p99")")
}
run "GET /open311/v2/requests.json (last 90 days, newest 1,000)" "/open311/v2/requests.json"
run "GET /open311/v2/requests.xml (the same)" "/open311/v2/requests.xml"
run "GET requests.json?service_code=$code&status=open" "/open311/v2/requests.json?service_code=$code&status=open"
run "GET /open311/v2/services.json" "/open311/v2/services.json"

peak_kb=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")
echo
echo "hotline $(git rev-parse --short HEAD 2>/dev/null || echo '?') — release, SQLite, loopback, $(nproc) cores, wrk -t$THREADS -c$CONNECTIONS -d$DURATION"
echo "$seed_line"
echo
echo "| request | items | req/s | p50 | p99 |"
echo "|---|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
echo
echo "server peak RSS: $((peak_kb / 1024)) MB"
