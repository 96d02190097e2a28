//! Extensions of reply deadlines: requested by the department admin, decided by a supervisor,
//! limited by the policy; the roles, the rows of other departments, bad input, the illegal
//! moves and concurrent requests.

use serde_json::{Value, json};

use crate::dispatch::{desk, dispatched_to, json_of, post, sign_and_reply};
use crate::helpers::{TestApp, assert_problem, spawn_app};

/// What the calendar says `days` working days after `from` is.
async fn working_days_after(app: &TestApp, token: &str, from: &str, days: u32) -> String {
    let preview = json_of(
        app.get_as(
            token,
            &format!(
                "/api/v1/calendar/working-days?from={}&days={days}",
                from.replace('+', "%2B")
            ),
        )
        .await,
        200,
        "preview",
    )
    .await;
    preview["due_at"].as_str().unwrap().to_owned()
}

fn extensions_path(deadline: &Value) -> String {
    format!("/api/v1/deadlines/{}/extensions", deadline["id"])
}

#[tokio::test]
async fn department_admins_ask_for_more_time_and_supervisors_decide() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let (case, assignment, _, deadline) = dispatched_to(&app, &d, d.cgj).await;
    let due = deadline["due_at"].as_str().unwrap().to_owned();

    let request = json_of(
        post(
            &app,
            &d.cgj_admin,
            &extensions_path(&deadline),
            json!({"reason": "需协调住建局联合勘查", "working_days": 3}),
        )
        .await,
        201,
        "request",
    )
    .await;
    assert_eq!(request["state"], "pending");
    assert_eq!(request["due_before"], due.as_str());
    assert_eq!(request["assignment_id"], assignment);
    assert_eq!(request["department_id"], d.cgj);
    let id = request["id"].as_i64().unwrap();
    // One request waits at a time.
    assert_problem(
        post(
            &app,
            &d.cgj_admin,
            &extensions_path(&deadline),
            json!({"reason": "再次申请", "working_days": 1}),
        )
        .await,
        409,
        "extension_pending",
    )
    .await;

    // The supervisors' queue, and the department's view of its own requests.
    for token in [&d.supervisor, &d.cgj_staff, &d.dispatcher] {
        let queue = json_of(
            app.get_as(token, "/api/v1/extensions?state=pending").await,
            200,
            "queue",
        )
        .await;
        let ids: Vec<i64> = queue["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, vec![id]);
    }
    let none = json_of(
        app.get_as(&d.supervisor, "/api/v1/extensions?state=approved")
            .await,
        200,
        "approved",
    )
    .await;
    assert_eq!(none["items"], json!([]));

    // Only a supervisor decides.
    let decision = format!("/api/v1/extensions/{id}/decision");
    for token in [&d.dispatcher, &d.cgj_admin] {
        assert_problem(
            post(&app, token, &decision, json!({"decision": "approve"})).await,
            403,
            "forbidden_role",
        )
        .await;
    }
    let approved = json_of(
        post(
            &app,
            &d.supervisor,
            &decision,
            json!({"decision": "approve", "note": "同意延期3个工作日"}),
        )
        .await,
        200,
        "approve",
    )
    .await;
    let extended = working_days_after(&app, &d.supervisor, &due, 3).await;
    assert_eq!(approved["state"], "approved");
    assert_eq!(approved["new_due_at"], extended.as_str());
    assert_eq!(approved["decision_note"], "同意延期3个工作日");
    assert_problem(
        post(
            &app,
            &d.supervisor,
            &decision,
            json!({"decision": "reject"}),
        )
        .await,
        409,
        "extension_decided",
    )
    .await;

    // The clock, the assignment and the time the citizen was told all moved.
    let moved = json_of(
        app.get_as(
            &d.cgj_staff,
            &format!("/api/v1/deadlines/{}", deadline["id"]),
        )
        .await,
        200,
        "deadline",
    )
    .await;
    assert_eq!(moved["due_at"], extended.as_str());
    assert_eq!(moved["state"], "running");
    let work = json_of(
        app.get_as(&d.cgj_staff, &format!("/api/v1/assignments/{assignment}"))
            .await,
        200,
        "assignment",
    )
    .await;
    assert_eq!(work["reply_due_at"], extended.as_str());
    let case_view = json_of(
        app.get_as(&d.dispatcher, &format!("/api/v1/cases/{case}"))
            .await,
        200,
        "case",
    )
    .await;
    assert_eq!(case_view["reply_due_at"], extended.as_str());
    let timeline = json_of(
        app.get_as(&d.dispatcher, &format!("/api/v1/cases/{case}/timeline"))
            .await,
        200,
        "timeline",
    )
    .await;
    let actions: Vec<&str> = timeline
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.ends_with(&["extension_requested", "extension_approved"]),
        "{actions:?}"
    );

    // A rejection changes no clock; the policy allows two granted extensions, then no more.
    let second = json_of(
        post(
            &app,
            &d.cgj_admin,
            &extensions_path(&deadline),
            json!({"reason": "仍需协调", "working_days": 2}),
        )
        .await,
        201,
        "second",
    )
    .await;
    let rejected = json_of(
        post(
            &app,
            &d.supervisor,
            &format!("/api/v1/extensions/{}/decision", second["id"]),
            json!({"decision": "reject", "note": "请按期办结"}),
        )
        .await,
        200,
        "reject",
    )
    .await;
    assert_eq!(rejected["state"], "rejected");
    assert_eq!(rejected["new_due_at"], Value::Null);
    let unchanged = json_of(
        app.get_as(
            &d.cgj_admin,
            &format!("/api/v1/deadlines/{}", deadline["id"]),
        )
        .await,
        200,
        "deadline",
    )
    .await;
    assert_eq!(unchanged["due_at"], extended.as_str());
    let third = json_of(
        post(
            &app,
            &d.cgj_admin,
            &extensions_path(&deadline),
            json!({"reason": "仍需协调", "working_days": 1}),
        )
        .await,
        201,
        "third",
    )
    .await;
    json_of(
        post(
            &app,
            &d.supervisor,
            &format!("/api/v1/extensions/{}/decision", third["id"]),
            json!({"decision": "approve"}),
        )
        .await,
        200,
        "approve again",
    )
    .await;
    assert_problem(
        post(
            &app,
            &d.cgj_admin,
            &extensions_path(&deadline),
            json!({"reason": "第三次", "working_days": 1}),
        )
        .await,
        409,
        "extension_limit_reached",
    )
    .await;
    let one = json_of(
        app.get_as(&d.cgj_staff, &format!("/api/v1/extensions/{id}"))
            .await,
        200,
        "one",
    )
    .await;
    assert_eq!(one["state"], "approved");
}

