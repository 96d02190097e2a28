#!/usr/bin/env bash
# Drives the Open311 facade with `georeport` (PyPI), a GeoReport v2 client library this project
# did not write, unchanged (tests/open311_client/georeport_drive.py): services, a service
# definition, a POST and reading the request back, in JSON and in XML. On the embedded SQLite
# database by default; DATABASE_URL=postgres://… for a fresh PostgreSQL database.
#   bash bench/open311-client.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/hotline-target}"
python3 -c 'import georeport, xmltodict, requests' 2>/dev/null ||
    python3 -m pip install -q --disable-pip-version-check 'georeport==0.3.1' xmltodict requests
# shellcheck source=bench/fresh-server.sh
source bench/fresh-server.sh
fresh_server open311
if [[ "$demo_output" =~ integration\ client\ ([^ ]+)\ with\ secret\ ([^ ]+) ]]; then
    key="${BASH_REMATCH[1]}:${BASH_REMATCH[2]}"
else
    echo "hotline demo printed no integration client: $demo_output" >&2
    exit 1
fi
OPEN311_BASE="$base/open311/v2" OPEN311_API_KEY="$key" python3 tests/open311_client/georeport_drive.py
if server_panicked; then
    echo "the server panicked:" >&2
    grep -A3 panicked "$server_log" >&2
    exit 1
fi
