//! Satisfaction surveys (满意度调查, SPEC 2.8): what a template may ask, whether a set of answers
//! fits a template, and what an answered survey says about the case (resolved, satisfaction) so
//! that it can stand as the follow-up result. Pure rules; the service stores and applies them.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::follow_up::{Evaluation, Resolved, Satisfaction};
use crate::error::{FieldError, FieldErrorCode};

named_enum! {
    /// What a question asks for.
    pub enum QuestionKind {
        /// A whole number from 1 (worst) to 5 (best).
        Rating,
        /// One of the question's options.
        Choice,
        /// The citizen's own words.
        Text,
    }
}

named_enum! {
    /// The follow-up result a choice question carries: its options map to it.
    pub enum Measure {
        /// 问题是否解决: options map to `yes`, `partly`, `no`.
        Resolved,
        /// 是否满意: options map to `satisfied`, `basically_satisfied`, `dissatisfied`.
        Satisfaction,
    }
}

named_enum! {
    /// What choosing an option means for the follow-up result.
    pub enum Meaning {
        Yes,
        Partly,
        No,
        Satisfied,
        BasicallySatisfied,
        Dissatisfied,
    }
}

impl Meaning {
    fn measure(self) -> Measure {
        match self {
            Meaning::Yes | Meaning::Partly | Meaning::No => Measure::Resolved,
            Meaning::Satisfied | Meaning::BasicallySatisfied | Meaning::Dissatisfied => {
                Measure::Satisfaction
            }
        }
    }

    fn resolved(self) -> Option<Resolved> {
        match self {
            Meaning::Yes => Some(Resolved::Yes),
            Meaning::Partly => Some(Resolved::Partly),
            Meaning::No => Some(Resolved::No),
            _ => None,
        }
    }

    fn satisfaction(self) -> Option<Satisfaction> {
        match self {
            Meaning::Satisfied => Some(Satisfaction::Satisfied),
            Meaning::BasicallySatisfied => Some(Satisfaction::BasicallySatisfied),
            Meaning::Dissatisfied => Some(Satisfaction::Dissatisfied),
            _ => None,
        }
    }
}

named_enum! {
    /// How a survey was answered.
    ///
    /// A phone survey is the evaluation its follow-up call gave, stored twice over: the call
    /// (`follow_up_calls`, outcome `reached`) and the survey row pointing at it
    /// (`follow_up_call_id`). Counting reached follow-ups therefore counts reached calls plus
    /// answered surveys without a follow-up call (the link answers), never both rows of one
    /// phone survey.
    pub enum SurveyChannel {
        /// Through the public link of an invitation (its single-use token), or signed in.
        Link,
        /// Asked during a follow-up call that reached the citizen; no token, answered at once.
        Phone,
    }
}

/// One option of a choice question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChoiceOption {
    /// What an answer sends.
    #[schema(example = "satisfied")]
    pub value: String,
    /// What the citizen reads.
    #[schema(example = "满意")]
    pub label: String,
    /// On a question that carries a measure: what choosing this option means.
    pub maps_to: Option<Meaning>,
}

/// One question of a template, as stored and shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Question {
    /// Names the question in answers; unique within its template.
    #[schema(example = "satisfaction")]
    pub key: String,
    pub kind: QuestionKind,
    #[schema(example = "您对办理结果是否满意？")]
    pub text: String,
    pub required: bool,
    /// The follow-up result this question carries, if any.
    pub carries: Option<Measure>,
    /// The options of a choice question (empty for other kinds).
    pub options: Vec<ChoiceOption>,
}

/// The highest rating.
pub const MAX_RATING: i64 = 5;
/// The longest text answer, in characters.
pub const MAX_TEXT_ANSWER: usize = 2000;
/// How long an invitation may be answered (SPEC 2.8).
pub const VALIDITY_DAYS: i64 = 14;

fn field(path: String, code: FieldErrorCode, message: impl Into<String>) -> FieldError {
    FieldError::new(path, code, message)
}

