//! Case intake: registration by every kind of caller, personal-data protection, idempotent
//! retries, the intake decisions with their illegal moves, If-Match, and concurrency.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_app};

fn complaint() -> Value {
    json!({
        "channel": "phone",
        "kind": "complaint",
        "title": "小区门口占道经营",
        "description": "每天傍晚有流动摊贩在小区门口占道经营，影响通行。",
        "address": "东城区东华门街道某小区北门",
        "complainant": {"name": "张三", "phone": "138-1234-5678", "contact_allowed": false}
    })
}

async fn register(app: &TestApp, token: &str, body: &Value) -> Value {
    let response = app.post_as(Some(token), "/api/v1/cases", body).await;
    assert_eq!(response.status(), 201, "registration");
    response.json().await.unwrap()
}

#[tokio::test]
async fn call_takers_register_cases_with_numbers_etags_and_a_timeline() {
    let app = spawn_app().await;
    app.load_demo().await;
    let operator = app.token("operator").await;
    let response = app
        .post_as(Some(&operator), "/api/v1/cases", &complaint())
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["etag"], "\"1\"");
    let case: Value = response.json().await.unwrap();
    let case_no = case["case_no"].as_str().unwrap();
    assert_eq!(case_no.len(), 15);
    assert!(case_no.ends_with("-000001"), "{case_no}");
    assert_eq!(case["status"], "registered");
    assert_eq!(case["citizen_status"], "received");
    assert_eq!(
        case["complainant"]["phone"], "13812345678",
        "stored normalised, shown in full"
    );

    let id = case["id"].as_i64().unwrap();
    let by_number: Value = app
        .get_as(&operator, &format!("/api/v1/cases/by-number/{case_no}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_number["id"], id);
    let second = register(&app, &operator, &complaint()).await;
    assert!(second["case_no"].as_str().unwrap().ends_with("-000002"));

    let timeline: Value = app
        .get_as(&operator, &format!("/api/v1/cases/{id}/timeline"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(timeline.as_array().unwrap().len(), 1);
    assert_eq!(timeline[0]["action"], "registered");
    assert_eq!(timeline[0]["actor_role"], "operator");
    assert!(
        !timeline.to_string().contains("13812345678"),
        "no personal data in the timeline"
    );

    // Every full read by centre staff is on record for administrators.
    let admin = app.token("admin").await;
    let reads: Value = app
        .get_as(&admin, &format!("/api/v1/personal-data-reads?case_id={id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        reads["items"].as_array().unwrap().len(),
        1,
        "the by-number read"
    );
    assert_eq!(reads["items"][0]["role"], "operator");
    assert_problem(
        app.get_as(&operator, "/api/v1/personal-data-reads").await,
        403,
        "forbidden_role",
    )
    .await;
}

#[tokio::test]
async fn registration_is_validated() {
    let app = spawn_app().await;
    app.load_demo().await;
    let operator = app.token("operator").await;
    let mut body = complaint();
    body["channel"] = Value::Null;
    body["title"] = json!("  ");
    body["latitude"] = json!(95.0);
    body["category_id"] = json!(987654);
    body["complainant"] = json!({"phone": "12345"});
    let response = app.post_as(Some(&operator), "/api/v1/cases", &body).await;
    let problem = assert_problem(response, 422, "validation_failed").await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    // The form of every field at once, first; what depends on the caller, on other fields and on
    // other records (the channel staff must give, a latitude without its longitude, the category)
    // next, again all at once.
    assert_eq!(fields, ["complainant.phone", "latitude", "title"]);
    body["title"] = json!("路灯不亮");
    body["latitude"] = json!(39.9);
    body["complainant"] = json!({"phone": "13812345678"});
    let response = app.post_as(Some(&operator), "/api/v1/cases", &body).await;
    let problem = assert_problem(response, 422, "validation_failed").await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["channel", "longitude", "category_id"]);
    let mut long = complaint();
    long["description"] = json!("长".repeat(10_001));
    assert_problem(
        app.post_as(Some(&operator), "/api/v1/cases", &long).await,
        422,
        "validation_failed",
    )
    .await;
    let mut unknown = complaint();
    unknown["kind"] = json!("rumour");
    assert_problem(
        app.post_as(Some(&operator), "/api/v1/cases", &unknown)
            .await,
        422,
        "validation_failed",
    )
    .await;
    // Ids in a body are typed ids: a wrong one is named like any other bad field, all at once.
    let mut bad_ids = complaint();
    bad_ids["category_id"] = json!("7");
    bad_ids["district_id"] = json!(1.5);
    bad_ids["kind"] = json!(3);
    let problem = assert_problem(
        app.post_as(Some(&operator), "/api/v1/cases", &bad_ids)
            .await,
        422,
        "validation_failed",
    )
    .await;
    let mut errors: Vec<(&str, &str, &str)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap(),
                e["code"].as_str().unwrap(),
                e["message"].as_str().unwrap(),
            )
        })
        .collect();
    errors.sort();
    assert_eq!(
        errors.iter().map(|e| (e.0, e.1)).collect::<Vec<_>>(),
        [
            ("category_id", "invalid_type"),
            ("district_id", "invalid_type"),
            ("kind", "invalid_type")
        ],
        "{problem}"
    );
    assert_eq!(errors[0].2, "expected i64", "{problem}");
    // Anonymous callers are allowed.
    let mut anonymous = complaint();
    anonymous["complainant"] = json!({"anonymous": true});
    let case = register(&app, &operator, &anonymous).await;
    assert_eq!(case["complainant"]["anonymous"], true);
}

