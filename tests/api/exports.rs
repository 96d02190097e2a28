//! `GET /exports/cases`: CSV (with its byte-order mark) and XLSX by `Accept`, the filters of
//! `GET /cases`, what each role sees of the complainant (SPEC 5.3), the log of exports of personal
//! data, and an XLSX workbook continuing on its next sheet.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use serde_json::{Value, json};

use crate::dispatch::{Desk, accepted_case, desk, json_of};
use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with};

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

const HEADER: [&str; 19] = [
    "case_no",
    "status",
    "kind",
    "channel",
    "urgency",
    "category",
    "district",
    "title",
    "address",
    "registered_at",
    "accepted_at",
    "closed_at",
    "closure",
    "lead_department",
    "reply_due_at",
    "redo_count",
    "description",
    "complainant_name",
    "complainant_phone",
];

/// One complainant of the fixture, and what their case says.
struct Person {
    name: &'static str,
    phone: &'static str,
    title: &'static str,
    description: &'static str,
}

const OPEN: Person = Person {
    name: "李四",
    phone: "13900001111",
    title: "路灯不亮",
    description: "李四说楼下路灯坏了一周",
};
const NO_CONTACT: Person = Person {
    name: "王五",
    phone: "13900002222",
    title: "井盖缺失",
    description: "王五报告井盖缺失有危险",
};
const SECRET: Person = Person {
    name: "赵六",
    phone: "13900003333",
    title: "违章搭建",
    description: "赵六举报邻居违章搭建",
};
const ELSEWHERE: Person = Person {
    name: "钱七",
    phone: "13900004444",
    title: "=HYPERLINK(\"http://example.invalid\")",
    description: "钱七反映噪音",
};
const NEW: Person = Person {
    name: "孙八",
    phone: "13900005555",
    title: "咨询公积金",
    description: "孙八想了解公积金提取",
};
const PEOPLE: [&Person; 5] = [&OPEN, &NO_CONTACT, &SECRET, &ELSEWHERE, &NEW];

fn case_body(person: &Person, contact_allowed: bool, confidential: bool) -> Value {
    json!({
        "channel": "phone",
        "kind": "complaint",
        "title": person.title,
        "description": person.description,
        "address": "东城区某街道",
        "complainant": {
            "name": person.name,
            "phone": person.phone,
            "contact_allowed": contact_allowed,
            "confidential": confidential
        }
    })
}

struct Fixture {
    app: TestApp,
    desk: Desk,
    admin: String,
    /// Case ids: open, no-contact and confidential complainants dispatched to CGJ, one dispatched
    /// to DC, one only registered.
    ids: [i64; 5],
}

async fn dispatch(app: &TestApp, desk: &Desk, id: i64, department: i64) {
    json_of(
        app.post_as(
            Some(&desk.dispatcher),
            &format!("/api/v1/cases/{id}/dispatch"),
            &json!({"departments": [{"department_id": department}]}),
        )
        .await,
        200,
        "dispatch",
    )
    .await;
}

async fn fixture_with(vars: &[(&str, &str)]) -> Fixture {
    let app = spawn_app_with(vars).await;
    let desk = desk(&app).await;
    let admin = app.token("admin").await;
    let open = accepted_case(&app, &desk, &case_body(&OPEN, true, false)).await;
    let no_contact = accepted_case(&app, &desk, &case_body(&NO_CONTACT, false, false)).await;
    let secret = accepted_case(&app, &desk, &case_body(&SECRET, true, true)).await;
    let elsewhere = accepted_case(&app, &desk, &case_body(&ELSEWHERE, true, false)).await;
    for id in [open, no_contact, secret] {
        dispatch(&app, &desk, id, desk.cgj).await;
    }
    dispatch(&app, &desk, elsewhere, desk.dc).await;
    let new = json_of(
        app.post_as(
            Some(&desk.operator),
            "/api/v1/cases",
            &case_body(&NEW, true, false),
        )
        .await,
        201,
        "register",
    )
    .await["id"]
        .as_i64()
        .unwrap();
    Fixture {
        app,
        desk,
        admin,
        ids: [open, no_contact, secret, elsewhere, new],
    }
}

