#!/usr/bin/env bash
# Attachment benchmark (issue 14): a release server on a fresh embedded SQLite database with the
# files in a local directory. wrk uploads 1 MB photos (JPEG with EXIF, each request a different
# file: a counter in a JPEG comment, so nothing is deduplicated) to one case as an operator;
# then one 200 MB video is uploaded and downloaded with curl, the server's peak memory measured
# during the download (VmHWM reset first). Floors: 200 uploads/s, 300 MB/s with memory flat.
#   bash bench/attachments.sh
#   DURATION=20s CONNECTIONS=8 BIG_MB=200 bash bench/attachments.sh
#   BIN=/path/to/hotline bash bench/attachments.sh     # another build
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/hotline-target}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-4}"
THREADS="${THREADS:-2}"
BIG_MB="${BIG_MB:-200}"

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
python3 -c 'import PIL' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check pillow >/dev/null
if [ -n "${BIN:-}" ]; then
    bin="$(realpath "$BIN")"
else
    cargo build --release --quiet --bin hotline
    bin="$CARGO_TARGET_DIR/release/hotline"
fi

work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
server=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# A 1 MB photo with a GPS position in its EXIF.
python3 - "$work/photo.jpg" <<'PY'
import os, sys
from PIL import Image
size = 1040
img = Image.frombytes("RGB", (size, size), os.urandom(size * size * 3))
exif = Image.Exif()
exif[0x0112] = 6  # orientation
gps = {1: "N", 2: (39.0, 54.0, 27.0), 3: "E", 4: (116.0, 23.0, 29.0)}
exif[0x8825] = gps
img.save(sys.argv[1], "JPEG", quality=92, exif=exif.tobytes())
PY
photo_bytes=$(stat -c %s "$work/photo.jpg")

DATABASE_URL="sqlite://$work/hotline.db" RUST_LOG=warn "$bin" seed --cases 10 >/dev/null
DATABASE_URL="sqlite://$work/hotline.db" HOTLINE_BIND="127.0.0.1:$port" RUST_LOG=warn \
    HOTLINE_SWEEP_INTERVAL_SECS=0 HOTLINE_ATTACHMENT_MAX_BYTES=$(( (BIG_MB + 1) * 1024 * 1024 )) \
    HOTLINE_CASE_ATTACHMENTS_MAX_BYTES=1099511627776 HOTLINE_CASE_ATTACHMENTS_MAX_COUNT=10000 \
    "$bin" serve >"$work/server.log" 2>&1 &
server=$!
until curl -fsS "$base/readyz" >/dev/null 2>&1; do sleep 0.05; done
token="$(curl -fsS "$base/api/v1/auth/login" -H 'content-type: application/json' \
    -d '{"username":"operator","password":"hotline-demo-2026"}' \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
case_id="$(curl -fsS "$base/api/v1/cases?limit=1" -H "Authorization: Bearer $token" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')"

cat >"$work/upload.lua" <<LUA
-- The photo after its SOI marker, and the multipart framing, made once per thread; each request
-- is one concatenation (a JPEG comment segment with a counter right after SOI makes every file
-- different, so nothing is deduplicated).
local head, tail, counter, id = nil, nil, 0, 0
function setup(thread) thread:set("id", tostring(math.random(1, 1000000000))) end
function init(args)
  local f = io.open("$work/photo.jpg", "rb"); local photo = f:read("*a"); f:close()
  head = "--B0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"photo.jpg\"\r\n\r\n"
    .. "\255\216\255\254\000\022"
  tail = string.sub(photo, 3) .. "\r\n--B0undary--\r\n"
end
function request()
  counter = counter + 1
  return wrk.format("POST", "/api/v1/cases/$case_id/attachments",
    {["Authorization"] = "Bearer $token", ["Content-Type"] = "multipart/form-data; boundary=B0undary"},
    head .. string.format("%010d%010d", tonumber(id) or 0, counter) .. tail)
end
LUA
sed -i 's/^function init(args)/function init(args)\n  id = wrk.thread:get("id")/' "$work/upload.lua"

out="$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$work/upload.lua" "$base")"
if echo "$out" | grep -q "Non-2xx"; then echo "$out" >&2; tail -5 "$work/server.log" >&2; exit 1; fi
rps="$(echo "$out" | awk '/Requests\/sec/ {printf "%.0f", $2}')"
p50="$(echo "$out" | awk '$1=="50%" {print $2}')"
p99="$(echo "$out" | awk '$1=="99%" {print $2}')"
stored="$(find "$work/attachments/objects" -type f | wc -l)"
upload_rss=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")

# One big video: an MP4 header, then random bytes.
python3 - "$work/big.mp4" "$BIG_MB" <<'PY'
import os, sys
path, mb = sys.argv[1], int(sys.argv[2])
with open(path, "wb") as f:
    f.write(b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41")
    for _ in range(mb):
        f.write(os.urandom(1024 * 1024))
PY
big_id="$(curl -fsS "$base/api/v1/cases/$case_id/attachments" -H "Authorization: Bearer $token" \
    -F "file=@$work/big.mp4" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')"
sync
echo 5 > "/proc/$server/clear_refs"
before_kb=$(awk '/VmRSS/ {print $2}' "/proc/$server/status")
stats="$(curl -fsS -o /dev/null -w '%{time_total} %{size_download} %{speed_download}' \
    -H "Authorization: Bearer $token" "$base/api/v1/attachments/$big_id")"
peak_kb=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")
read -r seconds bytes speed <<<"$stats"

echo
echo "hotline $(git rev-parse --short HEAD 2>/dev/null || echo '?') — release, SQLite, local directory, loopback, $(nproc) cores"
echo
echo "| measurement | result | floor |"
echo "|---|---:|---:|"
echo "| uploads of $((photo_bytes / 1024)) KB photos (wrk -t$THREADS -c$CONNECTIONS, $DURATION) | $rps/s (p50 $p50, p99 $p99) | 200/s |"
echo "| files stored by the uploads (each one different) | $stored | |"
echo "| server peak RSS after the uploads | $((upload_rss / 1024)) MB | |"
echo "| download of a $BIG_MB MB file (curl) | $(python3 -c "print(round($speed / 1024 / 1024))") MB/s ($seconds s) | 300 MB/s |"
echo "| server RSS before / peak during the download | $((before_kb / 1024)) / $((peak_kb / 1024)) MB | flat |"
