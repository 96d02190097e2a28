//! Hot spots (GET /stats/hotspots) and the public report (GET /public/reports): a hand-counted
//! set of cases registered through the API and moved back into September and October 2026 by SQL
//! (then `hotline stats rebuild`, as the per-day figures follow only changes made through the
//! API); rising categories and districts, clusters, the report's figures, its cache, the rate
//! limit, roles, bad input, and that no case text or personal data appears in either.

use std::process::Command;

use chrono::{Datelike, Utc};
use serde_json::{Value, json};

use crate::dispatch::{Desk, desk, json_of, post, sign_and_reply};
use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with};

/// `hotline stats rebuild` against the test database.
async fn rebuild_stats(app: &TestApp) {
    let url = app.db.url();
    tokio::task::spawn_blocking(move || {
        let output = Command::new(env!("CARGO_BIN_EXE_hotline"))
            .args(["stats", "rebuild"])
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
    })
    .await
    .unwrap();
}

async fn category_id(app: &TestApp, token: &str, code: &str) -> i64 {
    let page = json_of(
        app.get_as(token, &format!("/api/v1/categories?q={code}&limit=200"))
            .await,
        200,
        "categories",
    )
    .await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["code"] == code)
        .and_then(|c| c["id"].as_i64())
        .unwrap_or_else(|| panic!("category {code}"))
}

/// The words of the cases that must never reach an analyst or the public.
const PRIVATE: &[&str] = &[
    "李四",
    "13912345678",
    "张三",
    "13812345678",
    "东城区东华门街道某小区北门",
    "甲路1号",
    "乙路",
    "丙路",
    "丁路",
    "停水",
    "水管",
    "占道经营，影响通行",
];

fn assert_nothing_private(body: &str) {
    for word in PRIVATE {
        assert!(!body.contains(word), "{word:?} in {body}");
    }
}

/// One case of the scenario.
struct Planned {
    category: &'static str,
    district: &'static str,
    channel: &'static str,
    kind: &'static str,
    address: String,
    point: Option<(f64, f64)>,
    /// When it was registered (UTC), or `None` for now.
    at: Option<&'static str>,
}

