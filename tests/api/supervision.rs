//! The deadline sweep (by `hotline sweep` and by the server itself) and supervision: the sweep's
//! own urges, urging and supervising by the centre, written explanations; roles, other
//! departments' rows, bad input, illegal moves, sweeps running at once.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::dispatch::{desk, dispatched_to, json_of, post, sign_and_reply};
use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with};

/// `hotline sweep` against the test database (off the async executor); what it reports.
async fn sweep(app: &TestApp) -> Value {
    let url = app.db.url();
    tokio::task::spawn_blocking(move || {
        let output = Command::new(env!("CARGO_BIN_EXE_hotline"))
            .arg("sweep")
            .current_dir(std::env::temp_dir())
            .env("DATABASE_URL", url)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<Value>(&output.stdout).unwrap()
    })
    .await
    .unwrap()
}

/// Makes `clock` one that ran out long ago (and was never worked out as due soon).
async fn ran_out_long_ago(app: &TestApp, clock: &Value) {
    app.db
        .execute(&format!(
            "UPDATE deadlines SET starts_at = '2020-01-01 00:00:00', \
             due_at = '2020-01-02 00:00:00', due_soon_at = NULL WHERE id = {}",
            clock["id"]
        ))
        .await;
}

/// Makes `clock` end within the hour: due soon, not missed.
async fn ends_within_the_hour(app: &TestApp, clock: &Value) {
    let soon = (chrono::Utc::now() + chrono::Duration::hours(1)).format("%F %T");
    app.db
        .execute(&format!(
            "UPDATE deadlines SET due_at = '{soon}', due_soon_at = NULL WHERE id = {}",
            clock["id"]
        ))
        .await;
}

async fn deadline(app: &TestApp, token: &str, id: &Value) -> Value {
    json_of(
        app.get_as(token, &format!("/api/v1/deadlines/{id}")).await,
        200,
        "deadline",
    )
    .await
}

async fn actions(app: &TestApp, token: &str, case: i64) -> Vec<(String, String)> {
    json_of(
        app.get_as(token, &format!("/api/v1/cases/{case}/timeline"))
            .await,
        200,
        "timeline",
    )
    .await
    .as_array()
    .unwrap()
    .iter()
    .map(|e| {
        (
            e["action"].as_str().unwrap().to_owned(),
            e["actor_role"].as_str().unwrap().to_owned(),
        )
    })
    .collect()
}