async fn fixture() -> Fixture {
    fixture_with(&[]).await
}

/// Downloads an export; returns the answer's headers and body after checking it is a 200.
async fn download(
    app: &TestApp,
    token: &str,
    query: &str,
    accept: Option<&str>,
) -> (reqwest::header::HeaderMap, Vec<u8>) {
    let mut request = app.request("GET", &format!("/api/v1/exports/cases{query}"), Some(token));
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await.unwrap().to_vec();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    (headers, body)
}

/// The rows of a CSV export (the header first), after checking the byte-order mark.
fn csv_rows(body: &[u8]) -> Vec<Vec<String>> {
    let text = body
        .strip_prefix("\u{feff}".as_bytes())
        .expect("the file starts with a UTF-8 byte-order mark");
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text)
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

async fn case_no(app: &TestApp, token: &str, id: i64) -> String {
    let case = json_of(
        app.get_as(token, &format!("/api/v1/cases/{id}")).await,
        200,
        "case",
    )
    .await;
    case["case_no"].as_str().unwrap().to_owned()
}

async fn exports_log(app: &TestApp, admin: &str, query: &str) -> Vec<Value> {
    let page = json_of(
        app.get_as(admin, &format!("/api/v1/personal-data-exports{query}"))
            .await,
        200,
        "export log",
    )
    .await;
    page["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn the_centre_gets_every_case_in_full_as_csv_and_the_export_is_on_record() {
    let f = fixture().await;
    let (headers, body) = download(&f.app, &f.desk.dispatcher, "", None).await;
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-store");
    let disposition = headers["content-disposition"].to_str().unwrap();
    assert!(
        disposition.starts_with("attachment; filename=\"cases-") && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    assert!(body.ends_with(b"\r\n"), "CRLF line ends");
    let rows = csv_rows(&body);
    assert_eq!(rows[0], HEADER);
    assert_eq!(rows.len(), 1 + 5, "the header and every case");
    for ((row, id), person) in rows[1..].iter().zip(f.ids).zip(PEOPLE) {
        assert_eq!(row.len(), HEADER.len());
        assert_eq!(row[0], case_no(&f.app, &f.admin, id).await, "in id order");
        assert_eq!(
            row[17], person.name,
            "the name in full, even when confidential"
        );
        assert_eq!(row[18], person.phone);
        assert_eq!(row[16], person.description);
    }
    // Formulas from citizens are inert in a spreadsheet.
    assert_eq!(rows[4][7], format!("'{}", ELSEWHERE.title));
    // Dispatched cases name their lead department; the registered one is not accepted yet.
    assert_eq!(rows[1][1], "dispatched");
    assert_eq!(rows[1][13], "市城市管理局");
    assert_eq!(rows[5][1], "registered");
    assert_eq!(rows[5][10], "");

    // Times are the centre's local time (Asia/Shanghai by default).
    let case = json_of(
        f.app
            .get_as(&f.admin, &format!("/api/v1/cases/{}", f.ids[0]))
            .await,
        200,
        "case",
    )
    .await;
    let created: chrono::DateTime<chrono::Utc> =
        case["created_at"].as_str().unwrap().parse().unwrap();
    let local = created
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    assert_eq!(rows[1][9], local);

    // One entry in the log of exports, with what was sent.
    let log = exports_log(&f.app, &f.admin, "").await;
    assert_eq!(log.len(), 1, "{log:?}");
    let entry = &log[0];
    assert_eq!(entry["role"], "dispatcher");
    assert_eq!(entry["format"], "csv");
    assert_eq!(entry["filters"], json!({}));
    assert_eq!(entry["completed"], true);
    assert_eq!(entry["rows_exported"], 5);
    assert_eq!(entry["rows_with_personal_data"], 5);
    assert_eq!(entry["first_case_id"], f.ids[0]);
    assert_eq!(entry["last_case_id"], f.ids[4]);
    assert!(entry["finished_at"].is_string());
    // …found by the cases it covered, and by who exported.
    let covering = exports_log(&f.app, &f.admin, &format!("?case_id={}", f.ids[2])).await;
    assert_eq!(covering.len(), 1);
    let outside = exports_log(&f.app, &f.admin, &format!("?case_id={}", f.ids[4] + 1)).await;
    assert!(outside.is_empty());
    let dispatcher_id = entry["user_id"].as_i64().unwrap();
    let by_admin = exports_log(
        &f.app,
        &f.admin,
        &format!("?user_id={}", dispatcher_id + 1000),
    )
    .await;
    assert!(by_admin.is_empty());
    // The log is the administrators'.
    assert_problem(
        f.app
            .get_as(&f.desk.dispatcher, "/api/v1/personal-data-exports")
            .await,
        403,
        "forbidden_role",
    )
    .await;
}

#[tokio::test]
async fn the_filters_of_the_case_list_choose_the_rows() {
    let f = fixture().await;
    let numbers = |body: &[u8]| -> Vec<String> {
        csv_rows(body)[1..]
            .iter()
            .map(|row| row[0].clone())
            .collect()
    };
    let mut expected = Vec::new();
    for id in f.ids {
        expected.push(case_no(&f.app, &f.admin, id).await);
    }
    let (_, body) = download(&f.app, &f.admin, "?status=registered", None).await;
    assert_eq!(numbers(&body), [expected[4].clone()]);
    let (_, body) = download(
        &f.app,
        &f.admin,
        &format!("?department_id={}", f.desk.dc),
        None,
    )
    .await;
    assert_eq!(numbers(&body), [expected[3].clone()]);
    let (_, body) = download(&f.app, &f.admin, "?q=%E4%BA%95%E7%9B%96", None).await; // 井盖
    assert_eq!(numbers(&body), [expected[1].clone()]);
    let (_, body) = download(
        &f.app,
        &f.admin,
        "?status=dispatched,registered&registered_from=2000-01-01T00:00:00Z",
        None,
    )
    .await;
    assert_eq!(numbers(&body), expected);
    let (_, body) = download(&f.app, &f.admin, "?kind=suggestion", None).await;
    assert_eq!(csv_rows(&body).len(), 1, "only the header");
    // The log keeps the filters as given.
    let log = exports_log(&f.app, &f.admin, "").await;
    assert_eq!(log[0]["filters"], json!({"status": "registered"}));
    assert_eq!(log[2]["filters"], json!({"q": "井盖"}));
    assert_eq!(log[4]["rows_exported"], 0);
    assert_eq!(log[4]["first_case_id"], Value::Null);
}

#[tokio::test]
async fn analysts_get_every_case_without_personal_data_or_descriptions() {
    let f = fixture().await;
    let analyst = f.app.token("analyst").await;
    for accept in [None, Some(XLSX)] {
        let (_, body) = download(&f.app, &analyst, "", accept).await;
        let text = if accept.is_none() {
            let rows = csv_rows(&body);
            assert_eq!(rows[0], HEADER[..16]);
            assert_eq!(rows.len(), 1 + 5);
            assert_eq!(rows[1][7], OPEN.title);
            String::from_utf8(body.clone()).unwrap()
        } else {
            sheet_text(&body)
        };
        for person in PEOPLE {
            let masked_name: String = person.name.chars().take(1).chain(['*']).collect();
            let masked_phone = format!("{}****{}", &person.phone[..3], &person.phone[7..]);
            for secret in [
                person.name,
                person.phone,
                &person.phone[3..],
                person.description,
                &masked_name,
                &masked_phone,
            ] {
                assert!(
                    !text.contains(secret),
                    "an analyst's export holds {secret:?}"
                );
            }
            // Nor in the raw bytes (the XLSX file is compressed, its text checked above).
            if accept.is_none() {
                let needle = person.phone.as_bytes();
                assert!(!body.windows(needle.len()).any(|w| w == needle));
            }
        }
    }
    // Nothing with personal data left, so nothing on record.
    assert!(exports_log(&f.app, &f.admin, "").await.is_empty());
}

#[tokio::test]
async fn departments_get_their_cases_with_the_complainant_as_the_api_shows_it() {
    let f = fixture().await;
    let (_, body) = download(&f.app, &f.desk.cgj_staff, "", None).await;
    let rows = csv_rows(&body);
    assert_eq!(rows[0], HEADER);
    let mut expected = Vec::new();
    for id in &f.ids[..3] {
        expected.push(case_no(&f.app, &f.admin, *id).await);
    }
    let numbers: Vec<String> = rows[1..].iter().map(|r| r[0].clone()).collect();
    assert_eq!(numbers, expected, "only the cases dispatched to CGJ");
    // Allowed to be contacted: in full; not allowed: masked; confidential: nothing.
    assert_eq!((&*rows[1][17], &*rows[1][18]), (OPEN.name, OPEN.phone));
    assert_eq!((&*rows[2][17], &*rows[2][18]), ("王*", "139****2222"));
    assert_eq!((&*rows[3][17], &*rows[3][18]), ("", ""));
    // As the API shows them.
    let case = json_of(
        f.app
            .get_as(&f.desk.cgj_staff, &format!("/api/v1/cases/{}", f.ids[1]))
            .await,
        200,
        "case",
    )
    .await;
    assert_eq!(case["complainant"]["name"], "王*");
    assert_eq!(case["complainant"]["phone"], "139****2222");
    // (The descriptions, which departments read, name the citizens here: only phones are
    // looked for in the whole file.)
    let text = String::from_utf8(body).unwrap();
    for hidden in [NO_CONTACT.phone, SECRET.phone] {
        assert!(!text.contains(hidden), "{hidden}");
    }
    for other in [ELSEWHERE.name, ELSEWHERE.description, NEW.name] {
        assert!(!text.contains(other), "{other}");
    }
    // Another department's cases: none, not an error (as the case list).
    let (_, body) = download(
        &f.app,
        &f.desk.cgj_admin,
        &format!("?department_id={}", f.desk.dc),
        None,
    )
    .await;
    assert_eq!(csv_rows(&body).len(), 1);
    // The export with a complainant in full is on record, with how many rows carried one.
    let log = exports_log(&f.app, &f.admin, "").await;
    assert_eq!(log[0]["role"], "department_staff");
    assert_eq!(log[0]["rows_exported"], 3);
    assert_eq!(log[0]["rows_with_personal_data"], 1);
    assert_eq!(log[1]["role"], "department_admin");
    assert_eq!(log[1]["rows_exported"], 0);
}

/// Every string cell of every sheet of an XLSX file, joined.
fn sheet_text(body: &[u8]) -> String {
    let mut workbook: Xlsx<_> =
        calamine::open_workbook_from_rs(Cursor::new(body.to_vec())).expect("a readable XLSX file");
    let mut text = String::new();
    for name in workbook.sheet_names() {
        let range = workbook.worksheet_range(&name).unwrap();
        for row in range.rows() {
            for cell in row {
                text.push_str(&cell.to_string());
                text.push('\t');
            }
            text.push('\n');
        }
    }
    text
}

fn sheets(body: &[u8]) -> Vec<(String, Vec<Vec<Data>>)> {
    let mut workbook: Xlsx<_> =
        calamine::open_workbook_from_rs(Cursor::new(body.to_vec())).expect("a readable XLSX file");
    workbook
        .sheet_names()
        .into_iter()
        .map(|name| {
            let range = workbook.worksheet_range(&name).unwrap();
            let rows = range.rows().map(<[Data]>::to_vec).collect();
            (name, rows)
        })
        .collect()
}

#[tokio::test]
async fn xlsx_by_accept_reads_back_with_the_same_rows() {
    let f = fixture().await;
    let (headers, body) = download(&f.app, &f.admin, "", Some(XLSX)).await;
    assert_eq!(headers["content-type"], XLSX);
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .ends_with(".xlsx\"")
    );
    let (_, csv_body) = download(&f.app, &f.admin, "", Some("text/csv")).await;
    let csv = csv_rows(&csv_body);
    let sheets = sheets(&body);
    assert_eq!(sheets.len(), 1);
    let (name, rows) = &sheets[0];
    assert_eq!(name, "cases");
    assert_eq!(rows.len(), 1 + 5);
    let header: Vec<String> = rows[0].iter().map(ToString::to_string).collect();
    assert_eq!(header, HEADER);
    for (row, csv_row) in rows[1..].iter().zip(&csv[1..]) {
        assert_eq!(row[0].to_string(), csv_row[0]);
        assert_eq!(row[7].to_string(), csv_row[7].trim_start_matches('\''));
        assert_eq!(row[17].to_string(), csv_row[17]);
        assert_eq!(row[18].to_string(), csv_row[18]);
        // Times are date-time cells, the same instant as the CSV's text.
        let Data::DateTime(registered) = &row[9] else {
            panic!("registered_at is a date-time cell: {:?}", row[9]);
        };
        let expected =
            chrono::NaiveDateTime::parse_from_str(&csv_row[9], "%Y-%m-%d %H:%M:%S").unwrap();
        let seconds = (registered.as_f64() - 25_569.0) * 86_400.0;
        assert!(
            (seconds - expected.and_utc().timestamp() as f64).abs() < 1.0,
            "{registered:?} vs {expected}"
        );
        assert_eq!(row[15], Data::Float(0.0), "redo_count is a number");
    }
    assert_eq!(rows[5][10], Data::Empty, "not accepted yet");
    // Both downloads are on record.
    let log = exports_log(&f.app, &f.admin, "").await;
    let formats: Vec<&str> = log.iter().map(|e| e["format"].as_str().unwrap()).collect();
    assert_eq!(formats, ["xlsx", "csv"]);
}

#[tokio::test]
async fn a_full_xlsx_sheet_continues_on_the_next_with_the_header_repeated() {
    // Three rows a sheet: the header and two cases.
    let f = fixture_with(&[("HOTLINE_XLSX_SHEET_ROWS", "3")]).await;
    let (_, body) = download(&f.app, &f.admin, "", Some(XLSX)).await;
    let workbook = sheets(&body);
    let names: Vec<&str> = workbook.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["cases", "cases 2", "cases 3"]);
    let mut numbers = Vec::new();
    for (_, rows) in &workbook {
        assert!(rows.len() <= 3);
        assert_eq!(
            rows[0][0].to_string(),
            "case_no",
            "the header on every sheet"
        );
        numbers.extend(rows[1..].iter().map(|r| r[0].to_string()));
    }
    let mut expected = Vec::new();
    for id in f.ids {
        expected.push(case_no(&f.app, &f.admin, id).await);
    }
    assert_eq!(numbers, expected, "every case once, in order");
    // Exactly full: no empty sheet after the last.
    let (_, body) = download(&f.app, &f.admin, "?status=dispatched", Some(XLSX)).await;
    assert_eq!(sheets(&body).len(), 2);
}

