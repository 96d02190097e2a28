#!/usr/bin/env bash
# Crash test (SPEC 7, durability): sustained concurrent POST /cases against a server, `kill -9` of
# the server while requests are in flight, restart on the same database, and a check that every
# case acknowledged with 201 is there, intact, with its `registered` timeline event. Repeats the
# kill cycle CYCLES times on one database; exits non-zero on any loss. The database is an embedded
# SQLite file, or a fresh PostgreSQL database (created, and dropped at exit) when DATABASE_URL
# names a PostgreSQL server. A webhook
# (of an integration client granted every case) points at a local receiver all along: after the
# last restart every acknowledged case's `case.registered` event must reach it (duplicates allowed,
# none lost), including those still in the outbox or in flight when the server was killed.
#   bash bench/crash.sh                  # debug build (as CI runs it)
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bash bench/crash.sh
#   PROFILE=release CYCLES=5 LOAD_SECONDS=3 bash bench/crash.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/hotline-target}"
PROFILE="${PROFILE:-debug}"
CYCLES="${CYCLES:-3}"
LOAD_SECONDS="${LOAD_SECONDS:-2.5}"
WORKERS="${WORKERS:-8}"

case "$PROFILE" in
    debug) cargo build --quiet --bin hotline ;;
    release) cargo build --quiet --release --bin hotline ;;
    *) echo "PROFILE must be debug or release" >&2; exit 2 ;;
esac
bin="$CARGO_TARGET_DIR/$PROFILE/hotline"

source bench/fresh-server.sh
fresh_database crash
export DATABASE_URL="$db_url"
export RUST_LOG=warn
# Webhook deliveries to the receiver on loopback, retried quickly; the secrets' key is fixed so
# that the restarted server still signs with the webhook's secret.
export HOTLINE_WEBHOOK_ALLOW_PRIVATE=true HOTLINE_WEBHOOK_HTTP_HOSTS=127.0.0.1
export HOTLINE_WEBHOOK_RETRY_BASE_MS=200 HOTLINE_WEBHOOK_POLL_MS=50
export HOTLINE_WEBHOOK_KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
cleanup() {
    if [ -n "$server" ]; then kill -9 "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    if [ -n "${receiver:-}" ]; then kill "$receiver" 2>/dev/null || true; wait "$receiver" 2>/dev/null || true; fi
    # The database (if it was created) and $work.
    fresh_server_cleanup
}
trap cleanup EXIT

start_server() {
    HOTLINE_BIND="127.0.0.1:$port" "$bin" serve >>"$work/server.log" 2>&1 &
    server=$!
    for _ in $(seq 1 200); do
        curl -fsS "$base/readyz" >/dev/null 2>&1 && return 0
        kill -0 "$server" 2>/dev/null || break
        sleep 0.05
    done
    echo "the server did not become ready:" >&2
    tail -20 "$work/server.log" >&2
    exit 1
}

"$bin" demo >/dev/null
start_server
sign_in() {
    curl -fsS "$base/api/v1/auth/login" -H 'content-type: application/json' \
        -d '{"username":"operator","password":"hotline-demo-2026"}' |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
token="$(sign_in)"

# The webhook's receiver: keeps the event type and case of every delivery it gets.
receiver_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cat >"$work/receiver.py" <<'PY'
import http.server, json, sys, threading
port, path = int(sys.argv[1]), sys.argv[2]
lock = threading.Lock()
out = open(path, "a")
class Hook(http.server.BaseHTTPRequestHandler):
    # Keep-alive, and room for the worker's 64 connections at once (the default listen backlog
    # of 5 made connections wait for SYN retries, a second each).
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with lock:
            out.write(json.dumps({"delivery": self.headers["X-Hotline-Delivery"], "type": body["type"],
                                  "case_id": body["case"]["id"]}) + "\n")
            out.flush()
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 256
    daemon_threads = True
Server(("127.0.0.1", port), Hook).serve_forever()
PY
python3 "$work/receiver.py" "$receiver_port" "$work/received.jsonl" &
receiver=$!
admin="$(curl -fsS "$base/api/v1/auth/login" -H 'content-type: application/json' \
    -d '{"username":"admin","password":"hotline-demo-2026"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
client_id="$(curl -fsS "$base/api/v1/integration-clients" -H "Authorization: Bearer $admin" \
    -H 'content-type: application/json' -d '{"name":"城市数据平台"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
curl -fsS -X PATCH "$base/api/v1/integration-clients/$client_id" -H "Authorization: Bearer $admin" \
    -H 'content-type: application/json' -d '{"all_cases":true}' >/dev/null
curl -fsS "$base/api/v1/webhooks" -H "Authorization: Bearer $admin" -H 'content-type: application/json' \
    -d "{\"client_id\":$client_id,\"url\":\"http://127.0.0.1:$receiver_port/hook\",\"event_types\":[\"case.registered\"]}" >/dev/null

# The load generator: WORKERS threads, each POSTing cases back to back on a keep-alive
# connection, each body carrying a unique marker. Every 201 is appended (id, case_no, the body
# sent) to the acknowledgement file as soon as it arrives, so that nothing acknowledged before the
# kill is forgotten. It stops when the server goes away.
cat >"$work/load.py" <<'PY'
import http.client, json, sys, threading, time, uuid

port, token, cycle, acks_path, workers = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
lock = threading.Lock()
acks = open(acks_path, "a")
counts = {"sent": 0, "acked": 0, "failed": 0}

def worker(n):
    conn = None
    i = 0
    while True:
        i += 1
        marker = f"crash-{cycle}-{n}-{i}-{uuid.uuid4().hex[:8]}"
        body = {
            "channel": "phone", "kind": "complaint",
            "title": f"占道经营 {marker}",
            "description": f"每天傍晚有流动摊贩占道经营。marker={marker} " + "x" * (1 + i % 50),
            "address": "东城区东华门街道某小区北门",
            "complainant": {"name": "张三", "phone": "13812345678", "contact_allowed": False},
        }
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
            conn.request("POST", "/api/v1/cases", json.dumps(body), {
                "Content-Type": "application/json", "Authorization": f"Bearer {token}"})
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException):
            # The server is gone (killed): this request was never acknowledged.
            with lock:
                counts["failed"] += 1
            return
        with lock:
            counts["sent"] += 1
        if resp.status != 201:
            print(f"unexpected {resp.status}: {data[:300]!r}", file=sys.stderr)
            continue
        case = json.loads(data)
        with lock:
            counts["acked"] += 1
            acks.write(json.dumps({"id": case["id"], "case_no": case["case_no"],
                                   "title": body["title"], "description": body["description"]}) + "\n")
            acks.flush()

threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(workers)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(f"cycle {cycle}: {counts['acked']} acknowledged, {counts['failed']} cut off by the kill")
PY

# The check: every acknowledged case reads back whole, with its `registered` event.
cat >"$work/verify.py" <<'PY'
import http.client, json, sys, threading

port, token, acks_path = sys.argv[1], sys.argv[2], sys.argv[3]
acks = [json.loads(line) for line in open(acks_path)]
headers = {"Authorization": f"Bearer {token}"}
problems = []
lock = threading.Lock()

def check(share):
    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
    def get(path):
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    for ack in share:
        status, data = get(f"/api/v1/cases/{ack['id']}")
        if status != 200:
            problem = f"case {ack['id']} ({ack['case_no']}): GET answered {status}"
        else:
            case = json.loads(data)
            wrong = [f for f in ("case_no", "title", "description") if case.get(f) != ack[f]]
            problem = wrong and f"case {ack['id']}: {', '.join(wrong)} differ from what was acknowledged"
            if not problem:
                status, data = get(f"/api/v1/cases/{ack['id']}/timeline")
                if status != 200 or not any(e.get("action") == "registered" for e in json.loads(data)):
                    problem = f"case {ack['id']}: no registered event in the timeline ({status})"
        if problem:
            with lock:
                problems.append(problem)

threads = [threading.Thread(target=check, args=(acks[n::4],)) for n in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(f"after restart: acknowledged {len(acks)}, verified {len(acks) - len(problems)}, "
      f"lost or damaged {len(problems)}", flush=True)
for p in problems[:20]:
    print("  " + p, file=sys.stderr)
sys.exit(1 if problems or not acks else 0)
PY

acks="$work/acks.jsonl"
: >"$acks"
for cycle in $(seq 1 "$CYCLES"); do
    python3 "$work/load.py" "$port" "$token" "$cycle" "$acks" "$WORKERS" &
    load=$!
    sleep "$LOAD_SECONDS"
    kill -9 "$server"
    wait "$server" 2>/dev/null || true
    wait "$load"
    start_server
    # Without a configured signing key each process signs with its own: sign in again.
    token="$(sign_in)"
    python3 "$work/verify.py" "$port" "$token" "$acks"
done

# Every acknowledged case's registration reaches the webhook (deliveries taken by the killed
# server are due again when their lease, 30 s, runs out).
python3 - "$acks" "$work/received.jsonl" <<'PY'
import json, sys, time
acked = {json.loads(line)["id"] for line in open(sys.argv[1])}
deadline = time.time() + 90
while True:
    got = [json.loads(line) for line in open(sys.argv[2])]
    delivered = {g["case_id"] for g in got if g["type"] == "case.registered"}
    missing = acked - delivered
    if not missing or time.time() > deadline:
        break
    time.sleep(0.5)
deliveries = [g["delivery"] for g in got]
print(f"webhook: {len(acked)} acknowledged cases, {len(acked) - len(missing)} delivered, "
      f"{len(deliveries) - len(set(deliveries))} deliveries received twice, {len(missing)} missing")
sys.exit(1 if missing else 0)
PY

if grep -q "panicked" "$work/server.log"; then
    echo "the server panicked:" >&2
    grep -A3 panicked "$work/server.log" >&2
    exit 1
fi
echo "crash test passed ($backend): $CYCLES kill -9 cycles, every acknowledged case intact and delivered to the webhook"
