//! Follow-up (回访): attempts and their rules (satisfied, dissatisfied → the supervisor's decision,
//! refused, unreachable on the third different day), merged cases' citizens, the work queue, the
//! lists of attempts, roles and row scoping.

use chrono::{Datelike, Duration, FixedOffset, NaiveDate, TimeZone, Utc, Weekday};
use serde_json::{Value, json};

use crate::dispatch::{
    Desk, accepted_case, assignments_of, complaint, desk, json_of, post, sign_and_reply,
    to_follow_up,
};
use crate::helpers::{TestApp, assert_problem, spawn_app};

/// A complaint dispatched to CGJ, signed, replied and approved: awaiting follow-up.
async fn approved_case(app: &TestApp, d: &Desk) -> i64 {
    let id = accepted_case(app, d, &complaint(true, false)).await;
    approve(app, d, id).await;
    id
}

/// Dispatches an accepted case to CGJ, has it replied, and approves the reply.
async fn approve(app: &TestApp, d: &Desk, id: i64) {
    to_follow_up(app, d, id, d.cgj, &d.cgj_staff).await;
}

async fn call(app: &TestApp, token: &str, id: i64, body: Value) -> reqwest::Response {
    post(
        app,
        token,
        &format!("/api/v1/cases/{id}/follow-up-calls"),
        body,
    )
    .await
}

/// Merges case `from` into the earlier case `into` (并单), as the operator.
async fn merge(app: &TestApp, d: &Desk, from: i64, into: i64) {
    json_of(
        post(
            app,
            &d.operator,
            &format!("/api/v1/cases/{from}/merge"),
            json!({"into_case_id": into}),
        )
        .await,
        200,
        "merge",
    )
    .await;
}

fn reached(resolved: &str, satisfaction: &str) -> Value {
    json!({
        "channel": "phone",
        "outcome": "reached",
        "resolved": resolved,
        "satisfaction": satisfaction,
        "citizen_words": "摊贩已经清走了，谢谢。"
    })
}

async fn case_of(app: &TestApp, token: &str, id: i64) -> Value {
    json_of(
        app.get_as(token, &format!("/api/v1/cases/{id}")).await,
        200,
        "case",
    )
    .await
}

async fn follow_up_clock(app: &TestApp, token: &str, id: i64) -> Value {
    let page = json_of(
        app.get_as(
            token,
            &format!("/api/v1/deadlines?case_id={id}&kind=follow_up"),
        )
        .await,
        200,
        "follow-up clock",
    )
    .await;
    page["items"][0].clone()
}

async fn actions(app: &TestApp, token: &str, id: i64) -> Vec<String> {
    let timeline = json_of(
        app.get_as(token, &format!("/api/v1/cases/{id}/timeline"))
            .await,
        200,
        "timeline",
    )
    .await;
    timeline
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_satisfied_citizen_closes_the_case_as_resolved_as_they_say() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    for ((resolved, satisfaction), closure) in [
        (("yes", "satisfied"), "resolved"),
        (("partly", "basically_satisfied"), "partly_resolved"),
        (("no", "satisfied"), "unresolved"),
    ] {
        let id = approved_case(&app, &d).await;
        let recorded = json_of(
            call(&app, &d.operator, id, reached(resolved, satisfaction)).await,
            201,
            "reached",
        )
        .await;
        assert_eq!(recorded["call"]["effect"], "closed");
        assert_eq!(recorded["call"]["department_id"], d.cgj);
        assert_eq!(recorded["call"]["evaluated_case_id"], id);
        assert_eq!(recorded["case"]["status"], "closed");
        assert_eq!(recorded["case"]["closure"], closure);
        assert_eq!(
            recorded["case"]["complainant"]["phone"], "13812345678",
            "the caller sees whom they called"
        );
        let clock = follow_up_clock(&app, &d.operator, id).await;
        assert_eq!(clock["state"], "met", "{clock}");
        let actions = actions(&app, &d.operator, id).await;
        assert_eq!(
            &actions[actions.len() - 2..],
            ["review_approved", "closed_after_follow_up"]
        );
        // Closed: no more attempts; a supervisor may still reopen it.
        assert_problem(
            call(&app, &d.operator, id, reached("yes", "satisfied")).await,
            409,
            "case_not_awaiting_follow_up",
        )
        .await;
        if closure == "unresolved" {
            let reopened = json_of(
                post(
                    &app,
                    &d.supervisor,
                    &format!("/api/v1/cases/{id}/reopen"),
                    json!({"reason": "市民再次来电反映问题未解决"}),
                )
                .await,
                200,
                "reopen",
            )
            .await;
            assert_eq!(reopened["status"], "pending_dispatch");
        }
    }
    let id = approved_case(&app, &d).await;
    let calls = json_of(
        app.get_as(&d.operator, &format!("/api/v1/cases/{id}/follow-up-calls"))
            .await,
        200,
        "no calls yet",
    )
    .await;
    assert_eq!(calls, json!([]));
}

