//! Keyword search over cases: substring semantics for Chinese text, whichever index answers.

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

async fn register(app: &TestApp, token: &str, title: &str, description: &str) -> i64 {
    let body = json!({
        "channel": "phone", "kind": "complaint", "title": title, "description": description,
        "complainant": {"anonymous": true}
    });
    let response = app.post_as(Some(token), "/api/v1/cases", &body).await;
    assert_eq!(response.status(), 201, "registration of {title}");
    response.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap()
}

async fn search(app: &TestApp, token: &str, q: &str) -> Vec<i64> {
    let response = app
        .request("GET", "/api/v1/cases", Some(token))
        .query(&[("q", q), ("limit", "200")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "search for {q:?}");
    let page: Value = response.json().await.unwrap();
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn keyword_search_matches_substrings_of_title_and_description_exactly() {
    let app = spawn_app().await;
    app.load_demo().await;
    let operator = app.token("operator").await;
    let water = register(&app, &operator, "道路积水严重", "一下雨路口就积水。").await;
    let noise = register(
        &app,
        &operator,
        "夜间施工",
        "工地夜间施工噪音扰民，无法入睡。",
    )
    .await;
    let quoted = register(&app, &operator, "标题含\"引号\"和100%_符号", "说明。").await;
    let both = register(&app, &operator, "噪音扰民", "道路积水后又有噪音扰民。").await;

    // Three characters or more: the trigram index; shorter: a scan. Same meaning either way.
    assert_eq!(search(&app, &operator, "道路积水").await, [both, water]);
    assert_eq!(search(&app, &operator, "噪音扰民").await, [both, noise]);
    assert_eq!(search(&app, &operator, "积水").await, [both, water]);
    assert_eq!(search(&app, &operator, "噪").await, [both, noise]);
    assert_eq!(
        search(&app, &operator, "无法入睡").await,
        [noise],
        "description only"
    );
    assert_eq!(
        search(&app, &operator, "积水严重啊").await,
        Vec::<i64>::new()
    );
    // Characters that mean something to FTS5 or LIKE are taken literally.
    assert_eq!(search(&app, &operator, "\"引号\"").await, [quoted]);
    assert_eq!(search(&app, &operator, "100%_").await, [quoted]);
    assert_eq!(search(&app, &operator, "0%_符").await, [quoted]);
    for odd in [
        "道路 OR 噪音",
        "积水*",
        "NEAR(道路 积水)",
        "title:道路",
        "\"\"\"",
        "%%%",
        "___",
    ] {
        assert_eq!(
            search(&app, &operator, odd).await,
            Vec::<i64>::new(),
            "{odd}"
        );
    }

    // Combined with other filters and paginated newest first.
    let page: Value = app
        .get_as(
            &operator,
            "/api/v1/cases?q=%E9%81%93%E8%B7%AF%E7%A7%AF%E6%B0%B4&limit=1",
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"][0]["id"], both);
    let cursor = page["next_cursor"].as_str().unwrap();
    let next: Value = app
        .get_as(
            &operator,
            &format!(
                "/api/v1/cases?q=%E9%81%93%E8%B7%AF%E7%A7%AF%E6%B0%B4&limit=1&cursor={cursor}"
            ),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(next["items"][0]["id"], water);
    assert!(next["next_cursor"].is_null());
    let filtered: Value = app
        .get_as(
            &operator,
            "/api/v1/cases?q=%E9%81%93%E8%B7%AF%E7%A7%AF%E6%B0%B4&status=pending_dispatch",
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(filtered["items"].as_array().unwrap().len(), 0);

    // A change of wording is searchable at once, and the old wording no longer finds the case.
    let response = app
        .request("PATCH", &format!("/api/v1/cases/{water}"), Some(&operator))
        .json(&json!({"title": "下水道井盖缺失", "description": "人行道上的井盖不见了。"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(search(&app, &operator, "道路积水").await, [both]);
    assert_eq!(search(&app, &operator, "井盖缺失").await, [water]);
}
