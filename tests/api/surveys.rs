//! Satisfaction surveys: templates and their versions, invitations, the public link and its single
//! answer (also under 20 concurrent answers), expiry, validation, who reads what, the timeline.

use serde_json::{Value, json};

use crate::dispatch::{Desk, accepted_case, complaint, desk, json_of, post, to_follow_up};
use crate::helpers::{TestApp, assert_problem, spawn_app_with};

const BASE_URL: &str = "https://12345.example.gov.cn/m";

async fn app() -> TestApp {
    spawn_app_with(&[
        ("HOTLINE_PUBLIC_BASE_URL", "https://12345.example.gov.cn/m/"),
        ("HOTLINE_PUBLIC_RATE_LIMIT", "0"),
    ])
    .await
}

/// A complaint of 张三 dispatched to CGJ and approved.
async fn awaiting_case(app: &TestApp, d: &Desk, confidential: bool) -> i64 {
    let case = accepted_case(app, d, &complaint(true, confidential)).await;
    to_follow_up(app, d, case, d.cgj, &d.cgj_staff).await;
    case
}

async fn issue(app: &TestApp, token: &str, case: i64, body: Value) -> Value {
    json_of(
        post(app, token, &format!("/api/v1/cases/{case}/surveys"), body).await,
        201,
        "issue",
    )
    .await
}

fn answer_path(token: &str) -> String {
    format!("/api/v1/public/surveys/{token}/responses")
}

fn default_answers(satisfaction: &str) -> Value {
    json!({"answers": [
        {"question": "resolved", "value": "yes"},
        {"question": "satisfaction", "value": satisfaction},
        {"question": "comment", "value": "处理及时，我的电话13812345678可以随时联系"},
    ]})
}

async fn timeline_actions(app: &TestApp, token: &str, case: i64) -> Vec<Value> {
    let events = json_of(
        app.get_as(token, &format!("/api/v1/cases/{case}/timeline"))
            .await,
        200,
        "timeline",
    )
    .await;
    events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["action"]
                .as_str()
                .is_some_and(|a| a.starts_with("survey_"))
        })
        .cloned()
        .collect()
}

async fn case_of(app: &TestApp, token: &str, case: i64) -> Value {
    json_of(
        app.get_as(token, &format!("/api/v1/cases/{case}")).await,
        200,
        "case",
    )
    .await
}

/// A template with a required rating, a choice and an optional text question.
fn rating_template() -> Value {
    json!({
        "name": "服务评价",
        "questions": [
            {"key": "speed", "kind": "rating", "text": "办理速度打几分？", "required": true},
            {"key": "attitude", "kind": "choice", "text": "工作人员态度如何？", "required": true,
             "options": [{"value": "good", "label": "好"}, {"value": "poor", "label": "差"}]},
            {"key": "words", "kind": "text", "text": "其他意见"}
        ]
    })
}

