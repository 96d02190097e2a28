//! The calendar and policy endpoints: previews, admin-only writes, validation, and that a change
//! takes effect at once here and within seconds on another server sharing the database.

use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn previews_follow_the_official_calendar() {
    let app = spawn_app().await;
    app.load_demo().await;
    let token = app.token("dispatcher").await;

    let due: Value = app
        .get_as(
            &token,
            "/api/v1/calendar/working-days?from=2026-02-13T18:00:00%2B08:00&days=5",
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(due["due_local_date"], "2026-02-27");
    assert_eq!(due["due_at"], "2026-02-27T15:59:59Z");
    assert_eq!(due["timezone"], "Asia/Shanghai");
    assert_eq!(due["calendar_complete"], true);

    let into_2027: Value = app
        .get_as(
            &token,
            "/api/v1/calendar/working-days?from=2026-12-28T01:00:00Z&days=10",
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(into_2027["due_local_date"], "2027-01-11");
    assert_eq!(into_2027["calendar_complete"], false);

    let urgent: Value = app
        .get_as(
            &token,
            "/api/v1/calendar/hours?from=2026-02-16T15:30:00Z&hours=2",
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(urgent["due_at"], "2026-02-16T17:30:00Z");

    let time: Value = app
        .get_as(
            &token,
            "/api/v1/calendar/working-time?from=2026-09-30T10:00:00Z&to=2026-10-08T01:00:00Z",
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(time["working_hours"], 15.0);

    for path in [
        "/api/v1/calendar/working-days?from=yesterday&days=1",
        "/api/v1/calendar/working-days?from=2026-02-13T18:00:00Z&days=61",
        "/api/v1/calendar/working-days?from=2026-02-13T18:00:00Z&days=-1",
        "/api/v1/calendar/working-days?days=1",
        "/api/v1/calendar/hours?from=2026-02-13T18:00:00Z&hours=99999",
    ] {
        assert_problem(app.get_as(&token, path).await, 400, "invalid_query").await;
    }
    assert_problem(
        app.get("/api/v1/calendar/working-days?from=2026-02-13T18:00:00Z&days=1")
            .await,
        401,
        "missing_token",
    )
    .await;
}

#[tokio::test]
async fn years_are_read_by_all_and_replaced_by_admins_only() {
    let app = spawn_app().await;
    app.load_demo().await;
    let admin = app.token("admin").await;
    let operator = app.token("operator").await;

    let year: Value = app
        .get_as(&operator, "/api/v1/calendar/2026")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(year["rules"]["workdays"][1], "2026-02-14");
    assert_eq!(year["rules"]["holidays"].as_array().unwrap().len(), 7);
    assert_problem(
        app.get_as(&operator, "/api/v1/calendar/2027").await,
        404,
        "calendar_not_loaded",
    )
    .await;

    let rules_2027 = json!({
        "holidays": [
            {"name": "元旦", "from": "2027-01-01", "to": "2027-01-03"},
            {"name": "春节", "from": "2027-02-05", "to": "2027-02-13"}
        ],
        "workdays": ["2027-02-20"]
    });
    let forbidden = app
        .request("PUT", "/api/v1/calendar/2027", Some(&operator))
        .json(&rules_2027)
        .send()
        .await
        .unwrap();
    assert_problem(forbidden, 403, "forbidden_role").await;
    let stored = app
        .request("PUT", "/api/v1/calendar/2027", Some(&admin))
        .json(&rules_2027)
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), 200);

    // In force at once: 10 working days from Mon 28 Dec 2026 now skip 1 Jan and count nothing in
    // the Spring Festival, and the answer is complete.
    let due: Value = app
        .get_as(
            &operator,
            "/api/v1/calendar/working-days?from=2026-12-28T01:00:00Z&days=10",
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(due["due_local_date"], "2027-01-12");
    assert_eq!(due["calendar_complete"], true);

    let invalid = json!({
        "holidays": [{"name": "错年", "from": "2026-12-31", "to": "2027-01-02"}],
        "workdays": ["2027-01-02", "2027-13-01"]
    });
    let response = app
        .request("PUT", "/api/v1/calendar/2027", Some(&admin))
        .json(&invalid)
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, 422, "validation_failed").await;
    assert_eq!(
        problem["errors"][0]["field"], "workdays[1]",
        "an impossible date is a type error: {problem}"
    );

    let overlapping = json!({
        "holidays": [{"name": "错年", "from": "2026-12-31", "to": "2027-01-02"}],
        "workdays": ["2027-01-02"]
    });
    let response = app
        .request("PUT", "/api/v1/calendar/2027", Some(&admin))
        .json(&overlapping)
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, 422, "validation_failed").await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["holidays[0].from"]);
    let both = json!({"holidays": [{"name": "元旦", "from": "2027-01-01", "to": "2027-01-03"}], "workdays": ["2027-01-02"]});
    let response = app
        .request("PUT", "/api/v1/calendar/2027", Some(&admin))
        .json(&both)
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["message"], "is also a holiday");

    let out_of_range = app
        .request("PUT", "/api/v1/calendar/1800", Some(&admin))
        .json(&rules_2027)
        .send()
        .await
        .unwrap();
    assert_problem(out_of_range, 400, "invalid_path_parameter").await;
    assert_problem(
        app.get_as(&admin, "/api/v1/calendar/twenty").await,
        404,
        "route_not_found",
    )
    .await;
}