#[tokio::test]
async fn citizens_register_and_see_only_their_own_cases() {
    let app = spawn_app().await;
    app.load_demo().await;
    let citizen = app.token("13800138000").await;
    let mut own = complaint();
    own.as_object_mut().unwrap().remove("complainant");
    own["channel"] = json!("phone");
    let wrong_channel = app.post_as(Some(&citizen), "/api/v1/cases", &own).await;
    assert_problem(wrong_channel, 422, "validation_failed").await;
    own.as_object_mut().unwrap().remove("channel");
    let case = register(&app, &citizen, &own).await;
    assert_eq!(case["channel"], "app");
    assert_eq!(
        case["complainant"]["phone"], "13800138000",
        "taken from the account"
    );
    let id = case["id"].as_i64().unwrap();
    assert_eq!(
        app.get_as(&citizen, &format!("/api/v1/cases/{id}"))
            .await
            .status(),
        200
    );

    let other = app
        .post_as(
            None,
            "/api/v1/citizens/register",
            &json!({"phone": "13900001111", "password": "another-citizen-1"}),
        )
        .await;
    assert_eq!(other.status(), 201);
    let other_token = app.sign_in("13900001111", "another-citizen-1").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_problem(
        app.get_as(&other_token, &format!("/api/v1/cases/{id}"))
            .await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        app.get_as(&other_token, &format!("/api/v1/cases/{id}/timeline"))
            .await,
        404,
        "not_found",
    )
    .await;
    // Citizens make no intake decisions.
    let accept = app
        .request(
            "POST",
            &format!("/api/v1/cases/{id}/accept"),
            Some(&citizen),
        )
        .send()
        .await
        .unwrap();
    assert_problem(accept, 403, "forbidden_role").await;
}

