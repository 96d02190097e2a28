#!/usr/bin/env bash
# API fuzzing: starts the server on a fresh embedded database and runs schemathesis against its
# own /openapi.json with every check. Fails on any 5xx and on any answer the document does not
# describe. Not checked: that every schema-valid body is accepted — the document states the shape
# of a request, while the server also checks its meaning (a parent that exists, a department that
# fits the role), which no schema can express. Extra arguments go to `st run` (CI passes a
# bounded --max-examples).
#   bash bench/fuzz.sh [--max-examples N]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/hotline-target}"

# The interpreter's own script directory: a fresh pip install is found there even where a
# version manager's shims have not been refreshed.
st_bin="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/st"
if ! [ -x "$st_bin" ] || ! "$st_bin" --version 2>/dev/null | grep -q ' 4\.'; then
    python3 -m pip install -q --disable-pip-version-check 'schemathesis>=4.3,<5'
fi

cargo build --quiet --bin hotline
work="$(mktemp -d)"
# The demo organisation gives the fuzzer real rows to reach and an administrator to sign in as.
DATABASE_URL="sqlite://$work/fuzz.db" RUST_LOG=warn "$CARGO_TARGET_DIR/debug/hotline" demo >/dev/null
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
DATABASE_URL="sqlite://$work/fuzz.db" HOTLINE_BIND="127.0.0.1:$port" RUST_LOG=warn HOTLINE_PUBLIC_RATE_LIMIT=0 \
    "$CARGO_TARGET_DIR/debug/hotline" serve >"$work/server.log" 2>&1 &
server=$!
cleanup() { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done

# Signed in, so that protected endpoints are fuzzed past the 401: as the demo administrator, then
# as the supervisor and a department admin, whose endpoints (dispatch, review, extensions,
# supervision, signing, replies) refuse the administrator. Each account is kept out of reach of a
# fuzzed password change by the current-password check, which random data does not pass.
status=0
for account in admin supervisor cgj.admin; do
    token="$(curl -fsS "http://127.0.0.1:$port/api/v1/auth/login" -H 'content-type: application/json' \
        -d "{\"username\":\"$account\",\"password\":\"hotline-demo-2026\"}" \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
    echo "== fuzzing signed in as $account"
    "$st_bin" run "http://127.0.0.1:$port/openapi.json" \
        --checks all \
        --exclude-checks positive_data_acceptance \
        --workers 2 \
        --generation-deterministic \
        --request-timeout 10 \
        --suppress-health-check all \
        -H "Authorization: Bearer $token" "$@" || status=$?
done

if grep -q "panicked" "$work/server.log"; then
    echo "the server panicked during fuzzing:" >&2
    grep -A3 panicked "$work/server.log" >&2
    status=1
fi
exit "$status"
