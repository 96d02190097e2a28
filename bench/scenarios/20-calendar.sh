# Deadline previews and the policy (issue: working-day calendar and deadline policies).
# shellcheck shell=bash
run "GET /api/v1/calendar/working-days" "/api/v1/calendar/working-days?from=2026-02-13T10:00:00Z&days=5" \
    -H "Authorization: Bearer $token"
run "GET /api/v1/sla-policies" /api/v1/sla-policies -H "Authorization: Bearer $token"
