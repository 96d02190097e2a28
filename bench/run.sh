#!/usr/bin/env bash
# Benchmark: builds the release binary, starts it on a fresh embedded SQLite database on loopback,
# drives each endpoint with wrk, and prints requests/s, p50 and p99 latency, and the server's
# memory (idle, and peak over the whole run).
#   bash bench/run.sh            # 10 s per endpoint
#   DURATION=30s CONNECTIONS=64 bash bench/run.sh
#   BIN=/path/to/other/build/hotline bash bench/run.sh   # the same scenarios on another build
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/hotline-target}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-50}"
THREADS="${THREADS:-2}"

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
# BIN= runs an already built binary instead (an A/B against another commit's build).
if [ -n "${BIN:-}" ]; then
    bin="$(realpath "$BIN")"
else
    cargo build --release --quiet --bin hotline
    bin="$CARGO_TARGET_DIR/release/hotline"
fi

work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"

# Cold start is measured on an empty database; the demo organisation is loaded afterwards.
start_ns=$(date +%s%N)
DATABASE_URL="sqlite://$work/bench.db" HOTLINE_BIND="127.0.0.1:$port" RUST_LOG=warn HOTLINE_PUBLIC_RATE_LIMIT=0 \
    "$bin" serve >"$work/server.log" 2>&1 &
server=$!
cleanup() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
until curl -fsS "$base/readyz" >/dev/null 2>&1; do sleep 0.005; done
cold_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
sleep 1
idle_kb=$(awk '/VmRSS/ {print $2}' "/proc/$server/status")
DATABASE_URL="sqlite://$work/bench.db" RUST_LOG=warn "$bin" demo >/dev/null

# Each issue's endpoints are a scenario file in bench/scenarios, sourced in name order; they may
# use $base, $work, $bin and `run`.
declare -a rows=()
run() { # name, path, extra wrk args… (CONNECTIONS and THREADS may be overridden per call)
    local name="$1" path="$2"; shift 2
    local out rps p50 p99
    out="$(wrk -t"${RUN_THREADS:-$THREADS}" -c"${RUN_CONNECTIONS:-$CONNECTIONS}" -d"$DURATION" --latency "$@" "$base$path")"
    if echo "$out" | grep -q "Non-2xx"; then
        echo "$name: wrk saw non-2xx answers:" >&2; echo "$out" >&2; exit 1
    fi
    rps="$(echo "$out" | awk '/Requests\/sec/ {printf "%.0f", $2}')"
    p50="$(echo "$out" | awk '$1=="50%" {print $2}')"
    p99="$(echo "$out" | awk '$1=="99%" {print $2}')"
    rows+=("$(printf '| %-28s | %10s | %8s | %8s |' "$name" "$rps" "$p50" "$p99")")
}

run "GET /healthz" /healthz
run "GET /readyz" /readyz
for scenario in bench/scenarios/*.sh; do
    [ -e "$scenario" ] || continue
    # shellcheck source=/dev/null
    source "$scenario"
done

peak_kb=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")
echo
echo "hotline $("$bin" --version 2>/dev/null | cut -d' ' -f2) $bin ($(git rev-parse --short HEAD 2>/dev/null || echo '?') checked out) — release, SQLite, loopback, $(nproc) cores, wrk -t$THREADS -c$CONNECTIONS -d$DURATION"
echo
echo "| endpoint                     | requests/s |      p50 |      p99 |"
echo "|------------------------------|-----------:|---------:|---------:|"
printf '%s\n' "${rows[@]}"
echo
echo "cold start to /readyz 200: ${cold_ms} ms (empty database, migrations included)"
echo "server memory: idle $((idle_kb / 1024)) MB RSS, peak $((peak_kb / 1024)) MB RSS"
