//! The knowledge base: drafts and approval, versions, who keeps which article, validity,
//! internal and public articles, search in Chinese through synonyms, suggestions, answering a
//! case with an article version, the statistics of answers, and the public FAQ.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_app};

async fn created(app: &TestApp, token: &str, body: &Value) -> Value {
    let response = app
        .post_as(Some(token), "/api/v1/knowledge/articles", body)
        .await;
    assert_eq!(response.status(), 201, "draft created");
    assert!(response.headers().contains_key("location"));
    response.json().await.unwrap()
}

async fn approve(app: &TestApp, token: &str, id: i64, version: i64) -> reqwest::Response {
    app.post_as(
        Some(token),
        &format!("/api/v1/knowledge/articles/{id}/versions/{version}/approve"),
        &json!({}),
    )
    .await
}

async fn search(app: &TestApp, token: Option<&str>, q: &str) -> Value {
    let path = match token {
        Some(_) => "/api/v1/knowledge/search",
        None => "/api/v1/public/knowledge/search",
    };
    let mut request = app
        .request("GET", path, token)
        .query(&[("q", q), ("limit", "50")]);
    if token.is_none() {
        request = request.header("x-forwarded-for", "203.0.113.9");
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200, "search {q}");
    response.json().await.unwrap()
}

fn ids(results: &Value) -> Vec<i64> {
    results["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| hit["id"].as_i64().unwrap())
        .collect()
}

fn article(title: &str, visibility: &str) -> Value {
    json!({
        "title": title,
        "body": format!("{title}。请携带身份证到区政务服务中心办理，办理时限为5个工作日。"),
        "keywords": ["测试说法"],
        "visibility": visibility,
        "internal_note": "内部口径：仅供接线员参考",
    })
}

#[tokio::test]
async fn drafts_need_approval_and_every_edit_is_a_version() {
    let app = spawn_app().await;
    app.load_demo().await;
    let staff = app.token("cgj.staff").await;
    let cgj_admin = app.token("cgj.admin").await;
    let dc_staff = app.token("dc.staff").await;
    let operator = app.token("operator").await;
    let supervisor = app.token("supervisor").await;
    let analyst = app.token("analyst").await;
    let cgj = app.department_id(&operator, "CGJ").await;

    // Department staff draft for their own department (the default owner).
    let draft = created(&app, &staff, &article("占道摊点夜市管理规定", "public")).await;
    let id = draft["article_id"].as_i64().unwrap();
    assert_eq!(draft["version"], 1);
    assert_eq!(draft["state"], "draft");
    assert_eq!(draft["owner_department_id"], cgj);
    let zjj = app.department_id(&operator, "ZJJ").await;
    let mut elsewhere = article("别的部门的文章", "public");
    elsewhere["owner_department_id"] = json!(zjj);
    let refused = app
        .post_as(Some(&staff), "/api/v1/knowledge/articles", &elsewhere)
        .await;
    let problem = assert_problem(refused, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "owner_department_id");

    // An unapproved draft: invisible to call-takers and the public, visible to its keepers.
    let path = format!("/api/v1/knowledge/articles/{id}");
    assert_eq!(app.get_as(&operator, &path).await.status(), 404);
    assert!(ids(&search(&app, Some(&operator), "夜市管理").await).is_empty());
    assert!(ids(&search(&app, None, "夜市管理").await).is_empty());
    let public = app
        .request(
            "GET",
            &format!("/api/v1/public/knowledge/articles/{id}"),
            None,
        )
        .send()
        .await
        .unwrap();
    assert_problem(public, 404, "not_found").await;
    let own: Value = app.get_as(&staff, &path).await.json().await.unwrap();
    assert_eq!(own["version"], Value::Null);
    assert_eq!(own["shown"], false);
    // Another department's staff neither read nor edit it; staff do not approve; analysts
    // read no articles.
    assert_eq!(app.get_as(&dc_staff, &path).await.status(), 404);
    let edit = app
        .patch_as(&dc_staff, &path, &json!({"title": "改"}))
        .await;
    assert_problem(edit, 404, "not_found").await;
    assert_problem(approve(&app, &staff, id, 1).await, 403, "forbidden_role").await;
    assert_problem(
        app.get_as(&analyst, "/api/v1/knowledge/articles").await,
        403,
        "forbidden_role",
    )
    .await;

    // The owning department's admin approves: now everyone sees version 1.
    let shown = approve(&app, &cgj_admin, id, 1).await;
    assert_eq!(shown.status(), 200);
    let shown: Value = shown.json().await.unwrap();
    assert_eq!(
        (shown["version"].clone(), shown["shown"].clone()),
        (json!(1), json!(true))
    );
    let read: Value = app.get_as(&operator, &path).await.json().await.unwrap();
    assert_eq!(read["title"], "占道摊点夜市管理规定");
    assert_eq!(
        ids(&search(&app, Some(&operator), "夜市管理").await),
        vec![id]
    );

    // An edit is a new draft; the approved version stays shown until the draft is approved.
    let v2 = app
        .patch_as(
            &staff,
            &path,
            &json!({"title": "占道摊点夜市管理规定（修订）", "change_note": "补充夜市时间"}),
        )
        .await;
    assert_eq!(v2.status(), 200);
    let v2: Value = v2.json().await.unwrap();
    assert_eq!(
        (v2["version"].clone(), v2["state"].clone()),
        (json!(2), json!("draft"))
    );
    assert_eq!(v2["changed"], json!(["title"]));
    let read: Value = app.get_as(&operator, &path).await.json().await.unwrap();
    assert_eq!(
        (read["title"].clone(), read["version"].clone()),
        (json!("占道摊点夜市管理规定"), json!(1))
    );
    assert_eq!(read["latest_version"], 2);
    // An edit started from version 1 would overwrite version 2: refused.
    let stale = app
        .patch_as(&staff, &path, &json!({"based_on": 1, "body": "另一版本"}))
        .await;
    assert_problem(stale, 409, "knowledge_version_conflict").await;
    let unchanged = app
        .patch_as(
            &staff,
            &path,
            &json!({"title": "占道摊点夜市管理规定（修订）"}),
        )
        .await;
    assert_problem(unchanged, 422, "validation_failed").await;
    let v3 = app
        .patch_as(
            &cgj_admin,
            &path,
            &json!({"based_on": 2, "keywords": ["夜市", "摆摊"], "valid_until": null}),
        )
        .await;
    assert_eq!(v3.status(), 200);
    // Approving the older draft after a newer one exists is refused.
    assert_problem(
        approve(&app, &cgj_admin, id, 2).await,
        409,
        "knowledge_version_outdated",
    )
    .await;
    // A supervisor of the centre approves any article.
    assert_eq!(approve(&app, &supervisor, id, 3).await.status(), 200);
    assert_problem(
        approve(&app, &cgj_admin, id, 3).await,
        409,
        "knowledge_version_not_draft",
    )
    .await;
    assert_problem(approve(&app, &cgj_admin, id, 9).await, 404, "not_found").await;
    let read: Value = app.get_as(&operator, &path).await.json().await.unwrap();
    assert_eq!(read["version"], 3);
    assert_eq!(read["title"], "占道摊点夜市管理规定（修订）");
    assert_eq!(read["keywords"], json!(["夜市", "摆摊"]));

    // The history: who, when, which fields; the version superseded and the draft set aside.
    let history: Value = app
        .get_as(&staff, &format!("{path}/versions"))
        .await
        .json()
        .await
        .unwrap();
    let states: Vec<(i64, &str)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["version"].as_i64().unwrap(), v["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        vec![(3, "approved"), (2, "discarded"), (1, "superseded")]
    );
    assert_eq!(history[0]["changed"], json!(["keywords"]));
    assert_eq!(history[1]["change_note"], "补充夜市时间");
    assert!(history[0]["approved_by"].is_i64() && history[0]["created_by"].is_i64());
    assert_problem(
        app.get_as(&operator, &format!("{path}/versions")).await,
        403,
        "forbidden_role",
    )
    .await;
    // Approved versions stay readable (an answer given with one can be traced); set-aside drafts
    // only to the keepers.
    let v1 = app.get_as(&operator, &format!("{path}/versions/1")).await;
    assert_eq!(v1.status(), 200);
    assert_eq!(
        app.get_as(&operator, &format!("{path}/versions/2"))
            .await
            .status(),
        404
    );
    assert_eq!(
        app.get_as(&staff, &format!("{path}/versions/2"))
            .await
            .status(),
        200
    );

    // Lists: shown articles for everyone; the others for keepers only.
    let awaiting = app
        .get_as(
            &operator,
            "/api/v1/knowledge/articles?state=awaiting_approval",
        )
        .await;
    assert_problem(awaiting, 403, "forbidden_role").await;
    let v4 = app
        .patch_as(&staff, &path, &json!({"body": "新的正文。"}))
        .await;
    assert_eq!(v4.status(), 200);
    let awaiting: Value = app
        .get_as(&staff, "/api/v1/knowledge/articles?state=awaiting_approval")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&awaiting), vec![id]);
    let others: Value = app
        .get_as(
            &dc_staff,
            "/api/v1/knowledge/articles?state=awaiting_approval",
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(ids(&others).is_empty());

    // Bad input.
    let mut bad = article("日期颠倒", "public");
    bad["valid_from"] = json!("2026-12-31");
    bad["valid_until"] = json!("2026-01-01");
    let problem = assert_problem(
        app.post_as(Some(&supervisor), "/api/v1/knowledge/articles", &bad)
            .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "valid_until");
    for body in [
        json!({"title": "", "body": "x", "visibility": "public"}),
        json!({"title": "t", "body": "x", "visibility": "secret"}),
        json!({"title": "t", "body": "x", "visibility": "public", "keywords": ["a\nb"]}),
        json!({"title": "t", "body": "x", "visibility": "public", "extra": 1}),
        json!({"title": "t", "body": "x", "visibility": "public", "category_ids": [999999]}),
        json!({"title": "t\u{0}", "body": "x", "visibility": "public"}),
    ] {
        let response = app
            .post_as(Some(&supervisor), "/api/v1/knowledge/articles", &body)
            .await;
        assert_eq!(response.status(), 422, "{body}");
    }
}