#[tokio::test]
async fn roles_outside_the_case_see_nothing() {
    let app = spawn_app().await;
    app.load_demo().await;
    let operator = app.token("operator").await;
    let id = register(&app, &operator, &complaint()).await["id"]
        .as_i64()
        .unwrap();
    // Departments see only what is dispatched to them; nothing is yet.
    let staff = app.token("cgj.staff").await;
    assert_problem(
        app.get_as(&staff, &format!("/api/v1/cases/{id}")).await,
        404,
        "not_found",
    )
    .await;
    let analyst = app.token("analyst").await;
    assert_problem(
        app.get_as(&analyst, &format!("/api/v1/cases/{id}")).await,
        403,
        "forbidden_role",
    )
    .await;
    assert_problem(
        app.post_as(Some(&analyst), "/api/v1/cases", &complaint())
            .await,
        403,
        "forbidden_role",
    )
    .await;
    assert_problem(
        app.get_as(&operator, "/api/v1/cases/by-number/not-a-number")
            .await,
        404,
        "not_found",
    )
    .await;
    assert_problem(
        app.get_as(&operator, "/api/v1/cases/424242").await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn integration_clients_file_for_citizens_once_per_external_ref() {
    let app = spawn_app().await;
    app.load_demo().await;
    let admin = app.token("admin").await;
    let mut clients = Vec::new();
    for name in ["小程序甲", "小程序乙"] {
        let client: Value = app
            .post_as(
                Some(&admin),
                "/api/v1/integration-clients",
                &json!({"name": name}),
            )
            .await
            .json()
            .await
            .unwrap();
        let token: Value = app
            .post_as(
                None,
                "/api/v1/auth/token",
                &json!({"grant_type": "client_credentials", "client_id": client["client_id"], "client_secret": client["client_secret"]}),
            )
            .await
            .json()
            .await
            .unwrap();
        clients.push(token["access_token"].as_str().unwrap().to_owned());
    }
    let mut body = complaint();
    body.as_object_mut().unwrap().remove("channel");
    let missing_ref = app.post_as(Some(&clients[0]), "/api/v1/cases", &body).await;
    assert_problem(missing_ref, 422, "validation_failed").await;

    body["external_ref"] = json!("wx-2026-0001");
    let first = app.post_as(Some(&clients[0]), "/api/v1/cases", &body).await;
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    assert_eq!(first["channel"], "wechat");
    assert!(
        first["complainant"].is_null(),
        "clients do not read personal data back"
    );
    let again = app.post_as(Some(&clients[0]), "/api/v1/cases", &body).await;
    assert_eq!(
        again.status(),
        200,
        "the same external_ref is the same case"
    );
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);

    let id = first["id"].as_i64().unwrap();
    assert_eq!(
        app.get_as(&clients[0], &format!("/api/v1/cases/{id}"))
            .await
            .status(),
        200
    );
    assert_problem(
        app.get_as(&clients[1], &format!("/api/v1/cases/{id}"))
            .await,
        404,
        "not_found",
    )
    .await;
    // The other client may use the same reference for its own, different case.
    let other = app.post_as(Some(&clients[1]), "/api/v1/cases", &body).await;
    assert_eq!(other.status(), 201);
}

#[tokio::test]
async fn idempotent_retries_create_nothing_new() {
    let app = spawn_app().await;
    app.load_demo().await;
    let operator = app.token("operator").await;
    let send = |body: Value, key: &'static str| {
        app.request("POST", "/api/v1/cases", Some(&operator))
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };
    let first = send(complaint(), "retry-1").await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let retry = send(complaint(), "retry-1").await.unwrap();
    assert_eq!(retry.status(), 201);
    let retry: Value = retry.json().await.unwrap();
    assert_eq!(retry["id"], first["id"]);
    assert_eq!(retry["case_no"], first["case_no"]);

    let mut changed = complaint();
    changed["title"] = json!("另一件事");
    assert_problem(
        send(changed, "retry-1").await.unwrap(),
        409,
        "idempotency_key_reused",
    )
    .await;
    let bad_key = app
        .request("POST", "/api/v1/cases", Some(&operator))
        .header("idempotency-key", "has space")
        .json(&complaint())
        .send()
        .await
        .unwrap();
    assert_problem(bad_key, 400, "invalid_idempotency_key").await;

    let next = register(&app, &operator, &complaint()).await;
    assert!(
        next["case_no"].as_str().unwrap().ends_with("-000002"),
        "the retry used no number"
    );
}

