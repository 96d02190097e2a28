#!/usr/bin/env bash
# The PostgreSQL settings the capacity plan (docs/capacity.md) recommends for a database host,
# sized for this benchmark machine (24 GB of memory, SSD): a quarter of the memory as shared
# buffers, checkpoints far enough apart that a sweep or a seed does not write every page it
# touches into the log twice over, compressed full-page images, and SSD random-read costs.
# Applied with ALTER SYSTEM and a restart of the local cluster; RESET=1 puts the defaults back.
#   bash bench/postgres-tune.sh
#   RESET=1 bash bench/postgres-tune.sh
# On another host scale shared_buffers (25 % of memory) and effective_cache_size (75 %).
set -euo pipefail
PG_ADMIN="${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}"
settings=(
    "shared_buffers=4GB"
    "effective_cache_size=16GB"
    "max_wal_size=8GB"
    "checkpoint_timeout=15min"
    "wal_compression=lz4"
    "random_page_cost=1.1"
)
for setting in "${settings[@]}"; do
    name="${setting%%=*}"
    if [ -n "${RESET:-}" ]; then
        psql -q "$PG_ADMIN" -c "ALTER SYSTEM RESET $name"
    else
        psql -q "$PG_ADMIN" -c "ALTER SYSTEM SET $name = '${setting#*=}'"
    fi
done
pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main restart
bash "$(dirname "$0")/pg-settings.sh" "$PG_ADMIN"
