//! Every answer that shows a complainant's personal data in full to centre staff is on record
//! (SPEC 5.3), whichever operation gave it: the operations are read from the OpenAPI document, so
//! a new one that returns a case fails here until it is walked too.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::dispatch::{accepted_case, assignment_for, assignments_of, complaint, desk, json_of};
use crate::helpers::{TestApp, spawn_app};

/// Whether `schema` holds a `ComplainantView`, following `$ref`s through the components.
fn holds_complainant(doc: &Value, schema: &Value, seen: &mut BTreeSet<String>) -> bool {
    match schema {
        Value::Object(map) => map.iter().any(|(key, value)| match (key.as_str(), value) {
            ("$ref", Value::String(reference)) => {
                let name = reference.rsplit('/').next().unwrap().to_owned();
                name == "ComplainantView"
                    || (seen.insert(name.clone())
                        && holds_complainant(doc, &doc["components"]["schemas"][&name], seen))
            }
            _ => holds_complainant(doc, value, seen),
        }),
        Value::Array(items) => items.iter().any(|v| holds_complainant(doc, v, seen)),
        _ => false,
    }
}

/// Every operation whose answer can show a complainant: it holds a `ComplainantView`, at any
/// depth (a case, a follow-up queue entry…).
async fn operations_answering_a_complainant(app: &TestApp) -> BTreeSet<String> {
    let doc: Value = app.get("/openapi.json").await.json().await.unwrap();
    let mut found = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if holds_complainant(&doc, &operation["responses"], &mut BTreeSet::new()) {
                found.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    found
}

struct Ledger<'a> {
    app: &'a TestApp,
    admin: String,
    walked: BTreeSet<String>,
}

impl Ledger<'_> {
    async fn reads_of(&self, case: i64) -> usize {
        let page = json_of(
            self.app
                .get_as(
                    &self.admin,
                    &format!("/api/v1/personal-data-reads?case_id={case}&limit=200"),
                )
                .await,
            200,
            "reads",
        )
        .await;
        page["items"].as_array().unwrap().len()
    }

    /// Sends `request` for `case` and checks that its answer showed the complainant in full and
    /// left exactly `recorded` new reads on record.
    async fn walk(
        &mut self,
        operation: &str,
        case: i64,
        recorded: usize,
        request: reqwest::RequestBuilder,
    ) -> Value {
        self.walk_at(operation, case, recorded, "/complainant", request)
            .await
    }

    /// [`Ledger::walk`] for an answer that holds the complainant at `pointer`.
    async fn walk_at(
        &mut self,
        operation: &str,
        case: i64,
        recorded: usize,
        pointer: &str,
        request: reqwest::RequestBuilder,
    ) -> Value {
        let before = self.reads_of(case).await;
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let answer: Value = response.json().await.unwrap();
        assert!(
            (200..300).contains(&status),
            "{operation}: {status} {answer}"
        );
        assert_eq!(
            answer.pointer(pointer).unwrap_or(&Value::Null)["disclosure"],
            "full",
            "{operation} shows the complainant in full: {answer}"
        );
        assert_eq!(
            self.reads_of(case).await,
            before + recorded,
            "{operation} left {recorded} read(s) on record"
        );
        self.walked.insert(operation.to_owned());
        answer
    }
}

