#!/usr/bin/env bash
# Seeding speed: `hotline seed --cases N` on a fresh SQLite database (or a fresh PostgreSQL
# database with DATABASE_URL=postgres://…/name, created and dropped), ROUNDS times, printing each
# run's cases/s, and (SQLite) the last run's mix of follow-up results and surveys. BIN= times another build
# (run two builds alternately for an A/B).
#   bash bench/seed.sh                                   # 100,000 cases, twice
#   CASES=1000000 ROUNDS=1 bash bench/seed.sh
#   BIN=/var/tmp/hotline-ab-target-96a723b/release/hotline bash bench/seed.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/hotline-target}"
CASES="${CASES:-100000}"
ROUNDS="${ROUNDS:-2}"
if [ -n "${BIN:-}" ]; then
    bin="$(realpath "$BIN")"
else
    cargo build --release --quiet --bin hotline
    bin="$CARGO_TARGET_DIR/release/hotline"
fi
for round in $(seq "$ROUNDS"); do
    work="$(mktemp -d)"
    url="sqlite://$work/seed.db"
    if [[ "${DATABASE_URL:-}" == postgres://* ]]; then
        url="${DATABASE_URL%/*}/hotline_seed_$$"
        psql "${DATABASE_URL%/*}/postgres" -qc "CREATE DATABASE hotline_seed_$$" >/dev/null
    fi
    DATABASE_URL="$url" RUST_LOG=warn "$bin" seed --cases "$CASES" 2>&1 | tail -1
    if [[ "$url" == sqlite://* && "$round" == "$ROUNDS" ]]; then
        python3 - "$work/seed.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
counted = [t for t in ("cases", "complainants", "case_events", "assignments", "deadlines",
                       "follow_up_calls", "surveys") if t in tables]
rows = sum(db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in counted)
cases = db.execute("SELECT COUNT(*) FROM cases").fetchone()[0]
print(f"rows written: {rows} ({rows / max(cases, 1):.1f} a case, over {', '.join(counted)})")
if "surveys" not in tables:
    sys.exit()  # an older build: no follow-ups to describe
# Reached follow-ups: reached calls, and answered surveys that are not a call's (a phone survey
# is its call's evaluation stored twice).
reached, satisfied = db.execute(
    "SELECT COUNT(*), SUM(satisfaction IN ('satisfied', 'basically_satisfied')) FROM ("
    "SELECT satisfaction FROM follow_up_calls WHERE outcome = 'reached' UNION ALL "
    "SELECT satisfaction FROM surveys WHERE answered_at IS NOT NULL "
    "AND follow_up_call_id IS NULL AND satisfaction IS NOT NULL)").fetchone()
print(f"follow-ups: {reached} citizens reached, {(satisfied or 0) / max(reached, 1):.0%} satisfied or basically satisfied")
surveys = db.execute("SELECT channel, answered_at IS NOT NULL, COUNT(*) FROM surveys "
                     "GROUP BY 1, 2 ORDER BY 1, 2").fetchall()
print("surveys: " + ", ".join(f"{c} {'answered' if a else 'unanswered'} {n}" for c, a, n in surveys))
redone, redone_closed = db.execute("SELECT COUNT(*), SUM(status = 'closed') FROM cases "
                                  "WHERE redo_count > 0").fetchone()
print(f"redone (重办) after a dissatisfied follow-up: {redone} cases, {redone_closed or 0} closed since")
closures = db.execute("SELECT closure, COUNT(*) FROM cases WHERE status = 'closed' "
                      "GROUP BY closure ORDER BY 2 DESC").fetchall()
print("closed cases by closure: " + ", ".join(f"{c} {n}" for c, n in closures))
PY
    fi
    if [[ "$url" == postgres://* ]]; then
        psql "${DATABASE_URL%/*}/postgres" -qc "DROP DATABASE hotline_seed_$$" >/dev/null
    fi
    rm -rf "$work"
done
