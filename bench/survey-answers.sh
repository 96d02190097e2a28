#!/usr/bin/env bash
# Citizens answering satisfaction surveys: POST /api/v1/public/surveys/{token}/responses, every
# request with a token of its own (each takes one answer). Release build, fresh embedded SQLite
# file with the demo organisation, loopback, public rate limit off (HOTLINE_PUBLIC_RATE_LIMIT=0).
# N invitations are issued first through the API (POST /api/v1/cases/{id}/surveys as the demo
# operator, on the demo's closed cases, wrk collecting the tokens), then wrk answers each token
# once. wrk's main thread sleeps for the whole -d duration whatever its threads do, so both runs
# are ended with SIGINT (wrk's own way to stop early, summary included) once the tokens are
# collected or every thread has used its share; the measured time overshoots by at most the
# 20 ms polling step. Prints answers/s, p50 and p99, checks that the
# database holds exactly as many answers as were acknowledged, and a verdict against the floor
# (2,000 answers/s). Exits non-zero on FAIL (NO_VERDICT=1: figures only, e.g. on a debug build).
#   bash bench/survey-answers.sh
#   N=200 NO_VERDICT=1 BIN=/var/tmp/hotline-target/debug/hotline bash bench/survey-answers.sh
set -euo pipefail
[ -z "${BIN:-}" ] || BIN="$(realpath "$BIN")"
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/hotline-target}"
N="${N:-60000}"                   # invitations seeded, hence answers sent
THREADS="${THREADS:-2}"
CONNECTIONS="${CONNECTIONS:-50}"
MIN_RATE=2000                     # the floor, answers/s

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
if [ -z "${BIN:-}" ]; then
    cargo build --release --quiet --bin hotline
    BIN="$CARGO_TARGET_DIR/release/hotline"
fi
[ -x "$BIN" ] || { echo "BIN=$BIN is not an executable" >&2; exit 2; }
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"

work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
server=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The server and the demo run in the temporary directory, so that no .env of the checkout applies.
export DATABASE_URL="sqlite://$work/surveys.db" RUST_LOG=warn
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

token="$(curl -fsS "$base/api/v1/auth/login" -H 'content-type: application/json' \
    -d '{"username":"operator","password":"hotline-demo-2026"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
# Answers on closed cases are recorded without changing the case, so every answer does the same work.
cases="$(curl -fsS "$base/api/v1/cases?status=closed&limit=200" -H "Authorization: Bearer $token" |
    python3 -c 'import json,sys; print(",".join(str(c["id"]) for c in json.load(sys.stdin)["items"]))')"
[ -n "$cases" ] || { echo "the demo has no closed case to survey" >&2; exit 1; }

# Per thread: its own share of N and its own token file. `setup` runs in wrk's main state and
# numbers the threads; `done` adds up what each thread counted.
common_lua='
local threads, count = {}, 0
function setup(thread)
    thread:set("id", count)
    count = count + 1
    table.insert(threads, thread)
end
'

cat >"$work/issue.lua" <<LUA
$common_lua
local cases = {$cases}
function init(args)
    want = math.ceil($N / $THREADS)
    got, sent = 0, 0
    out = io.open("$work/tokens." .. id, "w")
