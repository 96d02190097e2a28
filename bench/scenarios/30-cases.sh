# Case intake and reading (issue: cases). Registered by the operator signed in by 10-auth.sh.
# shellcheck shell=bash
case_body='{"channel":"phone","kind":"complaint","title":"小区门口占道经营","description":"每天傍晚有流动摊贩在小区门口占道经营，影响通行。","address":"东城区东华门街道某小区北门","complainant":{"name":"张三","phone":"13812345678","contact_allowed":false}}'
cat >"$work/register.lua" <<LUA
wrk.method = "POST"
wrk.body = '$case_body'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
LUA
run "POST /api/v1/cases" /api/v1/cases -s "$work/register.lua"
# Each read of a case by centre staff is recorded (SPEC 5.3): a read that writes.
run "GET /api/v1/cases/{id}" /api/v1/cases/1 -H "Authorization: Bearer $token"
run "GET /api/v1/cases?status=registered" "/api/v1/cases?status=registered&limit=50" -H "Authorization: Bearer $token"
