#!/usr/bin/env bash
# Case export benchmark: builds the release binary, fills a fresh embedded SQLite database with
# `hotline seed` (1,000,000 cases over a year unless CASES says otherwise), starts the server and
# downloads GET /api/v1/exports/cases of every case with curl: CSV and XLSX, as an administrator
# (complainants in full) and as an analyst (no personal data). Prints for each the rows, bytes,
# seconds, rows/s and the server's peak memory during that download (VmHWM, reset before each
# through /proc/PID/clear_refs; needs root or the server's own user), against the floors of
# issue 13: CSV 200,000 rows/s, XLSX 50,000 rows/s, peak RSS under 150 MB.
#   bash bench/export.sh
#   CASES=200000 bash bench/export.sh
#   KEEP=/var/tmp/large.db bash bench/export.sh   # keep (and on later runs reuse) the seeded file
#   BIN=/path/to/hotline bash bench/export.sh     # another build
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/hotline-target}"
CASES="${CASES:-1000000}"
XLSX=application/vnd.openxmlformats-officedocument.spreadsheetml.sheet

if [ -n "${BIN:-}" ]; then
    bin="$(realpath "$BIN")"
else
    cargo build --release --quiet --bin hotline
    bin="$CARGO_TARGET_DIR/release/hotline"
fi

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

# The sweep would run beside the exports: off, so that they are measured alone.
DATABASE_URL="sqlite://$db" HOTLINE_BIND="127.0.0.1:$port" HOTLINE_SWEEP_INTERVAL_SECS=0 \
    RUST_LOG=warn TMPDIR="$work" "$bin" serve >"$work/server.log" 2>&1 &
server=$!
until curl -fsS "$base/readyz" >/dev/null 2>&1; do sleep 0.05; done

token() {
    curl -fsS "$base/api/v1/auth/login" -H 'content-type: application/json' \
        -d "{\"username\":\"$1\",\"password\":\"hotline-demo-2026\"}" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
admin="$(token admin)"
analyst="$(token analyst)"

# Data rows of a downloaded file: CSV records after the header (parsed: descriptions may hold line
# breaks); XLSX rows of every sheet less their headers.
count_rows() { # file, format
    python3 - "$1" "$2" <<'PY'
import csv, sys, zipfile, re
path, kind = sys.argv[1], sys.argv[2]
if kind == "csv":
    csv.field_size_limit(10**7)
    with open(path, encoding="utf-8-sig", newline="") as f:
        print(sum(1 for _ in csv.reader(f)) - 1)
else:
    rows = 0
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", name):
                with z.open(name) as sheet:
                    tail = b""
                    while chunk := sheet.read(1 << 20):
                        data = tail + chunk
                        # A tag cut by the chunk's end is counted with the next chunk.
                        rows += data.count(b"<row ")
                        tail = data[-4:]
                rows -= 1  # its header
    print(rows)
PY
}

declare -a lines=()
run() { # name, token, accept, floor rows/s
    local name="$1" token="$2" accept="$3" floor="$4"
    local out="$work/export" stats rows seconds bytes rate peak_kb
    sync
    echo 5 > "/proc/$server/clear_refs"  # restart VmHWM from the current RSS
    stats="$(curl -fsS -o "$out" -w '%{time_total} %{size_download}' \
        -H "Authorization: Bearer $token" -H "Accept: $accept" "$base/api/v1/exports/cases")"
    peak_kb=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")
    seconds="${stats% *}"
    bytes="${stats#* }"
    rows="$(count_rows "$out" "$([ "$accept" = text/csv ] && echo csv || echo xlsx)")"
    rate="$(python3 -c "print(round($rows / $seconds))")"
    lines+=("$(printf '| %-26s | %9s | %7s MB | %7.1f | %9s | %9s | %6s MB |' \
        "$name" "$rows" "$((bytes / 1024 / 1024))" "$seconds" "$rate" "$floor" "$((peak_kb / 1024))")")
    rm -f "$out"
}

idle_kb=$(awk '/VmRSS/ {print $2}' "/proc/$server/status")
run "CSV, admin (in full)" "$admin" text/csv 200000
run "CSV, analyst" "$analyst" text/csv 200000
run "XLSX, admin (in full)" "$admin" "$XLSX" 50000
run "XLSX, analyst" "$analyst" "$XLSX" 50000

echo
echo "hotline $(git rev-parse --short HEAD 2>/dev/null || echo '?') — release, SQLite, loopback, $(nproc) cores, curl"
echo "$seed_line; database ${db_mb} MB; server RSS before the exports $((idle_kb / 1024)) MB"
echo
echo "| export                     |      rows |    bytes | seconds |    rows/s | floor r/s |  peak RSS |"
echo "|----------------------------|----------:|---------:|--------:|----------:|----------:|----------:|"
printf '%s\n' "${lines[@]}"
echo
echo "peak RSS: the server's VmHWM during each download (floor: under 150 MB)"