#[tokio::test]
async fn a_survey_is_issued_shown_without_personal_data_answered_once_and_on_the_timeline() {
    let app = app().await;
    let d = desk(&app).await;
    let case = accepted_case(&app, &d, &complaint(true, false)).await;
    // Not before the replies are approved.
    assert_problem(
        post(
            &app,
            &d.operator,
            &format!("/api/v1/cases/{case}/surveys"),
            json!({}),
        )
        .await,
        409,
        "case_not_surveyable",
    )
    .await;
    to_follow_up(&app, &d, case, d.cgj, &d.cgj_staff).await;

    let invitation = issue(&app, &d.operator, case, json!({})).await;
    let token = invitation["token"].as_str().unwrap().to_owned();
    assert_eq!(token.len(), 43);
    assert_eq!(invitation["link"], format!("{BASE_URL}/surveys/{token}"));
    let survey = &invitation["survey"];
    let id = survey["id"].as_i64().unwrap();
    assert_eq!(survey["case_id"], case);
    assert_eq!(survey["state"], "open");
    assert!(survey["answers"].is_null());
    let issued: chrono::DateTime<chrono::Utc> =
        survey["issued_at"].as_str().unwrap().parse().unwrap();
    let expires: chrono::DateTime<chrono::Utc> =
        survey["expires_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(expires - issued, chrono::Duration::days(14));
    let default: Value = json_of(
        app.get_as(&d.operator, "/api/v1/survey-templates").await,
        200,
        "templates",
    )
    .await;
    let default = default["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["is_default"] == true)
        .unwrap()
        .clone();
    assert_eq!(survey["template_id"], default["id"]);

    // The public page: questions and the case's public summary, nothing personal.
    let page = app.get(&format!("/api/v1/public/surveys/{token}")).await;
    let text = json_of(page, 200, "public survey").await.to_string();
    let public: Value = serde_json::from_str(&text).unwrap();
    let case_view = json_of(
        app.get_as(&d.operator, &format!("/api/v1/cases/{case}"))
            .await,
        200,
        "case",
    )
    .await;
    assert_eq!(public["case"]["case_no"], case_view["case_no"]);
    assert_eq!(public["case"]["title"], "小区门口占道经营");
    assert_eq!(public["case"]["kind"], "complaint");
    assert_eq!(public["case"]["status"], "answered");
    assert_eq!(public["state"], "open");
    let keys: Vec<&str> = public["questions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["resolved", "satisfaction", "comment"]);
    for personal in ["张三", "13812345678", "东华门街道", "complainant", "token"] {
        assert!(!text.contains(personal), "{personal} in {text}");
    }

    // Answered once; the second answer is refused and changes nothing.
    let answered = json_of(
        app.post_as(
            None,
            &answer_path(&token),
            &default_answers("basically_satisfied"),
        )
        .await,
        201,
        "answer",
    )
    .await;
    assert_eq!(answered["state"], "answered");
    assert_problem(
        app.post_as(None, &answer_path(&token), &default_answers("dissatisfied"))
            .await,
        409,
        "survey_already_answered",
    )
    .await;
    let shown = json_of(
        app.get(&format!("/api/v1/public/surveys/{token}")).await,
        200,
        "answered survey",
    )
    .await;
    assert_eq!(shown["state"], "answered");

    let read = json_of(
        app.get_as(&d.operator, &format!("/api/v1/surveys/{id}"))
            .await,
        200,
        "survey",
    )
    .await;
    assert_eq!(read["state"], "answered");
    assert_eq!(read["resolved"], "yes");
    assert_eq!(read["satisfaction"], "basically_satisfied");
    assert!(
        read["answered_by"].is_null(),
        "answered through the link alone"
    );
    assert_eq!(read["answers"][1]["value"], "basically_satisfied");
    assert_eq!(read["answers"][2]["kind"], "text");
    assert!(read.get("token").is_none() && read.get("token_hash").is_none());

    // The answer stands as the follow-up result: resolved and basically satisfied closes the case.
    let closed = case_of(&app, &d.operator, case).await;
    assert_eq!(closed["status"], "closed");
    assert_eq!(closed["closure"], "resolved");
    let all: Value = app
        .get_as(&d.operator, &format!("/api/v1/cases/{case}/timeline"))
        .await
        .json()
        .await
        .unwrap();
    let last = all.as_array().unwrap().last().unwrap();
    assert_eq!(last["action"], "closed_after_follow_up");
    assert_eq!(last["actor_role"], "citizen");
    assert_eq!(last["details"]["survey_id"], id);
    let events = timeline_actions(&app, &d.operator, case).await;
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["survey_issued", "survey_answered"]);
    assert_eq!(events[0]["details"]["survey_id"], id);
    assert_eq!(events[0]["actor_role"], "operator");
    assert_eq!(events[1]["actor_role"], "citizen");
    assert!(events[1]["actor_user_id"].is_null());
    assert_eq!(events[1]["details"]["satisfaction"], "basically_satisfied");
    assert!(
        !events[1].to_string().contains("13812345678"),
        "the citizen's words stay out of the timeline"
    );

    // A token nobody was given, of the same shape or not: the same 404.
    let other = "A".repeat(43);
    for unknown in [other.as_str(), "x", &"b".repeat(300)] {
        let body = assert_problem(
            app.get(&format!("/api/v1/public/surveys/{unknown}")).await,
            404,
            "not_found",
        )
        .await;
        assert_eq!(body["detail"], "no such survey");
        assert_problem(
            app.post_as(None, &answer_path(unknown), &default_answers("satisfied"))
                .await,
            404,
            "not_found",
        )
        .await;
    }
}

#[tokio::test]
async fn twenty_concurrent_answers_let_exactly_one_win() {
    let app = app().await;
    let d = desk(&app).await;
    let case = awaiting_case(&app, &d, false).await;
    let invitation = issue(&app, &d.operator, case, json!({})).await;
    let token = invitation["token"].as_str().unwrap().to_owned();
    let id = invitation["survey"]["id"].as_i64().unwrap();
    let path = answer_path(&token);
    let answers: Vec<_> = (0..20)
        .map(|i| {
            let request = app
                .request("POST", &path, None)
                .json(&default_answers(if i % 2 == 0 {
                    "satisfied"
                } else {
                    "dissatisfied"
                }));
            tokio::spawn(async move { request.send().await.unwrap() })
        })
        .collect();
    let mut won = 0;
    let mut refused = 0;
    for answer in answers {
        let response = answer.await.unwrap();
        match response.status().as_u16() {
            201 => won += 1,
            _ => {
                assert_problem(response, 409, "survey_already_answered").await;
                refused += 1;
            }
        }
    }
    assert_eq!((won, refused), (1, 19));
    let events = timeline_actions(&app, &d.operator, case).await;
    assert_eq!(
        events
            .iter()
            .filter(|e| e["action"] == "survey_answered")
            .count(),
        1
    );
    let read = json_of(
        app.get_as(&d.operator, &format!("/api/v1/surveys/{id}"))
            .await,
        200,
        "survey",
    )
    .await;
    assert_eq!(
        read["satisfaction"],
        events.last().unwrap()["details"]["satisfaction"],
        "the answer kept is the one on the timeline"
    );
    // …and the one the follow-up rules applied, once.
    let status = case_of(&app, &d.operator, case).await["status"].clone();
    let expected = if read["satisfaction"] == "satisfied" {
        "closed"
    } else {
        "awaiting_decision"
    };
    assert_eq!(status, expected);
}

#[tokio::test]
async fn a_dissatisfied_answer_goes_to_the_supervisor_and_closed_cases_only_record_answers() {
    let app = app().await;
    let d = desk(&app).await;
    let case = awaiting_case(&app, &d, false).await;
    let invitation = issue(&app, &d.operator, case, json!({})).await;
    // A second invitation for the same case, answered after the first decided the follow-up.
    let later = issue(&app, &d.operator, case, json!({})).await;
    json_of(
        app.post_as(
            None,
            &answer_path(invitation["token"].as_str().unwrap()),
            &default_answers("dissatisfied"),
        )
        .await,
        201,
        "dissatisfied",
    )
    .await;
    assert_eq!(
        case_of(&app, &d.operator, case).await["status"],
        "awaiting_decision"
    );
    // While the supervisor decides, no new survey.
    assert_problem(
        post(
            &app,
            &d.operator,
            &format!("/api/v1/cases/{case}/surveys"),
            json!({}),
        )
        .await,
        409,
        "case_not_surveyable",
    )
    .await;
    // The other invitation still takes its answer, which changes nothing more.
    json_of(
        app.post_as(
            None,
            &answer_path(later["token"].as_str().unwrap()),
            &default_answers("satisfied"),
        )
        .await,
        201,
        "later answer",
    )
    .await;
    assert_eq!(
        case_of(&app, &d.operator, case).await["status"],
        "awaiting_decision"
    );

    // A closed case: surveyed and answered, its closure kept as it was.
    json_of(
        post(
            &app,
            &d.supervisor,
            &format!("/api/v1/cases/{case}/follow-up-decision"),
            json!({"decision": "close", "reason": "beyond_policy"}),
        )
        .await,
        200,
        "decide close",
    )
    .await;
    let before = case_of(&app, &d.operator, case).await;
    assert_eq!(before["status"], "closed");
    let after_close = issue(&app, &d.operator, case, json!({})).await;
    json_of(
        app.post_as(
            None,
            &answer_path(after_close["token"].as_str().unwrap()),
            &default_answers("satisfied"),
        )
        .await,
        201,
        "answer on a closed case",
    )
    .await;
    let after = case_of(&app, &d.operator, case).await;
    assert_eq!(after["status"], "closed");
    assert_eq!(after["closure"], before["closure"]);
    assert_eq!(after["version"], before["version"]);
}

#[tokio::test]
async fn an_expired_invitation_answers_410() {
    let app = app().await;
    let d = desk(&app).await;
    let case = awaiting_case(&app, &d, false).await;
    let invitation = issue(&app, &d.operator, case, json!({})).await;
    let token = invitation["token"].as_str().unwrap().to_owned();
    let id = invitation["survey"]["id"].as_i64().unwrap();
    // Fourteen days later, without waiting them.
    app.db
        .execute(&format!(
            "UPDATE surveys SET expires_at = '2026-01-01 00:00:00' WHERE id = {id}"
        ))
        .await;
    assert_problem(
        app.get(&format!("/api/v1/public/surveys/{token}")).await,
        410,
        "survey_expired",
    )
    .await;
    assert_problem(
        app.post_as(None, &answer_path(&token), &default_answers("satisfied"))
            .await,
        410,
        "survey_expired",
    )
    .await;
    let read = json_of(
        app.get_as(&d.operator, &format!("/api/v1/surveys/{id}"))
            .await,
        200,
        "survey",
    )
    .await;
    assert_eq!(read["state"], "expired");
    assert!(read["answered_at"].is_null());
    // A new invitation for the same case works.
    let again = issue(&app, &d.operator, case, json!({})).await;
    let token = again["token"].as_str().unwrap();
    json_of(
        app.post_as(None, &answer_path(token), &default_answers("satisfied"))
            .await,
        201,
        "answer the new one",
    )
    .await;
}

#[tokio::test]
async fn every_bad_answer_is_listed_in_one_422() {
    let app = app().await;
    let d = desk(&app).await;
    let admin = app.token("admin").await;
    let template = json_of(
        app.post_as(Some(&admin), "/api/v1/survey-templates", &rating_template())
            .await,
        201,
        "template",
    )
    .await;
    let case = awaiting_case(&app, &d, false).await;
    let invitation = issue(
        &app,
        &d.operator,
        case,
        json!({"template_id": template["id"]}),
    )
    .await;
    let token = invitation["token"].as_str().unwrap().to_owned();
    let path = answer_path(&token);

    // A rating of 6, an option not offered, an unknown question; the required rating then counts
    // as answered badly, not missing.
    let problem = assert_problem(
        app.post_as(
            None,
            &path,
            &json!({"answers": [
                {"question": "speed", "value": 6},
                {"question": "attitude", "value": "excellent"},
                {"question": "colour", "value": "red"},
            ]}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    let fields: Vec<(&str, &str)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        fields,
        [
            ("answers[0].value", "range"),
            ("answers[1].value", "unknown_value"),
            ("answers[2].question", "unknown_value"),
        ]
    );
    // A missing required answer, a rating sent as text.
    let problem = assert_problem(
        app.post_as(
            None,
            &path,
            &json!({"answers": [{"question": "attitude", "value": 5}, {"question": "words", "value": "好"}]}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    let fields: Vec<(&str, &str)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        fields,
        [
            ("answers[0].value", "invalid_type"),
            ("answers", "required")
        ]
    );
    assert!(
        problem["errors"][1]["message"]
            .as_str()
            .unwrap()
            .contains("speed")
    );
    // The body's own shape: an unknown field, the answers missing.
    for (body, field) in [(json!({"answer": []}), "answer"), (json!({}), "answers")] {
        let problem = assert_problem(
            app.post_as(None, &path, &body).await,
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], field);
    }
    // Nothing was taken: the right answer still goes in, and a template without the follow-up
    // measures records no result.
    json_of(
        app.post_as(
            None,
            &path,
            &json!({"answers": [{"question": "speed", "value": 5}, {"question": "attitude", "value": "good"}]}),
        )
        .await,
        201,
        "answer",
    )
    .await;
    let read = json_of(
        app.get_as(
            &d.operator,
            &format!("/api/v1/surveys/{}", invitation["survey"]["id"]),
        )
        .await,
        200,
        "survey",
    )
    .await;
    assert_eq!(
        read["answers"][0],
        json!({"question": "speed", "kind": "rating", "value": 5})
    );
    assert!(read["resolved"].is_null() && read["satisfaction"].is_null());
    assert_eq!(
        case_of(&app, &d.operator, case).await["status"],
        "awaiting_follow_up",
        "a template without the follow-up result leaves the follow-up to a call"
    );
}

#[tokio::test]
async fn templates_are_versioned_never_changed_and_one_is_the_default() {
    let app = app().await;
    let d = desk(&app).await;
    let admin = app.token("admin").await;
    let page = json_of(
        app.get_as(&d.operator, "/api/v1/survey-templates").await,
        200,
        "templates",
    )
    .await;
    let shipped = page["items"][0].clone();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(shipped["is_default"], true);
    assert_eq!(shipped["version"], 1);
    assert_eq!(
        shipped["questions"][0]["text"],
        "您反映的问题是否已经解决？"
    );
    assert_eq!(shipped["questions"][0]["carries"], "resolved");
    assert_eq!(shipped["questions"][1]["carries"], "satisfaction");
    assert_eq!(
        shipped["questions"][1]["options"][1]["maps_to"],
        "basically_satisfied"
    );
    assert_eq!(shipped["questions"][2]["kind"], "text");
    let shipped_id = shipped["id"].as_i64().unwrap();

    // Questions that do not fit together: every problem by its path.
    let problem = assert_problem(
        app.post_as(
            Some(&admin),
            "/api/v1/survey-templates",
            &json!({"name": "坏模板", "questions": [
                {"key": "a", "kind": "rating", "text": "打分", "options": [{"value": "1", "label": "一"}, {"value": "2", "label": "二"}]},
                {"key": "a", "kind": "choice", "text": "满意吗", "required": true, "carries": "satisfaction",
                 "options": [{"value": "y", "label": "满意", "maps_to": "yes"}, {"value": "n", "label": "不满意"}]},
            ]}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "questions[0].options",
            "questions[1].key",
            "questions[1].options[0].maps_to",
            "questions[1].options[1].maps_to"
        ]
    );
    assert_problem(
        app.post_as(
            Some(&admin),
            "/api/v1/survey-templates",
            &json!({"name": "缺问题", "questions": []}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;

    // A survey on version 1, then an edit: version 2 becomes the default, version 1 stays as it was.
    let case = awaiting_case(&app, &d, false).await;
    let first = issue(&app, &d.operator, case, json!({})).await;
    assert_eq!(first["survey"]["template_id"], shipped_id);
    let mut questions = shipped["questions"].clone();
    questions[2]["text"] = json!("请对我们的工作提出意见建议");
    let v2 = json_of(
        app.post_as(
            Some(&admin),
            "/api/v1/survey-templates",
            &json!({"name": "市民满意度回访", "replaces": shipped_id, "questions": questions}),
        )
        .await,
        201,
        "edit",
    )
    .await;
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["replaces"], shipped_id);
    assert_eq!(v2["is_default"], true);
    let v1 = json_of(
        app.get_as(&admin, &format!("/api/v1/survey-templates/{shipped_id}"))
            .await,
        200,
        "v1",
    )
    .await;
    assert_eq!(v1["superseded_by"], v2["id"]);
    assert_eq!(v1["is_default"], false);
    assert_eq!(v1["questions"], shipped["questions"], "never changed");
    // Only the current version is edited or asked.
    assert_problem(
        app.post_as(
            Some(&admin),
            "/api/v1/survey-templates",
            &json!({"name": "再改", "replaces": shipped_id, "questions": questions}),
        )
        .await,
        409,
        "template_superseded",
    )
    .await;
    assert_problem(
        post(
            &app,
            &d.operator,
            &format!("/api/v1/cases/{case}/surveys"),
            json!({"template_id": shipped_id}),
        )
        .await,
        409,
        "template_superseded",
    )
    .await;
    for (field, body) in [(
        "replaces",
        json!({"name": "x", "replaces": 999999, "questions": questions}),
    )] {
        let problem = assert_problem(
            app.post_as(Some(&admin), "/api/v1/survey-templates", &body)
                .await,
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(problem["errors"][0]["field"], field);
    }
    let second = issue(&app, &d.operator, case, json!({})).await;
    assert_eq!(second["survey"]["template_id"], v2["id"]);
    // The answer to the first invitation still belongs to version 1.
    json_of(
        app.post_as(
            None,
            &answer_path(first["token"].as_str().unwrap()),
            &default_answers("satisfied"),
        )
        .await,
        201,
        "answer v1",
    )
    .await;
    let read = json_of(
        app.get_as(
            &d.operator,
            &format!("/api/v1/surveys/{}", first["survey"]["id"]),
        )
        .await,
        200,
        "survey",
    )
    .await;
    assert_eq!(read["template_id"], shipped_id);

    // The list: current versions by default, every version on request.
    let current = json_of(
        app.get_as(&admin, "/api/v1/survey-templates").await,
        200,
        "current",
    )
    .await;
    assert_eq!(current["items"].as_array().unwrap().len(), 1);
    let all = json_of(
        app.get_as(&admin, "/api/v1/survey-templates?all_versions=true&limit=1")
            .await,
        200,
        "all",
    )
    .await;
    assert_eq!(all["items"][0]["id"], v2["id"]);
    let cursor = all["next_cursor"].as_str().unwrap();
    let rest = json_of(
        app.get_as(
            &admin,
            &format!("/api/v1/survey-templates?all_versions=true&limit=1&cursor={cursor}"),
        )
        .await,
        200,
        "next page",
    )
    .await;
    assert_eq!(rest["items"][0]["id"], shipped_id);
    assert!(rest["next_cursor"].is_null());
    // A new template made the default takes it over.
    let mut other = rating_template();
    other["is_default"] = json!(true);
    let other = json_of(
        app.post_as(Some(&admin), "/api/v1/survey-templates", &other)
            .await,
        201,
        "new default",
    )
    .await;
    let v2_now = json_of(
        app.get_as(&admin, &format!("/api/v1/survey-templates/{}", v2["id"]))
            .await,
        200,
        "v2",
    )
    .await;
    assert_eq!(v2_now["is_default"], false);
    let third = issue(&app, &d.operator, case, json!({})).await;
    assert_eq!(third["survey"]["template_id"], other["id"]);
    assert_problem(
        app.get_as(&admin, "/api/v1/survey-templates/999999").await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn departments_see_their_own_cases_surveys_and_analysts_no_personal_data() {
    let app = app().await;
    let d = desk(&app).await;
    let analyst = app.token("analyst").await;
    let citizen = app.token("13800138000").await;
    let open = awaiting_case(&app, &d, false).await;
    let confidential = awaiting_case(&app, &d, true).await;
    let mut ids = Vec::new();
    for case in [open, confidential] {
        let invitation = issue(&app, &d.operator, case, json!({})).await;
        json_of(
            app.post_as(
                None,
                &answer_path(invitation["token"].as_str().unwrap()),
                &default_answers("satisfied"),
            )
            .await,
            201,
            "answer",
        )
        .await;
        ids.push(invitation["survey"]["id"].as_i64().unwrap());
    }
    let (open_id, confidential_id) = (ids[0], ids[1]);

    // CGJ handled both: its staff read the answers, the citizen's words only where not confidential.
    let staff_view = json_of(
        app.get_as(&d.cgj_staff, &format!("/api/v1/surveys/{open_id}"))
            .await,
        200,
        "cgj open",
    )
    .await;
    assert_eq!(staff_view["answers"].as_array().unwrap().len(), 3);
    assert_eq!(staff_view["text_withheld"], false);
    let staff_view = json_of(
        app.get_as(&d.cgj_staff, &format!("/api/v1/surveys/{confidential_id}"))
            .await,
        200,
        "cgj confidential",
    )
    .await;
    assert_eq!(staff_view["answers"].as_array().unwrap().len(), 2);
    assert_eq!(staff_view["text_withheld"], true);
    let listed = json_of(
        app.get_as(&d.cgj_admin, "/api/v1/surveys").await,
        200,
        "cgj list",
    )
    .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);

    // DC handled neither.
    for id in [open_id, confidential_id] {
        assert_problem(
            app.get_as(&d.dc_staff, &format!("/api/v1/surveys/{id}"))
                .await,
            404,
            "not_found",
        )
        .await;
    }
    let listed = json_of(app.get_as(&d.dc_staff, "/api/v1/surveys").await, 200, "dc").await;
    assert_eq!(listed["items"], json!([]));

    // Analysts: every survey, never the citizen's words.
    let listed = json_of(
        app.get_as(&analyst, "/api/v1/surveys").await,
        200,
        "analyst",
    )
    .await;
    let text = listed.to_string();
    assert_eq!(listed["items"].as_array().unwrap().len(), 2);
    assert!(
        !text.contains("13812345678") && !text.contains("处理及时"),
        "{text}"
    );
    for item in listed["items"].as_array().unwrap() {
        assert_eq!(item["text_withheld"], true);
        assert_eq!(item["satisfaction"], "satisfied");
        assert!(item["answered_by"].is_null());
    }
    json_of(
        app.get_as(&analyst, "/api/v1/survey-templates").await,
        200,
        "analysts read templates",
    )
    .await;

    // Who may not: issue (departments, analysts, citizens), read (citizens), write templates.
    for token in [&d.cgj_staff, &analyst, &citizen] {
        assert_problem(
            post(
                &app,
                token,
                &format!("/api/v1/cases/{open}/surveys"),
                json!({}),
            )
            .await,
            403,
            "forbidden_role",
        )
        .await;
    }
    assert_problem(
        app.get_as(&citizen, "/api/v1/surveys").await,
        403,
        "forbidden_role",
    )
    .await;
    for token in [&d.operator, &analyst, &d.cgj_admin] {
        assert_problem(
            app.post_as(Some(token), "/api/v1/survey-templates", &rating_template())
                .await,
            403,
            "forbidden_role",
        )
        .await;
    }
    assert_problem(
        app.get_as(&d.cgj_staff, "/api/v1/survey-templates").await,
        403,
        "forbidden_role",
    )
    .await;
}

#[tokio::test]
async fn a_signed_in_citizen_answers_their_own_survey_as_themselves() {
    let app = app().await;
    let d = desk(&app).await;
    let citizen = app.token("13800138000").await;
    let own = json_of(
        app.post_as(
            Some(&citizen),
            "/api/v1/cases",
            &json!({"kind": "complaint", "title": "路灯不亮", "description": "小区路口路灯坏了一周。"}),
        )
        .await,
        201,
        "citizen registers",
    )
    .await;
    let own = own["id"].as_i64().unwrap();
    json_of(
        post(
            &app,
            &d.operator,
            &format!("/api/v1/cases/{own}/accept"),
            json!({}),
        )
        .await,
        200,
        "accept",
    )
    .await;
    to_follow_up(&app, &d, own, d.cgj, &d.cgj_staff).await;
    let invitation = issue(&app, &d.supervisor, own, json!({})).await;
    json_of(
        app.post_as(
            Some(&citizen),
            &answer_path(invitation["token"].as_str().unwrap()),
            &default_answers("satisfied"),
        )
        .await,
        201,
        "signed-in answer",
    )
    .await;
    let me: Value = app
        .get_as(&citizen, "/api/v1/auth/me")
        .await
        .json()
        .await
        .unwrap();
    let me = me["user"]["id"].as_i64().unwrap();
    let read = json_of(
        app.get_as(
            &d.operator,
            &format!("/api/v1/surveys/{}", invitation["survey"]["id"]),
        )
        .await,
        200,
        "survey",
    )
    .await;
    assert_eq!(read["answered_by"], me);
    let events = timeline_actions(&app, &d.operator, own).await;
    assert_eq!(events[1]["actor_user_id"], me);
    assert_eq!(events[1]["details"]["signed_in"], true);

    // Someone else's case: the token still works, the citizen is not recorded as its author.
    let other = awaiting_case(&app, &d, false).await;
    let invitation = issue(&app, &d.operator, other, json!({})).await;
    let token = invitation["token"].as_str().unwrap().to_owned();
    // A token that is sent must be valid.
    let bad = app
        .request("POST", &answer_path(&token), Some("not-a-jwt"))
        .json(&default_answers("satisfied"))
        .send()
        .await
        .unwrap();
    assert_problem(bad, 401, "invalid_token").await;
    json_of(
        app.post_as(
            Some(&citizen),
            &answer_path(&token),
            &default_answers("satisfied"),
        )
        .await,
        201,
        "answer another's survey",
    )
    .await;
    let read = json_of(
        app.get_as(
            &d.operator,
            &format!("/api/v1/surveys/{}", invitation["survey"]["id"]),
        )
        .await,
        200,
        "survey",
    )
    .await;
    assert!(read["answered_by"].is_null());
}

#[tokio::test]
async fn surveys_are_listed_with_filters_and_pages() {
    let app = app().await;
    let d = desk(&app).await;
    let first = awaiting_case(&app, &d, false).await;
    let second = awaiting_case(&app, &d, false).await;
    let a = issue(&app, &d.operator, first, json!({})).await;
    let b = issue(&app, &d.operator, second, json!({})).await;
    let c = issue(&app, &d.dispatcher, second, json!({})).await;
    json_of(
        app.post_as(
            None,
            &answer_path(b["token"].as_str().unwrap()),
            &default_answers("dissatisfied"),
        )
        .await,
        201,
        "answer",
    )
    .await;
    let ids = |page: &Value| -> Vec<i64> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_i64().unwrap())
            .collect()
    };
    let id = |v: &Value| v["survey"]["id"].as_i64().unwrap();
    let list = |query: String| {
        let app = &app;
        let token = d.operator.clone();
        async move {
            json_of(
                app.get_as(&token, &format!("/api/v1/surveys{query}")).await,
                200,
                "list",
            )
            .await
        }
    };
    assert_eq!(ids(&list(String::new()).await), [id(&c), id(&b), id(&a)]);
    assert_eq!(
        ids(&list(format!("?case_id={second}")).await),
        [id(&c), id(&b)]
    );
    assert_eq!(ids(&list("?answered=true".into()).await), [id(&b)]);
    assert_eq!(ids(&list("?answered=false".into()).await), [id(&c), id(&a)]);
    let template = a["survey"]["template_id"].as_i64().unwrap();
    assert_eq!(
        ids(&list(format!("?template_id={template}")).await).len(),
        3
    );
    assert_eq!(
        ids(&list("?template_id=999999".into()).await),
        Vec::<i64>::new()
    );
    assert_eq!(ids(&list("?to=2020-01-01".into()).await), Vec::<i64>::new());
    assert_eq!(
        ids(&list("?from=2020-01-01&limit=200".into()).await).len(),
        3
    );
    let page = list("?limit=2".into()).await;
    assert_eq!(ids(&page), [id(&c), id(&b)]);
    let cursor = page["next_cursor"].as_str().unwrap();
    let next = list(format!("?limit=2&cursor={cursor}")).await;
    assert_eq!(ids(&next), [id(&a)]);
    assert!(next["next_cursor"].is_null());
    assert_problem(
        app.get_as(&d.operator, "/api/v1/surveys?answered=perhaps")
            .await,
        400,
        "invalid_query",
    )
    .await;
}

#[tokio::test]
async fn the_public_survey_endpoints_are_rate_limited_per_address() {
    let app = spawn_app_with(&[("HOTLINE_PUBLIC_RATE_LIMIT", "3")]).await;
    for _ in 0..3 {
        assert_problem(
            app.get(&format!("/api/v1/public/surveys/{}", "A".repeat(43)))
                .await,
            404,
            "not_found",
        )
        .await;
    }
    let limited = app
        .post_as(
            None,
            &answer_path(&"A".repeat(43)),
            &default_answers("satisfied"),
        )
        .await;
    assert!(limited.headers().contains_key("retry-after"));
    assert_problem(limited, 429, "rate_limited").await;
}

// ---------------------------------------------------------------------------------------------
// Phone surveys: a reached follow-up call recorded as a survey response.

fn call_path(case: i64) -> String {
    format!("/api/v1/cases/{case}/follow-up-calls")
}

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

async fn surveys_of(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    json_of(
        app.get_as(token, &format!("/api/v1/surveys?{query}")).await,
        200,
        "surveys",
    )
    .await["items"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn a_reached_call_recorded_as_a_phone_survey_closes_the_case_once() {
    let app = app().await;
    let d = desk(&app).await;
    let case = awaiting_case(&app, &d, false).await;
    // The answers give the call its evaluation: nothing else is sent.
    let recorded = json_of(
        post(
            &app,
            &d.operator,
            &call_path(case),
            json!({"channel": "phone", "outcome": "reached", "citizen_words": "修好了",
                   "survey": default_answers("basically_satisfied")}),
        )
        .await,
        201,
        "call with survey",
    )
    .await;
    let call = &recorded["call"];
    assert_eq!(call["resolved"], "yes");
    assert_eq!(call["satisfaction"], "basically_satisfied");
    assert_eq!(call["effect"], "closed");
    assert_eq!(recorded["case"]["status"], "closed");
    assert_eq!(recorded["case"]["closure"], "resolved");
    let survey = &recorded["survey"];
    assert_eq!(survey["channel"], "phone");
    assert_eq!(survey["follow_up_call_id"], call["id"]);
    assert_eq!(survey["case_id"], case);
    assert_eq!(survey["state"], "answered");
    assert_eq!(survey["answered_at"], call["called_at"]);
    assert_eq!(survey["satisfaction"], "basically_satisfied");
    assert_eq!(survey["answers"].as_array().unwrap().len(), 3);

    // Listed with its channel and call, by the channel filter too.
    let id = survey["id"].as_i64().unwrap();
    let shown = json_of(
        app.get_as(&d.operator, &format!("/api/v1/surveys/{id}"))
            .await,
        200,
        "survey",
    )
    .await;
    assert_eq!(shown["channel"], "phone");
    assert_eq!(shown["follow_up_call_id"], call["id"]);
    let phone = surveys_of(&app, &d.operator, "channel=phone").await;
    assert_eq!(phone.len(), 1);
    assert_eq!(phone[0]["id"], id);
    assert!(
        surveys_of(&app, &d.operator, "channel=link")
            .await
            .is_empty()
    );
    assert_problem(
        app.get_as(&d.operator, "/api/v1/surveys?channel=fax").await,
        400,
        "invalid_query",
    )
    .await;

    // One survey_answered (status kept) and one closing: the follow-up rule applied once.
    let events = json_of(
        app.get_as(&d.operator, &format!("/api/v1/cases/{case}/timeline"))
            .await,
        200,
        "timeline",
    )
    .await;
    let actions: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    let tail = &actions[actions.len() - 2..];
    assert_eq!(tail, ["survey_answered", "closed_after_follow_up"]);
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "closed_after_follow_up")
            .count(),
        1
    );
    let answered = &events.as_array().unwrap()[actions.len() - 2];
    assert_eq!(answered["status_before"], "awaiting_follow_up");
    assert_eq!(answered["status_after"], "awaiting_follow_up");
    assert_eq!(answered["details"]["channel"], "phone");
    assert_eq!(answered["details"]["follow_up_call_id"], call["id"]);
    assert_eq!(answered["details"]["satisfaction"], "basically_satisfied");
    assert!(answered["details"].get("answers").is_none());
    // The case's only follow-up clock stopped once.
    let clocks = json_of(
        app.get_as(
            &d.operator,
            &format!("/api/v1/deadlines?case_id={case}&kind=follow_up"),
        )
        .await,
        200,
        "clocks",
    )
    .await;
    let clocks = clocks["items"].as_array().unwrap();
    assert_eq!(clocks.len(), 1);
    assert_eq!(clocks[0]["state"], "met");

    // Agreeing fields are fine; a dissatisfied answer goes to the supervisor, as a call would.
    let second = awaiting_case(&app, &d, false).await;
    let mut answers = default_answers("dissatisfied");
    answers["answers"][0]["value"] = json!("no");
    let recorded = json_of(
        post(
            &app,
            &d.operator,
            &call_path(second),
            json!({"channel": "phone", "outcome": "reached", "satisfaction": "dissatisfied",
                   "survey": answers}),
        )
        .await,
        201,
        "dissatisfied",
    )
    .await;
    assert_eq!(recorded["case"]["status"], "awaiting_decision");
    assert_eq!(recorded["call"]["resolved"], "no");
    assert_eq!(recorded["survey"]["resolved"], "no");

    // A template carrying neither measure: the call gives them, the survey records its answers.
    let admin = app.token("admin").await;
    let template = json_of(
        app.post_as(Some(&admin), "/api/v1/survey-templates", &rating_template())
            .await,
        201,
        "template",
    )
    .await;
    let third = awaiting_case(&app, &d, false).await;
    let recorded = json_of(
        post(
            &app,
            &d.operator,
            &call_path(third),
            json!({"channel": "phone", "outcome": "reached", "resolved": "partly",
                   "satisfaction": "satisfied",
                   "survey": {"template_id": template["id"], "answers": [
                       {"question": "speed", "value": 4},
                       {"question": "attitude", "value": "good"}]}}),
        )
        .await,
        201,
        "rating survey",
    )
    .await;
    assert_eq!(recorded["case"]["closure"], "partly_resolved");
    assert_eq!(recorded["survey"]["template_id"], template["id"]);
    assert!(recorded["survey"]["resolved"].is_null());
    assert!(recorded["survey"]["satisfaction"].is_null());
    // Without its measures from the body, such a call lacks its evaluation.
    let fourth = awaiting_case(&app, &d, false).await;
    let problem = assert_problem(
        post(
            &app,
            &d.operator,
            &call_path(fourth),
            json!({"channel": "phone", "outcome": "reached",
                   "survey": {"template_id": template["id"], "answers": [
                       {"question": "speed", "value": 4},
                       {"question": "attitude", "value": "good"}]}}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(
        field_codes(&problem),
        [
            ("resolved".to_owned(), "required".to_owned()),
            ("satisfaction".to_owned(), "required".to_owned())
        ]
    );
    assert_eq!(
        surveys_of(&app, &d.operator, "channel=phone").await.len(),
        3
    );
}

#[tokio::test]
async fn a_phone_survey_that_disagrees_with_the_call_or_is_not_one_changes_nothing() {
    let app = app().await;
    let d = desk(&app).await;
    let case = awaiting_case(&app, &d, false).await;
    // The call says satisfied, the answers say dissatisfied: both named.
    let problem = assert_problem(
        post(
            &app,
            &d.operator,
            &call_path(case),
            json!({"channel": "phone", "outcome": "reached", "resolved": "yes",
                   "satisfaction": "satisfied", "survey": default_answers("dissatisfied")}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(
        field_codes(&problem),
        [
            ("satisfaction".to_owned(), "invalid".to_owned()),
            ("survey.answers[1].value".to_owned(), "invalid".to_owned())
        ]
    );
    // A survey on a call that did not reach the citizen.
    for outcome in ["no_answer", "refused", "wrong_number"] {
        let problem = assert_problem(
            post(
                &app,
                &d.operator,
                &call_path(case),
                json!({"channel": "phone", "outcome": outcome,
                       "survey": default_answers("satisfied")}),
            )
            .await,
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(
            field_codes(&problem),
            [("survey".to_owned(), "not_allowed".to_owned())]
        );
    }
    // Bad answers, every one listed under `survey.`; an unknown template.
    let problem = assert_problem(
        post(
            &app,
            &d.operator,
            &call_path(case),
            json!({"channel": "phone", "outcome": "reached", "survey": {"answers": [
                {"question": "resolved", "value": "maybe"},
                {"question": "colour", "value": "red"},
                {"question": "comment", "value": 5}]}}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(
        field_codes(&problem),
        [
            (
                "survey.answers[0].value".to_owned(),
                "unknown_value".to_owned()
            ),
            (
                "survey.answers[1].question".to_owned(),
                "unknown_value".to_owned()
            ),
            (
                "survey.answers[2].value".to_owned(),
                "invalid_type".to_owned()
            ),
            ("survey.answers".to_owned(), "required".to_owned()),
        ]
    );
    let problem = assert_problem(
        post(
            &app,
            &d.operator,
            &call_path(case),
            json!({"channel": "phone", "outcome": "reached",
                   "survey": {"template_id": 999_999, "answers": []}}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(
        field_codes(&problem),
        [("survey.template_id".to_owned(), "not_found".to_owned())]
    );
    // The shape of the body is checked like any other: answers are required, fields known.
    assert_problem(
        post(
            &app,
            &d.operator,
            &call_path(case),
            json!({"channel": "phone", "outcome": "reached", "survey": {"colour": 1}}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;

    // Departments and analysts record no calls, surveys or not.
    let analyst = app.token("analyst").await;
    for token in [&d.cgj_staff, &d.cgj_admin, &analyst] {
        assert_problem(
            post(
                &app,
                token,
                &call_path(case),
                json!({"channel": "phone", "outcome": "reached",
                       "survey": default_answers("satisfied")}),
            )
            .await,
            403,
            "forbidden_role",
        )
        .await;
    }

    // Nothing of it was stored: no call, no survey, the case still waits.
    let calls = json_of(
        app.get_as(&d.operator, &call_path(case)).await,
        200,
        "calls",
    )
    .await;
    assert!(calls.as_array().unwrap().is_empty());
    assert!(surveys_of(&app, &d.operator, "").await.is_empty());
    assert_eq!(
        case_of(&app, &d.operator, case).await["status"],
        "awaiting_follow_up"
    );
}
