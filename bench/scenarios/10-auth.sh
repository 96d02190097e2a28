# Sign-in and the token check (issue: identity and organisation).
# shellcheck shell=bash
login_body='{"username":"operator","password":"hotline-demo-2026"}'
token="$(curl -fsS "$base/api/v1/auth/login" -H 'content-type: application/json' -d "$login_body" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"

run "GET /api/v1/auth/me" /api/v1/auth/me -H "Authorization: Bearer $token"
run "GET /api/v1/departments/tree" /api/v1/departments/tree -H "Authorization: Bearer $token"

cat >"$work/login.lua" <<LUA
wrk.method = "POST"
wrk.body = '$login_body'
wrk.headers["Content-Type"] = "application/json"
LUA
# Argon2id is deliberately expensive: measured with one client per core, as sign-ins arrive.
RUN_THREADS=2 RUN_CONNECTIONS=2 run "POST /api/v1/auth/login (2 clients)" /api/v1/auth/login -s "$work/login.lua"
