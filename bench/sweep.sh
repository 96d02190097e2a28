#!/usr/bin/env bash
# Deadline sweep benchmark: seeds a fresh database with `hotline seed` (CASES, default 1,000,000),
# then times `hotline sweep` twice: the first run, which finds the seeded history's missed clocks
# and urges their departments, and a second one with nothing new to mark (the steady state of a
# server sweeping every minute). Prints the seed rate, each sweep's report, its wall time (process
# start included) and peak memory. SQLite by default; DATABASE_URL=postgres://… seeds and sweeps a
# fresh PostgreSQL database of its own (created and dropped).
#   bash bench/sweep.sh
#   CASES=20000 DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bash bench/sweep.sh
#   KEEP=/var/tmp/large.db bash bench/sweep.sh   # SQLite: keep (and later reuse) the seeded file
# On PostgreSQL, BASE_BIN=/path/to/other/hotline makes it an A/B of the first sweep: the seeded
# database is analysed, then copied (file copy, checkpoint, tables read once) before each of
# ROUNDS (default 2) first sweeps of each build, alternately.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/hotline-target}"
CASES="${CASES:-1000000}"

cargo build --release --quiet --bin hotline
bin="$CARGO_TARGET_DIR/release/hotline"
work="$(mktemp -d)"
pg_server="" pg_name=""
cleanup() {
    if [ -n "$pg_name" ]; then
        for name in "$pg_name" "${pg_name}_copy"; do
            psql "$pg_server" -qAtc "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" >/dev/null 2>&1 || true
        done
    fi
    rm -rf "$work"
}
trap cleanup EXIT

case "${DATABASE_URL:-}" in
    postgres://* | postgresql://*)
        pg_server="$DATABASE_URL"
        pg_name="sweep_$(python3 -c 'import secrets; print(secrets.token_hex(6))')"
        psql "$pg_server" -qAtc "CREATE DATABASE \"$pg_name\"" >/dev/null
        url="${pg_server%/*}/$pg_name"
        reuse=""
        ;;
    *)
        db="${KEEP:-$work/sweep.db}"
        url="sqlite://$db"
        reuse="$([ -n "${KEEP:-}" ] && [ -e "$db" ] && echo yes || true)"
        ;;
esac
export DATABASE_URL="$url" RUST_LOG=warn

if [ -n "$reuse" ]; then
    echo "seed: (reused $db)"
else
    echo "seed: $("$bin" seed --cases "$CASES")"
fi

# Wall time in ms and peak RSS in MB of one command (GNU time when present, for the memory).
timed() {
    local started ended peak=""
    started=$(date +%s%N)
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -f '%M' -o "$work/rss" "$@" >"$work/out"
        peak="$(( $(tail -n 1 "$work/rss") / 1024 )) MB peak"
    else
        "$@" >"$work/out"
    fi
    ended=$(date +%s%N)
    echo "$(( (ended - started) / 1000000 )) ms${peak:+, $peak}: $(cat "$work/out")"
}
if [ -n "${BASE_BIN:-}" ] && [ -n "$pg_name" ]; then
    psql "$url" -qAtc "VACUUM ANALYZE" >/dev/null
    copy="${pg_name}_copy"
    copy_url="${pg_server%/*}/$copy"
    for round in $(seq "${ROUNDS:-2}"); do
        for build in "$BASE_BIN" "$bin"; do
            psql "$pg_server" -qAt -c "DROP DATABASE IF EXISTS \"$copy\"" \
                -c "CREATE DATABASE \"$copy\" TEMPLATE \"$pg_name\" STRATEGY FILE_COPY" \
                -c "CHECKPOINT" >/dev/null
            psql "$copy_url" -qAt -c "SELECT count(*) FROM cases" -c "SELECT count(*) FROM deadlines" \
                -c "SELECT count(*) FROM assignments" -c "SELECT count(*) FROM case_events" >/dev/null
            echo "round $round, $build: first sweep: $(DATABASE_URL="$copy_url" timed "$build" sweep)"
        done
    done
    psql "$pg_server" -qAtc "DROP DATABASE IF EXISTS \"$copy\"" >/dev/null
    exit 0
fi
echo "first sweep: $(timed "$bin" sweep)"
echo "second sweep (nothing new): $(timed "$bin" sweep)"