#[tokio::test]
async fn expired_and_internal_articles_stay_out_of_sight() {
    let app = spawn_app().await;
    app.load_demo().await;
    let supervisor = app.token("supervisor").await;
    let operator = app.token("operator").await;
    let today = chrono::Utc::now().date_naive();
    let day = |offset: i64| (today + chrono::Duration::days(offset)).to_string();

    let internal = created(
        &app,
        &supervisor,
        &article("试点表具故障内部处置口径", "internal"),
    )
    .await;
    let mut old = article("试点表具旧版收费标准", "public");
    old["valid_until"] = json!(day(-2));
    let old = created(&app, &supervisor, &old).await;
    let mut future = article("试点表具新版收费标准", "public");
    future["valid_from"] = json!(day(3));
    let future = created(&app, &supervisor, &future).await;
    let public = created(
        &app,
        &supervisor,
        &article("试点表具读数查询方法", "public"),
    )
    .await;
    for draft in [&internal, &old, &future, &public] {
        let id = draft["article_id"].as_i64().unwrap();
        assert_eq!(approve(&app, &supervisor, id, 1).await.status(), 200);
    }
    let id = |draft: &Value| draft["article_id"].as_i64().unwrap();

    // Call-takers find internal and public articles valid today, never expired or future ones.
    let mut found = ids(&search(&app, Some(&operator), "试点表具").await);
    found.sort();
    let mut expected = vec![id(&internal), id(&public)];
    expected.sort();
    assert_eq!(found, expected);
    for hidden in [&old, &future] {
        let path = format!("/api/v1/knowledge/articles/{}", id(hidden));
        assert_eq!(app.get_as(&operator, &path).await.status(), 404);
        // Kept for the record: their keepers still read them.
        let kept: Value = app.get_as(&supervisor, &path).await.json().await.unwrap();
        assert_eq!(kept["shown"], false);
    }
    let expired: Value = app
        .get_as(
            &supervisor,
            "/api/v1/knowledge/articles?state=expired&limit=200",
        )
        .await
        .json()
        .await
        .unwrap();
    let expired = ids(&expired);
    assert!(expired.contains(&id(&old)) && expired.contains(&id(&future)));
    assert!(!expired.contains(&id(&public)));

    // The public sees public articles only, without internal notes or keepers.
    assert_eq!(
        ids(&search(&app, None, "试点表具").await),
        vec![id(&public)]
    );
    let response = app
        .request(
            "GET",
            &format!("/api/v1/public/knowledge/articles/{}", id(&public)),
            None,
        )
        .header("x-forwarded-for", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "public, max-age=60");
    let shown: Value = response.json().await.unwrap();
    assert_eq!(shown["title"], "试点表具读数查询方法");
    assert!(shown.get("internal_note").is_none());
    assert!(!shown.to_string().contains("内部口径"));
    for hidden in [&internal, &old, &future] {
        let response = app
            .get(&format!("/api/v1/public/knowledge/articles/{}", id(hidden)))
            .await;
        assert_problem(response, 404, "not_found").await;
    }
    // Staff views carry the note.
    let staff_view: Value = app
        .get_as(
            &operator,
            &format!("/api/v1/knowledge/articles/{}", id(&public)),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(staff_view["internal_note"], "内部口径：仅供接线员参考");
    // The demo's expired article (last school term's places) is not found either.
    assert!(ids(&search(&app, Some(&operator), "春季学期学位").await).is_empty());
}

#[tokio::test]
async fn search_finds_chinese_through_synonyms_ranked_and_highlighted() {
    let app = spawn_app().await;
    app.load_demo().await;
    let operator = app.token("operator").await;

    // 暖气 is what citizens say; the heating-season article says 供暖 and lists 暖气 as a
    // keyword only.
    let results = search(&app, Some(&operator), "暖气").await;
    let season = results["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|hit| hit["title"].as_str().unwrap().contains("供暖季"))
        .expect("the heating-season article is found through its keyword");
    assert_eq!(season["matched_in"], json!(["keywords"]));
    assert!(
        season["matched_keywords"]
            .as_array()
            .unwrap()
            .contains(&json!("暖气"))
    );
    // Title and keyword hits come before body-only hits.
    let tiers: Vec<bool> = results["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| {
            let places = hit["matched_in"].as_array().unwrap();
            places.contains(&json!("title")) || places.contains(&json!("keywords"))
        })
        .collect();
    assert!(tiers.windows(2).all(|w| w[0] >= w[1]), "{tiers:?}");

    // Substrings of Chinese words, several words, one character; highlights escaped and marked.
    let card = search(&app, Some(&operator), "社保卡 补办").await;
    assert!(
        card["items"][0]["title"]
            .as_str()
            .unwrap()
            .contains("<mark>社保卡</mark>")
    );
    assert!(
        card["items"][0]["title"]
            .as_str()
            .unwrap()
            .contains("<mark>补办</mark>")
    );
    assert!(!ids(&search(&app, Some(&operator), "暖").await).is_empty());
    assert!(ids(&search(&app, Some(&operator), "火星移民").await).is_empty());
    let supervisor = app.token("supervisor").await;
    let mut tricky = article("<b>供暖</b> & 测试", "public");
    tricky["body"] = json!("正文里有 <script>alert(1)</script> 和 供暖 两个字。");
    let tricky = created(&app, &supervisor, &tricky).await;
    let tricky_id = tricky["article_id"].as_i64().unwrap();
    assert_eq!(approve(&app, &supervisor, tricky_id, 1).await.status(), 200);
    let results = search(&app, Some(&operator), "供暖").await;
    let hit = results["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|hit| hit["id"] == tricky_id)
        .unwrap();
    assert_eq!(
        hit["title"],
        "&lt;b&gt;<mark>供暖</mark>&lt;/b&gt; &amp; 测试"
    );
    let fragment = hit["fragments"][0].as_str().unwrap();
    assert!(
        fragment.contains("&lt;/script&gt;") && !fragment.contains("<script"),
        "{fragment}"
    );

    // The public FAQ answers the same search with public articles only, cacheable.
    let response = app
        .request("GET", "/api/v1/public/knowledge/search", None)
        .query(&[("q", "暖气")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["cache-control"], "public, max-age=60");
    let public: Value = response.json().await.unwrap();
    assert!(!public["items"].as_array().unwrap().is_empty());
    assert!(!public.to_string().contains("internal"));

    // Bad queries.
    for query in [
        vec![("q", "")],
        vec![("q", "，。")],
        vec![("q", &*"字".repeat(101))],
        vec![("q", "供暖"), ("limit", "0")],
        vec![("q", "供暖"), ("offset", "501")],
    ] {
        let response = app
            .request("GET", "/api/v1/knowledge/search", Some(&operator))
            .query(&query)
            .send()
            .await
            .unwrap();
        assert_problem(response, 400, "invalid_query").await;
    }
    let missing = app
        .request("GET", "/api/v1/public/knowledge/search", None)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 400);
}

#[tokio::test]
async fn answers_name_the_article_version_and_are_counted() {
    let app = spawn_app().await;
    app.load_demo().await;
    let operator = app.token("operator").await;
    let supervisor = app.token("supervisor").await;
    let analyst = app.token("analyst").await;

    // While the call-taker types, the heating articles are suggested.
    let typed: Value = app
        .request("GET", "/api/v1/knowledge/suggestions", Some(&operator))
        .query(&[("text", "家里暖气不热，室温只有十四度")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        typed[0]["title"].as_str().unwrap().contains("暖气不热"),
        "{typed}"
    );
    // Nothing typed yet is not a query (the schema's minLength 1).
    assert_problem(
        app.request("GET", "/api/v1/knowledge/suggestions", Some(&operator))
            .query(&[("text", "")])
            .send()
            .await
            .unwrap(),
        400,
        "invalid_query",
    )
    .await;
    let hit = search(&app, Some(&operator), "暖气不热").await["items"][0].clone();
    let (article_id, version) = (
        hit["id"].as_i64().unwrap(),
        hit["version"].as_i64().unwrap(),
    );
    let category = hit["category_ids"][0].as_i64().unwrap();

    let question = json!({
        "channel": "phone",
        "kind": "consultation",
        "category_id": category,
        "title": "暖气不热找谁",
        "description": "家里暖气不热，想问问找哪个部门。",
        "complainant": {"name": "李四", "phone": "13900001111", "contact_allowed": true}
    });
    let case: Value = app
        .post_as(Some(&operator), "/api/v1/cases", &question)
        .await
        .json()
        .await
        .unwrap();
    let case_id = case["id"].as_i64().unwrap();
    let suggested: Value = app
        .get_as(
            &operator,
            &format!("/api/v1/cases/{case_id}/suggested-articles"),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(
        suggested
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == article_id),
        "{suggested}"
    );
    let dc_staff = app.token("dc.staff").await;
    assert_problem(
        app.get_as(
            &dc_staff,
            &format!("/api/v1/cases/{case_id}/suggested-articles"),
        )
        .await,
        403,
        "forbidden_role",
    )
    .await;

    // A version that is not the one shown, or half a reference: refused.
    let answer_path = format!("/api/v1/cases/{case_id}/answer");
    let text = "暖气不热可先自查阀门，仍不热请联系供热单位报修。";
    for (body, field) in [
        (
            json!({"answer": text, "article_id": article_id, "article_version": version + 1}),
            "article_version",
        ),
        (
            json!({"answer": text, "article_id": article_id}),
            "article_version",
        ),
        (
            json!({"answer": text, "article_version": version}),
            "article_id",
        ),
        (
            json!({"answer": text, "article_id": 999999, "article_version": 1}),
            "article_version",
        ),
    ] {
        let problem = assert_problem(
            app.post_as(Some(&operator), &answer_path, &body).await,
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], field, "{body}");
    }
    let answered = app
        .post_as(
            Some(&operator),
            &answer_path,
            &json!({"answer": text, "article_id": article_id, "article_version": version}),
        )
        .await;
    assert_eq!(answered.status(), 200);
    let timeline: Value = app
        .get_as(&operator, &format!("/api/v1/cases/{case_id}/timeline"))
        .await
        .json()
        .await
        .unwrap();
    let event = timeline
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "answered_directly")
        .unwrap();
    assert_eq!(event["details"]["article"]["id"], article_id);
    assert_eq!(event["details"]["article"]["version"], version);
    let read: Value = app
        .get_as(
            &operator,
            &format!("/api/v1/knowledge/articles/{article_id}"),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["use_count"], 1);

    // The same caller complains in the same category within the week: the answer is flagged.
    let mut complaint = question.clone();
    complaint["kind"] = json!("complaint");
    complaint["title"] = json!("按热线说的做了还是不热");
    let response = app
        .post_as(Some(&operator), "/api/v1/cases", &complaint)
        .await;
    assert_eq!(response.status(), 201);
    let stats: Value = app
        .get_as(&analyst, "/api/v1/stats/knowledge")
        .await
        .json()
        .await
        .unwrap();
    let row = &stats["articles"][0];
    assert_eq!(row["article_id"], article_id);
    assert_eq!(row["direct_answers"], 1);
    assert_eq!(row["followed_by_complaint"], 1);
    assert_eq!(row["complaint_rate"], 1.0);
    assert!(!stats.to_string().contains("13900001111"));
    assert_problem(
        app.get_as(
            &analyst,
            "/api/v1/stats/knowledge?from=2026-12-31&to=2026-01-01",
        )
        .await,
        400,
        "invalid_query",
    )
    .await;
    assert_problem(
        app.get_as(&dc_staff, "/api/v1/stats/knowledge").await,
        403,
        "forbidden_role",
    )
    .await;
    // A new version does not change what the answered case recorded.
    let edit = app
        .patch_as(
            &supervisor,
            &format!("/api/v1/knowledge/articles/{article_id}"),
            &json!({"body": "更新后的答复。"}),
        )
        .await;
    assert_eq!(edit.status(), 200);
    assert_eq!(
        approve(&app, &supervisor, article_id, version + 1)
            .await
            .status(),
        200
    );
    let old = app
        .get_as(
            &operator,
            &format!("/api/v1/knowledge/articles/{article_id}/versions/{version}"),
        )
        .await;
    let old: Value = old.json().await.unwrap();
    assert_eq!(old["state"], "superseded");
}

#[tokio::test]
async fn articles_carry_files_for_staff_and_the_public() {
    use reqwest::multipart::Form;
    let app = spawn_app().await;
    app.load_demo().await;
    let supervisor = app.token("supervisor").await;
    let operator = app.token("operator").await;
    let citizen = app.token("13800138000").await;
    let form = Form::new().part(
        "file",
        crate::attachments::part(
            "办理流程图.png",
            crate::attachments::encoded(image::ImageFormat::Png),
        ),
    );
    let uploaded: Value = app
        .request("POST", "/api/v1/attachments", Some(&supervisor))
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let file = uploaded[0]["id"].as_i64().unwrap();
    // Someone else's upload is refused.
    let mut body = article("居住证办理流程图", "public");
    body["attachment_ids"] = json!([file]);
    let dispatcher_made = app
        .post_as(
            Some(&app.token("admin").await),
            "/api/v1/knowledge/articles",
            &body,
        )
        .await;
    assert_problem(dispatcher_made, 422, "validation_failed").await;
    let draft = created(&app, &supervisor, &body).await;
    let id = draft["article_id"].as_i64().unwrap();
    assert_eq!(draft["attachment_ids"], json!([file]));
    // Before approval only the keepers read the file; then every staff reader, never a citizen.
    let path = format!("/api/v1/attachments/{file}");
    assert_eq!(app.get_as(&operator, &path).await.status(), 404);
    assert_eq!(app.get_as(&supervisor, &path).await.status(), 200);
    assert_eq!(approve(&app, &supervisor, id, 1).await.status(), 200);
    assert_eq!(app.get_as(&operator, &path).await.status(), 200);
    assert_eq!(app.get_as(&citizen, &path).await.status(), 404);
    // The public FAQ lists it with a signed link that downloads it.
    let public: Value = app
        .get(&format!("/api/v1/public/knowledge/articles/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(public["files"][0]["file_name"], "办理流程图.png");
    assert_eq!(public["files"][0]["media_type"], "image/png");
    let url = public["files"][0]["url"].as_str().unwrap();
    let path = &url[url.find("/api/v1/").unwrap()..];
    let download = app.get(path).await;
    assert_eq!(download.status(), 200);
    assert!(download.bytes().await.unwrap().starts_with(b"\x89PNG"));
}
