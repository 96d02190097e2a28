//! After acceptance: dispatch with its deadlines, the departments' work (sign, return and the
//! ruling, handover, progress, reply), review, redo, merge, notes, close and reopen — every move,
//! the illegal ones, the roles, row scoping between departments, masking, If-Match, concurrency.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_app};

pub(crate) struct Desk {
    pub operator: String,
    pub dispatcher: String,
    pub supervisor: String,
    pub cgj_staff: String,
    pub cgj_admin: String,
    pub dc_staff: String,
    pub cgj: i64,
    pub dc: i64,
}

pub(crate) async fn desk(app: &TestApp) -> Desk {
    app.load_demo().await;
    let operator = app.token("operator").await;
    Desk {
        cgj: app.department_id(&operator, "CGJ").await,
        dc: app.department_id(&operator, "DC").await,
        dispatcher: app.token("dispatcher").await,
        supervisor: app.token("supervisor").await,
        cgj_staff: app.token("cgj.staff").await,
        cgj_admin: app.token("cgj.admin").await,
        dc_staff: app.token("dc.staff").await,
        operator,
    }
}

pub(crate) fn complaint(contact_allowed: bool, confidential: bool) -> Value {
    json!({
        "channel": "phone",
        "kind": "complaint",
        "title": "小区门口占道经营",
        "description": "每天傍晚有流动摊贩在小区门口占道经营，影响通行。",
        "address": "东城区东华门街道某小区北门",
        "complainant": {
            "name": "张三",
            "phone": "13812345678",
            "contact_allowed": contact_allowed,
            "confidential": confidential
        }
    })
}

pub(crate) async fn json_of(response: reqwest::Response, status: u16, what: &str) -> Value {
    let actual = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(actual, status, "{what}: {body}");
    body
}

/// Registers and accepts a complaint; returns its id.
pub(crate) async fn accepted_case(app: &TestApp, desk: &Desk, body: &Value) -> i64 {
    let case = json_of(
        app.post_as(Some(&desk.operator), "/api/v1/cases", body)
            .await,
        201,
        "register",
    )
    .await;
    let id = case["id"].as_i64().unwrap();
    json_of(
        app.post_as(
            Some(&desk.operator),
            &format!("/api/v1/cases/{id}/accept"),
            &json!({}),
        )
        .await,
        200,
        "accept",
    )
    .await;
    id
}

/// A complaint dispatched to `department` alone: the case, its assignment and its clocks by kind.
pub(crate) async fn dispatched_to(
    app: &TestApp,
    d: &Desk,
    department: i64,
) -> (i64, i64, Value, Value) {
    let case = accepted_case(app, d, &complaint(true, false)).await;
    json_of(
        post(
            app,
            &d.dispatcher,
            &format!("/api/v1/cases/{case}/dispatch"),
            json!({"departments": [{"department_id": department}]}),
        )
        .await,
        200,
        "dispatch",
    )
    .await;
    let assignment = assignment_for(&assignments_of(app, &d.dispatcher, case).await, department);
    let clock = |kind: &'static str| async move {
        let page = json_of(
            app.get_as(
                &d.dispatcher,
                &format!("/api/v1/deadlines?assignment_id={assignment}&kind={kind}"),
            )
            .await,
            200,
            "deadlines",
        )
        .await;
        page["items"][0].clone()
    };
    (case, assignment, clock("sign").await, clock("reply").await)
}

/// The department signs for an assignment and replies to it.
pub(crate) async fn sign_and_reply(app: &TestApp, token: &str, assignment: i64) {
    for (step, body) in [("sign", json!({})), ("reply", reply_body())] {
        json_of(
            post(
                app,
                token,
                &format!("/api/v1/assignments/{assignment}/{step}"),
                body,
            )
            .await,
            200,
            step,
        )
        .await;
    }
}

pub(crate) async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> reqwest::Response {
    app.post_as(Some(token), path, &body).await
}

pub(crate) async fn assignments_of(app: &TestApp, token: &str, case: i64) -> Vec<Value> {
    let page = json_of(
        app.get_as(token, &format!("/api/v1/assignments?case_id={case}"))
            .await,
        200,
        "assignments",
    )
    .await;
    page["items"].as_array().unwrap().clone()
}

pub(crate) fn assignment_for(list: &[Value], department: i64) -> i64 {
    list.iter()
        .find(|a| a["department_id"] == department)
        .and_then(|a| a["id"].as_i64())
        .unwrap_or_else(|| panic!("an assignment for department {department}"))
}

