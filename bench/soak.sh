#!/usr/bin/env bash
# Soak test: the SQLite write-ahead log stays bounded under sustained mixed load, and a restart
# after SIGTERM is fast. Release build, fresh embedded SQLite file with the demo organisation,
# loopback only. For SOAK_SECONDS two wrk runs share 32 connections: one mixing POST
# /api/v1/cases and GET /api/v1/cases/{id}, one listing cases; every 0.5 s a sampler records the
# size of <db>-wal, the server's RSS and its open file descriptors. Then the server idles 5 s,
# gets SIGTERM, and is restarted on the same file; the time from exec to the first 200 of
# /readyz is measured. Verdict: the WAL never reaches 64 MB, the restart takes under 100 ms and
# every request was answered 2xx. Exits non-zero on FAIL (NO_VERDICT=1: report only).
#   bash bench/soak.sh
#   BIN=/var/tmp/hotline-target-before/release/hotline SOAK_SECONDS=60 NO_VERDICT=1 bash bench/soak.sh
set -euo pipefail
[ -z "${BIN:-}" ] || BIN="$(realpath "$BIN")"
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/hotline-target}"
SOAK_SECONDS="${SOAK_SECONDS:-60}"
MIX_CONNECTIONS="${MIX_CONNECTIONS:-24}"     # POST /cases and GET /cases/{id}
LIST_CONNECTIONS="${LIST_CONNECTIONS:-8}"    # GET /cases
POST_PERCENT="${POST_PERCENT:-50}"           # share of registrations in the mixed run
MIN_FREE_MB="${MIN_FREE_MB:-4096}"           # the load stops early when the disk gets this full
MAX_WAL_MB=64
MAX_RESTART_MS=100

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
if [ -z "${BIN:-}" ]; then
    cargo build --release --quiet --bin hotline
    BIN="$CARGO_TARGET_DIR/release/hotline"
fi
[ -x "$BIN" ] || { echo "BIN=$BIN is not an executable" >&2; exit 2; }
if ! [ "$SOAK_SECONDS" -ge 1 ] 2>/dev/null || [ "$SOAK_SECONDS" -gt 80000 ]; then
    echo "SOAK_SECONDS must be a whole number from 1 to 80000" >&2; exit 2
fi
# The machine may be shared: what else was running is part of the result.
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"