#[tokio::test]
async fn every_answer_showing_a_complainant_in_full_is_on_record() {
    let app = spawn_app().await;
    let d = desk(&app).await;
    let mut ledger = Ledger {
        app: &app,
        admin: app.token("admin").await,
        walked: BTreeSet::new(),
    };
    let as_ = |token: &str, method: &str, path: String| app.request(method, &path, Some(token));

    // Registration shows the caller only what they sent: nothing to record.
    let case = ledger
        .walk(
            "POST /api/v1/cases",
            0,
            0,
            as_(&d.operator, "POST", "/api/v1/cases".into()).json(&complaint(true, false)),
        )
        .await;
    let id = case["id"].as_i64().unwrap();
    let number = case["case_no"].as_str().unwrap().to_owned();
    let case_path = |op: &str| format!("/api/v1/cases/{id}{op}");

    ledger
        .walk(
            "GET /api/v1/cases/{id}",
            id,
            1,
            as_(&d.operator, "GET", case_path("")),
        )
        .await;
    ledger
        .walk(
            "GET /api/v1/cases/by-number/{case_no}",
            id,
            1,
            as_(
                &d.operator,
                "GET",
                format!("/api/v1/cases/by-number/{number}"),
            ),
        )
        .await;
    ledger
        .walk(
            "PATCH /api/v1/cases/{id}",
            id,
            1,
            as_(&d.operator, "PATCH", case_path(""))
                .header("if-match", "\"1\"")
                .json(&json!({"urgency": "urgent"})),
        )
        .await;
    ledger
        .walk(
            "POST /api/v1/cases/{id}/accept",
            id,
            1,
            as_(&d.operator, "POST", case_path("/accept")).json(&json!({})),
        )
        .await;
    ledger
        .walk(
            "POST /api/v1/cases/{id}/dispatch",
            id,
            1,
            as_(&d.dispatcher, "POST", case_path("/dispatch"))
                .json(&json!({"departments": [{"department_id": d.cgj}]})),
        )
        .await;
    let assignment = assignment_for(&assignments_of(&app, &d.dispatcher, id).await, d.cgj);
    crate::dispatch::sign_and_reply(&app, &d.cgj_staff, assignment).await;
    ledger
        .walk(
            "POST /api/v1/cases/{id}/review",
            id,
            1,
            as_(&d.dispatcher, "POST", case_path("/review")).json(&json!({"decision": "approve"})),
        )
        .await;
    ledger
        .walk(
            "POST /api/v1/cases/{id}/redo",
            id,
            1,
            as_(&d.supervisor, "POST", case_path("/redo")).json(&json!({"reason": "回访不满意"})),
        )
        .await;
    ledger
        .walk(
            "POST /api/v1/cases/{id}/close",
            id,
            1,
            as_(&d.supervisor, "POST", case_path("/close"))
                .json(&json!({"reason": "诉求超出政策规定范围"})),
        )
        .await;
    ledger
        .walk(
            "POST /api/v1/cases/{id}/reopen",
            id,
            1,
            as_(&d.supervisor, "POST", case_path("/reopen"))
                .json(&json!({"reason": "市民补充了新情况"})),
        )
        .await;

    // The intake decisions, on cases of their own.
    let mut consultation = complaint(true, false);
    consultation["kind"] = json!("consultation");
    let question = json_of(
        app.post_as(Some(&d.operator), "/api/v1/cases", &consultation)
            .await,
        201,
        "register",
    )
    .await["id"]
        .as_i64()
        .unwrap();
    ledger
        .walk(
            "POST /api/v1/cases/{id}/answer",
            question,
            1,
            as_(
                &d.operator,
                "POST",
                format!("/api/v1/cases/{question}/answer"),
            )
            .json(&json!({"answer": "带身份证到街道办理。"})),
        )
        .await;
    let unwanted = json_of(
        app.post_as(Some(&d.operator), "/api/v1/cases", &complaint(true, false))
            .await,
        201,
        "register",
    )
    .await["id"]
        .as_i64()
        .unwrap();
    ledger
        .walk(
            "POST /api/v1/cases/{id}/reject",
            unwanted,
            1,
            as_(
                &d.operator,
                "POST",
                format!("/api/v1/cases/{unwanted}/reject"),
            )
            .json(&json!({"reason": "属于司法程序范围", "redirect_to": "请向区人民法院提起诉讼"})),
        )
        .await;
    let first = accepted_case(&app, &d, &complaint(true, false)).await;
    let second = accepted_case(&app, &d, &complaint(true, false)).await;
    ledger
        .walk(
            "POST /api/v1/cases/{id}/merge",
            second,
            1,
            as_(&d.operator, "POST", format!("/api/v1/cases/{second}/merge"))
                .json(&json!({"into_case_id": first, "reason": "重复反映"})),
        )
        .await;

    // A replayed answer (the same Idempotency-Key) shows the same data again: recorded again.
    let closing = accepted_case(&app, &d, &complaint(true, false)).await;
    let close = || {
        as_(
            &d.supervisor,
            "POST",
            format!("/api/v1/cases/{closing}/close"),
        )
        .header("idempotency-key", "close-once")
        .json(&json!({"reason": "诉求超出政策规定范围"}))
    };
    ledger
        .walk("POST /api/v1/cases/{id}/close", closing, 1, close())
        .await;
    ledger
        .walk("POST /api/v1/cases/{id}/close", closing, 1, close())
        .await;

    // Follow-up: the queue shows whom to call; the call and the decision answer with the case.
    let followed = accepted_case(&app, &d, &complaint(true, false)).await;
    json_of(
        app.post_as(
            Some(&d.dispatcher),
            &format!("/api/v1/cases/{followed}/dispatch"),
            &json!({"departments": [{"department_id": d.cgj}]}),
        )
        .await,
        200,
        "dispatch",
    )
    .await;
    let assignment = assignment_for(&assignments_of(&app, &d.dispatcher, followed).await, d.cgj);
    crate::dispatch::sign_and_reply(&app, &d.cgj_staff, assignment).await;
    json_of(
        app.post_as(
            Some(&d.dispatcher),
            &format!("/api/v1/cases/{followed}/review"),
            &json!({"decision": "approve"}),
        )
        .await,
        200,
        "approve",
    )
    .await;
    ledger
        .walk_at(
            "GET /api/v1/follow-up-queue",
            followed,
            1,
            "/items/0/complainant",
            as_(&d.operator, "GET", "/api/v1/follow-up-queue".into()),
        )
        .await;
    ledger
        .walk_at(
            "POST /api/v1/cases/{id}/follow-up-calls",
            followed,
            1,
            "/case/complainant",
            as_(
                &d.operator,
                "POST",
                format!("/api/v1/cases/{followed}/follow-up-calls"),
            )
            .json(&json!({"channel": "phone", "outcome": "reached", "resolved": "no", "satisfaction": "dissatisfied"})),
        )
        .await;
    ledger
        .walk(
            "POST /api/v1/cases/{id}/follow-up-decision",
            followed,
            1,
            as_(
                &d.supervisor,
                "POST",
                format!("/api/v1/cases/{followed}/follow-up-decision"),
            )
            .json(&json!({"decision": "close", "reason": "unreasonable_demand"})),
        )
        .await;

    assert_eq!(
        ledger.walked,
        operations_answering_a_complainant(&app).await,
        "every operation whose answer can show a complainant is walked here"
    );

    // A department sees the complainant in full only where the citizen allowed contact; that read
    // is on record too.
    let before = ledger.reads_of(id).await;
    let seen = json_of(
        app.get_as(&d.cgj_staff, &case_path("")).await,
        200,
        "department reads",
    )
    .await;
    assert_eq!(seen["complainant"]["disclosure"], "full");
    assert_eq!(ledger.reads_of(id).await, before + 1);
}