#[tokio::test]
async fn the_sweep_marks_missed_clocks_once_and_urges_their_departments() {
    let app = spawn_app_with(&[("HOTLINE_SWEEP_INTERVAL_SECS", "0")]).await;
    let d = desk(&app).await;
    let (case, assignment, sign, reply) = dispatched_to(&app, &d, d.cgj).await;
    // The sign clock ran out long ago.
    ran_out_long_ago(&app, &sign).await;

    // Two sweeps at once: between them the clock is marked and urged once.
    let (first, second) = tokio::join!(sweep(&app), sweep(&app));
    assert_eq!(
        first["missed"].as_u64().unwrap() + second["missed"].as_u64().unwrap(),
        1
    );
    assert_eq!(
        first["urged"].as_u64().unwrap() + second["urged"].as_u64().unwrap(),
        1
    );
    let again = sweep(&app).await;
    assert_eq!(
        (again["missed"].as_u64(), again["urged"].as_u64()),
        (Some(0), Some(0))
    );

    let marked = deadline(&app, &d.cgj_staff, &sign["id"]).await;
    assert_eq!(marked["state"], "running", "the work is still outstanding");
    assert_eq!(marked["overdue"], true);
    assert!(marked["missed_marked_at"].is_string());
    assert_eq!(
        deadline(&app, &d.cgj_staff, &reply["id"]).await["missed_marked_at"],
        Value::Null
    );

    let urges = json_of(
        app.get_as(
            &d.cgj_staff,
            &format!("/api/v1/supervisions?assignment_id={assignment}"),
        )
        .await,
        200,
        "urges",
    )
    .await;
    let urges = urges["items"].as_array().unwrap();
    assert_eq!(urges.len(), 1);
    let urge = &urges[0];
    assert_eq!(urge["kind"], "urge");
    assert_eq!(urge["method"], "system");
    assert_eq!(urge["deadline_id"], sign["id"]);
    assert_eq!(urge["created_by"], Value::Null);
    assert_eq!(urge["department_id"], d.cgj);
    let system = json_of(
        app.get_as(&d.supervisor, "/api/v1/supervisions?method=system")
            .await,
        200,
        "system urges",
    )
    .await;
    assert_eq!(system["items"].as_array().unwrap().len(), 1);
    // Another department's staff do not see it; analysts see no supervision at all.
    assert_problem(
        app.get_as(&d.dc_staff, &format!("/api/v1/supervisions/{}", urge["id"]))
            .await,
        404,
        "not_found",
    )
    .await;
    let analyst = app.token("analyst").await;
    assert_problem(
        app.get_as(&analyst, "/api/v1/supervisions").await,
        403,
        "forbidden_role",
    )
    .await;
    assert!(
        actions(&app, &d.dispatcher, case)
            .await
            .contains(&("deadline_missed".to_owned(), "system".to_owned()))
    );

    // Signing late stops the clock as missed, with the time it was done.
    json_of(
        post(
            &app,
            &d.cgj_staff,
            &format!("/api/v1/assignments/{assignment}/sign"),
            json!({}),
        )
        .await,
        200,
        "sign",
    )
    .await;
    let late = deadline(&app, &d.cgj_staff, &sign["id"]).await;
    assert_eq!(late["state"], "missed");
    assert!(late["met_at"].is_string());
    assert_eq!(late["overdue"], false);

    // The reply clock comes within an hour of its end: the sweep marks it due soon, once.
    ends_within_the_hour(&app, &reply).await;
    let report = sweep(&app).await;
    assert_eq!(report["due_soon"], 1, "{report}");
    assert_eq!(report["missed"], 0, "{report}");
    assert_eq!(sweep(&app).await["due_soon"], 0);
    let due_soon = deadline(&app, &d.cgj_admin, &reply["id"]).await;
    assert_eq!(due_soon["due_soon"], true);
    assert!(due_soon["due_soon_marked_at"].is_string());
    assert!(
        actions(&app, &d.dispatcher, case)
            .await
            .contains(&("deadline_due_soon".to_owned(), "system".to_owned()))
    );
}