#[tokio::test]
async fn a_dissatisfied_citizen_waits_for_the_supervisors_decision() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = approved_case(&app, &d).await;
    let recorded = json_of(
        call(&app, &d.operator, id, reached("no", "dissatisfied")).await,
        201,
        "dissatisfied",
    )
    .await;
    assert_eq!(recorded["call"]["effect"], "awaiting_decision");
    assert_eq!(recorded["case"]["status"], "awaiting_decision");
    assert_eq!(recorded["case"]["citizen_status"], "answered");
    assert_eq!(follow_up_clock(&app, &d.operator, id).await["state"], "met");

    let decide = |token: &str, body: Value| {
        let (app, token) = (&app, token.to_owned());
        async move {
            post(
                app,
                &token,
                &format!("/api/v1/cases/{id}/follow-up-decision"),
                body,
            )
            .await
        }
    };
    for token in [&d.operator, &d.dispatcher, &d.cgj_admin] {
        assert_problem(
            decide(
                token,
                json!({"decision": "close", "reason": "beyond_policy"}),
            )
            .await,
            403,
            "forbidden_role",
        )
        .await;
    }
    let problem = assert_problem(
        decide(
            &d.supervisor,
            json!({"decision": "close", "reason": "other", "departments": []}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"departments"), "{problem}");
    assert_problem(
        decide(
            &d.supervisor,
            json!({"decision": "close", "reason": "other"}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_problem(
        decide(&d.supervisor, json!({"decision": "close"})).await,
        422,
        "validation_failed",
    )
    .await;
    assert_problem(
        decide(
            &d.supervisor,
            json!({"decision": "close", "reason": "whim"}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;

    // Redo to the same department: a new round with new clocks, counted as 重办.
    let redone = json_of(
        decide(
            &d.supervisor,
            json!({"decision": "redo", "note": "市民反映仍未解决，重新办理"}),
        )
        .await,
        200,
        "redo",
    )
    .await;
    assert_eq!(redone["status"], "dispatched");
    assert_eq!(redone["redo_count"], 1);
    assert_eq!(redone["current_round"], 2);
    assert_eq!(redone["lead_department_id"], d.cgj);
    let round_two: Vec<Value> = assignments_of(&app, &d.dispatcher, id)
        .await
        .into_iter()
        .filter(|a| a["round"] == 2)
        .collect();
    assert_eq!(round_two.len(), 1);
    assert_eq!(round_two[0]["state"], "pending_sign");
    let actions = actions(&app, &d.operator, id).await;
    assert_eq!(
        &actions[actions.len() - 3..],
        ["awaiting_decision", "redo", "dispatched"]
    );
    assert_problem(
        decide(
            &d.supervisor,
            json!({"decision": "redo", "note": "再次重办"}),
        )
        .await,
        409,
        "case_not_awaiting_decision",
    )
    .await;

    // The second round, followed up again: dissatisfied, then closed beyond policy.
    let assignment = round_two[0]["id"].as_i64().unwrap();
    sign_and_reply(&app, &d.cgj_staff, assignment).await;
    json_of(
        post(
            &app,
            &d.dispatcher,
            &format!("/api/v1/cases/{id}/review"),
            json!({"decision": "approve"}),
        )
        .await,
        200,
        "approve round two",
    )
    .await;
    json_of(
        call(&app, &d.dispatcher, id, reached("partly", "dissatisfied")).await,
        201,
        "dissatisfied again",
    )
    .await;
    let closed = json_of(
        decide(
            &d.supervisor,
            json!({"decision": "close", "reason": "beyond_policy", "note": "诉求超出政策规定"}),
        )
        .await,
        200,
        "close",
    )
    .await;
    assert_eq!(closed["status"], "closed");
    assert_eq!(closed["closure"], "beyond_policy");
    let calls = json_of(
        app.get_as(&d.operator, &format!("/api/v1/cases/{id}/follow-up-calls"))
            .await,
        200,
        "calls",
    )
    .await;
    let rounds: Vec<i64> = calls
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["round"].as_i64().unwrap())
        .collect();
    assert_eq!(rounds, [1, 2]);
}

#[tokio::test]
async fn redo_may_name_other_departments() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = approved_case(&app, &d).await;
    json_of(
        call(&app, &d.operator, id, reached("no", "dissatisfied")).await,
        201,
        "dissatisfied",
    )
    .await;
    let path = format!("/api/v1/cases/{id}/follow-up-decision");
    assert_problem(
        post(
            &app,
            &d.supervisor,
            &path,
            json!({"decision": "redo", "note": "改派", "departments": [{"department_id": 999999}]}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    let redone = json_of(
        post(
            &app,
            &d.supervisor,
            &path,
            json!({"decision": "redo", "note": "改派区城管和住建", "departments": [
                {"department_id": d.dc, "role": "lead"},
                {"department_id": d.cgj, "role": "assisting"}
            ], "instructions": "请联合处理"}),
        )
        .await,
        200,
        "redo elsewhere",
    )
    .await;
    assert_eq!(redone["lead_department_id"], d.dc);
    // The new lead department sees the case; its staff may sign.
    json_of(
        app.get_as(&d.dc_staff, &format!("/api/v1/cases/{id}"))
            .await,
        200,
        "new lead sees it",
    )
    .await;
}

#[tokio::test]
async fn refusing_closes_without_an_evaluation_and_bad_attempts_are_refused() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = approved_case(&app, &d).await;
    let bad = [
        json!({"channel": "phone", "outcome": "reached"}),
        json!({"channel": "phone", "outcome": "reached", "resolved": "yes"}),
        json!({"channel": "phone", "outcome": "no_answer", "satisfaction": "satisfied"}),
        json!({"channel": "phone", "outcome": "no_answer", "resolved": "yes", "satisfaction": "satisfied"}),
        json!({"channel": "pigeon", "outcome": "refused"}),
        json!({"channel": "phone", "outcome": "refused", "called_at": (Utc::now() + Duration::hours(1)).to_rfc3339()}),
        json!({"channel": "phone", "outcome": "refused", "called_at": (Utc::now() - Duration::days(3)).to_rfc3339()}),
        json!({"channel": "phone", "outcome": "refused", "citizen_words": "x".repeat(2001)}),
    ];
    for body in bad {
        assert_problem(
            call(&app, &d.operator, id, body.clone()).await,
            422,
            "validation_failed",
        )
        .await;
    }
    // Department roles and analysts do not record calls; nor do citizens.
    for token in [&d.cgj_staff, &d.cgj_admin, &app.token("analyst").await] {
        assert_problem(
            call(
                &app,
                token,
                id,
                json!({"channel": "phone", "outcome": "refused"}),
            )
            .await,
            403,
            "forbidden_role",
        )
        .await;
    }
    assert_problem(
        call(
            &app,
            &d.operator,
            999_999,
            json!({"channel": "phone", "outcome": "refused"}),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    let recorded = json_of(
        call(
            &app,
            &d.operator,
            id,
            json!({"channel": "wechat", "outcome": "refused", "citizen_words": "不想评价"}),
        )
        .await,
        201,
        "refused",
    )
    .await;
    assert_eq!(recorded["case"]["status"], "closed");
    assert_eq!(recorded["case"]["closure"], "not_evaluated");
    assert!(recorded["call"]["resolved"].is_null());

    // Not awaiting follow-up: a case still with its department.
    let pending = accepted_case(&app, &d, &complaint(true, false)).await;
    assert_problem(
        call(&app, &d.operator, pending, reached("yes", "satisfied")).await,
        409,
        "case_not_awaiting_follow_up",
    )
    .await;
}

/// The local (UTC+8) instant `day` at `hour`:00, as RFC 3339.
fn local(day: NaiveDate, hour: u32) -> String {
    FixedOffset::east_opt(8 * 3600)
        .unwrap()
        .from_local_datetime(&day.and_hms_opt(hour, 0, 0).unwrap())
        .unwrap()
        .to_rfc3339()
}

#[tokio::test]
async fn three_different_local_days_unreached_close_the_case_across_a_weekend() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = approved_case(&app, &d).await;
    // Calls recorded after the fact: the clock is moved back, as if approved three weeks ago.
    let started = Utc::now() - Duration::days(21);
    app.db
        .execute(&format!(
            "UPDATE deadlines SET starts_at = '{}' WHERE case_id = {id} AND kind = 'follow_up'",
            started.format("%Y-%m-%d %H:%M:%S")
        ))
        .await;
    // A Friday at least a week ago, then the Monday after it and the Saturday between.
    let mut friday = (Utc::now() - Duration::days(10)).date_naive();
    while friday.weekday() != Weekday::Fri {
        friday -= Duration::days(1);
    }
    let attempts = [
        ("no_answer", local(friday, 9), "try_again"),
        // 23:30 on Friday is still Friday locally (15:30 UTC).
        ("wrong_number", local(friday, 23), "try_again"),
        (
            "no_answer",
            local(friday + Duration::days(3), 10),
            "try_again",
        ),
        ("no_answer", local(friday + Duration::days(1), 8), "closed"),
    ];
    for (i, (outcome, at, effect)) in attempts.into_iter().enumerate() {
        let recorded = json_of(
            call(
                &app,
                &d.operator,
                id,
                json!({"channel": "phone", "outcome": outcome, "called_at": at}),
            )
            .await,
            201,
            "unreached",
        )
        .await;
        assert_eq!(recorded["call"]["effect"], effect, "attempt {i}");
    }
    let case = case_of(&app, &d.operator, id).await;
    assert_eq!(case["status"], "closed");
    assert_eq!(case["closure"], "unreachable");
    let actions = actions(&app, &d.operator, id).await;
    assert_eq!(
        &actions[actions.len() - 4..],
        [
            "follow_up_attempt",
            "follow_up_attempt",
            "follow_up_attempt",
            "closed_after_follow_up"
        ]
    );
}

#[tokio::test]
async fn the_queue_lists_open_follow_ups_oldest_first_and_records_the_reads() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let first = approved_case(&app, &d).await;
    let second = approved_case(&app, &d).await;
    let not_yet = accepted_case(&app, &d, &complaint(true, false)).await;
    json_of(
        call(
            &app,
            &d.operator,
            second,
            json!({"channel": "phone", "outcome": "no_answer"}),
        )
        .await,
        201,
        "no answer",
    )
    .await;
    let page = json_of(
        app.get_as(&d.operator, "/api/v1/follow-up-queue").await,
        200,
        "queue",
    )
    .await;
    let items = page["items"].as_array().unwrap();
    let ids: Vec<i64> = items
        .iter()
        .map(|i| i["case"]["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [first, second], "{page}");
    assert!(!ids.contains(&not_yet));
    assert_eq!(items[0]["attempts"], 0);
    assert_eq!(items[1]["attempts"], 1);
    assert_eq!(items[0]["complainant"]["phone"], "13812345678");
    assert_eq!(items[0]["overdue"], false);
    assert!(items[0]["working_seconds_left"].as_i64().unwrap() > 0);
    // One row a page: the cursor walks the queue in order.
    let one = json_of(
        app.get_as(&d.operator, "/api/v1/follow-up-queue?limit=1")
            .await,
        200,
        "first page",
    )
    .await;
    let cursor = one["next_cursor"].as_str().unwrap();
    let next = json_of(
        app.get_as(
            &d.operator,
            &format!("/api/v1/follow-up-queue?limit=1&cursor={cursor}"),
        )
        .await,
        200,
        "second page",
    )
    .await;
    assert_eq!(next["items"][0]["case"]["id"], second);
    assert!(next["next_cursor"].is_null());

    // Every full read of the complainant is on record.
    let admin = app.token("admin").await;
    let reads = json_of(
        app.get_as(
            &admin,
            &format!("/api/v1/personal-data-reads?case_id={first}"),
        )
        .await,
        200,
        "reads",
    )
    .await;
    assert!(
        !reads["items"].as_array().unwrap().is_empty(),
        "the queue's disclosure is recorded: {reads}"
    );

    for token in [&d.cgj_staff, &admin, &app.token("analyst").await] {
        assert_problem(
            app.get_as(token, "/api/v1/follow-up-queue").await,
            403,
            "forbidden_role",
        )
        .await;
    }

    // Closing takes a case off the queue.
    json_of(
        call(&app, &d.operator, first, reached("yes", "satisfied")).await,
        201,
        "close first",
    )
    .await;
    let page = json_of(
        app.get_as(&d.operator, "/api/v1/follow-up-queue").await,
        200,
        "queue after",
    )
    .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["case"]["id"], second);
}

#[tokio::test]
async fn citizens_of_merged_cases_are_followed_up_for_the_surviving_case() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let surviving = accepted_case(&app, &d, &complaint(true, false)).await;
    let merged = accepted_case(&app, &d, &complaint(true, false)).await;
    merge(&app, &d, merged, surviving).await;
    assert_problem(
        call(&app, &d.operator, merged, reached("yes", "satisfied")).await,
        409,
        "follow_up_not_due",
    )
    .await;
    approve(&app, &d, surviving).await;
    let queue = json_of(
        app.get_as(&d.operator, "/api/v1/follow-up-queue").await,
        200,
        "queue",
    )
    .await;
    let entry = queue["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["case"]["id"] == merged)
        .expect("the merged case's citizen is in the queue")
        .clone();
    assert_eq!(entry["evaluated_case_id"], surviving);

    let recorded = json_of(
        call(
            &app,
            &d.operator,
            merged,
            reached("yes", "basically_satisfied"),
        )
        .await,
        201,
        "merged citizen",
    )
    .await;
    assert_eq!(recorded["call"]["effect"], "follow_up_ended");
    assert_eq!(recorded["call"]["evaluated_case_id"], surviving);
    assert_eq!(recorded["call"]["department_id"], d.cgj);
    assert_eq!(recorded["case"]["status"], "closed");
    assert_eq!(recorded["case"]["closure"], "merged");
    assert_eq!(
        case_of(&app, &d.operator, surviving).await["status"],
        "awaiting_follow_up",
        "the merged citizen's answer does not decide the surviving case"
    );
    assert!(
        actions(&app, &d.operator, surviving)
            .await
            .contains(&"merged_case_followed_up".to_owned())
    );
    assert_problem(
        call(&app, &d.operator, merged, reached("yes", "satisfied")).await,
        409,
        "follow_up_ended",
    )
    .await;
}

/// A call for a merged case's citizen waits while the surviving case is being changed (its
/// approval restarts the citizen's clock, its redo ends it), then reads the clock as that left
/// it: here a redo of the surviving case, done by a raw transaction, ends the clock meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merged_citizens_call_waits_for_the_surviving_case_and_sees_its_change() {
    let app = spawn_app().await;
    if !app.db.is_postgres() {
        // SQLite's one writer: the call's transaction never overlaps another.
        return;
    }
    let d = desk(&app).await;
    let surviving = accepted_case(&app, &d, &complaint(true, false)).await;
    let merged = accepted_case(&app, &d, &complaint(true, false)).await;
    merge(&app, &d, merged, surviving).await;
    approve(&app, &d, surviving).await;

    let url = app.db.url();
    let (locked, is_locked) = std::sync::mpsc::channel();
    let change = std::thread::spawn(move || {
        use diesel::connection::SimpleConnection;
        use diesel::{Connection, RunQueryDsl};
        let mut conn = diesel::pg::PgConnection::establish(&url).unwrap();
        conn.batch_execute(&format!(
            "BEGIN; SELECT id FROM cases WHERE id = {surviving} FOR NO KEY UPDATE; \
             UPDATE deadlines SET state = 'cancelled' WHERE case_id = {merged} AND state = 'running';"
        ))
        .unwrap();
        locked.send(()).unwrap();
        // Held until the call is seen waiting for a case (at most 10 s), watched from a second
        // connection: a transaction sees pg_stat_activity as it was at its first look.
        let mut watch = diesel::pg::PgConnection::establish(&url).unwrap();
        let waiting = (0..200).any(|_| {
            let waiters: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "(SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND wait_event_type = 'Lock' AND query LIKE '%FOR NO KEY UPDATE%')",
            ))
            .get_result(&mut watch)
            .unwrap();
            waiters > 0 || {
                std::thread::sleep(std::time::Duration::from_millis(50));
                false
            }
        });
        conn.batch_execute("COMMIT").unwrap();
        waiting
    });
    is_locked.recv().unwrap();
    let response = call(&app, &d.operator, merged, reached("yes", "satisfied")).await;
    assert!(
        tokio::task::spawn_blocking(move || change.join().unwrap())
            .await
            .unwrap(),
        "the call waited for the surviving case"
    );
    assert_problem(response, 409, "follow_up_ended").await;
}

#[tokio::test]
async fn attempts_are_listed_across_cases_with_filters_and_without_words_for_outsiders() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let first = approved_case(&app, &d).await;
    let second = approved_case(&app, &d).await;
    json_of(
        call(&app, &d.operator, first, reached("yes", "satisfied")).await,
        201,
        "first",
    )
    .await;
    json_of(
        call(
            &app,
            &d.dispatcher,
            second,
            json!({"channel": "sms", "outcome": "no_answer"}),
        )
        .await,
        201,
        "second",
    )
    .await;
    let list = |token: String, query: &'static str| {
        let app = &app;
        async move {
            json_of(
                app.get_as(&token, &format!("/api/v1/follow-up-calls{query}"))
                    .await,
                200,
                query,
            )
            .await
        }
    };
    let all = list(d.operator.clone(), "").await;
    let cases: Vec<i64> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["case_id"].as_i64().unwrap())
        .collect();
    assert_eq!(cases, [second, first], "newest first");
    assert_eq!(all["items"][1]["citizen_words"], "摊贩已经清走了，谢谢。");
    let reached_only = list(d.operator.clone(), "?outcome=reached").await;
    assert_eq!(reached_only["items"].as_array().unwrap().len(), 1);
    let today = chrono::Utc::now().date_naive();
    let in_period = json_of(
        app.get_as(
            &d.operator,
            &format!(
                "/api/v1/follow-up-calls?from={}&to={}&department_id={}",
                today - Duration::days(1),
                today + Duration::days(1),
                d.cgj
            ),
        )
        .await,
        200,
        "period",
    )
    .await;
    assert_eq!(in_period["items"].as_array().unwrap().len(), 2);
    let elsewhere = list(d.operator.clone(), "?department_id=999999").await;
    assert!(elsewhere["items"].as_array().unwrap().is_empty());
    assert_problem(
        app.get_as(
            &d.operator,
            "/api/v1/follow-up-calls?from=2026-12-02&to=2026-12-01",
        )
        .await,
        400,
        "invalid_query",
    )
    .await;

    let analyst = app.token("analyst").await;
    let seen = list(analyst.clone(), "").await;
    assert_eq!(seen["items"].as_array().unwrap().len(), 2);
    assert!(
        seen["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["citizen_words"].is_null()),
        "analysts never see the citizen's words"
    );
    assert_problem(
        app.get_as(&analyst, &format!("/api/v1/cases/{first}/follow-up-calls"))
            .await,
        403,
        "forbidden_role",
    )
    .await;
    assert_problem(
        app.get_as(&d.cgj_staff, "/api/v1/follow-up-calls").await,
        403,
        "forbidden_role",
    )
    .await;
    // The department sees its cases' attempts without the words; another department nothing.
    let by_department = json_of(
        app.get_as(
            &d.cgj_staff,
            &format!("/api/v1/cases/{first}/follow-up-calls"),
        )
        .await,
        200,
        "department",
    )
    .await;
    assert_eq!(by_department[0]["satisfaction"], "satisfied");
    assert!(by_department[0]["citizen_words"].is_null());
    assert_problem(
        app.get_as(
            &d.dc_staff,
            &format!("/api/v1/cases/{first}/follow-up-calls"),
        )
        .await,
        404,
        "not_found",
    )
    .await;
}

async fn queue_cases(app: &TestApp, token: &str) -> Vec<i64> {
    let page = json_of(
        app.get_as(token, "/api/v1/follow-up-queue?limit=200").await,
        200,
        "queue",
    )
    .await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["case"]["id"].as_i64().unwrap())
        .collect()
}

/// A redo sets aside what the first round's follow-up was about: an invitation from before it
/// is only recorded, and the merged citizens wait for the new round.
#[tokio::test]
async fn after_a_redo_old_invitations_and_merged_clocks_wait_for_the_new_round() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = accepted_case(&app, &d, &complaint(true, false)).await;
    let merged = accepted_case(&app, &d, &complaint(true, false)).await;
    merge(&app, &d, merged, id).await;
    approve(&app, &d, id).await;
    assert!(queue_cases(&app, &d.operator).await.contains(&merged));
    let invitation = json_of(
        post(
            &app,
            &d.operator,
            &format!("/api/v1/cases/{id}/surveys"),
            json!({}),
        )
        .await,
        201,
        "survey",
    )
    .await;
    let link_token = invitation["token"].as_str().unwrap().to_owned();
    json_of(
        call(&app, &d.operator, id, reached("no", "dissatisfied")).await,
        201,
        "dissatisfied",
    )
    .await;
    json_of(
        post(
            &app,
            &d.supervisor,
            &format!("/api/v1/cases/{id}/follow-up-decision"),
            json!({"decision": "redo", "note": "重新办理"}),
        )
        .await,
        200,
        "redo",
    )
    .await;
    assert!(
        !queue_cases(&app, &d.operator).await.contains(&merged),
        "the merged citizen waits for the new round's result"
    );
    // Round two, approved: the old link's satisfied answer is recorded and decides nothing.
    let round_two = assignments_of(&app, &d.dispatcher, id)
        .await
        .into_iter()
        .find(|a| a["round"] == 2)
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    sign_and_reply(&app, &d.cgj_staff, round_two).await;
    json_of(
        post(
            &app,
            &d.dispatcher,
            &format!("/api/v1/cases/{id}/review"),
            json!({"decision": "approve"}),
        )
        .await,
        200,
        "approve round two",
    )
    .await;
    assert!(queue_cases(&app, &d.operator).await.contains(&merged));
    let answers = json!({"answers": [
        {"question": "resolved", "value": "yes"},
        {"question": "satisfaction", "value": "satisfied"},
    ]});
    let path = format!("/api/v1/public/surveys/{link_token}/responses");
    let answered = app.post_as(None, &path, &answers).await;
    assert!(answered.status().is_success(), "{}", answered.status());
    assert_eq!(
        case_of(&app, &d.operator, id).await["status"],
        "awaiting_follow_up",
        "an invitation of the round set aside does not close the new one"
    );
    // A merged case is not surveyed: its citizen is followed up on the other case.
    assert_problem(
        post(
            &app,
            &d.operator,
            &format!("/api/v1/cases/{merged}/surveys"),
            json!({}),
        )
        .await,
        409,
        "case_not_surveyable",
    )
    .await;
}

