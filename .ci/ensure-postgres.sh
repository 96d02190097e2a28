#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers at the URL given (default: the local one, trust auth) and
# that libpq's headers are there for the build. Installs PostgreSQL from Debian's packages when
# it is absent, starts it when it is stopped.
set -euo pipefail
url="${1:-postgres://postgres@127.0.0.1:5432/postgres}"

apt_updated=""
apt_install() {
    [ -n "$apt_updated" ] || { apt-get update -qq; apt_updated=1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

dpkg -s libpq-dev >/dev/null 2>&1 || apt_install libpq-dev
command -v pkg-config >/dev/null || apt_install pkg-config

answers() { command -v psql >/dev/null && psql "$url" -Atqc 'SELECT 1' >/dev/null 2>&1; }

if answers; then
    echo "PostgreSQL answers at ${url%%@*}@…"
    exit 0
fi

if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    echo "installing PostgreSQL from Debian's packages"
    apt_install postgresql postgresql-client
fi

version="$(ls /etc/postgresql | sort -V | tail -n 1)"
hba="/etc/postgresql/$version/main/pg_hba.conf"
# Local test server only: trust connections from this machine, as the test URL has no password.
if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    sed -i '/^host/d' "$hba"
    printf 'host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n' >> "$hba"
fi
pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null \
    || pg_ctlcluster --skip-systemctl-redirect "$version" main reload

for _ in $(seq 1 60); do
    if answers; then
        echo "PostgreSQL $version is up"
        exit 0
    fi
    sleep 0.5
done
echo "PostgreSQL did not come up at ${url%%@*}@…" >&2
exit 1