/// The rules between a template's questions that no single field shows: unique keys, options
/// exactly on choice questions (at least two, unique values), and each measure carried by at most
/// one required choice question whose every option maps to a value of that measure. Every
/// problem is reported, by path (`questions[1].options[0].maps_to`).
pub fn check_template(questions: &[Question]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut keys = HashSet::new();
    let mut carried: HashMap<Measure, usize> = HashMap::new();
    for (i, q) in questions.iter().enumerate() {
        let at = |rest: &str| format!("questions[{i}]{rest}");
        if !keys.insert(q.key.as_str()) {
            errors.push(field(
                at(".key"),
                FieldErrorCode::Invalid,
                "another question of this template has the same key",
            ));
        }
        match q.kind {
            QuestionKind::Choice => {
                if q.options.len() < 2 {
                    errors.push(field(
                        at(".options"),
                        FieldErrorCode::Length,
                        "a choice question offers at least two options",
                    ));
                }
                let mut values = HashSet::new();
                for (j, option) in q.options.iter().enumerate() {
                    if !values.insert(option.value.as_str()) {
                        errors.push(field(
                            at(&format!(".options[{j}].value")),
                            FieldErrorCode::Invalid,
                            "another option of this question has the same value",
                        ));
                    }
                }
            }
            QuestionKind::Rating | QuestionKind::Text => {
                if !q.options.is_empty() {
                    errors.push(field(
                        at(".options"),
                        FieldErrorCode::NotAllowed,
                        "only choice questions have options",
                    ));
                }
            }
        }
        match q.carries {
            Some(measure) => {
                if q.kind != QuestionKind::Choice {
                    errors.push(field(
                        at(".carries"),
                        FieldErrorCode::NotAllowed,
                        "only a choice question carries a follow-up result",
                    ));
                }
                if !q.required {
                    errors.push(field(
                        at(".required"),
                        FieldErrorCode::Invalid,
                        "a question carrying a follow-up result must be required",
                    ));
                }
                if let Some(first) = carried.insert(measure, i) {
                    errors.push(field(
                        at(".carries"),
                        FieldErrorCode::Invalid,
                        format!("questions[{first}] carries {} already", measure.as_str()),
                    ));
                }
                for (j, option) in q.options.iter().enumerate() {
                    let path = at(&format!(".options[{j}].maps_to"));
                    match option.maps_to {
                        None => errors.push(field(
                            path,
                            FieldErrorCode::Required,
                            format!("say what this option means for {}", measure.as_str()),
                        )),
                        Some(meaning) if meaning.measure() != measure => errors.push(field(
                            path,
                            FieldErrorCode::Invalid,
                            format!("not a value of {}", measure.as_str()),
                        )),
                        Some(_) => {}
                    }
                }
            }
            None => {
                for (j, option) in q.options.iter().enumerate() {
                    if option.maps_to.is_some() {
                        errors.push(field(
                            at(&format!(".options[{j}].maps_to")),
                            FieldErrorCode::NotAllowed,
                            "only options of a question that carries a follow-up result map",
                        ));
                    }
                }
            }
        }
    }
    errors
}

/// An answer as the citizen sent it: the question's key and a JSON value.
#[derive(Debug, Clone)]
pub struct RawAnswer {
    pub question: String,
    pub value: serde_json::Value,
}

/// An answer's value in the OpenAPI document: a whole number (a rating) or a string (a choice's
/// `value`, or text).
pub fn answer_value_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
    Schema::OneOf(
        OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::Integer))
        .item(ObjectBuilder::new().schema_type(Type::String))
        .description(Some(
            "A rating (whole number 1–5), the `value` of one of a choice question's options, or text",
        ))
        .build(),
    )
}

/// One checked answer, as stored and shown: a rating, an option's value or text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Answer {
    pub question: String,
    pub kind: QuestionKind,
    /// A number for ratings, the option's `value` for choices, text for text questions.
    #[schema(schema_with = answer_value_schema)]
    pub value: serde_json::Value,
}

/// Answers that fit their template, with what they say about the case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedAnswers {
    /// In the template's question order.
    pub answers: Vec<Answer>,
    pub resolved: Option<Resolved>,
    pub satisfaction: Option<Satisfaction>,
}

