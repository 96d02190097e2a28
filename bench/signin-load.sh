#!/usr/bin/env bash
# Sign-ins must not starve other requests: GET /api/v1/cases/{id} (the operator reading a case) is
# measured with wrk on a quiet server, then again while LOGIN_CONNECTIONS clients sign in back to
# back (Argon2id, deliberately expensive) for the whole window. Release build, fresh embedded
# SQLite file with the demo organisation, loopback only. Prints a markdown table and a verdict:
# under sign-in load the GET p99 stays under 20 ms, the GET throughput at least a third of the
# quiet one, sign-ins still complete, and every GET is answered 2xx. Exits non-zero on FAIL.
#   bash bench/signin-load.sh
#   BIN=/var/tmp/hotline-target-before/release/hotline NO_VERDICT=1 DURATION=20 bash bench/signin-load.sh
set -euo pipefail
[ -z "${BIN:-}" ] || BIN="$(realpath "$BIN")"
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/hotline-target}"
DURATION="${DURATION:-10}"                  # seconds per GET measurement
GET_THREADS="${GET_THREADS:-2}"
GET_CONNECTIONS="${GET_CONNECTIONS:-8}"
LOGIN_CONNECTIONS="${LOGIN_CONNECTIONS:-64}"
MAX_P99_MS=20                               # the floor, under sign-in load
MIN_SHARE=0.3333                            # of the quiet GET throughput

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
if [ -z "${BIN:-}" ]; then
    cargo build --release --quiet --bin hotline
    BIN="$CARGO_TARGET_DIR/release/hotline"
fi
[ -x "$BIN" ] || { echo "BIN=$BIN is not an executable" >&2; exit 2; }
# The machine may be shared: what else was running is part of the result.
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"

work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
server="" logins=""
cleanup() {
    [ -z "$logins" ] || kill "$logins" 2>/dev/null || true
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The server and the demo run in the temporary directory, so that no .env of the checkout applies.
export DATABASE_URL="sqlite://$work/signin.db" RUST_LOG=warn
(cd "$work" && exec "$BIN" demo >/dev/null)
(cd "$work" && HOTLINE_BIND="127.0.0.1:$port" HOTLINE_PUBLIC_RATE_LIMIT=0 HOTLINE_SHUTDOWN_TIMEOUT_SECS=5 \
    exec "$BIN" serve >"$work/server.log" 2>&1) &
server=$!
for _ in $(seq 1 200); do
    curl -fsS --max-time 2 "$base/readyz" >/dev/null 2>&1 && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.05
done
curl -fsS --max-time 2 "$base/readyz" >/dev/null || { echo "the server did not become ready:" >&2; tail -20 "$work/server.log" >&2; exit 1; }

login_body='{"username":"operator","password":"hotline-demo-2026"}'
token="$(curl -fsS "$base/api/v1/auth/login" -H 'content-type: application/json' -d "$login_body" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
case_id="$(curl -fsS "$base/api/v1/cases?limit=1" -H "Authorization: Bearer $token" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')"
path="/api/v1/cases/$case_id"
cat >"$work/login.lua" <<LUA
wrk.method = "POST"
wrk.body = '$login_body'
wrk.headers["Content-Type"] = "application/json"
LUA

# Figures from wrk's report. Latencies in ms; wrk prints us, ms, s or m.
rps() { awk '/Requests\/sec/ {printf "%.1f", $2}' <<<"$1"; }
pct() {
    awk -v p="$2" '$1 == p { v = $2
        if (v ~ /us$/) x = v / 1000; else if (v ~ /ms$/) x = v + 0; else if (v ~ /s$/) x = v * 1000; else x = v * 60000
        printf "%.2f", x }' <<<"$1"
}
done_count() { awk '/requests in/ {n = $1} END {print n + 0}' <<<"$1"; }
non2xx() { awk '/Non-2xx/ {n = $NF} END {print n + 0}' <<<"$1"; }
sockerr() { awk '/Socket errors/ {gsub(",", ""); n = $4 + $6 + $8 + $10} END {print n + 0}' <<<"$1"; }
# A long timeout, so that slow answers count in the latencies instead of vanishing as timeouts.
get() { wrk -t"$GET_THREADS" -c"$GET_CONNECTIONS" -d"$1" --timeout 10s --latency -H "Authorization: Bearer $token" "$base$path"; }

