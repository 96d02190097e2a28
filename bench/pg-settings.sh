#!/usr/bin/env bash
# Prints, on one line, the PostgreSQL settings that decide how much of a database stays in memory
# and how often it is checkpointed (those bench/postgres-tune.sh sets, and the sort and index
# build memories), for the benchmark outputs to record what they ran with.
#   bash bench/pg-settings.sh postgres://postgres@127.0.0.1:5432/postgres
set -euo pipefail
psql "$1" -tAc "SELECT string_agg(name || ' ' || current_setting(name), ', ' ORDER BY name) \
    FROM pg_settings WHERE name IN ('shared_buffers', 'effective_cache_size', 'max_wal_size', \
    'checkpoint_timeout', 'wal_compression', 'random_page_cost', 'work_mem', 'maintenance_work_mem')"