#[tokio::test]
async fn the_server_sweeps_by_itself() {
    let app = spawn_app_with(&[("HOTLINE_SWEEP_INTERVAL_SECS", "1")]).await;
    let d = desk(&app).await;
    let (_, _, sign, _) = dispatched_to(&app, &d, d.cgj).await;
    app.db
        .execute(&format!(
            "UPDATE deadlines SET starts_at = '2020-01-01 00:00:00', \
             due_at = '2020-01-02 00:00:00' WHERE id = {}",
            sign["id"]
        ))
        .await;
    let started = Instant::now();
    loop {
        let clock = deadline(&app, &d.dispatcher, &sign["id"]).await;
        if clock["missed_marked_at"].is_string() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the server did not sweep: {clock}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let urges = json_of(
        app.get_as(
            &d.supervisor,
            "/api/v1/supervisions?kind=urge&method=system",
        )
        .await,
        200,
        "urges",
    )
    .await;
    assert_eq!(urges["items"].as_array().unwrap().len(), 1);
}

/// On PostgreSQL a request that is changing a case holds its row until it commits. The sweep
/// neither waits for it (it would hold its whole batch up, and could deadlock with a request that
/// then touches one of the batch's clocks) nor works around it (both would refresh the case's
/// statistics from what each read before the other committed): it leaves that case's clocks to
/// the next sweep.
#[tokio::test]
async fn the_sweep_leaves_a_case_being_changed_to_the_next_sweep() {
    let app = spawn_app_with(&[("HOTLINE_SWEEP_INTERVAL_SECS", "0")]).await;
    if !app.db.is_postgres() {
        // SQLite's one writer: no request is ever midway while the sweep writes.
        return;
    }
    let d = desk(&app).await;
    let (case, _, sign, reply) = dispatched_to(&app, &d, d.cgj).await;
    // The sign clock ran out long ago; the reply clock comes within an hour of its end.
    ran_out_long_ago(&app, &sign).await;
    ends_within_the_hour(&app, &reply).await;
    // A request midway: its transaction holds the case, as every change of a case does first.
    let url = app.db.url();
    let (locked, is_locked) = std::sync::mpsc::channel();
    let (release, is_released) = std::sync::mpsc::channel::<()>();
    let request = std::thread::spawn(move || {
        use diesel::Connection;
        use diesel::connection::SimpleConnection;
        let mut conn = diesel::pg::PgConnection::establish(&url).unwrap();
        conn.batch_execute(&format!(
            "BEGIN; SELECT id FROM cases WHERE id = {case} FOR NO KEY UPDATE;"
        ))
        .unwrap();
        locked.send(()).unwrap();
        is_released.recv().unwrap();
        conn.batch_execute("COMMIT").unwrap();
    });
    is_locked.recv().unwrap();

    let report = tokio::time::timeout(Duration::from_secs(20), sweep(&app))
        .await
        .expect("the sweep waited for the request");
    let counts = |report: &Value| {
        ["missed", "urged", "due_soon"].map(|field| report[field].as_u64().unwrap())
    };
    assert_eq!(counts(&report), [0, 0, 0], "{report}");
    assert_eq!(
        deadline(&app, &d.cgj_staff, &sign["id"]).await["missed_marked_at"],
        Value::Null
    );

    release.send(()).unwrap();
    request.join().unwrap();
    let report = sweep(&app).await;
    assert_eq!(counts(&report), [1, 1, 1], "{report}");
    assert!(deadline(&app, &d.cgj_staff, &sign["id"]).await["missed_marked_at"].is_string());
    assert!(deadline(&app, &d.cgj_staff, &reply["id"]).await["due_soon_marked_at"].is_string());
}

#[tokio::test]
async fn supervisors_press_departments_and_departments_explain_in_writing() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let (case, assignment, _, _) = dispatched_to(&app, &d, d.cgj).await;
    let written = json!({
        "assignment_id": assignment,
        "kind": "supervise",
        "method": "written",
        "note": "请书面说明未按期签收的原因"
    });

    // Only supervisors press departments.
    for token in [&d.dispatcher, &d.operator, &d.cgj_admin] {
        assert_problem(
            post(&app, token, "/api/v1/supervisions", written.clone()).await,
            403,
            "forbidden_role",
        )
        .await;
    }
    for body in [
        json!({"assignment_id": assignment, "kind": "urge", "method": "system", "note": "x"}),
        json!({"assignment_id": assignment, "kind": "urge", "method": "phone", "note": " "}),
        json!({"assignment_id": 999999, "kind": "urge", "method": "phone", "note": "x"}),
        json!({"assignment_id": assignment, "kind": "nag", "method": "phone", "note": "x"}),
        json!({"assignment_id": assignment, "kind": "urge", "method": "phone"}),
    ] {
        let response = post(&app, &d.supervisor, "/api/v1/supervisions", body.clone()).await;
        assert_problem(response, 422, "validation_failed").await;
    }

    let record = json_of(
        post(&app, &d.supervisor, "/api/v1/supervisions", written).await,
        201,
        "written supervision",
    )
    .await;
    assert_eq!(record["kind"], "supervise");
    assert_eq!(record["method"], "written");
    assert_eq!(record["department_id"], d.cgj);
    assert_eq!(record["explanation"], Value::Null);
    // The explanation is due in the policy's 2 working days, on a clock of its own.
    let clock = deadline(&app, &d.cgj_admin, &record["response_deadline_id"]).await;
    assert_eq!(clock["kind"], "supervision_response");
    assert_eq!(clock["state"], "running");
    let preview = json_of(
        app.get_as(
            &d.supervisor,
            &format!(
                "/api/v1/calendar/working-days?from={}&days=2",
                record["created_at"].as_str().unwrap().replace('+', "%2B")
            ),
        )
        .await,
        200,
        "preview",
    )
    .await;
    assert_eq!(clock["due_at"], preview["due_at"]);
    let waiting = json_of(
        app.get_as(
            &d.cgj_admin,
            "/api/v1/supervisions?awaiting_explanation=true",
        )
        .await,
        200,
        "waiting",
    )
    .await;
    assert_eq!(waiting["items"][0]["id"], record["id"]);

    // The department admin explains, once.
    let explanation = format!("/api/v1/supervisions/{}/explanation", record["id"]);
    let text = json!({"explanation": "已于今日签收，并安排专人跟进。"});
    for token in [&d.cgj_staff, &d.supervisor] {
        assert_problem(
            post(&app, token, &explanation, text.clone()).await,
            403,
            "forbidden_role",
        )
        .await;
    }
    assert_problem(
        post(&app, &d.cgj_admin, &explanation, json!({"explanation": ""})).await,
        422,
        "validation_failed",
    )
    .await;
    let explained = json_of(
        post(&app, &d.cgj_admin, &explanation, text.clone()).await,
        200,
        "explain",
    )
    .await;
    assert_eq!(explained["explanation"], "已于今日签收，并安排专人跟进。");
    assert!(explained["explained_at"].is_string());
    assert_eq!(
        deadline(&app, &d.cgj_admin, &record["response_deadline_id"]).await["state"],
        "met"
    );
    assert_problem(
        post(&app, &d.cgj_admin, &explanation, text.clone()).await,
        409,
        "already_explained",
    )
    .await;
    let none_waiting = json_of(
        app.get_as(
            &d.cgj_admin,
            "/api/v1/supervisions?awaiting_explanation=true",
        )
        .await,
        200,
        "waiting",
    )
    .await;
    assert_eq!(none_waiting["items"], json!([]));

    // A telephone urge asks for no explanation.
    let urge = json_of(
        post(
            &app,
            &d.supervisor,
            "/api/v1/supervisions",
            json!({"assignment_id": assignment, "kind": "urge", "method": "phone", "note": "电话催办"}),
        )
        .await,
        201,
        "urge",
    )
    .await;
    assert_eq!(urge["response_deadline_id"], Value::Null);
    assert_problem(
        post(
            &app,
            &d.cgj_admin,
            &format!("/api/v1/supervisions/{}/explanation", urge["id"]),
            text.clone(),
        )
        .await,
        409,
        "no_explanation_required",
    )
    .await;
    let timeline: Vec<String> = actions(&app, &d.dispatcher, case)
        .await
        .into_iter()
        .map(|(action, _)| action)
        .collect();
    assert!(
        timeline.ends_with(&[
            "supervised".into(),
            "supervision_explained".into(),
            "urged".into()
        ]),
        "{timeline:?}"
    );

    // Another department's records and assignments are out of reach.
    let (_, dc_assignment, _, _) = dispatched_to(&app, &d, d.dc).await;
    let dc_record = json_of(
        post(
            &app,
            &d.supervisor,
            "/api/v1/supervisions",
            json!({"assignment_id": dc_assignment, "kind": "supervise", "method": "written", "note": "请说明"}),
        )
        .await,
        201,
        "dc record",
    )
    .await;
    assert_problem(
        app.get_as(
            &d.cgj_admin,
            &format!("/api/v1/supervisions/{}", dc_record["id"]),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        post(
            &app,
            &d.cgj_admin,
            &format!("/api/v1/supervisions/{}/explanation", dc_record["id"]),
            text.clone(),
        )
        .await,
        404,
        "not_found",
    )
    .await;
    let theirs = json_of(
        app.get_as(
            &d.cgj_staff,
            &format!("/api/v1/supervisions?department_id={}", d.dc),
        )
        .await,
        200,
        "list",
    )
    .await;
    assert_eq!(theirs["items"], json!([]));
    assert_problem(
        app.get_as(&d.supervisor, "/api/v1/supervisions?method=fax")
            .await,
        400,
        "invalid_query",
    )
    .await;

    // Nothing left to press once the department has replied.
    sign_and_reply(&app, &d.cgj_staff, assignment).await;
    assert_problem(
        post(
            &app,
            &d.supervisor,
            "/api/v1/supervisions",
            json!({"assignment_id": assignment, "kind": "urge", "method": "phone", "note": "催办"}),
        )
        .await,
        409,
        "assignment_not_open",
    )
    .await;
}