#[tokio::test]
async fn intake_decisions_and_their_illegal_moves() {
    let app = spawn_app().await;
    app.load_demo().await;
    let operator = app.token("operator").await;
    let id = register(&app, &operator, &complaint()).await["id"]
        .as_i64()
        .unwrap();
    let post = |path: String, body: Option<Value>, if_match: Option<&'static str>| {
        let mut request = app.request("POST", &path, Some(&operator));
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(tag) = if_match {
            request = request.header("if-match", tag);
        }
        request.send()
    };

    // A consultation answer for a complaint is refused, and so is a stale If-Match.
    let answer = post(
        format!("/api/v1/cases/{id}/answer"),
        Some(json!({"answer": "已解答"})),
        None,
    )
    .await
    .unwrap();
    assert_problem(answer, 409, "not_a_consultation").await;
    let stale = post(format!("/api/v1/cases/{id}/accept"), None, Some("\"7\""))
        .await
        .unwrap();
    assert_problem(stale, 412, "version_mismatch").await;

    let accepted = post(format!("/api/v1/cases/{id}/accept"), None, Some("\"1\""))
        .await
        .unwrap();
    assert_eq!(accepted.status(), 200);
    assert_eq!(accepted.headers()["etag"], "\"2\"");
    let accepted: Value = accepted.json().await.unwrap();
    assert_eq!(accepted["status"], "pending_dispatch");
    assert_eq!(accepted["citizen_status"], "in_hand");

    let twice = post(format!("/api/v1/cases/{id}/accept"), None, None)
        .await
        .unwrap();
    assert_problem(twice, 409, "case_not_registered").await;
    let reject = post(
        format!("/api/v1/cases/{id}/reject"),
        Some(json!({"reason": "x", "redirect_to": "y"})),
        None,
    )
    .await
    .unwrap();
    assert_problem(reject, 409, "case_not_registered").await;

    let other = register(&app, &operator, &complaint()).await["id"]
        .as_i64()
        .unwrap();
    let incomplete = post(
        format!("/api/v1/cases/{other}/reject"),
        Some(json!({"reason": "不属于受理范围"})),
        None,
    )
    .await
    .unwrap();
    assert_problem(incomplete, 422, "validation_failed").await;
    let rejected: Value = post(
        format!("/api/v1/cases/{other}/reject"),
        Some(json!({"reason": "属于司法程序范围", "redirect_to": "请向区人民法院提起诉讼"})),
        None,
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(rejected["citizen_status"], "not_accepted");
    let timeline: Value = app
        .get_as(&operator, &format!("/api/v1/cases/{other}/timeline"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(timeline[1]["action"], "rejected");
    assert_eq!(
        timeline[1]["details"]["redirect_to"],
        "请向区人民法院提起诉讼"
    );

    let mut consultation = complaint();
    consultation["kind"] = json!("consultation");
    let question = register(&app, &operator, &consultation).await["id"]
        .as_i64()
        .unwrap();
    let answered: Value = post(
        format!("/api/v1/cases/{question}/answer"),
        Some(json!({"answer": "带身份证到街道办理。"})),
        None,
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        (answered["status"].as_str(), answered["closure"].as_str()),
        (Some("closed"), Some("answered_directly"))
    );
    assert_eq!(answered["resolution"], "带身份证到街道办理。");
}

#[tokio::test]
async fn concurrent_accepts_let_exactly_one_win() {
    let app = spawn_app().await;
    app.load_demo().await;
    let operator = app.token("operator").await;
    let id = register(&app, &operator, &complaint()).await["id"]
        .as_i64()
        .unwrap();
    let attempts = (0..50).map(|_| {
        app.request(
            "POST",
            &format!("/api/v1/cases/{id}/accept"),
            Some(&operator),
        )
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
    let timeline: Value = app
        .get_as(&operator, &format!("/api/v1/cases/{id}/timeline"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        timeline.as_array().unwrap().len(),
        2,
        "one registration, one acceptance"
    );
}

#[tokio::test]
async fn concurrent_registrations_get_distinct_numbers() {
    let app = spawn_app().await;
    app.load_demo().await;
    let operator = app.token("operator").await;
    let body = complaint();
    let posts = (0..200).map(|_| app.post_as(Some(&operator), "/api/v1/cases", &body));
    let mut numbers = Vec::new();
    for response in futures_util::future::join_all(posts).await {
        assert_eq!(response.status(), 201);
        let case: Value = response.json().await.unwrap();
        numbers.push(case["case_no"].as_str().unwrap().to_owned());
    }
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), 200);
}

#[tokio::test]
async fn lists_are_scoped_filtered_searched_and_paginated() {
    let app = spawn_app().await;
    app.load_demo().await;
    let operator = app.token("operator").await;
    let citizen = app.token("13800138000").await;
    let mut ids = Vec::new();
    for (title, kind) in [
        ("路灯不亮", "complaint"),
        ("公交改线咨询", "consultation"),
        ("噪声扰民", "complaint"),
    ] {
        let mut body = complaint();
        body["title"] = json!(title);
        body["kind"] = json!(kind);
        ids.push(
            register(&app, &operator, &body).await["id"]
                .as_i64()
                .unwrap(),
        );
    }
    let mut own = complaint();
    own.as_object_mut().unwrap().remove("complainant");
    own.as_object_mut().unwrap().remove("channel");
    own["title"] = json!("我家楼下的路灯坏了");
    let own_id = register(&app, &citizen, &own).await["id"].as_i64().unwrap();
    let accept = app
        .request(
            "POST",
            &format!("/api/v1/cases/{}/accept", ids[0]),
            Some(&operator),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(accept.status(), 200);

    let titles = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["title"].as_str().unwrap().to_owned())
            .collect()
    };
    let all: Value = app
        .get_as(&operator, "/api/v1/cases")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        titles(&all),
        ["我家楼下的路灯坏了", "噪声扰民", "公交改线咨询", "路灯不亮"],
        "newest first"
    );
    assert!(
        all["items"][0].get("complainant").is_none()
            && all["items"][0].get("description").is_none()
    );

    let search: Value = app
        .get_as(&operator, "/api/v1/cases?q=路灯")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        titles(&search),
        ["我家楼下的路灯坏了", "路灯不亮"],
        "Chinese substring search"
    );
    let by_kind: Value = app
        .get_as(&operator, "/api/v1/cases?kind=consultation")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(titles(&by_kind), ["公交改线咨询"]);
    let by_status: Value = app
        .get_as(&operator, "/api/v1/cases?status=pending_dispatch")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(titles(&by_status), ["路灯不亮"]);
    let several: Value = app
        .get_as(
            &operator,
            "/api/v1/cases?status=registered,pending_dispatch&channel=app",
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(titles(&several), ["我家楼下的路灯坏了"]);
    let future: Value = app
        .get_as(
            &operator,
            "/api/v1/cases?registered_from=2099-01-01T00:00:00Z",
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(future["items"], json!([]));

    let first: Value = app
        .get_as(&operator, "/api/v1/cases?limit=3")
        .await
        .json()
        .await
        .unwrap();
    let cursor = first["next_cursor"].as_str().unwrap();
    let second: Value = app
        .get_as(&operator, &format!("/api/v1/cases?limit=3&cursor={cursor}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(titles(&second), ["路灯不亮"]);
    assert!(second["next_cursor"].is_null());

    // Citizens see their own; departments nothing yet; analysts not at all.
    let mine: Value = app
        .get_as(&citizen, "/api/v1/cases")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    assert_eq!(mine["items"][0]["id"], own_id);
    let staff = app.token("cgj.staff").await;
    let departmental: Value = app
        .get_as(&staff, "/api/v1/cases")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(departmental["items"], json!([]));
    let analyst = app.token("analyst").await;
    assert_problem(
        app.get_as(&analyst, "/api/v1/cases").await,
        403,
        "forbidden_role",
    )
    .await;
    assert_problem(
        app.get_as(&operator, "/api/v1/cases?status=lost").await,
        400,
        "invalid_query",
    )
    .await;
}

#[tokio::test]
async fn classification_changes_until_dispatch() {
    let app = spawn_app().await;
    app.load_demo().await;
    let operator = app.token("operator").await;
    let admin = app.token("admin").await;
    let district = app.department_id(&admin, "DC").await;
    let street = app.department_id(&admin, "DC-DHM").await;
    let case = register(&app, &operator, &complaint()).await;
    let id = case["id"].as_i64().unwrap();
    let path = format!("/api/v1/cases/{id}");

    let changed = app
        .request("PATCH", &path, Some(&operator))
        .header("if-match", "\"1\"")
        .json(&json!({"urgency": "urgent", "district_id": district, "address": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    assert_eq!(changed.headers()["etag"], "\"2\"");
    let changed: Value = changed.json().await.unwrap();
    assert_eq!(
        (changed["urgency"].as_str(), changed["district_id"].as_i64()),
        (Some("urgent"), Some(district))
    );
    assert!(changed["address"].is_null());
    assert_eq!(changed["title"], case["title"], "fields left out stay");

    let stale = app
        .request("PATCH", &path, Some(&operator))
        .header("if-match", "\"1\"")
        .json(&json!({"kind": "help"}))
        .send()
        .await
        .unwrap();
    assert_problem(stale, 412, "version_mismatch").await;
    // Bad input is told before a stale If-Match (RFC 9110, 13.2.1); an empty If-Match names no
    // version and is as if it were not sent.
    let stale_and_bad = app
        .request("PATCH", &path, Some(&operator))
        .header("if-match", "\"1\"")
        .json(&json!({"title": ""}))
        .send()
        .await
        .unwrap();
    assert_problem(stale_and_bad, 422, "validation_failed").await;
    let empty = app
        .request("PATCH", &path, Some(&operator))
        .header("if-match", "")
        .json(&json!({"kind": "complaint"}))
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), 200);
    assert_eq!(empty.headers()["etag"], "\"3\"");
    let not_a_district = app
        .patch_as(&operator, &path, &json!({"district_id": street}))
        .await;
    assert_problem(not_a_district, 422, "validation_failed").await;
    let citizen = app.token("13800138000").await;
    assert_problem(
        app.patch_as(&citizen, &path, &json!({"kind": "help"}))
            .await,
        403,
        "forbidden_role",
    )
    .await;

    let timeline: Value = app
        .get_as(&operator, &format!("{path}/timeline"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(timeline[1]["action"], "reclassified");
    assert_eq!(
        timeline[1]["details"]["changed"],
        json!(["urgency", "address", "district_id"])
    );

    // A closed case keeps its classification.
    let mut question = complaint();
    question["kind"] = json!("consultation");
    let closed = register(&app, &operator, &question).await["id"]
        .as_i64()
        .unwrap();
    let answered = app
        .post_as(
            Some(&operator),
            &format!("/api/v1/cases/{closed}/answer"),
            &json!({"answer": "已答复"}),
        )
        .await;
    assert_eq!(answered.status(), 200);
    let late = app
        .patch_as(
            &operator,
            &format!("/api/v1/cases/{closed}"),
            &json!({"kind": "help"}),
        )
        .await;
    assert_problem(late, 409, "classification_locked").await;
}
