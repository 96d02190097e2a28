//! The whole role × endpoint matrix: allowed roles get 2xx, other roles 403 (or 404 for rows they
//! may not see, such as another department's users), and no token 401.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with};

const ROLES: [&str; 9] = [
    "admin",
    "operator",
    "dispatcher",
    "supervisor",
    "department_staff",
    "department_admin",
    "analyst",
    "citizen",
    "integration",
];

/// Who gets in, and what everyone else gets.
enum Access {
    Only(&'static [&'static str], u16),
    Everyone,
}

async fn tokens(app: &TestApp) -> Vec<(&'static str, String)> {
    let admin = app.token("admin").await;
    let client: Value = app
        .post_as(
            Some(&admin),
            "/api/v1/integration-clients",
            &json!({"name": "矩阵测试"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let client_token: Value = app
        .post_as(
            None,
            "/api/v1/auth/token",
            &json!({"grant_type": "client_credentials", "client_id": client["client_id"], "client_secret": client["client_secret"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let mut out = vec![("admin", admin)];
    for (role, username) in [
        ("operator", "operator"),
        ("dispatcher", "dispatcher"),
        ("supervisor", "supervisor"),
        ("department_staff", "cgj.staff"),
        ("department_admin", "cgj.admin"),
        ("analyst", "analyst"),
        ("citizen", "13800138000"),
    ] {
        out.push((role, app.token(username).await));
    }
    out.push((
        "integration",
        client_token["access_token"].as_str().unwrap().to_owned(),
    ));
    assert_eq!(out.len(), ROLES.len());
    out
}

/// A path of the document with every parameter filled in: ids that name no row, so that an
/// allowed role meets the row rules' 404 (or the list it may read) and never a row it may act on.
fn concrete(path: &str) -> String {
    path.replace("{year}", "2026")
        .replace("{case_no}", "20261121-999999")
        .replace("{format}", "json")
        .split('/')
        .map(|segment| {
            // `{service_code}.json` keeps its extension.
            match segment.strip_prefix('{').and_then(|s| s.split_once('}')) {
                Some((_, rest)) => format!("999999999{rest}"),
                None => segment.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Generated from the OpenAPI document and the policy it carries (`x-roles`): every operation the
/// API serves, as every role and with no token. A role the policy leaves out gets 403
/// `forbidden_role` before anything else is looked at (an empty body included); a role it lets in
/// never does; no token is 401 wherever a token is needed. An operation without its policy entry
/// has no `x-roles` and fails here.
#[tokio::test]
async fn every_operation_in_the_document_as_every_role_follows_the_policy() {
    let app = spawn_app_with(&[("HOTLINE_PUBLIC_RATE_LIMIT", "100000")]).await;
    app.load_demo().await;
    let tokens = tokens(&app).await;
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let method = method.to_uppercase();
            let url = concrete(path);
            let secured = operation["security"]
                .as_array()
                .is_some_and(|reqs| reqs.iter().any(|r| r.get("bearer").is_some()));
            let allowed: Vec<&str> = operation
                .get("x-roles")
                .and_then(Value::as_array)
                .map(|roles| roles.iter().map(|r| r.as_str().unwrap()).collect())
                .unwrap_or_default();
            assert_eq!(
                secured,
                !allowed.is_empty(),
                "{method} {path}: an operation that takes a token lists its roles (x-roles)"
            );
            let send = |token: Option<&str>| {
                let request = app.request(&method, &url, token);
                if operation.get("requestBody").is_some() {
                    request.json(&json!({}))
                } else {
                    request
                }
                .send()
            };
            let anonymous = send(None).await.unwrap().status().as_u16();
            if secured {
                assert_eq!(anonymous, 401, "{method} {path} with no token");
            } else {
                assert!(
                    ![401, 403].contains(&anonymous),
                    "{method} {path}: {anonymous}"
                );
            }
            for (role, token) in &tokens {
                let response = send(Some(token)).await.unwrap();
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                let refused = status == 403 && body["code"] == "forbidden_role";
                let expected = secured && !allowed.contains(role);
                assert_eq!(
                    refused, expected,
                    "{method} {path} as {role}: {status} {body}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 60 * ROLES.len(), "only {checked} checks");
}

#[tokio::test]
async fn every_role_on_every_endpoint() {
    let app = spawn_app().await;
    app.load_demo().await;
    let tokens = tokens(&app).await;
    let admin = &tokens[0].1;
    let cgj = app.department_id(admin, "CGJ").await;
    let category: Value = app
        .get_as(admin, "/api/v1/categories?limit=1")
        .await
        .json()
        .await
        .unwrap();
    let category = category["items"][0]["id"].as_i64().unwrap();
    let own_staff = app.user_id(admin, "cgj.staff").await;
    let other_department_staff = app.user_id(admin, "dc.staff").await;
    let client_id = {
        let page: Value = app
            .get_as(admin, "/api/v1/integration-clients")
            .await
            .json()
            .await
            .unwrap();
        page["items"][0]["id"].as_i64().unwrap()
    };

    const ADMIN: &[&str] = &["admin"];
    const USER_ADMINS: &[&str] = &["admin", "department_admin"];
    const SEES_OWN_STAFF: &[&str] = &["admin", "department_admin", "department_staff"];
    let new_user = json!({"username": "matrix.user", "display_name": "矩阵", "role": "operator", "password": "matrix-password-1"});
    let endpoints: Vec<(&str, String, Option<Value>, Access)> = vec![
        ("GET", "/api/v1/auth/me".into(), None, Access::Everyone),
        (
            "GET",
            "/api/v1/users".into(),
            None,
            Access::Only(USER_ADMINS, 403),
        ),
        (
            "POST",
            "/api/v1/users".into(),
            Some(new_user),
            Access::Only(ADMIN, 403),
        ),
        (
            "GET",
            format!("/api/v1/users/{own_staff}"),
            None,
            Access::Only(SEES_OWN_STAFF, 404),
        ),
        (
            "GET",
            format!("/api/v1/users/{other_department_staff}"),
            None,
            Access::Only(ADMIN, 404),
        ),
        (
            "PATCH",
            format!("/api/v1/users/{other_department_staff}"),
            Some(json!({"display_name": "东城区承办人 孙丽"})),
            Access::Only(ADMIN, 404),
        ),
        ("GET", "/api/v1/departments".into(), None, Access::Everyone),
        (
            "GET",
            "/api/v1/departments/tree".into(),
            None,
            Access::Everyone,
        ),
        (
            "GET",
            format!("/api/v1/departments/{cgj}"),
            None,
            Access::Everyone,
        ),
        (
            "POST",
            "/api/v1/departments".into(),
            Some(json!({"code": "MATRIX", "name": "矩阵局", "kind": "bureau"})),
            Access::Only(ADMIN, 403),
        ),
        (
            "PATCH",
            format!("/api/v1/departments/{cgj}"),
            Some(json!({"name": "市城市管理局"})),
            Access::Only(ADMIN, 403),
        ),
        ("GET", "/api/v1/categories".into(), None, Access::Everyone),
        (
            "GET",
            "/api/v1/categories/tree".into(),
            None,
            Access::Everyone,
        ),
        (
            "GET",
            format!("/api/v1/categories/{category}"),
            None,
            Access::Everyone,
        ),
        (
            "POST",
            "/api/v1/categories".into(),
            Some(json!({"code": "99", "name": "矩阵类"})),
            Access::Only(ADMIN, 403),
        ),
        (
            "PATCH",
            format!("/api/v1/categories/{category}"),
            Some(json!({"active": true})),
            Access::Only(ADMIN, 403),
        ),
        (
            "GET",
            "/api/v1/integration-clients".into(),
            None,
            Access::Only(ADMIN, 403),
        ),
        (
            "POST",
            "/api/v1/integration-clients".into(),
            Some(json!({"name": "另一个"})),
            Access::Only(ADMIN, 403),
        ),
        (
            "PATCH",
            format!("/api/v1/integration-clients/{client_id}"),
            Some(json!({"name": "矩阵测试"})),
            Access::Only(ADMIN, 403),
        ),
    ];

    for (method, path, body, access) in &endpoints {
        // No token at all.
        let mut anonymous = app.request(method, path, None);
        if let Some(body) = body {
            anonymous = anonymous.json(body);
        }
        assert_problem(anonymous.send().await.unwrap(), 401, "missing_token").await;

        for (role, token) in &tokens {
            let mut request = app.request(method, path, Some(token));
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            match access {
                Access::Everyone => assert!(
                    response.status().is_success(),
                    "{role} {method} {path}: {status}"
                ),
                Access::Only(allowed, _) if allowed.contains(role) => {
                    assert!(
                        response.status().is_success(),
                        "{role} {method} {path}: {status}"
                    )
                }
                Access::Only(_, denied) => {
                    assert_eq!(status, *denied, "{role} {method} {path}");
                    let code = if *denied == 403 {
                        "forbidden_role"
                    } else {
                        "not_found"
                    };
                    assert_problem(response, *denied, code).await;
                }
            }
        }
    }
}

#[tokio::test]
async fn users_see_themselves_and_department_admins_only_their_department() {
    let app = spawn_app().await;
    app.load_demo().await;
    let admin = app.token("admin").await;
    let cgj_admin = app.token("cgj.admin").await;
    let listed: Value = app
        .get_as(&cgj_admin, "/api/v1/users?limit=200")
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["cgj.staff", "cgj.admin"]);
    // Asking for another department's users yields nothing rather than their rows.
    let dc = app.department_id(&admin, "DC").await;
    let other: Value = app
        .get_as(&cgj_admin, &format!("/api/v1/users?department_id={dc}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(other["items"], json!([]));

    let operator = app.token("operator").await;
    let me: Value = app
        .get_as(&operator, "/api/v1/auth/me")
        .await
        .json()
        .await
        .unwrap();
    let id = me["user"]["id"].as_i64().unwrap();
    assert_eq!(
        app.get_as(&operator, &format!("/api/v1/users/{id}"))
            .await
            .status(),
        200
    );
    let renamed = app
        .patch_as(
            &operator,
            &format!("/api/v1/users/{id}"),
            &json!({"display_name": "接线员 王芳芳"}),
        )
        .await;
    assert_eq!(renamed.status(), 200);
    let promote = app
        .patch_as(
            &operator,
            &format!("/api/v1/users/{id}"),
            &json!({"role": "admin"}),
        )
        .await;
    assert_problem(promote, 403, "forbidden_field").await;
}

/// The case work endpoints: each role's status on a case dispatched jointly to CGJ (lead, whose
/// users are the department roles here) and DC. Columns follow `ROLES`.
#[tokio::test]
async fn every_role_on_the_case_work_endpoints() {
    let app = spawn_app().await;
    app.load_demo().await;
    let tokens = tokens(&app).await;
    let admin = &tokens[0].1;
    let (operator, dispatcher) = (&tokens[1].1, &tokens[2].1);
    let cgj = app.department_id(admin, "CGJ").await;
    let dc = app.department_id(admin, "DC").await;
    let case: Value = app
        .post_as(
            Some(operator),
            "/api/v1/cases",
            &json!({"channel": "phone", "kind": "complaint", "title": "噪音扰民", "description": "夜间施工噪音。", "complainant": {"anonymous": true}}),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = case["id"].as_i64().unwrap();
    let accept = app
        .post_as(
            Some(operator),
            &format!("/api/v1/cases/{id}/accept"),
            &json!({}),
        )
        .await;
    assert_eq!(accept.status(), 200);
    let dispatch = app
        .post_as(
            Some(dispatcher),
            &format!("/api/v1/cases/{id}/dispatch"),
            &json!({"departments": [{"department_id": cgj, "role": "lead"}, {"department_id": dc}]}),
        )
        .await;
    assert_eq!(dispatch.status(), 200);
    let page: Value = app
        .get_as(dispatcher, &format!("/api/v1/assignments?case_id={id}"))
        .await
        .json()
        .await
        .unwrap();
    let of = |department: i64| {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["department_id"] == department)
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let (cgj_a, dc_a) = (of(cgj), of(dc));
    let clocks: Value = app
        .get_as(
            dispatcher,
            &format!("/api/v1/deadlines?assignment_id={dc_a}"),
        )
        .await
        .json()
        .await
        .unwrap();
    let dc_clock = clocks["items"][0]["id"].as_i64().unwrap();

    //                         admin op   disp sup  staff dadm anal cit  integ
    let reads: Vec<(String, [u16; 9])> = vec![
        (
            "/api/v1/cases".into(),
            [200, 200, 200, 200, 200, 200, 403, 200, 200],
        ),
        (
            format!("/api/v1/cases/{id}"),
            [200, 200, 200, 200, 200, 200, 403, 404, 404],
        ),
        (
            format!("/api/v1/cases/{id}/timeline"),
            [200, 200, 200, 200, 200, 200, 403, 404, 404],
        ),
        (
            format!("/api/v1/cases/{id}/similar"),
            [403, 200, 200, 200, 403, 403, 403, 403, 403],
        ),
        (
            "/api/v1/assignments".into(),
            [200, 200, 200, 200, 200, 200, 403, 403, 403],
        ),
        (
            format!("/api/v1/assignments/{cgj_a}"),
            [200, 200, 200, 200, 200, 200, 403, 403, 403],
        ),
        (
            format!("/api/v1/assignments/{dc_a}"),
            [200, 200, 200, 200, 404, 404, 403, 403, 403],
        ),
        (
            "/api/v1/deadlines".into(),
            [200, 200, 200, 200, 200, 200, 403, 403, 403],
        ),
        (
            format!("/api/v1/deadlines/{dc_clock}"),
            [200, 200, 200, 200, 404, 404, 403, 403, 403],
        ),
        (
            "/api/v1/personal-data-reads".into(),
            [200, 403, 403, 403, 403, 403, 403, 403, 403],
        ),
        (
            "/api/v1/extensions".into(),
            [200, 200, 200, 200, 200, 200, 403, 403, 403],
        ),
        (
            "/api/v1/supervisions".into(),
            [200, 200, 200, 200, 200, 200, 403, 403, 403],
        ),
    ];
    for (path, expected) in &reads {
        assert_problem(
            app.request("GET", path, None).send().await.unwrap(),
            401,
            "missing_token",
        )
        .await;
        for ((role, token), status) in tokens.iter().zip(expected) {
            let response = app.get_as(token, path).await;
            assert_eq!(response.status().as_u16(), *status, "{role} GET {path}");
        }
    }

    // Moves: every role outside the allowed ones is refused before anything happens.
    let reason = json!({"reason": "矩阵测试"});
    let moves: Vec<(String, Value, &[&str])> = vec![
        (
            format!("/api/v1/cases/{id}/accept"),
            json!({}),
            &["operator", "dispatcher", "supervisor"],
        ),
        (
            format!("/api/v1/cases/{id}/dispatch"),
            json!({"departments": [{"department_id": cgj}]}),
            &["dispatcher", "supervisor"],
        ),
        (
            format!("/api/v1/cases/{id}/review"),
            json!({"decision": "approve"}),
            &["dispatcher", "supervisor"],
        ),
        (
            format!("/api/v1/cases/{id}/redo"),
            reason.clone(),
            &["supervisor"],
        ),
        (
            format!("/api/v1/cases/{id}/merge"),
            json!({"into_case_id": 1}),
            &["operator", "dispatcher", "supervisor"],
        ),
        (
            format!("/api/v1/cases/{id}/close"),
            reason.clone(),
            &["supervisor"],
        ),
        (
            format!("/api/v1/cases/{id}/reopen"),
            reason.clone(),
            &["supervisor"],
        ),
        (
            format!("/api/v1/cases/{id}/notes"),
            json!({"text": "补充"}),
            &["citizen", "operator", "dispatcher", "supervisor"],
        ),
        (
            format!("/api/v1/assignments/{cgj_a}/sign"),
            json!({}),
            &["department_staff", "department_admin"],
        ),
        (
            format!("/api/v1/assignments/{cgj_a}/return"),
            reason.clone(),
            &["department_staff", "department_admin"],
        ),
        (
            format!("/api/v1/assignments/{cgj_a}/return-ruling"),
            json!({"ruling": "refused"}),
            &["dispatcher", "supervisor"],
        ),
        (
            format!("/api/v1/assignments/{cgj_a}/handover"),
            json!({"user_id": 1}),
            &["department_admin"],
        ),
        (
            format!("/api/v1/assignments/{cgj_a}/progress"),
            json!({"note": "进展"}),
            &["department_staff", "department_admin"],
        ),
        (
            format!("/api/v1/assignments/{cgj_a}/reply"),
            json!({"investigation": "a", "actions": "b", "result": "c", "contacted_citizen": false}),
            &["department_staff", "department_admin"],
        ),
        (
            format!("/api/v1/deadlines/{dc_clock}/extensions"),
            json!({"reason": "需协调", "working_days": 1}),
            &["department_admin"],
        ),
        (
            "/api/v1/extensions/1/decision".into(),
            json!({"decision": "approve"}),
            &["supervisor"],
        ),
        (
            "/api/v1/supervisions".into(),
            json!({"assignment_id": cgj_a, "kind": "urge", "method": "phone", "note": "催办"}),
            &["supervisor"],
        ),
        (
            "/api/v1/supervisions/1/explanation".into(),
            json!({"explanation": "说明"}),
            &["department_admin"],
        ),
    ];
    for (path, body, allowed) in &moves {
        assert_problem(
            app.request("POST", path, None)
                .json(body)
                .send()
                .await
                .unwrap(),
            401,
            "missing_token",
        )
        .await;
        for (role, token) in tokens.iter().filter(|(role, _)| !allowed.contains(role)) {
            let response = app.post_as(Some(token), path, body).await;
            assert_eq!(response.status().as_u16(), 403, "{role} POST {path}");
            assert_problem(response, 403, "forbidden_role").await;
        }
    }
}