work="$(mktemp -d)"
db="$work/soak.db"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
server="" sampler="" mix="" list=""
cleanup() {
    for pid in "$sampler" "$mix" "$list"; do [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; done
    if [ -n "$server" ]; then kill -9 "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The server and the demo run in the temporary directory, so that no .env of the checkout applies.
# The access token must outlive the run.
export DATABASE_URL="sqlite://$db" RUST_LOG=warn HOTLINE_PUBLIC_RATE_LIMIT=0 \
    HOTLINE_ACCESS_TOKEN_TTL_SECS=$((SOAK_SECONDS + 900))
start_server() {
    (cd "$work" && HOTLINE_BIND="127.0.0.1:$port" exec "$BIN" serve >>"$work/server.log" 2>&1) &
    server=$!
}
# Readiness is polled without forking (a curl and a date per poll cost tens of ms on a busy
# machine): bash's /dev/tcp for GET /readyz, $EPOCHREALTIME (the clock of date +%s%N) for the
# time, a read timing out on a FIFO nobody writes to for the ~2 ms pause.
mkfifo "$work/tick"
exec {tick}<>"$work/tick"
now_us() { echo "${EPOCHREALTIME/./}"; }
ready() {
    local fd line
    { exec {fd}<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 1
    printf 'GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&"$fd"
    read -r -t 5 -u "$fd" line || true
    exec {fd}>&-
    [[ "$line" == "HTTP/1.1 200"* ]]
}
# Waits at most 60 s; prints the ms since $1 (µs) at the first 200.
wait_ready() {
    local deadline=$(($1 + 60000000))
    while [ "$(now_us)" -lt "$deadline" ]; do
        if ready; then echo $((($(now_us) - $1) / 1000)); return 0; fi
        kill -0 "$server" 2>/dev/null || break
        read -r -t 0.002 -u "$tick" _ || true
    done
    echo "the server did not become ready:" >&2
    tail -20 "$work/server.log" >&2
    return 1
}
wal_bytes() { stat -c %s "$db-wal" 2>/dev/null || echo 0; }
mb() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1048576}'; }

(cd "$work" && exec "$BIN" demo >/dev/null)
start_server
wait_ready "$(now_us)" >/dev/null

token="$(curl -fsS "$base/api/v1/auth/login" -H 'content-type: application/json' \
    -d '{"username":"operator","password":"hotline-demo-2026"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
case_id="$(curl -fsS "$base/api/v1/cases?limit=1" -H "Authorization: Bearer $token" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')"
# The body of bench/scenarios/30-cases.sh.
case_body='{"channel":"phone","kind":"complaint","title":"小区门口占道经营","description":"每天傍晚有流动摊贩在小区门口占道经营，影响通行。","address":"东城区东华门街道某小区北门","complainant":{"name":"张三","phone":"13812345678","contact_allowed":false}}'
cat >"$work/mix.lua" <<LUA
-- POST_PERCENT % registrations, the rest reads of one case (each read by centre staff is itself
-- recorded: a read that writes). Formatted in init: wrk.format needs wrk.host for the Host header.
local register, read
init = function(args)
    local auth = "Bearer $token"
    register = wrk.format("POST", "/api/v1/cases",
        { ["Content-Type"] = "application/json", ["Authorization"] = auth }, '$case_body')
    read = wrk.format("GET", "/api/v1/cases/$case_id", { ["Authorization"] = auth })
end
request = function()
    if math.random(100) <= $POST_PERCENT then return register else return read end
end
LUA

# Long timeouts, so that slow answers count as slow instead of vanishing as timeouts.
wrk -t1 -c"$MIX_CONNECTIONS" -d"${SOAK_SECONDS}s" --timeout 30s --latency -s "$work/mix.lua" "$base" >"$work/mix.txt" &
mix=$!
wrk -t1 -c"$LIST_CONNECTIONS" -d"${SOAK_SECONDS}s" --timeout 30s --latency \
    -H "Authorization: Bearer $token" "$base/api/v1/cases?limit=50" >"$work/list.txt" &
list=$!

# Every 0.5 s until $work/sampling is removed (and never beyond the run plus a minute): ms since
# the start, WAL bytes, RSS kB, open fds. Stops the load (SIGINT: wrk still reports) when the disk
# runs low, which an unbounded WAL can make it.
sample() {
    local t0 i
    t0=$(date +%s%N)
    for ((i = 0; i < 2 * (SOAK_SECONDS + 60); i++)); do
        [ -e "$work/sampling" ] || break
        echo "$((($(date +%s%N) - t0) / 1000000)) $(wal_bytes)" \
            "$(awk '/VmRSS/ {print $2}' "/proc/$server/status" 2>/dev/null || echo 0)" \
            "$(find "/proc/$server/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)" >>"$work/samples"
        if [ "$(df --output=avail -k "$work" | tail -1)" -lt $((MIN_FREE_MB * 1024)) ] && [ ! -e "$work/disk-low" ]; then
            touch "$work/disk-low"
            kill -INT "$mix" "$list" 2>/dev/null || true
        fi
        sleep 0.5
    done
}
: >"$work/samples"
touch "$work/sampling"
sample &
sampler=$!

wait "$mix" || true; mix=""
wait "$list" || true; list=""
wal_end=$(wal_bytes)
kill -0 "$server" 2>/dev/null || { echo "the server died:" >&2; tail -20 "$work/server.log" >&2; exit 1; }
sleep 5
wal_idle=$(wal_bytes)
peak_kb=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")
rm -f "$work/sampling"
wait "$sampler" || true; sampler=""
db_bytes=$(stat -c %s "$db")

# SIGTERM, and a bounded wait for the exit: polled every ~5 ms (a zombie has exited), SIGKILL
# after 60 s.
term_us=$(now_us)
kill -TERM "$server"
while [ "$(now_us)" -lt $((term_us + 60000000)) ]; do
    state="$(awk '{print $3}' "/proc/$server/stat" 2>/dev/null || echo gone)"
    if [ "$state" = Z ] || [ "$state" = gone ]; then break; fi
    read -r -t 0.005 -u "$tick" _ || true
done
stop_ms=$((($(now_us) - term_us) / 1000))
kill -9 "$server" 2>/dev/null || true
exit_code=0
wait "$server" || exit_code=$?
server=""
if [ -e "$db-wal" ]; then wal_after_stop="left behind, $(mb "$(wal_bytes)") MB"; else wal_after_stop="removed"; fi
[ ! -e "$db-shm" ] || wal_after_stop="$wal_after_stop (-shm left behind too)"

# The restart on the same file: exec to the first 200 of /readyz.
exec_us=$(now_us)
start_server
restart_ms="$(wait_ready "$exec_us")" || exit 1
wal_restarted=$(wal_bytes)

# wrk's figures and the sampled series.
rps() { awk '/Requests\/sec/ {printf "%.1f", $2}' "$1"; }
p99() { awk '$1 == "99%" {print $2}' "$1"; }
bad() { awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {print n + 0}' "$1"; }
wal_max=$(awk '$2 > m {m = $2} END {print m + 0}' "$work/samples")
rss_max_kb=$(awk '$3 > m {m = $3} END {print m + 0}' "$work/samples")
fds_max=$(awk '$4 > m {m = $4} END {print m + 0}' "$work/samples")
fds_last=$(awk '{n = $4} END {print n + 0}' "$work/samples")
series=$(awk '$1 >= next_t {printf "%s%.0f", sep, $2 / 1048576; sep = " "; next_t += 5000}' "$work/samples")
mix_bad=$(bad "$work/mix.txt") list_bad=$(bad "$work/list.txt")

echo
echo "hotline $("$BIN" --version 2>/dev/null | awk '{print $2}') ($BIN) — release, SQLite, loopback, $(nproc) cores"
echo "${SOAK_SECONDS} s: wrk -t1 -c$MIX_CONNECTIONS ($POST_PERCENT % POST /api/v1/cases, the rest GET /api/v1/cases/$case_id)" \
    "+ wrk -t1 -c$LIST_CONNECTIONS GET /api/v1/cases?limit=50, as the operator"
echo "load average before the run: $load_before; after: $(cut -d' ' -f1-3 /proc/loadavg)"
[ ! -e "$work/disk-low" ] || echo "THE LOAD WAS STOPPED EARLY: less than $MIN_FREE_MB MB left on the disk"
echo
echo "| load                                   | requests/s |      p99 | non-2xx or socket errors |"
echo "|----------------------------------------|-----------:|---------:|-------------------------:|"
printf '| %-38s | %10s | %8s | %24s |\n' \
    "POST /cases + GET /cases/{id}" "$(rps "$work/mix.txt")" "$(p99 "$work/mix.txt")" "$mix_bad" \
    "GET /cases?limit=50" "$(rps "$work/list.txt")" "$(p99 "$work/list.txt")" "$list_bad"
echo
echo "| measure                                | value |"
echo "|----------------------------------------|------:|"
printf '| %-38s | %s |\n' \
    "WAL max (sampled every 0.5 s)" "$(mb "$wal_max") MB" \
    "WAL at the end of the load" "$(mb "$wal_end") MB" \
    "WAL after 5 s idle" "$(mb "$wal_idle") MB" \
    "database file at the end" "$(mb "$db_bytes") MB" \
    "RSS peak (VmHWM; sampled max)" "$((peak_kb / 1024)) MB; $((rss_max_kb / 1024)) MB" \
    "open fds (max; last sample)" "$fds_max; $fds_last" \
    "SIGTERM to exit" "$stop_ms ms (exit code $exit_code)" \
    "WAL after the exit" "$wal_after_stop" \
    "restart: exec to first /readyz 200" "$restart_ms ms" \
    "WAL once restarted" "$(mb "$wal_restarted") MB"
echo
echo "WAL size every 5 s (MB): $series"
echo

# The verdict.
fails=()
[ "$wal_max" -lt $((MAX_WAL_MB * 1048576)) ] || fails+=("the WAL reached $(mb "$wal_max") MB (limit $MAX_WAL_MB MB)")
[ "$restart_ms" -lt "$MAX_RESTART_MS" ] || fails+=("the restart took $restart_ms ms (limit $MAX_RESTART_MS ms)")
[ "$mix_bad" -eq 0 ] && [ "$list_bad" -eq 0 ] || fails+=("requests failed ($mix_bad mixed, $list_bad list)")
[ ! -e "$work/disk-low" ] || fails+=("the load was stopped early (disk)")
if [ "${#fails[@]}" -eq 0 ]; then
    echo "PASS: WAL max $(mb "$wal_max") MB < $MAX_WAL_MB MB, restart $restart_ms ms < $MAX_RESTART_MS ms"
else
    reasons="$(printf '%s; ' "${fails[@]}")"
    echo "FAIL: ${reasons%; }"
    [ -n "${NO_VERDICT:-}" ] || exit 1
fi