fn plan() -> Vec<Planned> {
    let case = |category, district, address: &str, at| {
        let (channel, kind) = match category {
            "A" | "C" => ("phone", "complaint"),
            "B" => ("web", "report"),
            _ => ("email", "suggestion"),
        };
        Planned {
            category,
            district,
            channel,
            kind,
            address: address.to_owned(),
            point: None,
            at,
        }
    };
    let at_point = |mut planned: Planned, lat, lon| {
        planned.point = Some((lat, lon));
        planned
    };
    vec![
        // October 2026 (the period), 20 cases. A: 6, four of them a cluster at 甲路1号.
        case("A", "DC", "甲路1号", Some("2026-10-05 02:00:00")),
        case("A", "DC", "甲路1号", Some("2026-10-06 02:00:00")),
        case("A", "DC", "甲路1号", Some("2026-10-08 02:00:00")),
        case("A", "DC", "甲路1号", Some("2026-10-10 02:00:00")),
        // Ten days after the one before: the run has ended.
        case("A", "DC", "甲路1号", Some("2026-10-20 02:00:00")),
        // The same address in another district is another place.
        case("A", "XC", "甲路1号", Some("2026-10-21 02:00:00")),
        // B: 5, three within 500 m of each other a day apart (a cluster), two at 乙路2号.
        at_point(
            case("B", "XC", "丙路1号", Some("2026-10-12 02:00:00")),
            39.900,
            116.400,
        ),
        at_point(
            case("B", "XC", "丙路8号", Some("2026-10-13 02:00:00")),
            39.902,
            116.401,
        ),
        at_point(
            case("B", "XC", "丙路5号", Some("2026-10-14 02:00:00")),
            39.901,
            116.399,
        ),
        case("B", "XC", "乙路2号", Some("2026-10-25 02:00:00")),
        case("B", "XC", "乙路2号", Some("2026-10-26 02:00:00")),
        // C: 4, each somewhere else.
        case("C", "DC", "丁路1号", Some("2026-10-02 02:00:00")),
        case("C", "DC", "丁路2号", Some("2026-10-03 02:00:00")),
        case("C", "DC", "丁路3号", Some("2026-10-04 02:00:00")),
        case("C", "DC", "丁路4号", Some("2026-10-05 03:00:00")),
        // F: 5, each somewhere else.
        case("F", "DC", "丁路11号", Some("2026-10-15 02:00:00")),
        case("F", "DC", "丁路12号", Some("2026-10-16 02:00:00")),
        case("F", "DC", "丁路13号", Some("2026-10-17 02:00:00")),
        case("F", "DC", "丁路14号", Some("2026-10-18 02:00:00")),
        case("F", "DC", "丁路15号", Some("2026-10-19 02:00:00")),
        // The previous period (2026-08-31 to 09-30), 10 cases: A 2, C 1, F 7.
        case("A", "DC", "甲路1号", Some("2026-09-29 02:00:00")),
        case("A", "DC", "甲路1号", Some("2026-09-30 02:00:00")),
        case("C", "XC", "丁路5号", Some("2026-09-10 02:00:00")),
        case("F", "DC", "丁路21号", Some("2026-08-31 02:00:00")),
        case("F", "DC", "丁路22号", Some("2026-09-01 02:00:00")),
        case("F", "DC", "丁路23号", Some("2026-09-02 02:00:00")),
        case("F", "DC", "丁路24号", Some("2026-09-03 02:00:00")),
        case("F", "DC", "丁路25号", Some("2026-09-04 02:00:00")),
        case("F", "DC", "丁路26号", Some("2026-09-05 02:00:00")),
        case("F", "DC", "丁路27号", Some("2026-09-06 02:00:00")),
        // Now: after the period, though at the cluster's place.
        case("A", "DC", "甲路1号", None),
    ]
}

struct Scenario {
    desk: Desk,
    analyst: String,
    /// Category ids by letter: A 010101 占道经营, B 0401 供水, C 0103 噪声扰民, F 0301 公交服务.
    categories: std::collections::HashMap<&'static str, i64>,
    xc: i64,
    /// Case numbers in plan order.
    numbers: Vec<String>,
    /// Case ids in plan order.
    ids: Vec<i64>,
}

async fn scenario(app: &TestApp) -> Scenario {
    let desk = desk(app).await;
    let analyst = app.token("analyst").await;
    let mut categories = std::collections::HashMap::new();
    for (letter, code) in [("A", "010101"), ("B", "0401"), ("C", "0103"), ("F", "0301")] {
        categories.insert(letter, category_id(app, &desk.operator, code).await);
    }
    let xc = app.department_id(&desk.operator, "XC").await;
    let mut numbers = Vec::new();
    let mut ids = Vec::new();
    for (i, planned) in plan().into_iter().enumerate() {
        let district = if planned.district == "DC" {
            desk.dc
        } else {
            xc
        };
        let mut body = json!({
            "channel": planned.channel,
            "kind": planned.kind,
            "category_id": categories[planned.category],
            "district_id": district,
            "title": format!("停水第{i}次"),
            "description": "楼下水管破裂，整栋楼停水。",
            "address": planned.address,
            "complainant": {"name": "李四", "phone": "13912345678", "contact_allowed": true, "confidential": false}
        });
        if let Some((lat, lon)) = planned.point {
            body["latitude"] = json!(lat);
            body["longitude"] = json!(lon);
        }
        let case = json_of(
            app.post_as(Some(&desk.operator), "/api/v1/cases", &body)
                .await,
            201,
            "register",
        )
        .await;
        if let Some(at) = planned.at {
            app.db
                .execute(&format!(
                    "UPDATE cases SET created_at = '{at}' WHERE id = {}",
                    case["id"]
                ))
                .await;
        }
        numbers.push(case["case_no"].as_str().unwrap().to_owned());
        ids.push(case["id"].as_i64().unwrap());
    }
    rebuild_stats(app).await;
    Scenario {
        desk,
        analyst,
        categories,
        xc,
        numbers,
        ids,
    }
}