#[tokio::test]
async fn policies_are_versioned_and_admin_only() {
    let app = spawn_app().await;
    app.load_demo().await;
    let admin = app.token("admin").await;
    let supervisor = app.token("supervisor").await;

    let current: Value = app
        .get_as(&supervisor, "/api/v1/sla-policies")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(current["version"], 1);
    assert_eq!(current["policy"]["rules"].as_array().unwrap().len(), 18);
    assert_eq!(
        current["policy"]["max_reply_working_days_with_extensions"],
        30
    );
    let complaint = current["policy"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "complaint" && r["urgency"] == "normal")
        .unwrap();
    assert_eq!(
        complaint["reply"],
        json!({"unit": "working_days", "amount": 5})
    );

    let mut changed = current["policy"].clone();
    for rule in changed["rules"].as_array_mut().unwrap() {
        if rule["kind"] == "complaint" && rule["urgency"] == "normal" {
            rule["reply"]["amount"] = json!(4);
        }
    }
    let forbidden = app
        .request("PUT", "/api/v1/sla-policies", Some(&supervisor))
        .json(&changed)
        .send()
        .await
        .unwrap();
    assert_problem(forbidden, 403, "forbidden_role").await;
    let stored: Value = app
        .request("PUT", "/api/v1/sla-policies", Some(&admin))
        .json(&changed)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stored["version"], 2);
    let now_in_force: Value = app
        .get_as(&supervisor, "/api/v1/sla-policies")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(now_in_force["version"], 2);

    let mut incomplete = changed.clone();
    incomplete["rules"].as_array_mut().unwrap().pop();
    incomplete["follow_up_working_days"] = json!(0);
    let response = app
        .request("PUT", "/api/v1/sla-policies", Some(&admin))
        .json(&incomplete)
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, 422, "validation_failed").await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["follow_up_working_days"]);
    // The numbers first (declared ranges), then the rules as a whole.
    incomplete["follow_up_working_days"] = json!(2);
    let response = app
        .request("PUT", "/api/v1/sla-policies", Some(&admin))
        .json(&incomplete)
        .send()
        .await
        .unwrap();
    let problem = assert_problem(response, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "rules");
    let mut bad_unit = changed.clone();
    bad_unit["rules"][0]["sign"]["unit"] = json!("weeks");
    let response = app
        .request("PUT", "/api/v1/sla-policies", Some(&admin))
        .json(&bad_unit)
        .send()
        .await
        .unwrap();
    assert_problem(response, 422, "validation_failed").await;
    let unchanged: Value = app
        .get_as(&supervisor, "/api/v1/sla-policies")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(unchanged["version"], 2, "refused versions are not stored");
}

/// Two servers on one database: a change through one reaches the other within seconds.
#[tokio::test]
async fn another_server_picks_up_changes_within_seconds() {
    let first = spawn_app().await;
    first.load_demo().await;
    let second = crate::helpers::spawn_server_on(&first.db).await;
    let admin = first.token("admin").await;
    let other_token = second.token("operator").await;
    let path = "/api/v1/calendar/working-days?from=2027-01-05T01:00:00Z&days=1";
    let before: Value = second
        .get_as(&other_token, path)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(before["calendar_complete"], false);

    let rules = json!({"holidays": [{"name": "假日", "from": "2027-01-06", "to": "2027-01-06"}], "workdays": []});
    let stored = first
        .request("PUT", "/api/v1/calendar/2027", Some(&admin))
        .json(&rules)
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), 200);

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let after: Value = second
            .get_as(&other_token, path)
            .await
            .json()
            .await
            .unwrap();
        if after["calendar_complete"] == true {
            assert_eq!(
                after["due_local_date"], "2027-01-07",
                "the new holiday is skipped"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the other server did not reload"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
