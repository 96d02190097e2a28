//! Departments, categories, users and integration clients: creation, validation, trees,
//! deactivation, pagination and filters, and malformed requests.

use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_app, spawn_app_with};

fn field_codes(problem: &Value) -> Vec<(String, String)> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().to_owned(),
                e["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn departments_form_a_tree_without_cycles() {
    let app = spawn_app().await;
    app.load_demo().await;
    let admin = app.token("admin").await;
    let district = app.department_id(&admin, "DC").await;

    let created = app
        .post_as(
            Some(&admin),
            "/api/v1/departments",
            &json!({"code": "DC-CYM", "name": "朝阳门街道办事处", "kind": "street", "parent_id": district,
                    "contact_person": "赵主任", "contact_phone": "010 6512 3456"}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let street: Value = created.json().await.unwrap();
    assert_eq!(street["contact_phone"], "010-65123456", "stored normalised");
    let street_id = street["id"].as_i64().unwrap();

    let tree: Value = app
        .get_as(&admin, "/api/v1/departments/tree")
        .await
        .json()
        .await
        .unwrap();
    let dc = tree
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "DC")
        .unwrap();
    let children: Vec<&str> = dc["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["code"].as_str().unwrap())
        .collect();
    assert_eq!(children, ["DC-DHM", "DC-JS", "DC-CYM"]);

    // The district under its own street office would be a loop.
    let cycle = app
        .patch_as(
            &admin,
            &format!("/api/v1/departments/{district}"),
            &json!({"parent_id": street_id}),
        )
        .await;
    let problem = assert_problem(cycle, 422, "validation_failed").await;
    assert_eq!(
        field_codes(&problem),
        [("parent_id".into(), "cycle".into())]
    );

    let duplicate = app
        .post_as(
            Some(&admin),
            "/api/v1/departments",
            &json!({"code": "DC-CYM", "name": "重复", "kind": "street"}),
        )
        .await;
    assert_problem(duplicate, 409, "code_taken").await;

    let invalid = app
        .post_as(
            Some(&admin),
            "/api/v1/departments",
            &json!({"code": "城管", "name": " ", "kind": "street", "parent_id": 999999, "contact_phone": "12"}),
        )
        .await;
    let problem = assert_problem(invalid, 422, "validation_failed").await;
    // The form of every field first, all at once; references to other records after it.
    let fields: Vec<String> = field_codes(&problem).into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["code", "contact_phone", "name"]);
    let unknown_parent = app
        .post_as(
            Some(&admin),
            "/api/v1/departments",
            &json!({"code": "DC-NEW", "name": "新部门", "kind": "street", "parent_id": 999999}),
        )
        .await;
    let problem = assert_problem(unknown_parent, 422, "validation_failed").await;
    assert_eq!(
        field_codes(&problem),
        [("parent_id".to_owned(), "not_found".to_owned())]
    );

    let unknown_kind = app
        .post_as(
            Some(&admin),
            "/api/v1/departments",
            &json!({"code": "X1", "name": "某局", "kind": "ministry"}),
        )
        .await;
    let problem = assert_problem(unknown_kind, 422, "validation_failed").await;
    assert_eq!(
        field_codes(&problem),
        [("kind".into(), "unknown_value".into())]
    );

    // Deactivated, never deleted; a null clears an optional field.
    let changed = app
        .patch_as(
            &admin,
            &format!("/api/v1/departments/{street_id}"),
            &json!({"active": false, "contact_person": null}),
        )
        .await;
    assert_eq!(changed.status(), 200);
    let changed: Value = changed.json().await.unwrap();
    assert_eq!(
        (changed["active"].clone(), changed["contact_person"].clone()),
        (json!(false), Value::Null)
    );
    assert_eq!(
        changed["contact_phone"], "010-65123456",
        "fields left out stay as they were"
    );
    let inactive: Value = app
        .get_as(&admin, "/api/v1/departments?active=false")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(inactive["items"].as_array().unwrap().len(), 1);

    let missing = app.get_as(&admin, "/api/v1/departments/987654").await;
    assert_problem(missing, 404, "not_found").await;
}

#[tokio::test]
async fn categories_carry_codes_and_a_default_department() {
    let app = spawn_app().await;
    app.load_demo().await;
    let admin = app.token("admin").await;
    let cgj = app.department_id(&admin, "CGJ").await;
    let parent: Value = app
        .get_as(&admin, "/api/v1/categories?q=市容环境")
        .await
        .json()
        .await
        .unwrap();
    let parent_id = parent["items"][0]["id"].as_i64().unwrap();

    let created = app
        .post_as(
            Some(&admin),
            "/api/v1/categories",
            &json!({"code": "010103", "name": "暴露垃圾", "parent_id": parent_id, "default_department_id": cgj}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["default_department_id"], cgj);

    let by_department: Value = app
        .get_as(
            &admin,
            &format!("/api/v1/categories?default_department_id={cgj}&limit=200"),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(
        by_department["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["default_department_id"] == cgj)
    );

    let tree: Value = app
        .get_as(&admin, "/api/v1/categories/tree")
        .await
        .json()
        .await
        .unwrap();
    let city = tree
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["code"] == "01")
        .unwrap();
    let environment = city["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["code"] == "0101")
        .unwrap();
    assert_eq!(environment["children"].as_array().unwrap().len(), 3);

    let id = created["id"].as_i64().unwrap();
    let under_itself = app
        .patch_as(
            &admin,
            &format!("/api/v1/categories/{id}"),
            &json!({"parent_id": id}),
        )
        .await;
    assert_problem(under_itself, 422, "validation_failed").await;
    let bad_department = app
        .patch_as(
            &admin,
            &format!("/api/v1/categories/{id}"),
            &json!({"default_department_id": 424242}),
        )
        .await;
    let problem = assert_problem(bad_department, 422, "validation_failed").await;
    assert_eq!(
        field_codes(&problem),
        [("default_department_id".into(), "not_found".into())]
    );
    let deactivated = app
        .patch_as(
            &admin,
            &format!("/api/v1/categories/{id}"),
            &json!({"active": false}),
        )
        .await;
    assert_eq!(deactivated.status(), 200);
    let fetched: Value = app
        .get_as(&admin, &format!("/api/v1/categories/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched["active"], false);
}

#[tokio::test]
async fn administrators_manage_users() {
    let app = spawn_app().await;
    app.load_demo().await;
    let admin = app.token("admin").await;
    let cgj = app.department_id(&admin, "CGJ").await;

    let created = app
        .post_as(
            Some(&admin),
            "/api/v1/users",
            &json!({"username": "Wu.Lei", "display_name": "城管局承办人 吴磊", "role": "department_staff",
                    "department_id": cgj, "phone": "139-1234-5678", "password": "a-fine-password"}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let user: Value = created.json().await.unwrap();
    assert_eq!(user["username"], "wu.lei");
    assert_eq!(user["phone"], "13912345678");
    assert!(user.get("password_hash").is_none() && !user.to_string().contains("argon2"));
    app.sign_in("wu.lei", "a-fine-password").await;

    let taken = app
        .post_as(
            Some(&admin),
            "/api/v1/users",
            &json!({"username": "wu.lei", "display_name": "x", "role": "operator", "password": "another-password"}),
        )
        .await;
    assert_problem(taken, 409, "username_taken").await;

    let invalid = app
        .post_as(
            Some(&admin),
            "/api/v1/users",
            &json!({"username": "zhou.min.ab", "display_name": "周敏", "role": "department_admin", "password": "zhou.min.ab"}),
        )
        .await;
    let problem = assert_problem(invalid, 422, "validation_failed").await;
    let codes = field_codes(&problem);
    assert!(
        codes.contains(&("password".into(), "invalid".into())),
        "{codes:?}"
    );
    assert!(
        codes.contains(&("department_id".into(), "required".into())),
        "{codes:?}"
    );

    let operator_with_department = app
        .post_as(
            Some(&admin),
            "/api/v1/users",
            &json!({"username": "qian.li", "display_name": "钱丽", "role": "operator", "department_id": cgj, "password": "a-fine-password"}),
        )
        .await;
    assert_problem(operator_with_department, 422, "validation_failed").await;

    let me: Value = app
        .get_as(&admin, "/api/v1/auth/me")
        .await
        .json()
        .await
        .unwrap();
    let admin_id = me["user"]["id"].as_i64().unwrap();
    let self_disable = app
        .patch_as(
            &admin,
            &format!("/api/v1/users/{admin_id}"),
            &json!({"active": false}),
        )
        .await;
    assert_problem(self_disable, 409, "cannot_lock_out_self").await;

    // An administrator resets a password without knowing the old one.
    let id = user["id"].as_i64().unwrap();
    let reset = app
        .patch_as(
            &admin,
            &format!("/api/v1/users/{id}"),
            &json!({"password": "reset-by-admin-1"}),
        )
        .await;
    assert_eq!(reset.status(), 200);
    app.sign_in("wu.lei", "reset-by-admin-1").await;
}

#[tokio::test]
async fn lists_are_cursor_paginated_and_filtered() {
    let app = spawn_app().await;
    app.load_demo().await;
    let admin = app.token("admin").await;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/departments?limit=4&cursor={c}"),
            None => "/api/v1/departments?limit=4".into(),
        };
        let page: Value = app.get_as(&admin, &path).await.json().await.unwrap();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 4);
        seen.extend(items.iter().map(|d| d["code"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        seen.len(),
        15,
        "every demo department exactly once: {seen:?}"
    );
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 15);

    let streets: Value = app
        .get_as(&admin, "/api/v1/departments?kind=street")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(streets["items"].as_array().unwrap().len(), 4);
    let search: Value = app
        .get_as(&admin, "/api/v1/departments?q=街道")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(search["items"].as_array().unwrap().len(), 4);
    // LIKE wildcards in the search text are taken literally.
    let wildcard: Value = app
        .get_as(&admin, "/api/v1/departments?q=%25")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(wildcard["items"], json!([]));
    let staff: Value = app
        .get_as(&admin, "/api/v1/users?role=department_staff")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(staff["items"].as_array().unwrap().len(), 2);

    for (path, code) in [
        ("/api/v1/departments?cursor=garbage", "invalid_cursor"),
        ("/api/v1/departments?limit=0", "invalid_limit"),
        ("/api/v1/departments?limit=1000", "invalid_limit"),
        ("/api/v1/departments?limit=ten", "invalid_query"),
        ("/api/v1/departments?kind=ministry", "invalid_query"),
        ("/api/v1/users?active=maybe", "invalid_query"),
        (
            "/api/v1/departments/99999999999999999999999",
            "invalid_path_parameter",
        ),
    ] {
        assert_problem(app.get_as(&admin, path).await, 400, code).await;
    }
    // Ids are digits: anything else names no resource; `/tree` is not an id.
    assert_problem(
        app.get_as(&admin, "/api/v1/departments/abc").await,
        404,
        "route_not_found",
    )
    .await;
    let patch_tree = app
        .patch_as(&admin, "/api/v1/departments/tree", &json!({}))
        .await;
    assert_eq!(patch_tree.headers()["allow"], "GET");
    assert_problem(patch_tree, 405, "method_not_allowed").await;
    let first_page: Value = app
        .get_as(&admin, "/api/v1/departments?cursor=")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        first_page["items"].as_array().unwrap().len(),
        15,
        "an empty cursor is the first page"
    );
    let long_q = format!("/api/v1/departments?q={}", "长".repeat(101));
    assert_problem(app.get_as(&admin, &long_q).await, 400, "invalid_query").await;
}

#[tokio::test]
async fn malformed_bodies_are_problem_documents() {
    let app = spawn_app_with(&[("HOTLINE_BODY_LIMIT", "2048")]).await;
    app.load_demo().await;
    let admin = app.token("admin").await;
    let post = |body: reqwest::Body, content_type: &'static str| {
        app.request("POST", "/api/v1/departments", Some(&admin))
            .header("content-type", content_type)
            .body(body)
            .send()
    };

    assert_problem(
        post("{\"code\": ".into(), "application/json")
            .await
            .unwrap(),
        400,
        "malformed_json",
    )
    .await;
    assert_problem(
        post(b"{\"code\":\"\xff\"}".to_vec().into(), "application/json")
            .await
            .unwrap(),
        400,
        "invalid_utf8",
    )
    .await;
    assert_problem(
        post("code=X".into(), "text/plain").await.unwrap(),
        415,
        "unsupported_media_type",
    )
    .await;
    let no_type = app
        .request("POST", "/api/v1/departments", Some(&admin))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_problem(no_type, 415, "unsupported_media_type").await;
    let huge = format!(
        "{{\"code\":\"X\",\"name\":\"{}\",\"kind\":\"bureau\"}}",
        "x".repeat(4096)
    );
    assert_problem(
        post(huge.into(), "application/json").await.unwrap(),
        413,
        "payload_too_large",
    )
    .await;

    let wrong_type = post(
        r#"{"code": 5, "name": "x", "kind": "bureau"}"#.into(),
        "application/json",
    )
    .await
    .unwrap();
    let problem = assert_problem(wrong_type, 422, "validation_failed").await;
    assert_eq!(
        field_codes(&problem),
        [("code".into(), "invalid_type".into())]
    );
    let missing = post(
        r#"{"name": "x", "kind": "bureau"}"#.into(),
        "application/json",
    )
    .await
    .unwrap();
    assert_eq!(
        field_codes(&assert_problem(missing, 422, "validation_failed").await)[0].1,
        "required"
    );
    let extra = post(
        r#"{"code": "X", "name": "x", "kind": "bureau", "secret": 1}"#.into(),
        "application/json",
    )
    .await
    .unwrap();
    assert_eq!(
        field_codes(&assert_problem(extra, 422, "validation_failed").await)[0].1,
        "unknown_field"
    );
    let huge_number = post(
        r#"{"code": "X", "name": "x", "kind": "bureau", "parent_id": 1e400}"#.into(),
        "application/json",
    )
    .await
    .unwrap();
    assert!(huge_number.status().is_client_error());
    let array = post("[]".into(), "application/json").await.unwrap();
    assert_problem(array, 422, "validation_failed").await;

    // Nothing was half-written.
    let page: Value = app
        .get_as(&admin, "/api/v1/departments?q=X&limit=200")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["code"] != "X")
    );
}