impl CheckedAnswers {
    /// The follow-up evaluation, when the template carries both measures.
    pub fn evaluation(&self) -> Option<Evaluation> {
        Some(Evaluation {
            resolved: self.resolved?,
            satisfaction: self.satisfaction?,
        })
    }
}

/// Checks `raw` against `questions`: every answer names a question once, fits its kind (a rating
/// 1–5, an offered option, text of at most 2,000 characters), and every required question is
/// answered. A `null` value is no answer. All problems at once, by the answer's path
/// (`answers[2].value`) or, for a missing answer, as `answers` naming the question.
pub fn check_answers(
    questions: &[Question],
    raw: &[RawAnswer],
) -> Result<CheckedAnswers, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut given: HashMap<&str, Answer> = HashMap::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for (i, answer) in raw.iter().enumerate() {
        let at = |rest: &str| format!("answers[{i}]{rest}");
        let Some(question) = questions.iter().find(|q| q.key == answer.question) else {
            errors.push(field(
                at(".question"),
                FieldErrorCode::UnknownValue,
                "no question of this survey has this key",
            ));
            continue;
        };
        if !seen.insert(question.key.as_str()) {
            errors.push(field(
                at(".question"),
                FieldErrorCode::Invalid,
                "this question is answered twice",
            ));
            continue;
        }
        if answer.value.is_null() {
            continue;
        }
        match checked_value(question, &answer.value) {
            Ok(Some(value)) => {
                given.insert(
                    question.key.as_str(),
                    Answer {
                        question: question.key.clone(),
                        kind: question.kind,
                        value,
                    },
                );
            }
            Ok(None) => {}
            Err((code, message)) => errors.push(field(at(".value"), code, message)),
        }
    }
    for question in questions.iter().filter(|q| q.required) {
        let answered = given.contains_key(question.key.as_str());
        // An answer already reported as bad is not reported missing as well.
        if !answered && !refused_with_error(&errors, raw, &question.key) {
            errors.push(field(
                "answers".to_owned(),
                FieldErrorCode::Required,
                format!("question '{}' needs an answer", question.key),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut checked = CheckedAnswers {
        answers: Vec::new(),
        resolved: None,
        satisfaction: None,
    };
    for question in questions {
        let Some(answer) = given.remove(question.key.as_str()) else {
            continue;
        };
        if question.carries.is_some() {
            let meaning = question
                .options
                .iter()
                .find(|o| answer.value.as_str() == Some(o.value.as_str()))
                .and_then(|o| o.maps_to);
            if let Some(meaning) = meaning {
                checked.resolved = checked.resolved.or(meaning.resolved());
                checked.satisfaction = checked.satisfaction.or(meaning.satisfaction());
            }
        }
        checked.answers.push(answer);
    }
    Ok(checked)
}

/// The evaluation of a follow-up call recorded with a phone survey: each measure the answers
/// carry stands for the call, and a measure the call gives as well must say the same. Returns the
/// call's resolved and satisfaction, or the measures on which the call and the answers disagree.
pub fn call_evaluation(
    call: (Option<Resolved>, Option<Satisfaction>),
    answers: &CheckedAnswers,
) -> Result<(Option<Resolved>, Option<Satisfaction>), Vec<Measure>> {
    let mut disagree = Vec::new();
    if let (Some(given), Some(answered)) = (call.0, answers.resolved)
        && given != answered
    {
        disagree.push(Measure::Resolved);
    }
    if let (Some(given), Some(answered)) = (call.1, answers.satisfaction)
        && given != answered
    {
        disagree.push(Measure::Satisfaction);
    }
    if disagree.is_empty() {
        Ok((answers.resolved.or(call.0), answers.satisfaction.or(call.1)))
    } else {
        Err(disagree)
    }
}

/// Whether the answer to `key` was sent but already reported as bad (no second "missing" error).
fn refused_with_error(errors: &[FieldError], raw: &[RawAnswer], key: &str) -> bool {
    raw.iter().enumerate().any(|(i, a)| {
        a.question == key
            && errors
                .iter()
                .any(|e| e.field.starts_with(&format!("answers[{i}].")))
    })
}

/// The stored value of one answer (`None`: blank text, no answer), or why it does not fit.
fn checked_value(
    question: &Question,
    value: &serde_json::Value,
) -> Result<Option<serde_json::Value>, (FieldErrorCode, String)> {
    match question.kind {
        QuestionKind::Rating => match value.as_i64() {
            Some(n) if (1..=MAX_RATING).contains(&n) => Ok(Some(n.into())),
            Some(_) => Err((
                FieldErrorCode::Range,
                format!("a rating is from 1 to {MAX_RATING}"),
            )),
            None if value.is_number() => Err((
                FieldErrorCode::Range,
                format!("a rating is a whole number from 1 to {MAX_RATING}"),
            )),
            None => Err((
                FieldErrorCode::InvalidType,
                "expected a whole number".to_owned(),
            )),
        },
        QuestionKind::Choice => {
            let Some(chosen) = value.as_str() else {
                return Err((
                    FieldErrorCode::InvalidType,
                    "expected the value of one of the options".to_owned(),
                ));
            };
            if question.options.iter().any(|o| o.value == chosen) {
                Ok(Some(chosen.into()))
            } else {
                let offered: Vec<&str> =
                    question.options.iter().map(|o| o.value.as_str()).collect();
                Err((
                    FieldErrorCode::UnknownValue,
                    format!("must be one of {}", offered.join(", ")),
                ))
            }
        }
        QuestionKind::Text => {
            let Some(text) = value.as_str() else {
                return Err((FieldErrorCode::InvalidType, "expected text".to_owned()));
            };
            if text.chars().count() > MAX_TEXT_ANSWER {
                return Err((
                    FieldErrorCode::Length,
                    format!("must be at most {MAX_TEXT_ANSWER} characters"),
                ));
            }
            if text
                .chars()
                .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
            {
                return Err((
                    FieldErrorCode::Invalid,
                    "must not contain control characters".to_owned(),
                ));
            }
            let text = text.trim();
            Ok((!text.is_empty()).then(|| text.into()))
        }
    }
}

/// Where an invitation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SurveyState {
    /// Waiting for the answer.
    Open,
    Answered,
    /// Not answered in time; the link no longer works.
    Expired,
}

/// An answer is kept whatever the time; an unanswered invitation expires at `expires_at`.
pub fn state(
    answered_at: Option<DateTime<Utc>>,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> SurveyState {
    if answered_at.is_some() {
        SurveyState::Answered
    } else if now >= expires_at {
        SurveyState::Expired
    } else {
        SurveyState::Open
    }
}

/// When an invitation issued at `issued_at` stops working.
pub fn expires_at(issued_at: DateTime<Utc>, validity_days: i64) -> DateTime<Utc> {
    issued_at + Duration::days(validity_days)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn choice(
        key: &str,
        carries: Option<Measure>,
        options: &[(&str, Option<Meaning>)],
    ) -> Question {
        Question {
            key: key.into(),
            kind: QuestionKind::Choice,
            text: "?".into(),
            required: true,
            carries,
            options: options
                .iter()
                .map(|(value, maps_to)| ChoiceOption {
                    value: (*value).into(),
                    label: (*value).into(),
                    maps_to: *maps_to,
                })
                .collect(),
        }
    }

    fn plain(key: &str, kind: QuestionKind, required: bool) -> Question {
        Question {
            key: key.into(),
            kind,
            text: "?".into(),
            required,
            carries: None,
            options: Vec::new(),
        }
    }

    /// The default template's shape: resolved, satisfaction, a rating and a comment.
    fn template() -> Vec<Question> {
        vec![
            choice(
                "resolved",
                Some(Measure::Resolved),
                &[
                    ("yes", Some(Meaning::Yes)),
                    ("partly", Some(Meaning::Partly)),
                    ("no", Some(Meaning::No)),
                ],
            ),
            choice(
                "satisfaction",
                Some(Measure::Satisfaction),
                &[
                    ("very", Some(Meaning::Satisfied)),
                    ("ok", Some(Meaning::BasicallySatisfied)),
                    ("bad", Some(Meaning::Dissatisfied)),
                ],
            ),
            plain("speed", QuestionKind::Rating, false),
            plain("comment", QuestionKind::Text, false),
        ]
    }

    fn raw(pairs: &[(&str, serde_json::Value)]) -> Vec<RawAnswer> {
        pairs
            .iter()
            .map(|(q, v)| RawAnswer {
                question: (*q).into(),
                value: v.clone(),
            })
            .collect()
    }

    fn fields(errors: &[FieldError]) -> Vec<(&str, FieldErrorCode)> {
        errors.iter().map(|e| (e.field.as_str(), e.code)).collect()
    }

    #[test]
    fn a_complete_answer_maps_to_the_follow_up_result() {
        let checked = check_answers(
            &template(),
            &raw(&[
                ("comment", json!("  路灯已修好，谢谢  ")),
                ("satisfaction", json!("ok")),
                ("resolved", json!("partly")),
                ("speed", json!(4)),
            ]),
        )
        .unwrap();
        assert_eq!(
            checked.evaluation(),
            Some(Evaluation {
                resolved: Resolved::Partly,
                satisfaction: Satisfaction::BasicallySatisfied
            })
        );
        let order: Vec<&str> = checked
            .answers
            .iter()
            .map(|a| a.question.as_str())
            .collect();
        assert_eq!(order, ["resolved", "satisfaction", "speed", "comment"]);
        assert_eq!(checked.answers[3].value, json!("路灯已修好，谢谢"));
    }

    #[test]
    fn optional_questions_may_be_left_out_blank_or_null() {
        let checked = check_answers(
            &template(),
            &raw(&[
                ("resolved", json!("no")),
                ("satisfaction", json!("bad")),
                ("speed", json!(null)),
                ("comment", json!("   ")),
            ]),
        )
        .unwrap();
        assert_eq!(checked.answers.len(), 2);
        assert_eq!(checked.satisfaction, Some(Satisfaction::Dissatisfied));
    }

    #[test]
    fn every_bad_answer_is_reported_by_its_path() {
        let errors = check_answers(
            &template(),
            &raw(&[
                ("resolved", json!("maybe")),
                ("speed", json!(6)),
                ("colour", json!("red")),
                ("comment", json!(5)),
                ("speed", json!(3)),
            ]),
        )
        .unwrap_err();
        assert_eq!(
            fields(&errors),
            [
                ("answers[0].value", FieldErrorCode::UnknownValue),
                ("answers[1].value", FieldErrorCode::Range),
                ("answers[2].question", FieldErrorCode::UnknownValue),
                ("answers[3].value", FieldErrorCode::InvalidType),
                ("answers[4].question", FieldErrorCode::Invalid),
                // The satisfaction question was not answered; the resolved one was, badly.
                ("answers", FieldErrorCode::Required),
            ]
        );
        assert!(errors[5].message.contains("satisfaction"));
    }

    #[test]
    fn ratings_are_whole_numbers_from_one_to_five() {
        let one = |v: serde_json::Value| {
            check_answers(&[plain("r", QuestionKind::Rating, true)], &raw(&[("r", v)]))
        };
        assert!(one(json!(1)).is_ok() && one(json!(5)).is_ok());
        for bad in [json!(0), json!(6), json!(2.5), json!(-1)] {
            assert_eq!(
                fields(&one(bad).unwrap_err()),
                [("answers[0].value", FieldErrorCode::Range)]
            );
        }
        assert_eq!(
            fields(&one(json!("5")).unwrap_err()),
            [("answers[0].value", FieldErrorCode::InvalidType)]
        );
    }

    #[test]
    fn text_answers_are_bounded() {
        let q = [plain("t", QuestionKind::Text, true)];
        let long = "字".repeat(MAX_TEXT_ANSWER + 1);
        assert_eq!(
            fields(&check_answers(&q, &raw(&[("t", json!(long))])).unwrap_err()),
            [("answers[0].value", FieldErrorCode::Length)]
        );
        assert_eq!(
            fields(&check_answers(&q, &raw(&[("t", json!(" "))])).unwrap_err()),
            [("answers", FieldErrorCode::Required)]
        );
        assert!(check_answers(&q, &raw(&[("t", json!("字".repeat(MAX_TEXT_ANSWER)))])).is_ok());
    }

    #[test]
    fn templates_without_both_measures_give_no_evaluation() {
        let only_satisfaction = vec![template().remove(1)];
        let checked =
            check_answers(&only_satisfaction, &raw(&[("satisfaction", json!("very"))])).unwrap();
        assert_eq!(checked.satisfaction, Some(Satisfaction::Satisfied));
        assert_eq!(checked.evaluation(), None);
    }

    #[test]
    fn the_default_shape_is_a_valid_template() {
        assert!(check_template(&template()).is_empty());
    }

    #[test]
    fn template_rules_between_questions() {
        let mut bad = template();
        // A second question with the same key, a rating with options, a text carrying a measure.
        bad.push(plain("speed", QuestionKind::Rating, false));
        bad[2].options = choice("x", None, &[("a", None), ("b", None)]).options;
        bad.push(Question {
            carries: Some(Measure::Resolved),
            ..plain("words", QuestionKind::Text, false)
        });
        // Satisfaction options mapping to a resolved value, and one not mapping at all.
        bad[1].options[0].maps_to = Some(Meaning::Yes);
        bad[1].options[1].maps_to = None;
        bad.push(choice("colour", None, &[("red", Some(Meaning::Yes))]));
        assert_eq!(
            fields(&check_template(&bad)),
            [
                ("questions[1].options[0].maps_to", FieldErrorCode::Invalid),
                ("questions[1].options[1].maps_to", FieldErrorCode::Required),
                ("questions[2].options", FieldErrorCode::NotAllowed),
                ("questions[4].key", FieldErrorCode::Invalid),
                ("questions[5].carries", FieldErrorCode::NotAllowed),
                ("questions[5].required", FieldErrorCode::Invalid),
                ("questions[5].carries", FieldErrorCode::Invalid),
                ("questions[6].options", FieldErrorCode::Length),
                (
                    "questions[6].options[0].maps_to",
                    FieldErrorCode::NotAllowed
                ),
            ]
        );
    }

    #[test]
    fn invitations_expire_unless_answered() {
        let issued: DateTime<Utc> = "2026-12-01T08:00:00Z".parse().unwrap();
        let expires = expires_at(issued, VALIDITY_DAYS);
        assert_eq!(
            expires,
            "2026-12-15T08:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        let before = expires - Duration::seconds(1);
        assert_eq!(state(None, expires, before), SurveyState::Open);
        assert_eq!(state(None, expires, expires), SurveyState::Expired);
        assert_eq!(state(Some(before), expires, expires), SurveyState::Answered);
    }

    #[test]
    fn a_phone_survey_gives_its_call_the_measures_it_carries() {
        let answered = |resolved, satisfaction| CheckedAnswers {
            answers: Vec::new(),
            resolved,
            satisfaction,
        };
        let both = answered(Some(Resolved::Partly), Some(Satisfaction::Dissatisfied));
        // Nothing given with the call: the answers stand for it.
        assert_eq!(
            call_evaluation((None, None), &both),
            Ok((Some(Resolved::Partly), Some(Satisfaction::Dissatisfied)))
        );
        // Given and the same: fine.
        assert_eq!(
            call_evaluation((Some(Resolved::Partly), None), &both),
            Ok((Some(Resolved::Partly), Some(Satisfaction::Dissatisfied)))
        );
        // Given and different: each disagreeing measure named.
        assert_eq!(
            call_evaluation((Some(Resolved::Yes), Some(Satisfaction::Satisfied)), &both),
            Err(vec![Measure::Resolved, Measure::Satisfaction])
        );
        assert_eq!(
            call_evaluation((None, Some(Satisfaction::Satisfied)), &both),
            Err(vec![Measure::Satisfaction])
        );
        // A template carrying only satisfaction: the call gives resolved itself.
        let one = answered(None, Some(Satisfaction::Satisfied));
        assert_eq!(
            call_evaluation((Some(Resolved::Yes), None), &one),
            Ok((Some(Resolved::Yes), Some(Satisfaction::Satisfied)))
        );
        // A template carrying nothing: the call's own fields, whatever they are.
        assert_eq!(
            call_evaluation((None, None), &answered(None, None)),
            Ok((None, None))
        );
    }
}
