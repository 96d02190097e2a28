#!/usr/bin/env bash
# Hostile input (bench/hostile.py): NUL characters in every parameter and body string, trailing
# bytes after JSON bodies, odd header values — what schemathesis never generates. Starts the debug
# server on a fresh database with the demo organisation: PostgreSQL when DATABASE_URL names a
# server (a database of its own is created there and dropped afterwards), SQLite otherwise.
# Fails on any failure hostile.py reports and on a panic in the server log. Extra arguments go to
# hostile.py (--seed N replays a run, -v prints every request).
#   bash bench/hostile.sh [--seed N] [-v]
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bash bench/hostile.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/hotline-target}"
source bench/fresh-server.sh

# The public endpoints' budget is kept on but far out of reach, and 127.0.0.1 is a trusted proxy:
# so X-Forwarded-For is really parsed (with the limit off, the server never reads it).
fresh_server hostile HOTLINE_PUBLIC_RATE_LIMIT=1000000 HOTLINE_TRUSTED_PROXIES=127.0.0.1,::1

client_args=()
if [[ "$demo_output" =~ integration\ client\ ([^ ]+)\ with\ secret\ ([^ ]+) ]]; then
    client_args=(--client-id "${BASH_REMATCH[1]}" --client-secret "${BASH_REMATCH[2]}")
fi

status=0
python3 bench/hostile.py "$base" "${client_args[@]}" "$@" || status=$?
if server_panicked; then
    status=1
fi
exit "$status"