#[tokio::test]
async fn a_call_recorded_late_meets_the_clock_when_it_was_made() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let id = approved_case(&app, &d).await;
    // The clock started two days ago and fell due an hour ago; the call was made before that.
    let (started, due) = (
        Utc::now() - Duration::days(2),
        Utc::now() - Duration::hours(1),
    );
    app.db
        .execute(&format!(
            "UPDATE deadlines SET starts_at = '{}', due_at = '{}' WHERE case_id = {id} AND kind = 'follow_up'",
            started.format("%Y-%m-%d %H:%M:%S"),
            due.format("%Y-%m-%d %H:%M:%S")
        ))
        .await;
    let mut body = reached("yes", "satisfied");
    body["called_at"] = json!((Utc::now() - Duration::hours(3)).to_rfc3339());
    json_of(call(&app, &d.operator, id, body).await, 201, "late record").await;
    assert_eq!(follow_up_clock(&app, &d.operator, id).await["state"], "met");
}

#[tokio::test]
async fn merges_into_merged_cases_follow_the_chain_and_reopening_ends_a_merged_follow_up() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let first = accepted_case(&app, &d, &complaint(true, false)).await;
    let second = accepted_case(&app, &d, &complaint(true, false)).await;
    let third = accepted_case(&app, &d, &complaint(true, false)).await;
    for (from, into) in [(third, second), (second, first)] {
        merge(&app, &d, from, into).await;
    }
    approve(&app, &d, first).await;
    let page = json_of(
        app.get_as(&d.operator, "/api/v1/follow-up-queue").await,
        200,
        "queue",
    )
    .await;
    let evaluated: Vec<(i64, i64)> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["case"]["id"].as_i64().unwrap(),
                i["evaluated_case_id"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(evaluated.contains(&(third, second)), "{evaluated:?}");
    let recorded = json_of(
        call(&app, &d.operator, third, reached("yes", "satisfied")).await,
        201,
        "the end of the chain",
    )
    .await;
    assert_eq!(recorded["call"]["evaluated_case_id"], first);
    // Reopening a merged case ends the follow-up its citizen was waiting for.
    assert!(queue_cases(&app, &d.operator).await.contains(&second));
    json_of(
        post(
            &app,
            &d.supervisor,
            &format!("/api/v1/cases/{second}/reopen"),
            json!({"reason": "并单有误，单独办理"}),
        )
        .await,
        200,
        "reopen",
    )
    .await;
    assert!(!queue_cases(&app, &d.operator).await.contains(&second));
}