get 2s >/dev/null # warm-up
quiet="$(get "${DURATION}s")"

# The sign-ins start a second before the GET window and end a second after it.
wrk -t1 -c"$LOGIN_CONNECTIONS" -d"$((DURATION + 2))s" --timeout 30s --latency -s "$work/login.lua" \
    "$base/api/v1/auth/login" >"$work/logins.txt" &
logins=$!
sleep 1
loaded="$(get "${DURATION}s")"
wait "$logins"
logins=""
login_out="$(cat "$work/logins.txt")"
kill -0 "$server" 2>/dev/null || { echo "the server died:" >&2; tail -20 "$work/server.log" >&2; exit 1; }

q_rps="$(rps "$quiet")" q_p50="$(pct "$quiet" 50%)" q_p99="$(pct "$quiet" 99%)"
l_rps="$(rps "$loaded")" l_p50="$(pct "$loaded" 50%)" l_p99="$(pct "$loaded" 99%)"
s_rps="$(rps "$login_out")" s_p99="$(pct "$login_out" 99%)" s_bad="$(non2xx "$login_out")"
q_bad=$(($(non2xx "$quiet") + $(sockerr "$quiet")))
l_bad=$(($(non2xx "$loaded") + $(sockerr "$loaded")))
s_err="$(sockerr "$login_out")"
# wrk prints zero latencies when nothing completed: there were none to measure.
[ "$(done_count "$loaded")" -gt 0 ] || l_p50="n/a" l_p99="n/a"

echo
echo "hotline $("$BIN" --version 2>/dev/null | awk '{print $2}') ($BIN) — release, SQLite, loopback, $(nproc) cores"
echo "GET $path as the operator: wrk -t$GET_THREADS -c$GET_CONNECTIONS -d${DURATION}s;" \
    "sign-ins: wrk -t1 -c$LOGIN_CONNECTIONS POST /api/v1/auth/login (operator, correct password)"
echo "load average before the run: $load_before; after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| GET /api/v1/cases/{id}           | requests/s |   p50 ms |   p99 ms | GET errors | sign-ins/s | sign-in p99 ms | sign-in non-2xx | sign-in socket errors |"
echo "|----------------------------------|-----------:|---------:|---------:|-----------:|-----------:|---------------:|----------------:|----------------------:|"
printf '| %-32s | %10s | %8s | %8s | %10s | %10s | %14s | %15s | %21s |\n' \
    "quiet" "$q_rps" "$q_p50" "$q_p99" "$q_bad" "-" "-" "-" "-" \
    "$LOGIN_CONNECTIONS clients signing in" "$l_rps" "$l_p50" "$l_p99" "$l_bad" "$s_rps" "$s_p99" "$s_bad" "$s_err"
echo

[ -z "${VERBOSE:-}" ] || printf '%s\n\n' "wrk, quiet:" "$quiet" "wrk, under sign-in load:" "$loaded" "wrk, sign-ins:" "$login_out"

# The verdict. A run in which no GET completed has no latency to judge: it fails.
fails=()
if [ "$l_p99" = n/a ]; then
    fails+=("no GET completed under sign-in load")
elif ! awk -v a="$l_p99" -v b="$MAX_P99_MS" 'BEGIN {exit !(a < b)}'; then
    fails+=("GET p99 under sign-in load ${l_p99} ms >= ${MAX_P99_MS} ms")
fi
awk -v l="$l_rps" -v q="$q_rps" -v s="$MIN_SHARE" 'BEGIN {exit !(l >= q * s)}' ||
    fails+=("GET throughput under sign-in load $l_rps req/s < 1/3 of quiet $q_rps req/s")
awk -v s="$s_rps" 'BEGIN {exit !(s > 0)}' || fails+=("no sign-in completed")
[ "$q_bad" -eq 0 ] && [ "$l_bad" -eq 0 ] || fails+=("GETs answered non-2xx or failed ($q_bad quiet, $l_bad loaded)")
if [ "${#fails[@]}" -eq 0 ]; then
    echo "PASS: GET p99 ${l_p99} ms < ${MAX_P99_MS} ms, $l_rps req/s >= 1/3 of $q_rps, $s_rps sign-ins/s"
else
    reasons="$(printf '%s; ' "${fails[@]}")"
    echo "FAIL: ${reasons%; }"
    [ -n "${NO_VERDICT:-}" ] || exit 1
fi
