//! The Open311 GeoReport v2 facade: every endpoint in JSON and XML (the XML parsed, so well-formed,
//! and shaped as the specification's examples), GeoReport errors in both formats, `api_key`,
//! requests posted and read back, the filters and the 90-day default, and no personal data in
//! any GET answer.

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

/// An element of a parsed XML document.
#[derive(Debug)]
struct Element {
    name: String,
    text: String,
    children: Vec<Element>,
}

impl Element {
    fn new(name: &[u8]) -> Self {
        Element {
            name: String::from_utf8(name.to_vec()).unwrap(),
            text: String::new(),
            children: Vec::new(),
        }
    }

    fn all(&self, name: &str) -> Vec<&Element> {
        self.children.iter().filter(|c| c.name == name).collect()
    }

    fn child(&self, name: &str) -> &Element {
        self.children
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("<{}> has no <{name}>: {self:?}", self.name))
    }

    fn text_of(&self, name: &str) -> &str {
        &self.child(name).text
    }
}

/// Parses a whole document with the XML crate (end tags checked against their start tags): panics
/// unless it is well-formed with exactly one root element.
fn parse_xml(text: &str) -> Element {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack = vec![Element::new(b"#document")];
    loop {
        match reader
            .read_event()
            .unwrap_or_else(|e| panic!("not well-formed ({e}): {text}"))
        {
            Event::Start(e) => stack.push(Element::new(e.name().as_ref())),
            Event::Empty(e) => stack
                .last_mut()
                .unwrap()
                .children
                .push(Element::new(e.name().as_ref())),
            Event::End(_) => {
                let done = stack.pop().unwrap();
                stack.last_mut().expect("balanced").children.push(done);
            }
            Event::Text(t) => stack
                .last_mut()
                .unwrap()
                .text
                .push_str(&t.decode().unwrap()),
            Event::GeneralRef(r) => {
                let name = r.decode().unwrap().into_owned();
                let resolved = match name.as_str() {
                    "amp" => "&".to_owned(),
                    "lt" => "<".to_owned(),
                    "gt" => ">".to_owned(),
                    "quot" => "\"".to_owned(),
                    "apos" => "'".to_owned(),
                    _ => r
                        .resolve_char_ref()
                        .unwrap()
                        .expect("a known entity")
                        .to_string(),
                };
                stack.last_mut().unwrap().text.push_str(&resolved);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(stack.len(), 1, "unclosed elements: {text}");
    let mut document = stack.pop().unwrap();
    assert_eq!(document.children.len(), 1, "one root element: {text}");
    document.children.pop().unwrap()
}

async fn get_xml(app: &TestApp, path: &str, status: u16) -> Element {
    let response = app.get(path).await;
    assert_eq!(response.status(), status, "{path}");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/xml"),
        "{content_type}"
    );
    parse_xml(&response.text().await.unwrap())
}

async fn get_json(app: &TestApp, path: &str, status: u16) -> Value {
    let response = app.get(path).await;
    let content_type = response.headers()["content-type"].clone();
    let (actual, text) = (response.status(), response.text().await.unwrap());
    assert_eq!(actual, status, "{path}: {text}");
    assert_eq!(content_type, "application/json", "{path}: {text}");
    serde_json::from_str(&text).unwrap()
}

fn assert_json_error(body: &Value, code: u16) {
    let errors = body.as_array().expect("a list of errors");
    assert!(!errors.is_empty());
    for error in errors {
        assert_eq!(error["code"], code, "{body}");
        assert!(!error["description"].as_str().unwrap().is_empty());
    }
}

fn assert_xml_error(root: &Element, code: u16) {
    assert_eq!(root.name, "errors");
    let errors = root.all("error");
    assert!(!errors.is_empty());
    for error in errors {
        assert_eq!(error.text_of("code"), code.to_string());
        assert!(!error.text_of("description").is_empty());
    }
}

/// A new integration client's `api_key` (`client_id:client_secret`).
async fn api_key(app: &TestApp, admin: &str) -> String {
    let client: Value = app
        .post_as(
            Some(admin),
            "/api/v1/integration-clients",
            &json!({"name": "市民随手拍"}),
        )
        .await
        .json()
        .await
        .unwrap();
    format!(
        "{}:{}",
        client["client_id"].as_str().unwrap(),
        client["client_secret"].as_str().unwrap()
    )
}

async fn post_form(app: &TestApp, format: &str, form: &[(&str, &str)]) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/open311/v2/requests.{format}")))
        .form(form)
        .send()
        .await
        .unwrap()
}

const NAME: (&str, &str) = ("三丰", "张");
const PHONE: &str = "13812345678";
const EMAIL: &str = "zhang.sanfeng@example.com";
const DESCRIPTION: &str = "小区北门每天傍晚有流动摊贩占道经营，堵住消防通道。";
const ADDRESS: &str = "东城区东华门街道某某小区北门";

fn full_form<'a>(key: &'a str, device: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("api_key", key),
        ("jurisdiction_id", "demo.city"),
        ("service_code", "010101"),
        ("lat", "39.9163456"),
        ("long", "116.3971234"),
        ("address_string", ADDRESS),
        ("description", DESCRIPTION),
        ("email", EMAIL),
        ("first_name", NAME.0),
        ("last_name", NAME.1),
        ("phone", PHONE),
        ("device_id", device),
        ("attribute[WHISPER]", "yes"),
    ]
}