#[tokio::test]
async fn who_may_not_export_what_cannot_be_read_and_bad_requests_are_problems() {
    let app = spawn_app().await;
    app.load_demo().await;
    let citizen = app.token("13800138000").await;
    let admin = app.token("admin").await;
    assert_problem(
        app.get_as(&citizen, "/api/v1/exports/cases").await,
        403,
        "forbidden_role",
    )
    .await;
    assert_problem(
        app.request("GET", "/api/v1/exports/cases", None)
            .send()
            .await
            .unwrap(),
        401,
        "missing_token",
    )
    .await;
    for query in [
        "?status=bogus",
        "?kind=bogus",
        "?category_id=abc",
        "?registered_from=yesterday",
    ] {
        assert_problem(
            app.get_as(&admin, &format!("/api/v1/exports/cases{query}"))
                .await,
            400,
            "invalid_query",
        )
        .await;
    }
    let json_only = app
        .request("GET", "/api/v1/exports/cases", Some(&admin))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_problem(json_only, 406, "not_acceptable").await;
    // Wildcards are CSV.
    let (headers, _) = download(&app, &admin, "", Some("*/*")).await;
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    // No failed request left anything on record.
    let log = exports_log(&app, &admin, "").await;
    assert_eq!(log.len(), 1, "only the wildcard download");
}