async fn hotspots(app: &TestApp, token: &str, query: &str) -> Value {
    let response = app
        .get_as(
            token,
            &format!("/api/v1/stats/hotspots?from=2026-10-01&to=2026-10-31{query}"),
        )
        .await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert_nothing_private(&text);
    serde_json::from_str(&text).unwrap()
}

fn rise(id_key: &str, id: i64, name: &str, now: i64, before: i64, relative: Value) -> Value {
    json!({
        id_key: id,
        "name": name,
        "current": now,
        "previous": before,
        "rise": now - before,
        "relative_rise": relative
    })
}

#[tokio::test]
async fn rising_categories_and_districts_and_clusters_of_a_period() {
    let app = spawn_app().await;
    let s = scenario(&app).await;
    let (a, b, c) = (s.categories["A"], s.categories["B"], s.categories["C"]);
    let (dc, xc) = (s.desk.dc, s.xc);
    let n = |range: std::ops::Range<usize>| json!(s.numbers[range].to_vec());

    let body = hotspots(&app, &s.analyst, "").await;
    assert_eq!(body["from"], "2026-10-01");
    assert_eq!(body["to"], "2026-10-31");
    assert_eq!(body["previous_from"], "2026-08-31");
    assert_eq!(body["previous_to"], "2026-09-30");
    // B rose 5 from none; A 4 (from 2); C has 4 (< 5); F fell from 7 to 5.
    assert_eq!(
        body["rising_categories"],
        json!([
            rise("category_id", b, "供水", 5, 0, Value::Null),
            rise("category_id", a, "占道经营", 6, 2, json!(2.0)),
        ])
    );
    // Both districts rose by 5: 西城区 from 1 (500 %) before 东城区 from 9.
    assert_eq!(
        body["rising_districts"],
        json!([
            rise("district_id", xc, "西城区人民政府", 6, 1, json!(5.0)),
            rise("district_id", dc, "东城区人民政府", 14, 9, json!(5.0 / 9.0)),
        ])
    );
    assert_eq!(
        body["clusters"],
        json!([
            {
                "category_id": a,
                "category_name": "占道经营",
                "district_id": dc,
                "district_name": "东城区人民政府",
                "case_count": 4,
                "first_registered_at": "2026-10-05T02:00:00Z",
                "last_registered_at": "2026-10-10T02:00:00Z",
                "case_numbers": n(0..4)
            },
            {
                "category_id": b,
                "category_name": "供水",
                "district_id": xc,
                "district_name": "西城区人民政府",
                "case_count": 3,
                "first_registered_at": "2026-10-12T02:00:00Z",
                "last_registered_at": "2026-10-14T02:00:00Z",
                "case_numbers": n(6..9)
            }
        ])
    );
    assert_eq!(body["clusters_found"], 2);

    // A lower minimum lists C (4 from 1: 300 %); the limit cuts every list.
    let body = hotspots(&app, &s.analyst, "&min_count=1").await;
    let ids: Vec<&Value> = body["rising_categories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["category_id"])
        .collect();
    assert_eq!(ids, [&json!(b), &json!(a), &json!(c)]);
    assert_eq!(body["rising_categories"][2]["relative_rise"], 3.0);
    let body = hotspots(&app, &s.analyst, "&limit=1").await;
    assert_eq!(body["rising_categories"].as_array().unwrap().len(), 1);
    assert_eq!(body["rising_districts"][0]["district_id"], xc);
    assert_eq!(body["clusters"].as_array().unwrap().len(), 1);
    assert_eq!(body["clusters"][0]["case_count"], 4);
    assert_eq!(body["clusters_found"], 2, "found, whatever is shown");

    // Pairs count with a minimum of 2; a 24-hour window breaks 甲路1号's run (48 h gaps).
    let body = hotspots(&app, &s.analyst, "&min_cluster=2").await;
    let counts: Vec<(i64, Value)> = body["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["case_count"].as_i64().unwrap(), c["case_numbers"].clone()))
        .collect();
    assert_eq!(counts, [(4, n(0..4)), (3, n(6..9)), (2, n(9..11))]);
    let body = hotspots(&app, &s.analyst, "&window_hours=24").await;
    assert_eq!(body["clusters"].as_array().unwrap().len(), 1);
    assert_eq!(body["clusters"][0]["case_numbers"], n(6..9));
    let body = hotspots(&app, &s.analyst, "&window_hours=24&min_cluster=2").await;
    assert_eq!(body["clusters"][1]["case_numbers"], n(0..2));

    // With a week's window over September and October, 甲路1号's cases of 09-29 to 10-10 are one
    // run of 6 (10-20 is ten days later); five numbers shown, in registration order.
    let response = app
        .get_as(
            &s.analyst,
            "/api/v1/stats/hotspots?from=2026-09-01&to=2026-10-31&window_hours=168",
        )
        .await;
    let body = json_of(response, 200, "two months").await;
    let first = &body["clusters"][0];
    assert_eq!(first["case_count"], 6);
    assert_eq!(
        first["case_numbers"],
        json!([
            s.numbers[20],
            s.numbers[21],
            s.numbers[0],
            s.numbers[1],
            s.numbers[2]
        ])
    );
    assert_eq!(first["first_registered_at"], "2026-09-29T02:00:00Z");
    assert_eq!(first["last_registered_at"], "2026-10-10T02:00:00Z");

    // A month with nothing: empty lists.
    let response = app
        .get_as(
            &s.analyst,
            "/api/v1/stats/hotspots?from=2025-01-01&to=2025-01-31",
        )
        .await;
    let body = json_of(response, 200, "empty").await;
    assert_eq!(body["rising_categories"], json!([]));
    assert_eq!(body["clusters"], json!([]));
    assert_eq!(body["clusters_found"], 0);

    // An address corrected later counts where it now is: 丁路2号 becomes 丁路1号, a day after
    // the case already there, and the two are a pair.
    let response = app
        .patch_as(
            &s.desk.operator,
            &format!("/api/v1/cases/{}", s.ids[12]),
            &json!({"address": "丁路1号"}),
        )
        .await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let body = hotspots(&app, &s.analyst, "&min_cluster=2").await;
    let counts: Vec<(i64, Value)> = body["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["case_count"].as_i64().unwrap(), c["case_numbers"].clone()))
        .collect();
    assert_eq!(
        counts,
        [(4, n(0..4)), (3, n(6..9)), (2, n(11..13)), (2, n(9..11))]
    );
}

#[tokio::test]
async fn hotspots_roles_and_bad_input() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let path = "/api/v1/stats/hotspots?from=2026-10-01&to=2026-10-31";
    for user in ["analyst", "operator", "dispatcher", "supervisor", "admin"] {
        let token = app.token(user).await;
        assert_eq!(app.get_as(&token, path).await.status(), 200, "{user}");
    }
    for token in [&d.cgj_staff, &d.cgj_admin, &d.dc_staff] {
        assert_problem(app.get_as(token, path).await, 403, "forbidden_role").await;
    }
    let citizen = app.token("13800138000").await;
    assert_problem(app.get_as(&citizen, path).await, 403, "forbidden_role").await;
    assert_problem(app.get(path).await, 401, "missing_token").await;

    let analyst = app.token("analyst").await;
    for query in [
        "from=2026-10-31&to=2026-10-01",
        "from=2010-01-01&to=2026-10-01",
        "from=2026-10-01",
        "from=2026-10-01&to=2026-13-01",
        "from=2026-10-01&to=2026-10-31&min_count=0",
        "from=2026-10-01&to=2026-10-31&min_count=-3",
        "from=2026-10-01&to=2026-10-31&limit=0",
        "from=2026-10-01&to=2026-10-31&limit=101",
        "from=2026-10-01&to=2026-10-31&limit=abc",
        "from=2026-10-01&to=2026-10-31&window_hours=0",
        "from=2026-10-01&to=2026-10-31&window_hours=745",
        "from=2026-10-01&to=2026-10-31&min_cluster=1",
        "from=2026-10-01&to=2026-10-31&min_cluster=1001",
        "from=2026-10-01&to=2026-10-31&min_cluster=99999999999999999999999",
    ] {
        let response = app
            .get_as(&analyst, &format!("/api/v1/stats/hotspots?{query}"))
            .await;
        assert_problem(response, 400, "invalid_query").await;
    }
    for query in [
        "limit=100&min_cluster=1000&window_hours=744&min_count=1",
        "limit=1&min_cluster=2&window_hours=1",
    ] {
        let response = app.get_as(&analyst, &format!("{path}&{query}")).await;
        assert_eq!(response.status(), 200, "{query}");
    }
}

async fn report(app: &TestApp, query: &str) -> Value {
    let response = app.get(&format!("/api/v1/public/reports?{query}")).await;
    assert_eq!(response.status(), 200, "{query}");
    assert_eq!(
        response
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("public, max-age=300")
    );
    let text = response.text().await.unwrap();
    assert_nothing_private(&text);
    assert!(
        !text.contains("case_no") && !text.contains("20261"),
        "{text}"
    );
    serde_json::from_str(&text).unwrap()
}

fn rate(numerator: i64, denominator: i64) -> Value {
    json!({
        "numerator": numerator,
        "denominator": denominator,
        "rate": if denominator > 0 { json!(numerator as f64 / denominator as f64) } else { Value::Null }
    })
}

fn rates(response: (i64, i64), on_time: (i64, i64), composite: Value) -> Value {
    json!({
        "response": rate(response.0, response.1),
        "on_time": rate(on_time.0, on_time.1),
        "resolution": rate(0, 0),
        "satisfaction": rate(0, 0),
        "composite_score": composite
    })
}

#[tokio::test]
async fn the_public_report_has_aggregate_figures_only() {
    let app = spawn_app_with(&[("HOTLINE_PUBLIC_RATE_LIMIT", "0")]).await;
    let s = scenario(&app).await;
    let d = &s.desk;
    // Work of this month: a complaint dispatched to 城管局, signed and replied to; another to
    // 东城区, signed only (its reply is not due yet).
    let mut dispatched = Vec::new();
    for (department, token) in [(d.cgj, &d.cgj_staff), (d.dc, &d.dc_staff)] {
        let (_, assignment, _, _) = crate::dispatch::dispatched_to(&app, d, department).await;
        dispatched.push((assignment, token));
    }
    sign_and_reply(&app, dispatched[0].1, dispatched[0].0).await;
    json_of(
        post(
            &app,
            dispatched[1].1,
            &format!("/api/v1/assignments/{}/sign", dispatched[1].0),
            json!({}),
        )
        .await,
        200,
        "sign",
    )
    .await;

    let october = report(&app, "year=2026&month=10").await;
    assert_eq!(october["year"], 2026);
    assert_eq!(october["month"], 10);
    assert_eq!(october["from"], "2026-10-01");
    assert_eq!(october["to"], "2026-10-31");
    let registrations = &october["registrations"];
    assert_eq!(registrations["total"], 20);
    let counts = |list: &Value, field: &str| -> Vec<(String, i64)> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c[field].as_str().unwrap().to_owned(),
                    c["registered"].as_i64().unwrap(),
                )
            })
            .collect()
    };
    let kinds = counts(&registrations["by_kind"], "kind");
    assert_eq!(kinds.len(), 6, "every kind, zeros too");
    assert!(kinds.contains(&("complaint".into(), 10)));
    assert!(kinds.contains(&("report".into(), 5)));
    assert!(kinds.contains(&("suggestion".into(), 5)));
    assert!(kinds.contains(&("praise".into(), 0)));
    let channels = counts(&registrations["by_channel"], "channel");
    assert_eq!(channels.len(), 8, "every channel, zeros too");
    assert!(channels.contains(&("phone".into(), 10)));
    assert!(channels.contains(&("web".into(), 5)));
    assert!(channels.contains(&("email".into(), 5)));
    assert!(channels.contains(&("wechat".into(), 0)));
    let (b, f) = (s.categories["B"], s.categories["F"]);
    let tied = if b < f {
        [(b, "供水"), (f, "公交服务")]
    } else {
        [(f, "公交服务"), (b, "供水")]
    };
    assert_eq!(
        registrations["top_categories"],
        json!([
            {"category_id": s.categories["A"], "name": "占道经营", "registered": 6},
            {"category_id": tied[0].0, "name": tied[0].1, "registered": 5},
            {"category_id": tied[1].0, "name": tied[1].1, "registered": 5},
            {"category_id": s.categories["C"], "name": "噪声扰民", "registered": 4},
        ])
    );
    // Nothing was dispatched in October.
    assert_eq!(october["city"], rates((0, 0), (0, 0), Value::Null));
    assert_eq!(october["departments"], json!([]));
    assert_eq!(
        october["weights"],
        json!({"response": 10.0, "on_time": 20.0, "resolution": 35.0, "satisfaction": 35.0})
    );

    // The year: 30 moved back, the one left now and the two complaints dispatched now.
    let year = report(&app, "year=2026").await;
    assert_eq!(year["month"], Value::Null);
    assert_eq!(year["to"], "2026-12-31");
    assert_eq!(year["registrations"]["total"], 33);
    assert_eq!(year["city"], rates((2, 2), (1, 1), json!(100.0)));
    // Both score 100 (only the rates with a denominator count): one rank, then by id.
    let mut departments = vec![
        json!({
            "department_id": d.cgj,
            "department_name": "市城市管理局",
            "rank": 1,
            "rates": rates((1, 1), (1, 1), json!(100.0))
        }),
        json!({
            "department_id": d.dc,
            "department_name": "东城区人民政府",
            "rank": 1,
            "rates": rates((1, 1), (0, 0), json!(100.0))
        }),
    ];
    departments.sort_by_key(|row| row["department_id"].as_i64());
    assert_eq!(year["departments"], json!(departments));

    // Served from memory for a few minutes: a case registered since is not in it yet.
    app.post_as(
        Some(&d.operator),
        "/api/v1/cases",
        &crate::dispatch::complaint(true, false),
    )
    .await;
    let again = report(&app, "year=2026").await;
    assert_eq!(again, year);

    // Next year has not begun: zeros. A token is not needed, and one that is sent is ignored.
    let next = Utc::now().year() + 1;
    let future = report(&app, &format!("year={next}")).await;
    assert_eq!(future["registrations"]["total"], 0);
    assert_eq!(future["registrations"]["top_categories"], json!([]));
    assert_eq!(future["city"], rates((0, 0), (0, 0), Value::Null));
    assert_eq!(future["departments"], json!([]));
    let response = app
        .get_as(&s.analyst, "/api/v1/public/reports?year=2026&month=10")
        .await;
    assert_eq!(response.status(), 200);

    for query in [
        "year=1999".to_owned(),
        format!("year={}", next + 1),
        "year=2026&month=0".into(),
        "year=2026&month=13".into(),
        "year=2026&month=-1".into(),
        "month=10".into(),
        "year=twenty".into(),
        "year=99999999999".into(),
    ] {
        let response = app.get(&format!("/api/v1/public/reports?{query}")).await;
        assert_problem(response, 400, "invalid_query").await;
    }
}

#[tokio::test]
async fn the_public_report_is_rate_limited_per_address() {
    let app = spawn_app_with(&[("HOTLINE_PUBLIC_RATE_LIMIT", "3")]).await;
    for _ in 0..3 {
        assert_eq!(
            app.get("/api/v1/public/reports?year=2026").await.status(),
            200
        );
    }
    let response = app.get("/api/v1/public/reports?year=2026").await;
    assert!(response.headers().contains_key("retry-after"));
    assert_problem(response, 429, "rate_limited").await;
}