#[tokio::test]
async fn discovery_services_and_definitions_in_both_formats() {
    let app = spawn_app().await;
    app.load_demo().await;

    let discovery = get_json(&app, "/open311/v2/discovery.json", 200).await;
    let endpoint = &discovery["endpoints"][0];
    assert_eq!(
        endpoint["specification"],
        "http://wiki.open311.org/GeoReport_v2"
    );
    assert!(endpoint["url"].as_str().unwrap().ends_with("/open311/v2"));
    assert_eq!(endpoint["formats"], json!(["text/xml", "application/json"]));
    let xml = get_xml(&app, "/open311/v2/discovery.xml", 200).await;
    assert_eq!(xml.name, "discovery");
    let endpoint = xml.child("endpoints").child("endpoint");
    assert!(endpoint.text_of("url").ends_with("/open311/v2"));
    let formats: Vec<&str> = endpoint
        .child("formats")
        .all("format")
        .iter()
        .map(|f| f.text.as_str())
        .collect();
    assert_eq!(formats, ["text/xml", "application/json"]);

    let services = get_json(&app, "/open311/v2/services.json", 200).await;
    let services = services.as_array().unwrap();
    let stalls = services
        .iter()
        .find(|s| s["service_code"] == "010101")
        .expect("the demo category 占道经营 is a service");
    assert_eq!(stalls["service_name"], "占道经营");
    assert_eq!(stalls["group"], "市容环境");
    assert_eq!(stalls["type"], "realtime");
    assert_eq!(stalls["metadata"], false);
    assert_eq!(stalls["description"], "城市管理 › 市容环境 › 占道经营");
    let top = services.iter().find(|s| s["service_code"] == "01").unwrap();
    assert!(top["group"].is_null());

    let xml = get_xml(&app, "/open311/v2/services.xml", 200).await;
    assert_eq!(xml.name, "services");
    let listed = xml.all("service");
    assert_eq!(listed.len(), services.len());
    let stalls = listed
        .iter()
        .find(|s| s.text_of("service_code") == "010101")
        .unwrap();
    for (field, value) in [
        ("service_name", "占道经营"),
        ("group", "市容环境"),
        ("type", "realtime"),
        ("metadata", "false"),
        ("keywords", "城市管理,市容环境"),
    ] {
        assert_eq!(stalls.text_of(field), value, "{field}");
    }

    let definition = get_json(&app, "/open311/v2/services/010101.json", 200).await;
    assert_eq!(
        definition,
        json!({"service_code": "010101", "attributes": []})
    );
    let xml = get_xml(&app, "/open311/v2/services/010101.xml", 200).await;
    assert_eq!(xml.name, "service_definition");
    assert_eq!(xml.text_of("service_code"), "010101");
    assert!(xml.child("attributes").children.is_empty());

    // Unknown service, unknown format.
    assert_json_error(
        &get_json(&app, "/open311/v2/services/NOPE.json", 404).await,
        404,
    );
    assert_xml_error(
        &get_xml(&app, "/open311/v2/services/NOPE.xml", 404).await,
        404,
    );
    assert_json_error(&get_json(&app, "/open311/v2/services.html", 404).await, 404);
}

