# Sourced by bench/fuzz.sh and bench/hostile.sh: the debug server on a database of its own with
# the demo organisation loaded, on a free port, removed again at exit. bench/crash.sh takes only
# the database (`fresh_database`), and runs the server itself.
#
# The database: when DATABASE_URL names a PostgreSQL server (postgres:// or postgresql://), a
# fresh database PREFIX_<random> is created there with psql (the URL's user must be allowed to
# create databases) and dropped at exit; otherwise an embedded SQLite file in a temporary
# directory.
#
#   source bench/fresh-server.sh
#   fresh_server PREFIX [VAR=value ...]     # extra environment for `hotline serve`
#
# Afterwards: $base (http://127.0.0.1:PORT), $db_url, $work (a temporary directory, removed at exit),
# $server_log, $demo_output (what `hotline demo` printed: the integration client's id and
# secret), $backend (sqlite or postgres). `server_panicked` says whether the log shows a panic.
# The caller must have cd'ed to the repository root and exported CARGO_TARGET_DIR.

work="$(mktemp -d)"
server=""
created_db=""
admin_url=""
server_log="$work/server.log"

fresh_server_cleanup() {
    if [ -n "$server" ]; then
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
    fi
    if [ -n "$created_db" ]; then
        psql "$admin_url" -Xq -v ON_ERROR_STOP=1 \
            -c "DROP DATABASE IF EXISTS \"$created_db\" WITH (FORCE)" >/dev/null 2>&1 \
            || psql "$admin_url" -Xq -c "DROP DATABASE IF EXISTS \"$created_db\"" >/dev/null 2>&1 \
            || echo "could not drop the database $created_db" >&2
    fi
    rm -rf "$work"
}
trap fresh_server_cleanup EXIT

# A database of its own: sets $db_url and $backend (see above). Also for scripts that run the
# server themselves (bench/crash.sh).
fresh_database() {
    local prefix="$1"
    case "${DATABASE_URL:-}" in
        postgres://* | postgresql://*)
            command -v psql >/dev/null || {
                echo "psql is needed to create a PostgreSQL database (apt-get install postgresql-client)" >&2
                exit 2
            }
            admin_url="$DATABASE_URL"
            local name
            name="${prefix}_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
            psql "$admin_url" -Xq -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$name\"" >/dev/null
            created_db="$name"
            # The same server and credentials, the new database's name in the path.
            db_url="$(python3 -c '
import sys, urllib.parse
url = urllib.parse.urlsplit(sys.argv[1])
print(urllib.parse.urlunsplit(url._replace(path="/" + sys.argv[2])))
' "$admin_url" "$name")"
            backend=postgres
            echo "database: PostgreSQL $name (dropped at exit)"
            ;;
        *)
            db_url="sqlite://$work/$prefix.db"
            backend=sqlite
            echo "database: SQLite $work/$prefix.db"
            ;;
    esac
}

fresh_server() {
    local prefix="$1"
    shift
    cargo build --quiet --bin hotline
    local bin="$CARGO_TARGET_DIR/debug/hotline"
    fresh_database "$prefix"

    # The demo organisation gives real rows to reach and the accounts to sign in as.
    demo_output="$(DATABASE_URL="$db_url" RUST_LOG=warn "$bin" demo)"
    local port
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    base="http://127.0.0.1:$port"
    env DATABASE_URL="$db_url" HOTLINE_BIND="127.0.0.1:$port" RUST_LOG=warn "$@" \
        "$bin" serve >"$server_log" 2>&1 &
    server=$!
    for _ in $(seq 1 300); do
        curl -fsS "$base/readyz" >/dev/null 2>&1 && return 0
        kill -0 "$server" 2>/dev/null || break
        sleep 0.1
    done
    echo "the server did not become ready:" >&2
    tail -20 "$server_log" >&2
    exit 1
}

server_panicked() {
    if grep -q "panicked" "$server_log"; then
        echo "the server panicked:" >&2
        grep -A3 panicked "$server_log" >&2
        return 0
    fi
    return 1
}