async fn case_status(app: &TestApp, token: &str, id: i64) -> String {
    json_of(
        app.get_as(token, &format!("/api/v1/cases/{id}")).await,
        200,
        "case",
    )
    .await["status"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub(crate) fn reply_body() -> Value {
    json!({
        "investigation": "经现场核查，反映情况属实。",
        "actions": "已联合街道执法队清理占道摊点，并安排每日巡查。",
        "result": "已解决",
        "contacted_citizen": true
    })
}

#[tokio::test]
async fn a_joint_dispatch_walks_from_dispatch_to_follow_up_redo_close_and_reopen() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = accepted_case(&app, &d, &complaint(false, false)).await;

    // Joint dispatch: CGJ leads, DC assists. Deadlines come from the policy and the calendar.
    let dispatched = app
        .post_as(
            Some(&d.dispatcher),
            &format!("/api/v1/cases/{id}/dispatch"),
            &json!({
                "departments": [
                    {"department_id": d.cgj, "role": "lead"},
                    {"department_id": d.dc, "role": "assisting"}
                ],
                "instructions": "请核实处理"
            }),
        )
        .await;
    assert_eq!(dispatched.headers()["etag"], "\"3\"");
    let case = json_of(dispatched, 200, "dispatch").await;
    assert_eq!(case["status"], "dispatched");
    assert_eq!(case["current_round"], 1);
    assert_eq!(case["lead_department_id"], d.cgj);
    let dispatched_at = case["dispatched_at"].as_str().unwrap().to_owned();

    // The reply deadline is 5 working days (normal complaint), as the calendar computes it.
    let preview = json_of(
        app.get_as(
            &d.dispatcher,
            &format!(
                "/api/v1/calendar/working-days?from={}&days=5",
                dispatched_at.replace('+', "%2B")
            ),
        )
        .await,
        200,
        "preview",
    )
    .await;
    assert_eq!(case["reply_due_at"], preview["due_at"], "{preview}");
    let deadlines = json_of(
        app.get_as(&d.dispatcher, &format!("/api/v1/deadlines?case_id={id}"))
            .await,
        200,
        "deadlines",
    )
    .await;
    let deadlines = deadlines["items"].as_array().unwrap();
    assert_eq!(deadlines.len(), 4, "sign and reply for each department");
    assert!(deadlines.iter().all(|d| d["state"] == "running"));
    let periods: Vec<&str> = deadlines
        .iter()
        .map(|d| d["period"].as_str().unwrap())
        .collect();
    assert!(periods.contains(&"1 working_days") && periods.contains(&"5 working_days"));

    // Each department sees only its own assignment; the other's is 404.
    let all = assignments_of(&app, &d.dispatcher, id).await;
    let (cgj_a, dc_a) = (assignment_for(&all, d.cgj), assignment_for(&all, d.dc));
    let own = assignments_of(&app, &d.cgj_staff, id).await;
    assert_eq!(own.len(), 1);
    assert_eq!(own[0]["role"], "lead");
    assert_eq!(own[0]["mode"], "joint");
    assert_problem(
        app.get_as(&d.cgj_staff, &format!("/api/v1/assignments/{dc_a}"))
            .await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        post(
            &app,
            &d.cgj_staff,
            &format!("/api/v1/assignments/{dc_a}/sign"),
            json!({}),
        )
        .await,
        404,
        "not_found",
    )
    .await;

    // Departments read the case with the complainant masked (no contact allowed).
    let seen = json_of(
        app.get_as(&d.dc_staff, &format!("/api/v1/cases/{id}"))
            .await,
        200,
        "department reads the case",
    )
    .await;
    assert_eq!(seen["complainant"]["disclosure"], "masked");
    assert_eq!(seen["complainant"]["name"], "张*");
    assert_eq!(seen["complainant"]["phone"], "138****5678");
    let listed = json_of(
        app.get_as(&d.dc_staff, "/api/v1/cases").await,
        200,
        "department lists cases",
    )
    .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);

    // Reply before signing is illegal; signing meets the sign deadline.
    assert_problem(
        post(
            &app,
            &d.cgj_staff,
            &format!("/api/v1/assignments/{cgj_a}/reply"),
            reply_body(),
        )
        .await,
        409,
        "assignment_not_signed",
    )
    .await;
    let signed = json_of(
        post(
            &app,
            &d.cgj_staff,
            &format!("/api/v1/assignments/{cgj_a}/sign"),
            json!({}),
        )
        .await,
        200,
        "sign",
    )
    .await;
    assert_eq!(signed["state"], "in_progress");
    assert_problem(
        post(
            &app,
            &d.cgj_staff,
            &format!("/api/v1/assignments/{cgj_a}/sign"),
            json!({}),
        )
        .await,
        409,
        "assignment_not_pending_sign",
    )
    .await;
    assert_eq!(case_status(&app, &d.dispatcher, id).await, "dispatched");
    json_of(
        post(
            &app,
            &d.dc_staff,
            &format!("/api/v1/assignments/{dc_a}/sign"),
            json!({}),
        )
        .await,
        200,
        "second sign",
    )
    .await;
    assert_eq!(
        case_status(&app, &d.dispatcher, id).await,
        "in_progress",
        "all signed"
    );
    let sign_clock = json_of(
        app.get_as(
            &d.cgj_staff,
            &format!("/api/v1/deadlines?assignment_id={cgj_a}&kind=sign"),
        )
        .await,
        200,
        "sign clock",
    )
    .await;
    assert_eq!(sign_clock["items"][0]["state"], "met");
    let clock_id = sign_clock["items"][0]["id"].as_i64().unwrap();
    assert_problem(
        app.get_as(&d.dc_staff, &format!("/api/v1/deadlines/{clock_id}"))
            .await,
        404,
        "not_found",
    )
    .await;

    json_of(
        post(
            &app,
            &d.cgj_staff,
            &format!("/api/v1/assignments/{cgj_a}/progress"),
            json!({"note": "已联系街道执法队"}),
        )
        .await,
        200,
        "progress",
    )
    .await;
    json_of(
        post(
            &app,
            &d.cgj_staff,
            &format!("/api/v1/assignments/{cgj_a}/reply"),
            reply_body(),
        )
        .await,
        200,
        "lead replies",
    )
    .await;
    assert_eq!(case_status(&app, &d.dispatcher, id).await, "in_progress");
    json_of(
        post(
            &app,
            &d.dc_staff,
            &format!("/api/v1/assignments/{dc_a}/reply"),
            reply_body(),
        )
        .await,
        200,
        "assisting replies",
    )
    .await;
    assert_eq!(case_status(&app, &d.dispatcher, id).await, "pending_review");

    // Review sends the assisting reply back; it replies again; then approval.
    assert_problem(
        post(
            &app,
            &d.dispatcher,
            &format!("/api/v1/cases/{id}/review"),
            json!({"decision": "send_back"}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    let sent_back = json_of(
        post(
            &app,
            &d.dispatcher,
            &format!("/api/v1/cases/{id}/review"),
            json!({"decision": "send_back", "assignment_id": dc_a, "note": "请补充整改期限"}),
        )
        .await,
        200,
        "send back",
    )
    .await;
    assert_eq!(sent_back["status"], "in_progress");
    let back = json_of(
        app.get_as(&d.dc_staff, &format!("/api/v1/assignments/{dc_a}"))
            .await,
        200,
        "sent-back assignment",
    )
    .await;
    assert_eq!(back["state"], "in_progress");
    assert_eq!(back["review_note"], "请补充整改期限");
    json_of(
        post(
            &app,
            &d.dc_staff,
            &format!("/api/v1/assignments/{dc_a}/reply"),
            reply_body(),
        )
        .await,
        200,
        "replies again",
    )
    .await;
    assert_problem(
        post(
            &app,
            &d.operator,
            &format!("/api/v1/cases/{id}/review"),
            json!({"decision": "approve"}),
        )
        .await,
        403,
        "forbidden_role",
    )
    .await;
    let approved = json_of(
        post(
            &app,
            &d.dispatcher,
            &format!("/api/v1/cases/{id}/review"),
            json!({"decision": "approve"}),
        )
        .await,
        200,
        "approve",
    )
    .await;
    assert_eq!(approved["status"], "awaiting_follow_up");
    assert_eq!(approved["citizen_status"], "answered");
    let follow_up = json_of(
        app.get_as(
            &d.dispatcher,
            &format!("/api/v1/deadlines?case_id={id}&kind=follow_up"),
        )
        .await,
        200,
        "follow-up clock",
    )
    .await;
    assert_eq!(follow_up["items"][0]["period"], "2 working_days");
    assert_eq!(
        assignments_of(&app, &d.dispatcher, id).await[0]["state"],
        "completed"
    );

    // Redo is the supervisor's; it opens a new round.
    assert_problem(
        post(
            &app,
            &d.dispatcher,
            &format!("/api/v1/cases/{id}/redo"),
            json!({"reason": "回访不满意"}),
        )
        .await,
        403,
        "forbidden_role",
    )
    .await;
    let redone = json_of(
        post(
            &app,
            &d.supervisor,
            &format!("/api/v1/cases/{id}/redo"),
            json!({"reason": "回访不满意"}),
        )
        .await,
        200,
        "redo",
    )
    .await;
    assert_eq!(redone["status"], "pending_dispatch");
    assert_eq!(redone["redo_count"], 1);
    let round_two = json_of(
        post(
            &app,
            &d.dispatcher,
            &format!("/api/v1/cases/{id}/dispatch"),
            json!({"departments": [{"department_id": d.dc}]}),
        )
        .await,
        200,
        "second round",
    )
    .await;
    assert_eq!(round_two["current_round"], 2);
    // Round one's assignments are history now.
    assert_problem(
        post(
            &app,
            &d.cgj_staff,
            &format!("/api/v1/assignments/{cgj_a}/progress"),
            json!({"note": "还在办"}),
        )
        .await,
        409,
        "assignment_superseded",
    )
    .await;

    let closed = json_of(
        post(
            &app,
            &d.supervisor,
            &format!("/api/v1/cases/{id}/close"),
            json!({"reason": "诉求超出政策规定范围"}),
        )
        .await,
        200,
        "close",
    )
    .await;
    assert_eq!(closed["status"], "closed");
    assert_eq!(closed["closure"], "closed_by_supervisor");
    let running = json_of(
        app.get_as(
            &d.dispatcher,
            &format!("/api/v1/deadlines?case_id={id}&state=running"),
        )
        .await,
        200,
        "running clocks",
    )
    .await;
    assert!(
        running["items"].as_array().unwrap().is_empty(),
        "closing stops every clock"
    );
    assert_problem(
        post(
            &app,
            &d.supervisor,
            &format!("/api/v1/cases/{id}/close"),
            json!({"reason": "again"}),
        )
        .await,
        409,
        "case_not_open",
    )
    .await;
    let reopened = json_of(
        post(
            &app,
            &d.supervisor,
            &format!("/api/v1/cases/{id}/reopen"),
            json!({"reason": "市民补充了新情况"}),
        )
        .await,
        200,
        "reopen",
    )
    .await;
    assert_eq!(reopened["status"], "pending_dispatch");
    assert!(reopened["closure"].is_null());

    let timeline = json_of(
        app.get_as(&d.dispatcher, &format!("/api/v1/cases/{id}/timeline"))
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
    for expected in [
        "registered",
        "accepted",
        "dispatched",
        "assignment_signed",
        "progress_reported",
        "assignment_replied",
        "reply_sent_back",
        "review_approved",
        "redo",
        "closed",
        "reopened",
    ] {
        assert!(actions.contains(&expected), "{expected} in {actions:?}");
    }
    assert!(!timeline.to_string().contains("13812345678"));
}

#[tokio::test]
async fn dispatch_checks_its_input_its_roles_and_the_case_status() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = accepted_case(&app, &d, &complaint(true, false)).await;
    let path = format!("/api/v1/cases/{id}/dispatch");
    assert_problem(
        post(
            &app,
            &d.operator,
            &path,
            json!({"departments": [{"department_id": d.cgj}]}),
        )
        .await,
        403,
        "forbidden_role",
    )
    .await;
    assert_problem(
        post(
            &app,
            &d.cgj_admin,
            &path,
            json!({"departments": [{"department_id": d.cgj}]}),
        )
        .await,
        403,
        "forbidden_role",
    )
    .await;
    for bad in [
        json!({"departments": []}),
        json!({"departments": [{"department_id": d.cgj, "role": "lead"}, {"department_id": d.dc, "role": "lead"}]}),
        json!({"departments": [{"department_id": d.cgj}, {"department_id": d.cgj}]}),
        json!({"departments": [{"department_id": 999999}]}),
        json!({"departments": [{"department_id": d.cgj}], "assigned": true}),
        json!({"departments": [{"department_id": d.cgj}], "reply_due_at": "2099-01-01T00:00:00Z"}),
        json!({"departments": [{"department_id": d.cgj}], "assigned": true, "reply_due_at": "2001-01-01T00:00:00Z"}),
    ] {
        assert_problem(
            post(&app, &d.dispatcher, &path, bad.clone()).await,
            422,
            "validation_failed",
        )
        .await;
    }
    assert_problem(
        post(
            &app,
            &d.dispatcher,
            &path,
            json!({"departments": [{"department_id": d.cgj, "role": "boss"}]}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    let registered = json_of(
        app.post_as(Some(&d.operator), "/api/v1/cases", &complaint(true, false))
            .await,
        201,
        "register",
    )
    .await;
    assert_problem(
        post(
            &app,
            &d.dispatcher,
            &format!("/api/v1/cases/{}/dispatch", registered["id"]),
            json!({"departments": [{"department_id": d.cgj}]}),
        )
        .await,
        409,
        "case_not_pending_dispatch",
    )
    .await;
    assert_problem(
        post(
            &app,
            &d.dispatcher,
            "/api/v1/cases/999999/dispatch",
            json!({"departments": [{"department_id": d.cgj}]}),
        )
        .await,
        404,
        "not_found",
    )
    .await;

    // 交办: the centre's own reply deadline, recorded as such.
    let stale = app
        .request("POST", &path, Some(&d.dispatcher))
        .header("If-Match", "\"1\"")
        .json(&json!({"departments": [{"department_id": d.cgj}]}))
        .send()
        .await
        .unwrap();
    assert_problem(stale, 412, "version_mismatch").await;
    let due = "2099-06-30T10:00:00Z";
    let case = json_of(
        app.request("POST", &path, Some(&d.dispatcher))
            .header("If-Match", "\"2\"")
            .json(&json!({"departments": [{"department_id": d.cgj}], "assigned": true, "reply_due_at": due}))
            .send()
            .await
            .unwrap(),
        200,
        "assigned dispatch",
    )
    .await;
    assert_eq!(case["reply_due_at"], due);
    let clocks = json_of(
        app.get_as(
            &d.dispatcher,
            &format!("/api/v1/deadlines?case_id={id}&kind=reply"),
        )
        .await,
        200,
        "reply clock",
    )
    .await;
    assert_eq!(clocks["items"][0]["period"], "set_by_centre");
    assert!(clocks["items"][0]["policy_version"].is_null());
    let assignment = &assignments_of(&app, &d.cgj_admin, id).await[0];
    assert_eq!(assignment["assigned"], true);
    assert_eq!(assignment["role"], "lead");
    assert_eq!(assignment["mode"], "direct");

    // The department sees the complainant in full: contact allowed, not confidential.
    let seen = json_of(
        app.get_as(&d.cgj_staff, &format!("/api/v1/cases/{id}"))
            .await,
        200,
        "department read",
    )
    .await;
    assert_eq!(seen["complainant"]["disclosure"], "full");
    assert_eq!(seen["complainant"]["phone"], "13812345678");
    // Another department never had it: 404, in the list too.
    assert_problem(
        app.get_as(&d.dc_staff, &format!("/api/v1/cases/{id}"))
            .await,
        404,
        "not_found",
    )
    .await;
    let listed = json_of(
        app.get_as(
            &d.dc_staff,
            &format!("/api/v1/cases?department_id={}", d.cgj),
        )
        .await,
        200,
        "list",
    )
    .await;
    assert!(listed["items"].as_array().unwrap().is_empty());

    for (token, path) in [
        (app.token("analyst").await, "/api/v1/assignments"),
        (app.token("analyst").await, "/api/v1/deadlines"),
        (app.token("13800138000").await, "/api/v1/assignments"),
    ] {
        assert_problem(app.get_as(&token, path).await, 403, "forbidden_role").await;
    }
}

#[tokio::test]
async fn confidential_cases_show_departments_nothing_of_the_complainant() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = accepted_case(&app, &d, &complaint(true, true)).await;
    json_of(
        post(
            &app,
            &d.dispatcher,
            &format!("/api/v1/cases/{id}/dispatch"),
            json!({"departments": [{"department_id": d.cgj}]}),
        )
        .await,
        200,
        "dispatch",
    )
    .await;
    let seen = json_of(
        app.get_as(&d.cgj_admin, &format!("/api/v1/cases/{id}"))
            .await,
        200,
        "department read",
    )
    .await;
    assert!(seen["complainant"].is_null(), "{seen}");
    assert!(!seen.to_string().contains("13812345678"));
    assert!(!seen.to_string().contains("张"));
}

#[tokio::test]
async fn returns_are_ruled_on_by_the_centre() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = accepted_case(&app, &d, &complaint(true, false)).await;
    json_of(
        post(
            &app,
            &d.dispatcher,
            &format!("/api/v1/cases/{id}/dispatch"),
            json!({"departments": [{"department_id": d.cgj}]}),
        )
        .await,
        200,
        "dispatch",
    )
    .await;
    let a = assignments_of(&app, &d.dispatcher, id).await[0]["id"]
        .as_i64()
        .unwrap();
    let path = |action: &str| format!("/api/v1/assignments/{a}/{action}");
    assert_problem(
        post(&app, &d.cgj_staff, &path("return"), json!({"reason": " "})).await,
        422,
        "validation_failed",
    )
    .await;
    assert_problem(
        post(
            &app,
            &d.dispatcher,
            &path("return-ruling"),
            json!({"ruling": "refused"}),
        )
        .await,
        409,
        "assignment_not_returned",
    )
    .await;
    let returned = json_of(
        post(
            &app,
            &d.cgj_staff,
            &path("return"),
            json!({"reason": "不属于本局职责"}),
        )
        .await,
        200,
        "return",
    )
    .await;
    assert_eq!(returned["state"], "returned");
    assert_problem(
        post(
            &app,
            &d.cgj_admin,
            &path("return-ruling"),
            json!({"ruling": "accepted"}),
        )
        .await,
        403,
        "forbidden_role",
    )
    .await;
    // Refused: back to the department, clocks still running.
    let refused = json_of(
        post(
            &app,
            &d.dispatcher,
            &path("return-ruling"),
            json!({"ruling": "refused", "note": "属于贵单位职责，请继续办理"}),
        )
        .await,
        200,
        "refuse",
    )
    .await;
    assert_eq!(refused["state"], "pending_sign");
    assert_eq!(refused["ruling"], "refused");
    let running = json_of(
        app.get_as(
            &d.dispatcher,
            &format!("/api/v1/deadlines?assignment_id={a}&state=running"),
        )
        .await,
        200,
        "clocks",
    )
    .await;
    assert_eq!(running["items"].as_array().unwrap().len(), 2);

    // Returned again and accepted: withdrawn, the case goes back to dispatch, clocks cancelled.
    json_of(
        post(
            &app,
            &d.cgj_staff,
            &path("return"),
            json!({"reason": "确实不属于本局职责"}),
        )
        .await,
        200,
        "return again",
    )
    .await;
    let etag = app
        .get_as(&d.dispatcher, &format!("/api/v1/assignments/{a}"))
        .await
        .headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let stale = app
        .request("POST", &path("return-ruling"), Some(&d.supervisor))
        .header("If-Match", "\"1\"")
        .json(&json!({"ruling": "accepted"}))
        .send()
        .await
        .unwrap();
    assert_problem(stale, 412, "version_mismatch").await;
    let accepted = json_of(
        app.request("POST", &path("return-ruling"), Some(&d.supervisor))
            .header("If-Match", etag)
            .json(&json!({"ruling": "accepted"}))
            .send()
            .await
            .unwrap(),
        200,
        "accept the return",
    )
    .await;
    assert_eq!(accepted["state"], "withdrawn");
    assert_eq!(
        case_status(&app, &d.dispatcher, id).await,
        "pending_dispatch"
    );
    let cancelled = json_of(
        app.get_as(
            &d.dispatcher,
            &format!("/api/v1/deadlines?assignment_id={a}&state=cancelled"),
        )
        .await,
        200,
        "cancelled clocks",
    )
    .await;
    assert_eq!(cancelled["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn department_admins_hand_assignments_to_their_staff() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let admin = app.token("admin").await;
    let staff_id = app.user_id(&admin, "cgj.staff").await;
    let other_department = app.user_id(&admin, "dc.staff").await;
    let id = accepted_case(&app, &d, &complaint(true, false)).await;
    json_of(
        post(
            &app,
            &d.dispatcher,
            &format!("/api/v1/cases/{id}/dispatch"),
            json!({"departments": [{"department_id": d.cgj}]}),
        )
        .await,
        200,
        "dispatch",
    )
    .await;
    let a = assignments_of(&app, &d.cgj_admin, id).await[0]["id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/v1/assignments/{a}/handover");
    assert_problem(
        post(&app, &d.cgj_staff, &path, json!({"user_id": staff_id})).await,
        403,
        "forbidden_role",
    )
    .await;
    assert_problem(
        post(
            &app,
            &d.cgj_admin,
            &path,
            json!({"user_id": other_department}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    let handed = json_of(
        post(&app, &d.cgj_admin, &path, json!({"user_id": staff_id})).await,
        200,
        "handover",
    )
    .await;
    assert_eq!(handed["handler_id"], staff_id);
    let mine = json_of(
        app.get_as(
            &d.cgj_staff,
            &format!("/api/v1/assignments?handler_id={staff_id}&state=pending_sign"),
        )
        .await,
        200,
        "my assignments",
    )
    .await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    for (filter, expected) in [
        ("channel=phone&kind=complaint&urgency=normal", 1),
        ("channel=web", 0),
        ("overdue=true", 0),
        ("state=replied", 0),
    ] {
        let page = json_of(
            app.get_as(&d.cgj_admin, &format!("/api/v1/assignments?{filter}"))
                .await,
            200,
            filter,
        )
        .await;
        assert_eq!(
            page["items"].as_array().unwrap().len(),
            expected,
            "{filter}"
        );
    }
    assert_problem(
        app.get_as(&d.cgj_admin, "/api/v1/assignments?state=lost")
            .await,
        400,
        "invalid_query",
    )
    .await;
    let signed = json_of(
        post(
            &app,
            &d.cgj_staff,
            &format!("/api/v1/assignments/{a}/sign"),
            json!({}),
        )
        .await,
        200,
        "the handler signs",
    )
    .await;
    assert_eq!(signed["signed_by"], staff_id);
}

#[tokio::test]
async fn duplicates_are_suggested_and_merged_into_the_earlier_case() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let first = accepted_case(&app, &d, &complaint(true, false)).await;
    let unrelated = json_of(
        app.post_as(
            Some(&d.operator),
            "/api/v1/cases",
            &json!({
                "channel": "phone", "kind": "consultation", "title": "社保卡补办",
                "description": "社保卡丢失如何补办？",
                "complainant": {"name": "李四", "phone": "13900001111"}
            }),
        )
        .await,
        201,
        "unrelated",
    )
    .await;
    let second = json_of(
        app.post_as(Some(&d.operator), "/api/v1/cases", &complaint(true, false))
            .await,
        201,
        "repeat",
    )
    .await;
    let second = second["id"].as_i64().unwrap();
    let similar = json_of(
        app.get_as(&d.operator, &format!("/api/v1/cases/{second}/similar"))
            .await,
        200,
        "similar",
    )
    .await;
    let similar = similar.as_array().unwrap();
    assert_eq!(similar.len(), 1, "{similar:?}");
    assert_eq!(similar[0]["case"]["id"], first);
    assert_eq!(similar[0]["reasons"], json!(["same_complainant"]));
    assert!(
        !Value::Array(similar.clone())
            .to_string()
            .contains("13812345678")
    );
    // The same category at the same address, from someone else: the other reason, alone.
    let categories = json_of(
        app.get_as(&d.operator, "/api/v1/categories?limit=1").await,
        200,
        "categories",
    )
    .await;
    let category = categories["items"][0]["id"].as_i64().unwrap();
    let place = |name: &str, phone: &str| {
        json!({
            "channel": "phone", "kind": "complaint", "category_id": category,
            "title": "井盖缺失", "description": "路口井盖缺失，夜间很危险。",
            "address": "东城区某路口",
            "complainant": {"name": name, "phone": phone}
        })
    };
    let earlier = json_of(
        app.post_as(
            Some(&d.operator),
            "/api/v1/cases",
            &place("王五", "13700001111"),
        )
        .await,
        201,
        "earlier at the place",
    )
    .await;
    let later = json_of(
        app.post_as(
            Some(&d.operator),
            "/api/v1/cases",
            &place("赵六", "13700002222"),
        )
        .await,
        201,
        "later at the place",
    )
    .await;
    let by_place = json_of(
        app.get_as(
            &d.operator,
            &format!("/api/v1/cases/{}/similar", later["id"]),
        )
        .await,
        200,
        "similar by place",
    )
    .await;
    assert_eq!(by_place.as_array().unwrap().len(), 1, "{by_place}");
    assert_eq!(by_place[0]["case"]["id"], earlier["id"]);
    assert_eq!(by_place[0]["reasons"], json!(["same_category_and_place"]));
    assert_problem(
        app.get_as(&d.cgj_staff, &format!("/api/v1/cases/{second}/similar"))
            .await,
        403,
        "forbidden_role",
    )
    .await;

    assert_problem(
        post(
            &app,
            &d.operator,
            &format!("/api/v1/cases/{first}/merge"),
            json!({"into_case_id": second}),
        )
        .await,
        409,
        "merge_target_not_earlier",
    )
    .await;
    assert_problem(
        post(
            &app,
            &d.operator,
            &format!("/api/v1/cases/{second}/merge"),
            json!({"into_case_id": 999999}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    let merged = json_of(
        post(
            &app,
            &d.operator,
            &format!("/api/v1/cases/{second}/merge"),
            json!({"into_case_id": first, "reason": "重复反映"}),
        )
        .await,
        200,
        "merge",
    )
    .await;
    assert_eq!(merged["status"], "closed");
    assert_eq!(merged["closure"], "merged");
    assert_eq!(merged["merged_into"], first);
    let target_events = json_of(
        app.get_as(&d.operator, &format!("/api/v1/cases/{first}/timeline"))
            .await,
        200,
        "target timeline",
    )
    .await;
    assert!(
        target_events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "merged_from" && e["details"]["case_id"] == second)
    );
    assert_problem(
        post(
            &app,
            &d.operator,
            &format!("/api/v1/cases/{second}/merge"),
            json!({"into_case_id": first}),
        )
        .await,
        409,
        "case_not_mergeable",
    )
    .await;
    // The unrelated consultation was not suggested, and a closed target is refused.
    json_of(
        post(
            &app,
            &d.operator,
            &format!("/api/v1/cases/{}/answer", unrelated["id"]),
            json!({"answer": "携带身份证到社保网点补办。"}),
        )
        .await,
        200,
        "answer",
    )
    .await;
    let third = json_of(
        app.post_as(Some(&d.operator), "/api/v1/cases", &complaint(true, false))
            .await,
        201,
        "third",
    )
    .await;
    assert_problem(
        post(
            &app,
            &d.operator,
            &format!("/api/v1/cases/{}/merge", third["id"]),
            json!({"into_case_id": unrelated["id"]}),
        )
        .await,
        409,
        "merge_target_closed",
    )
    .await;
}

#[tokio::test]
async fn citizens_add_notes_to_their_own_open_cases() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let citizen = app.token("13800138000").await;
    let own = json_of(
        app.post_as(
            Some(&citizen),
            "/api/v1/cases",
            &json!({"kind": "complaint", "title": "路灯不亮", "description": "小区路口路灯坏了一周。"}),
        )
        .await,
        201,
        "citizen registers",
    )
    .await;
    let own = own["id"].as_i64().unwrap();
    let note = json_of(
        post(
            &app,
            &citizen,
            &format!("/api/v1/cases/{own}/notes"),
            json!({"text": "今天晚上还是不亮"}),
        )
        .await,
        201,
        "note",
    )
    .await;
    assert_eq!(note["action"], "note_added");
    assert_eq!(note["actor_role"], "citizen");
    assert_eq!(note["details"]["text"], "今天晚上还是不亮");
    let someone_elses = accepted_case(&app, &d, &complaint(true, false)).await;
    assert_problem(
        post(
            &app,
            &citizen,
            &format!("/api/v1/cases/{someone_elses}/notes"),
            json!({"text": "看看"}),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        post(
            &app,
            &d.cgj_staff,
            &format!("/api/v1/cases/{own}/notes"),
            json!({"text": "x"}),
        )
        .await,
        403,
        "forbidden_role",
    )
    .await;
    assert_problem(
        post(
            &app,
            &citizen,
            &format!("/api/v1/cases/{own}/notes"),
            json!({"text": ""}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    json_of(
        post(
            &app,
            &d.operator,
            &format!("/api/v1/cases/{own}/reject"),
            json!({"reason": "不属于受理范围", "redirect_to": "请联系物业"}),
        )
        .await,
        200,
        "reject",
    )
    .await;
    assert_problem(
        post(
            &app,
            &citizen,
            &format!("/api/v1/cases/{own}/notes"),
            json!({"text": "为什么"}),
        )
        .await,
        409,
        "case_closed",
    )
    .await;
}

#[tokio::test]
async fn concurrent_dispatches_of_one_case_let_exactly_one_win() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = accepted_case(&app, &d, &complaint(true, false)).await;
    let body = json!({"departments": [{"department_id": d.cgj}]});
    let attempts = (0..50).map(|_| {
        app.request(
            "POST",
            &format!("/api/v1/cases/{id}/dispatch"),
            Some(&d.dispatcher),
        )
        .json(&body)
        .send()
    });
    let statuses: Vec<u16> = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 409),
        "{statuses:?}"
    );
    assert_eq!(assignments_of(&app, &d.dispatcher, id).await.len(), 1);
    let clocks = json_of(
        app.get_as(&d.dispatcher, &format!("/api/v1/deadlines?case_id={id}"))
            .await,
        200,
        "clocks",
    )
    .await;
    assert_eq!(clocks["items"].as_array().unwrap().len(), 2);

    // Two signs of one assignment at once: one wins.
    let a = assignments_of(&app, &d.dispatcher, id).await[0]["id"]
        .as_i64()
        .unwrap();
    let signs = (0..10).map(|_| {
        app.request(
            "POST",
            &format!("/api/v1/assignments/{a}/sign"),
            Some(&d.cgj_staff),
        )
        .send()
    });
    let statuses: Vec<u16> = futures_util::future::join_all(signs)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn the_demo_has_cases_in_every_stage() {
    let app = spawn_app().await;
    app.load_demo().await;
    app.load_demo_cases().await;
    let dispatcher = app.token("dispatcher").await;
    let page = json_of(
        app.get_as(&dispatcher, "/api/v1/cases?limit=200").await,
        200,
        "list",
    )
    .await;
    let mut statuses: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    statuses.sort_unstable();
    statuses.dedup();
    assert_eq!(
        statuses,
        [
            "awaiting_decision",
            "awaiting_follow_up",
            "closed",
            "dispatched",
            "in_progress",
            "pending_dispatch",
            "pending_review",
            "registered",
            "rejected"
        ]
    );
    let returned = json_of(
        app.get_as(&dispatcher, "/api/v1/assignments?state=returned")
            .await,
        200,
        "returned assignments",
    )
    .await;
    assert_eq!(returned["items"].as_array().unwrap().len(), 1);
    let dc_staff = app.token("dc.staff").await;
    let dc_cases = json_of(app.get_as(&dc_staff, "/api/v1/cases").await, 200, "dc").await;
    assert_eq!(
        dc_cases["items"].as_array().unwrap().len(),
        1,
        "only the joint case"
    );
    // One invitation answered through its link (it closed its case), one still open.
    let surveys = json_of(
        app.get_as(&dispatcher, "/api/v1/surveys").await,
        200,
        "surveys",
    )
    .await;
    let mut states: Vec<(String, String, String)> = Vec::new();
    for survey in surveys["items"].as_array().unwrap() {
        let case = json_of(
            app.get_as(&dispatcher, &format!("/api/v1/cases/{}", survey["case_id"]))
                .await,
            200,
            "surveyed case",
        )
        .await;
        states.push((
            survey["channel"].as_str().unwrap().into(),
            survey["state"].as_str().unwrap().into(),
            case["status"].as_str().unwrap().into(),
        ));
    }
    states.sort();
    assert_eq!(
        states,
        [
            ("link".into(), "answered".into(), "closed".into()),
            ("link".into(), "open".into(), "awaiting_follow_up".into()),
        ]
    );
}

/// Dispatches accepted case `case` to `department`, has `staff` sign and reply, and approves the
/// reply: the case then awaits follow-up.
pub(crate) async fn to_follow_up(app: &TestApp, d: &Desk, case: i64, department: i64, staff: &str) {
    json_of(
        post(
            app,
            &d.dispatcher,
            &format!("/api/v1/cases/{case}/dispatch"),
            json!({"departments": [{"department_id": department}]}),
        )
        .await,
        200,
        "dispatch",
    )
    .await;
    let assignment = assignment_for(&assignments_of(app, &d.dispatcher, case).await, department);
    sign_and_reply(app, staff, assignment).await;
    let approved = json_of(
        post(
            app,
            &d.dispatcher,
            &format!("/api/v1/cases/{case}/review"),
            json!({"decision": "approve"}),
        )
        .await,
        200,
        "approve",
    )
    .await;
    assert_eq!(approved["status"], "awaiting_follow_up");
}