#[tokio::test]
async fn extension_requests_are_checked() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let (_, assignment, _, deadline) = dispatched_to(&app, &d, d.cgj).await;
    let path = extensions_path(&deadline);
    let good = json!({"reason": "需协调", "working_days": 2});

    // Roles: only the department admin asks.
    for token in [&d.cgj_staff, &d.supervisor, &d.dispatcher, &d.dc_staff] {
        assert_problem(
            post(&app, token, &path, good.clone()).await,
            403,
            "forbidden_role",
        )
        .await;
    }
    // Bad input.
    for (body, status) in [
        (json!({"reason": "", "working_days": 2}), 422),
        (json!({"reason": "需协调", "working_days": 0}), 422),
        (json!({"reason": "需协调", "working_days": 31}), 422),
        (json!({"reason": "需协调", "working_days": -1}), 422),
        (json!({"reason": "需协调", "working_days": "two"}), 422),
        (json!({"reason": "需协调"}), 422),
        (
            json!({"reason": "需协调", "working_days": 2, "extra": 1}),
            422,
        ),
    ] {
        let response = post(&app, &d.cgj_admin, &path, body.clone()).await;
        assert_eq!(response.status(), status, "{body}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
    // Beyond 30 working days after dispatch (5 are used already).
    let beyond = json_of(
        post(
            &app,
            &d.cgj_admin,
            &path,
            json!({"reason": "需协调", "working_days": 26}),
        )
        .await,
        422,
        "beyond",
    )
    .await;
    assert_eq!(beyond["errors"][0]["field"], "working_days");
    assert_eq!(beyond["errors"][0]["code"], "beyond_limit");
    // The sign deadline is not extended.
    let sign = json_of(
        app.get_as(
            &d.cgj_admin,
            &format!("/api/v1/deadlines?assignment_id={assignment}&kind=sign"),
        )
        .await,
        200,
        "sign deadline",
    )
    .await;
    assert_problem(
        post(
            &app,
            &d.cgj_admin,
            &extensions_path(&sign["items"][0]),
            good.clone(),
        )
        .await,
        409,
        "not_extendable",
    )
    .await;
    // Nothing of the kind, and another department's deadline: 404 alike.
    assert_problem(
        post(
            &app,
            &d.cgj_admin,
            "/api/v1/deadlines/999999/extensions",
            good.clone(),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    let (_, _, _, dc_deadline) = dispatched_to(&app, &d, d.dc).await;
    assert_problem(
        post(
            &app,
            &d.cgj_admin,
            &extensions_path(&dc_deadline),
            good.clone(),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        post(
            &app,
            &d.supervisor,
            "/api/v1/extensions/999999/decision",
            json!({"decision": "approve"}),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        post(
            &app,
            &d.supervisor,
            "/api/v1/extensions/1/decision",
            json!({"decision": "maybe"}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;

    // A request for the department's own deadline is not shown to another department.
    let request = json_of(
        post(&app, &d.cgj_admin, &path, good.clone()).await,
        201,
        "request",
    )
    .await;
    assert_problem(
        app.get_as(
            &d.dc_staff,
            &format!("/api/v1/extensions/{}", request["id"]),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    let theirs = json_of(
        app.get_as(&d.dc_staff, "/api/v1/extensions").await,
        200,
        "list",
    )
    .await;
    assert_eq!(theirs["items"], json!([]));
    let asked_for_other = json_of(
        app.get_as(
            &d.cgj_staff,
            &format!("/api/v1/extensions?department_id={}", d.dc),
        )
        .await,
        200,
        "list",
    )
    .await;
    assert_eq!(asked_for_other["items"], json!([]));
    assert_problem(
        app.get_as(&d.dispatcher, "/api/v1/extensions?state=granted")
            .await,
        400,
        "invalid_query",
    )
    .await;

    // Once the department has replied, the clock has stopped: nothing left to extend, and a
    // waiting request can no longer be approved.
    sign_and_reply(&app, &d.cgj_staff, assignment).await;
    assert_problem(
        post(
            &app,
            &d.supervisor,
            &format!("/api/v1/extensions/{}/decision", request["id"]),
            json!({"decision": "approve"}),
        )
        .await,
        409,
        "deadline_not_running",
    )
    .await;
    json_of(
        post(
            &app,
            &d.supervisor,
            &format!("/api/v1/extensions/{}/decision", request["id"]),
            json!({"decision": "reject"}),
        )
        .await,
        200,
        "reject",
    )
    .await;
    assert_problem(
        post(&app, &d.cgj_admin, &path, good).await,
        409,
        "deadline_not_running",
    )
    .await;
}

/// Requests sent at once for one assignment: exactly one waits, the others are told so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_let_exactly_one_wait() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let (_, _, _, deadline) = dispatched_to(&app, &d, d.cgj).await;
    let path = extensions_path(&deadline);
    let attempts = (0..10).map(|n| {
        let body = json!({"reason": format!("申请{n}"), "working_days": 1});
        let (app, token, path) = (&app, &d.cgj_admin, &path);
        async move { post(app, token, path, body).await.status().as_u16() }
    });
    let mut statuses = futures_util::future::join_all(attempts).await;
    statuses.sort_unstable();
    assert_eq!(statuses, [[201].as_slice(), &[409; 9]].concat());
}