end
function request()
    sent = sent + 1
    local case = cases[(sent + id) % #cases + 1]
    return wrk.format("POST", "/api/v1/cases/" .. case .. "/surveys",
        {["Content-Type"] = "application/json", ["Authorization"] = "Bearer $token"}, "{}")
end
function response(status, headers, body)
    local t = body:match('"token":"([^"]+)"')
    if status == 201 and t and got < want then
        out:write(t, "\n")
        out:flush()
        got = got + 1
        if got == want then io.open("$work/seeded." .. id, "w"):close() end
    end
end
LUA
# Runs wrk until every thread has left its mark file (prefix $1), then stops it with SIGINT.
run_until_marked() {
    local mark="$1"; shift
    wrk "$@" &
    local pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        if [ "$(find "$work" -maxdepth 1 -name "$mark.*" | wc -l)" -ge "$THREADS" ]; then
            kill -INT "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.02
    done
    wait "$pid"
}
run_until_marked seeded -t"$THREADS" -c"$CONNECTIONS" -d600s --timeout 30s -s "$work/issue.lua" "$base" >"$work/issue.out"
seeded=$(cat "$work"/tokens.* | sort -u | wc -l)
[ "$seeded" -ge "$N" ] || { echo "only $seeded of $N invitations were issued:" >&2; cat "$work/issue.out" >&2; exit 1; }

answer_body='{"answers":[{"question":"resolved","value":"yes"},{"question":"satisfaction","value":"satisfied"},{"question":"comment","value":"处理及时，很满意"}]}'
cat >"$work/answer.lua" <<LUA
$common_lua
function init(args)
    tokens = {}
    for line in io.lines("$work/tokens." .. id) do tokens[#tokens + 1] = line end
    i, ok, bad = 0, 0, 0
end
function request()
    -- Each token once. Past the last the thread stops (and says so for the script's SIGINT);
    -- what it still sends then is never read nor counted.
    i = i + 1
    if i == #tokens + 1 then
        io.open("$work/answered." .. id, "w"):close()
        wrk.thread:stop()
    end
    if i > #tokens then i = #tokens end
    return wrk.format("POST", "/api/v1/public/surveys/" .. tokens[i] .. "/responses",
        {["Content-Type"] = "application/json"}, '$answer_body')
end
function response(status, headers, body)
    if status == 201 then ok = ok + 1 else bad = bad + 1 end
end
function done(summary, latency, requests)
    local ok, bad = 0, 0
    for _, thread in ipairs(threads) do
        ok = ok + thread:get("ok")
        bad = bad + thread:get("bad")
    end
    local seconds = summary.duration / 1e6
    io.write(string.format("RESULT %d %d %.3f %.1f %.2f %.2f\n", ok, bad, seconds, ok / seconds,
        latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
LUA
run_until_marked answered -t"$THREADS" -c"$CONNECTIONS" -d600s --timeout 30s --latency -s "$work/answer.lua" "$base" >"$work/answer.out"
read -r _ ok bad seconds rate p50 p99 < <(grep '^RESULT' "$work/answer.out")
stored="$(curl -fsS "$base/readyz" >/dev/null && python3 - "$work/surveys.db" <<'PY'
import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute("SELECT COUNT(*) FROM surveys WHERE answered_at IS NOT NULL").fetchone()[0])
PY
)"

echo
echo "hotline $BIN ($(git rev-parse --short HEAD 2>/dev/null || echo '?') checked out) — SQLite, loopback, $(nproc) cores, load before: $load_before"
echo "wrk -t$THREADS -c$CONNECTIONS, $seeded invitations on $(tr ',' '\n' <<<"$cases" | wc -l) closed demo cases, each token answered once"
echo
echo "| endpoint | answers | errors | seconds | answers/s | p50 | p99 |"
echo "|---|---:|---:|---:|---:|---:|---:|"
printf '| POST /api/v1/public/surveys/{token}/responses | %s | %s | %s | %s | %s ms | %s ms |\n' \
    "$ok" "$bad" "$seconds" "$rate" "$p50" "$p99"
echo
echo "answers stored: $stored (acknowledged: $ok)"
verdict=PASS
[ "$bad" -eq 0 ] || { echo "FAIL: $bad answers were refused" >&2; verdict=FAIL; }
[ "$stored" -ge "$ok" ] || { echo "FAIL: fewer answers stored than acknowledged" >&2; verdict=FAIL; }
if [ -z "${NO_VERDICT:-}" ]; then
    awk -v r="$rate" -v m="$MIN_RATE" 'BEGIN { exit !(r >= m) }' || { echo "FAIL: $rate answers/s, floor $MIN_RATE" >&2; verdict=FAIL; }
fi
echo "verdict: $verdict"
[ "$verdict" = PASS ]