#[tokio::test]
async fn a_posted_request_is_a_case_read_back_in_both_formats_without_personal_data() {
    let app = spawn_app().await;
    app.load_demo().await;
    let admin = app.token("admin").await;
    let key = api_key(&app, &admin).await;

    let response = post_form(&app, "json", &full_form(&key, "device-1")).await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let id = created[0]["service_request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(created[0]["account_id"].is_null());
    assert!(created[0]["service_notice"].as_str().unwrap().contains(&id));

    // The same device and description again: the same request.
    let again: Value = post_form(&app, "json", &full_form(&key, "device-1"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again[0]["service_request_id"], id.as_str());
    // In XML, from another device: a new request.
    let response = post_form(&app, "xml", &full_form(&key, "device-2")).await;
    assert_eq!(response.status(), 201);
    let xml = parse_xml(&response.text().await.unwrap());
    assert_eq!(xml.name, "service_requests");
    let request = xml.child("request");
    let other = request.text_of("service_request_id").to_owned();
    assert_ne!(other, id);
    assert!(request.child("account_id").text.is_empty());

    // The centre sees the case as the intake registered it, with the complainant.
    let case: Value = app
        .get_as(&admin, &format!("/api/v1/cases/by-number/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(case["kind"], "complaint");
    assert_eq!(case["channel"], "app");
    assert_eq!(case["description"], DESCRIPTION);
    assert_eq!(case["address"], ADDRESS);
    assert_eq!(case["complainant"]["name"], "张三丰");
    assert_eq!(case["complainant"]["phone"], PHONE);
    assert_eq!(case["complainant"]["contact_address"], EMAIL);
    assert!(case["source_client"].is_i64());

    // Read back: public fields only.
    let read = get_json(&app, &format!("/open311/v2/requests/{id}.json"), 200).await;
    let request = &read[0];
    assert_eq!(request["service_request_id"], id.as_str());
    assert_eq!(request["status"], "open");
    assert_eq!(request["status_notes"], "已登记");
    assert_eq!(request["service_code"], "010101");
    assert_eq!(request["service_name"], "占道经营");
    assert_eq!(request["lat"], 39.916);
    assert_eq!(request["long"], 116.397);
    assert!(request["address"].is_null(), "no street address");
    assert!(request["description"].is_null());
    assert!(
        request["requested_datetime"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    let xml = get_xml(&app, &format!("/open311/v2/requests/{id}.xml"), 200).await;
    assert_eq!(xml.name, "service_requests");
    let request = xml.child("request");
    assert_eq!(request.text_of("service_request_id"), id);
    assert_eq!(request.text_of("status"), "open");
    assert_eq!(request.text_of("lat"), "39.916");
    for field in [
        "status_notes",
        "service_name",
        "service_code",
        "agency_responsible",
        "requested_datetime",
        "updated_datetime",
        "expected_datetime",
        "address",
        "long",
        "media_url",
    ] {
        request.child(field);
    }

    // Tokens are the ids themselves.
    let token = get_json(&app, &format!("/open311/v2/tokens/{id}.json"), 200).await;
    assert_eq!(token, json!([{"service_request_id": id, "token": id}]));
    let xml = get_xml(&app, &format!("/open311/v2/tokens/{id}.xml"), 200).await;
    assert_eq!(xml.child("request").text_of("token"), id);

    // Unknown requests and tokens.
    for path in [
        "/open311/v2/requests/20000101-999999",
        "/open311/v2/tokens/nothing",
    ] {
        assert_json_error(&get_json(&app, &format!("{path}.json"), 404).await, 404);
        assert_xml_error(&get_xml(&app, &format!("{path}.xml"), 404).await, 404);
    }

    // No personal data anywhere in the GET answers.
    for path in [
        format!("/open311/v2/requests/{id}.json"),
        format!("/open311/v2/requests/{id}.xml"),
        format!("/open311/v2/requests.json?service_request_id={id},{other}"),
        "/open311/v2/requests.json".to_owned(),
        "/open311/v2/requests.xml".to_owned(),
    ] {
        let text = app.get(&path).await.text().await.unwrap();
        assert!(text.contains(&id), "{path}");
        for secret in [
            NAME.0,
            "张三丰",
            PHONE,
            EMAIL,
            DESCRIPTION,
            ADDRESS,
            "device-1",
        ] {
            assert!(!text.contains(secret), "{path} shows {secret}");
        }
    }
}

#[tokio::test]
async fn posts_are_refused_in_the_georeport_format() {
    let app = spawn_app_with(&[("HOTLINE_PUBLIC_RATE_LIMIT", "7")]).await;
    app.load_demo().await;
    let admin = app.token("admin").await;
    let key = api_key(&app, &admin).await;
    let bad_key = format!("{}x", key);

    // A wrong secret, and a key of no form: 403 in both formats.
    let response = post_form(&app, "json", &full_form(&bad_key, "d")).await;
    assert_eq!(response.status(), 403);
    assert_json_error(&response.json().await.unwrap(), 403);
    let response = post_form(&app, "xml", &full_form("no-colon", "d")).await;
    assert_eq!(response.status(), 403);
    assert_xml_error(&parse_xml(&response.text().await.unwrap()), 403);

    // Missing fields: every problem named, never a value.
    let response = post_form(&app, "json", &[("api_key", &key), ("phone", PHONE)]).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_json_error(&body, 400);
    let text = body.to_string();
    assert!(text.contains("service_code"), "{text}");
    assert!(text.contains("address_string"), "{text}");
    assert!(!text.contains(PHONE));
    // An unknown service.
    let response = post_form(
        &app,
        "xml",
        &[
            ("api_key", &key),
            ("service_code", "NOPE"),
            ("address_string", "x"),
        ],
    )
    .await;
    assert_eq!(response.status(), 400);
    assert_xml_error(&parse_xml(&response.text().await.unwrap()), 400);
    // A phone that is no phone: named by field, its value not repeated.
    let mut form = full_form(&key, "d");
    form.retain(|(name, _)| *name != "phone");
    form.push(("phone", "999-888"));
    let response = post_form(&app, "json", &form).await;
    assert_eq!(response.status(), 400);
    let text = response.text().await.unwrap();
    assert!(
        text.contains("phone") && !text.contains("999-888"),
        "{text}"
    );
    // Not a form.
    let response = app
        .client
        .post(app.url("/open311/v2/requests.json"))
        .json(&json!({"api_key": key}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    assert_json_error(&response.json().await.unwrap(), 415);

    // Seven requests spent from this address (a sign-in among them): the eighth waits.
    let response = post_form(&app, "xml", &full_form(&key, "d")).await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    assert_xml_error(&parse_xml(&response.text().await.unwrap()), 429);
}

#[tokio::test]
async fn requests_are_filtered_and_default_to_the_last_90_days() {
    let mut app = spawn_app().await;
    app.load_demo().await;
    app.load_demo_cases().await;
    let admin = app.token("admin").await;
    let key = api_key(&app, &admin).await;
    let mut posted = Vec::new();
    for device in ["a", "b", "c"] {
        let created: Value = post_form(&app, "json", &full_form(&key, device))
            .await
            .json()
            .await
            .unwrap();
        posted.push(
            created[0]["service_request_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }

    let all = get_json(&app, "/open311/v2/requests.json", 200).await;
    let all = all.as_array().unwrap();
    assert!(all.len() > posted.len(), "the demo cases too");
    let times: Vec<&str> = all
        .iter()
        .map(|r| r["requested_datetime"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    for request in all {
        for field in ["description", "email", "phone", "first_name", "device_id"] {
            assert!(request.get(field).is_none(), "{field}");
        }
    }

    // By status: every request says what was asked for; both together are everything.
    let open = get_json(&app, "/open311/v2/requests.json?status=open", 200).await;
    assert!(
        open.as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "open")
    );
    let closed_xml = get_xml(&app, "/open311/v2/requests.xml?status=closed", 200).await;
    assert!(
        closed_xml
            .all("request")
            .iter()
            .all(|r| r.text_of("status") == "closed")
    );
    assert_eq!(
        open.as_array().unwrap().len() + closed_xml.all("request").len(),
        all.len()
    );
    let both = get_json(&app, "/open311/v2/requests.json?status=open,closed", 200).await;
    assert_eq!(both.as_array().unwrap().len(), all.len());

    // By service, and by ids (which override the rest).
    let stalls = get_json(&app, "/open311/v2/requests.json?service_code=010101", 200).await;
    let stalls = stalls.as_array().unwrap();
    assert!(stalls.len() >= posted.len());
    assert!(stalls.iter().all(|r| r["service_code"] == "010101"));
    let none = get_json(&app, "/open311/v2/requests.json?service_code=NOPE", 200).await;
    assert_eq!(none, json!([]));
    let empty_xml = get_xml(&app, "/open311/v2/requests.xml?service_code=NOPE", 200).await;
    assert_eq!(empty_xml.name, "service_requests");
    assert!(empty_xml.children.is_empty());
    let ids = format!("{},{}", posted[0], posted[2]);
    let by_id = get_json(
        &app,
        &format!("/open311/v2/requests.json?service_request_id={ids}&status=closed"),
        200,
    )
    .await;
    let mut found: Vec<&str> = by_id
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["service_request_id"].as_str().unwrap())
        .collect();
    found.sort();
    let mut wanted = vec![posted[0].as_str(), posted[2].as_str()];
    wanted.sort();
    assert_eq!(found, wanted);

    // A request registered 200 days ago is outside the default window, inside its own.
    app.check_statistics = false;
    app.db
        .execute(&format!(
            "UPDATE cases SET created_at = '2020-03-01 08:00:00' WHERE case_no = '{}'",
            posted[1]
        ))
        .await;
    let recent = get_json(&app, "/open311/v2/requests.json", 200).await;
    assert!(
        !recent
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["service_request_id"] == posted[1].as_str()),
        "older than 90 days"
    );
    let window = get_json(
        &app,
        "/open311/v2/requests.json?start_date=2020-02-01T00:00:00Z&end_date=2020-04-01T00:00:00%2B08:00",
        200,
    )
    .await;
    assert_eq!(
        window,
        json!([get_json(
            &app,
            &format!("/open311/v2/requests/{}.json", posted[1]),
            200
        )
        .await[0]])
    );
    let from_start = get_json(&app, "/open311/v2/requests.json?start_date=2020-02-01", 200).await;
    assert_eq!(from_start.as_array().unwrap().len(), 1);

    // Bad filters: 400 in the format asked for.
    assert_json_error(
        &get_json(
            &app,
            "/open311/v2/requests.json?start_date=2020-01-01&end_date=2020-12-01",
            400,
        )
        .await,
        400,
    );
    assert_xml_error(
        &get_xml(&app, "/open311/v2/requests.xml?end_date=yesterday", 400).await,
        400,
    );
    assert_xml_error(
        &get_xml(&app, "/open311/v2/requests.xml?status=pending", 400).await,
        400,
    );
}

#[tokio::test]
async fn a_nul_refused_before_the_facade_is_still_a_georeport_error() {
    let app = spawn_app().await;
    let json = get_json(&app, "/open311/v2/requests.json?status=%00", 400).await;
    assert_json_error(&json, 400);
    let xml = get_xml(&app, "/open311/v2/requests.xml?service_code=a%00b", 400).await;
    assert_xml_error(&xml, 400);
    // Dates chrono reads but no window can hold.
    for date in ["%2B262142-12-31", "-262143-01-01", "99999-01-01T00:00:00Z"] {
        let json = get_json(
            &app,
            &format!("/open311/v2/requests.json?start_date={date}"),
            400,
        )
        .await;
        assert_json_error(&json, 400);
    }
    // A control character in a field name, echoed in the error, keeps the XML well-formed.
    let refused = post_form(&app, "xml", &[("\u{1}x", "1")]).await;
    assert_eq!(refused.status(), 400);
    assert_xml_error(&parse_xml(&refused.text().await.unwrap()), 400);
}

#[tokio::test]
async fn a_request_shows_the_photo_its_sender_attached_through_a_signed_link() {
    use crate::attachments::{encoded, part};
    use reqwest::multipart::Form;
    let app = spawn_app().await;
    app.load_demo().await;
    let admin = app.token("admin").await;
    let key = api_key(&app, &admin).await;
    let (client_id, secret) = key.split_once(':').unwrap();
    let token: Value = app
        .post_as(
            None,
            "/api/v1/auth/token",
            &json!({"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}),
        )
        .await
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap();
    let uploaded: Value = app
        .request("POST", "/api/v1/attachments", Some(token))
        .multipart(Form::new().part("file", part("road.png", encoded(image::ImageFormat::Png))))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let case: Value = app
        .post_as(
            Some(token),
            "/api/v1/cases",
            &json!({
                "kind": "complaint", "title": "路面塌陷", "description": "路口路面塌陷。",
                "external_ref": "photo-1", "attachment_ids": [uploaded[0]["id"]],
                "complainant": {"name": "张三丰", "phone": PHONE, "contact_allowed": true}
            }),
        )
        .await
        .json()
        .await
        .unwrap();
    let case_no = case["case_no"].as_str().unwrap();
    let found = get_json(&app, &format!("/open311/v2/requests/{case_no}.json"), 200).await;
    let media_url = found[0]["media_url"].as_str().expect("a media_url");
    assert!(media_url.contains("/api/v1/public/attachments/") && media_url.contains("signature="));
    let photo = app.client.get(media_url).send().await.unwrap();
    assert_eq!(photo.status(), 200);
    assert_eq!(photo.headers()["content-type"], "image/png");

    // The centre's own files are not the request's media.
    let operator = app.token("operator").await;
    let body = json!({
        "channel": "phone", "kind": "complaint", "title": "路灯不亮", "description": "路灯不亮。",
        "complainant": {"name": "李四", "phone": PHONE, "contact_allowed": true}
    });
    let centre_case: Value = app
        .post_as(Some(&operator), "/api/v1/cases", &body)
        .await
        .json()
        .await
        .unwrap();
    let added = app
        .request(
            "POST",
            &format!("/api/v1/cases/{}/attachments", centre_case["id"]),
            Some(&operator),
        )
        .multipart(Form::new().part("file", part("lamp.png", encoded(image::ImageFormat::Png))))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 201);
    let centre_no = centre_case["case_no"].as_str().unwrap();
    let found = get_json(&app, &format!("/open311/v2/requests/{centre_no}.json"), 200).await;
    assert!(found[0]["media_url"].is_null(), "{found}");
}

#[tokio::test]
async fn a_configured_api_base_url_is_what_discovery_names_whatever_the_host_header() {
    let app = spawn_app_with(&[("HOTLINE_API_BASE_URL", "https://12345.example.gov.cn/")]).await;
    let discovery: Value = app
        .client
        .get(app.url("/open311/v2/discovery.json"))
        .header("host", "attacker.example")
        .header("x-forwarded-host", "attacker.example")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let shown = discovery.to_string();
    assert!(
        shown.contains("https://12345.example.gov.cn/open311/v2"),
        "{shown}"
    );
    assert!(!shown.contains("attacker"), "{shown}");
}
