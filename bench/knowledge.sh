#!/usr/bin/env bash
# Knowledge-base benchmark (issue 16): 20,000 approved articles beside 1,000,000 cases, on SQLite
# and on PostgreSQL. A call-taker's searches (`GET /knowledge/search`, a rotating mix of what
# citizens ask: two-character words, longer phrases, two words, one character, and a word in
# most articles), suggestions while a case is typed, and the public FAQ. Prints requests/s, p50
# and p99 per backend (floor: search p99 under 30 ms on both) and the server's peak memory.
#   bash bench/knowledge.sh
#   KEEP=/var/tmp/knowledge.db KEEP_PG=1 bash bench/knowledge.sh   # reuse the seeded data
#   BACKENDS=sqlite CASES=100000 bash bench/knowledge.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/hotline-target}"
CASES="${CASES:-1000000}"
ARTICLES="${ARTICLES:-20000}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-4}"
THREADS="${THREADS:-2}"
BACKENDS="${BACKENDS:-sqlite postgres}"
PG_ADMIN="${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}"
PG_DB="${PG_DB:-hotline_knowledge_bench}"

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet --bin hotline
bin="$CARGO_TARGET_DIR/release/hotline"
work="$(mktemp -d)"
server=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# What call-takers type: the demo articles' subjects, as citizens say them.
queries=(暖气 社保卡 居住证 停水 电费 公交卡 入学 失业金 户口迁移 供暖费 异地就医 违章 燃气 学位
    身份证 新生儿落户 阶梯电价 转学 网约车 "老年人 免费" 暖 "社保 补办" 办理 "暖气不热怎么办" 医保报销)
urlencode() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$1"; }

seed() { # url, label
    local url="$1"
    DATABASE_URL="$url" RUST_LOG=warn "$bin" seed --cases "$CASES" --articles "$ARTICLES"
}

declare -a rows=()
bench_backend() { # backend, url, seed line
    local backend="$1" url="$2" seed_line="$3"
    local port base token
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    base="http://127.0.0.1:$port"
    DATABASE_URL="$url" HOTLINE_BIND="127.0.0.1:$port" HOTLINE_PUBLIC_RATE_LIMIT=0 RUST_LOG=warn \
        HOTLINE_SWEEP_INTERVAL_SECS=0 HOTLINE_WEBHOOK_WORKER=false "$bin" serve >"$work/server-$backend.log" 2>&1 &
    server=$!
    until curl -fsS "$base/readyz" >/dev/null 2>&1; do sleep 0.1; done
    token="$(curl -fsS "$base/api/v1/auth/login" -H 'content-type: application/json' \
        -d '{"username":"operator","password":"hotline-demo-2026"}' |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
    local articles
    articles="$(curl -fsS "$base/api/v1/knowledge/search?q=%E5%8A%9E%E7%90%86&limit=50" -H "authorization: Bearer $token" |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d["items"]), "of the first 50, more:", d["has_more"])')"
    # One Lua script per request family: the paths rotate request by request.
    write_script() { # file, path prefix, parameter, values...
        local file="$1" prefix="$2" param="$3"; shift 3
        {
            echo "local paths = {"
            for q in "$@"; do echo "  \"$prefix$param=$(urlencode "$q")\","; done
            echo "}"
            echo "local i = 0"
            echo "request = function()"
            echo "  i = i + 1"
            echo "  return wrk.format('GET', paths[(i % #paths) + 1], {['Authorization'] = 'Bearer $token'})"
            echo "end"
        } >"$file"
    }
    write_script "$work/search.lua" "/api/v1/knowledge/search?limit=10&" q "${queries[@]}"
    write_script "$work/suggest.lua" "/api/v1/knowledge/suggestions?" text \
        "家里暖气不热，室温只有十四度，想问找谁" "社保卡丢了，明天要去医院看病怎么办" \
        "孩子明年上小学，需要准备什么材料" "小区突然停水了，什么时候来水" \
        "老人坐公交是不是免费，要办什么卡" "网约车司机绕路多收费，想投诉"
    write_script "$work/public.lua" "/api/v1/public/knowledge/search?" q "${queries[@]}"
    run() { # name, script, base
        local name="$1" script="$2" out rps p50 p99
        wrk -t"$THREADS" -c"$CONNECTIONS" -d2s -s "$script" "$base" >/dev/null
        out="$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$script" "$base")"
        if echo "$out" | grep -q "Non-2xx"; then echo "$name: non-2xx answers" >&2; echo "$out" >&2; exit 1; fi
        rps="$(echo "$out" | awk '/Requests\/sec/ {printf "%.0f", $2}')"
        p50="$(echo "$out" | awk '$1=="50%" {print $2}')"
        p99="$(echo "$out" | awk '$1=="99%" {print $2}')"
        rows+=("$(printf '| %-10s | %-62s | %8s | %8s | %8s |' "$backend" "$name" "$rps" "$p50" "$p99")")
    }
    run "GET /knowledge/search (${#queries[@]} queries in turn)" "$work/search.lua"
    run "GET /knowledge/suggestions (6 texts being typed)" "$work/suggest.lua"
    run "GET /public/knowledge/search (same queries, cached a minute)" "$work/public.lua"
    local peak_kb
    peak_kb=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")
    kill "$server"; wait "$server" 2>/dev/null || true; server=""
    echo "$backend: $seed_line; 办理 (in most articles): $articles; server peak RSS $((peak_kb / 1024)) MB"
}

for backend in $BACKENDS; do
    case "$backend" in
    sqlite)
        db="${KEEP:-$work/knowledge.db}"
        url="sqlite://$db"
        if [ -n "${KEEP:-}" ] && [ -e "$db" ]; then
            seed_line="(reused $db)"
            DATABASE_URL="$url" RUST_LOG=warn "$bin" migrate >/dev/null
        else
            seed_line="$(seed "$url")"
        fi
        ;;
    postgres)
        url="${PG_ADMIN%/*}/$PG_DB"
        if [ -n "${KEEP_PG:-}" ] && psql "$PG_ADMIN" -tAc "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'" | grep -q 1; then
            seed_line="(reused $PG_DB)"
            DATABASE_URL="$url" RUST_LOG=warn "$bin" migrate >/dev/null
        else
            psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $PG_DB" -c "CREATE DATABASE $PG_DB"
            seed_line="$(seed "$url")"
        fi
        ;;
    esac
    bench_backend "$backend" "$url" "$seed_line"
done

echo
echo "hotline $(git rev-parse --short HEAD 2>/dev/null || echo '?') — release, loopback, $(nproc) cores, wrk -t$THREADS -c$CONNECTIONS -d$DURATION; $ARTICLES articles, $CASES cases"
echo
echo "| backend | request | req/s | p50 | p99 |"
echo "|---|---|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
