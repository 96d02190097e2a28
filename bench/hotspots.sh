#!/usr/bin/env bash
# Hot-spot and public-report benchmark: builds the release binary, fills a fresh embedded SQLite
# database with `hotline seed` (1,000,000 cases over the year before today unless CASES says
# otherwise; the seed counts its cases' statistics), starts the server and drives with wrk:
#   - GET /stats/hotspots over last calendar month (rises against the month before it, clusters
#     of that month's cases) — the speed floor: p99 under 300 ms;
#   - the same over the last 365 days;
#   - GET /public/reports for this year (served from memory after the first request).
# Prints each endpoint's first (cold) request time, requests/s, p50 and p99.
#   bash bench/hotspots.sh
#   KEEP=/var/tmp/hotspots-1m.db bash bench/hotspots.sh   # keep (and on later runs reuse) the file
#   CONNECTIONS=8 DURATION=20s bash bench/hotspots.sh
#   REBUILD=1 KEEP=… bash bench/hotspots.sh   # a file seeded before the seed counted statistics
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/hotline-target}"
CASES="${CASES:-1000000}"
DURATION="${DURATION:-10s}"
# Analysts' reports, not the call centre's traffic: a few at once.
CONNECTIONS="${CONNECTIONS:-2}"
THREADS="${THREADS:-2}"

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet --bin hotline
bin="$CARGO_TARGET_DIR/release/hotline"

work="$(mktemp -d)"
db="${KEEP:-$work/hotspots.db}"
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
    # A file seeded by an older build gets this build's migrations (the index on created_at).
    DATABASE_URL="sqlite://$db" RUST_LOG=warn "$bin" migrate >/dev/null
else
    seed_line="$(DATABASE_URL="sqlite://$db" RUST_LOG=warn "$bin" seed --cases "$CASES")"
fi
echo "$seed_line"
if [ -n "${REBUILD:-}" ]; then
    echo "hotline stats rebuild: $(DATABASE_URL="sqlite://$db" RUST_LOG=warn "$bin" stats rebuild)"
fi

DATABASE_URL="sqlite://$db" HOTLINE_BIND="127.0.0.1:$port" HOTLINE_PUBLIC_RATE_LIMIT=0 RUST_LOG=warn \
    "$bin" serve >"$work/server.log" 2>&1 &
server=$!
until curl -fsS "$base/readyz" >/dev/null 2>&1; do sleep 0.05; done

token="$(curl -fsS "$base/api/v1/auth/login" -H 'content-type: application/json' \
    -d '{"username":"analyst","password":"hotline-demo-2026"}' \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
auth=(-H "Authorization: Bearer $token")

# Local dates in the centre's zone (the default, Asia/Shanghai).
read -r month_from month_to year_from today this_year < <(python3 - <<'EOF'
import datetime, zoneinfo
today = datetime.datetime.now(zoneinfo.ZoneInfo("Asia/Shanghai")).date()
last_month_end = today.replace(day=1) - datetime.timedelta(days=1)
print(last_month_end.replace(day=1), last_month_end, today - datetime.timedelta(days=364), today, today.year)
EOF
)

declare -a rows=()
run() { # name, path
    local name="$1" path="$2"
    local out rps p50 p99 cold summary
    cold="$(curl -fsS -o "$work/body.json" -w '%{time_total}' "$base$path" "${auth[@]}")"
    summary="$(python3 - "$work/body.json" <<'EOF'
import json, sys
body = json.load(open(sys.argv[1]))
if "clusters" in body:
    print(f"{len(body['rising_categories'])} rising categories, {len(body['rising_districts'])} districts, "
          f"{body['clusters_found']} clusters (largest {body['clusters'][0]['case_count'] if body['clusters'] else 0})")
else:
    print(f"{body['registrations']['total']} registrations, {len(body['departments'])} departments")
EOF
)"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d2s "${auth[@]}" "$base$path" >/dev/null
    out="$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "${auth[@]}" "$base$path")"
    if echo "$out" | grep -q "Non-2xx"; then
        echo "$name: wrk saw non-2xx answers:" >&2; echo "$out" >&2; exit 1
    fi
    rps="$(echo "$out" | awk '/Requests\/sec/ {printf "%.1f", $2}')"
    p50="$(echo "$out" | awk '$1=="50%" {print $2}')"
    p99="$(echo "$out" | awk '$1=="99%" {print $2}')"
    rows+=("$(printf '| %-58s | %7.0f ms | %10s | %8s | %8s |' "$name" "$(python3 -c "print($cold*1000)")" "$rps" "$p50" "$p99")")
    rows+=("$(printf '|   %-56s | %10s | %10s | %8s | %8s |' "$summary" "" "" "" "")")
}

run "GET /stats/hotspots $month_from..$month_to (a month)" \
    "/api/v1/stats/hotspots?from=$month_from&to=$month_to"
run "GET /stats/hotspots $year_from..$today (365 days)" \
    "/api/v1/stats/hotspots?from=$year_from&to=$today"
run "GET /public/reports?year=$this_year (cached after the first)" \
    "/api/v1/public/reports?year=$this_year"

peak_kb=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")
echo
echo "hotline $(git rev-parse --short HEAD 2>/dev/null || echo '?') — release, SQLite, loopback, $(nproc) cores, wrk -t$THREADS -c$CONNECTIONS -d$DURATION"
echo "$seed_line"
echo
echo "| endpoint                                                   |  first request | requests/s |      p50 |      p99 |"
echo "|------------------------------------------------------------|---------------:|-----------:|---------:|---------:|"
printf '%s\n' "${rows[@]}"
echo
echo "server memory: peak $((peak_kb / 1024)) MB RSS"
