//! Satisfaction surveys (满意度调查): templates, invitations, the public link and its answer, and
//! the lists of invitations and answers.

use actix_web::{HttpResponse, get, post, web};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::{Permit, PublicCaller, op};
use crate::db::surveys::SurveyFilter;
use crate::domain::ids::{CaseId, SurveyId, SurveyTemplateId};
use crate::domain::survey::{RawAnswer, SurveyChannel};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::pagination::{Page, PageParams};
use crate::rate_limit::WithinPublicLimit;
use crate::routes::local_days;
use crate::service::surveys::{
    self as survey_service, CreateTemplate, IssueSurvey, PublicSurvey, SurveyInvitation,
    SurveyResponse, SurveySettings, SurveyView, TemplateView,
};
use crate::startup::AppState;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TemplateListQuery {
    /// `true`: also the versions that have been replaced (default: current versions only).
    pub all_versions: Option<bool>,
    /// Rows per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(max_length = 64, pattern = "^[A-Za-z0-9_-]*$")]
    pub cursor: Option<String>,
}

/// Survey templates, newest first: the current versions (or every version with `all_versions`).
#[utoipa::path(
    tag = "surveys",
    security(("bearer" = [])),
    params(TemplateListQuery),
    responses((status = 200, description = "One page of templates", body = Page<TemplateView>)),
)]
#[get("/survey-templates")]
pub async fn list_survey_templates(
    state: web::Data<AppState>,
    _principal: Permit<op::ListSurveyTemplates>,
    query: web::Query<TemplateListQuery>,
) -> Result<web::Json<Page<TemplateView>>, ApiError> {
    let query = query.into_inner();
    let page = PageParams {
        limit: query.limit,
        cursor: query.cursor,
    }
    .parse()?;
    let current_only = !query.all_versions.unwrap_or(false);
    let views = state
        .db
        .run(move |conn| survey_service::list_templates(conn, current_only, page))
        .await?;
    Ok(web::Json(Page::from_rows(
        views,
        page,
        |t| t.id.get(),
        |t| t,
    )))
}

/// Store a survey template, or edit one: with `replaces`, the new template is the next version of
/// that one, which is superseded (never changed: its answers keep pointing at it).
#[utoipa::path(
    tag = "surveys",
    security(("bearer" = [])),
    request_body = CreateTemplate,
    responses(
        (status = 201, description = "Stored", body = TemplateView, headers(("Location" = String, description = "Where the new resource is read"))),
        (status = 409, description = "The template replaced has a newer version already (`template_superseded`)"),
        (status = 422, description = "Invalid fields, questions that do not fit together (duplicate keys, options on a rating, a carried result without its mapping), or no such template to replace"),
    ),
)]
#[post("/survey-templates")]
pub async fn create_survey_template(
    state: web::Data<AppState>,
    principal: Permit<op::CreateSurveyTemplate>,
    body: ApiJson<CreateTemplate>,
) -> Result<HttpResponse, ApiError> {
    let ApiJson(body) = body;
    let view = state
        .db
        .run(move |conn| survey_service::create_template(conn, &principal, body))
        .await?;
    Ok(crate::routes::created(format!("/api/v1/survey-templates/{}", view.id)).json(view))
}

/// One template version.
#[utoipa::path(
    tag = "surveys",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Template id")),
    responses(
        (status = 200, description = "The template", body = TemplateView),
        (status = 404, description = "No such template"),
    ),
)]
#[get("/survey-templates/{id:\\d+}")]
pub async fn get_survey_template(
    state: web::Data<AppState>,
    _principal: Permit<op::GetSurveyTemplate>,
    id: web::Path<SurveyTemplateId>,
) -> Result<web::Json<TemplateView>, ApiError> {
    let id = id.into_inner();
    let view = state
        .db
        .run(move |conn| survey_service::get_template(conn, id))
        .await?;
    Ok(web::Json(view))
}

/// Invite the citizen of a case awaiting follow-up (or closed) to a satisfaction survey: a
/// single-use token valid `HOTLINE_SURVEY_VALIDITY_DAYS` (14), shown only in this answer, and the
/// link to send them. On the case's timeline as `survey_issued`.
#[utoipa::path(
    tag = "surveys",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Case id")),
    request_body = IssueSurvey,
    responses(
        (status = 201, description = "Issued", body = SurveyInvitation, headers(("Location" = String, description = "Where the new resource is read"))),
        (status = 404, description = "No such case"),
        (status = 409, description = "The case is neither awaiting follow-up nor closed (`case_not_surveyable`), or the template has a newer version (`template_superseded`)"),
        (status = 422, description = "No such template, or no default template"),
    ),
)]
#[post("/cases/{id:\\d+}/surveys")]
pub async fn issue_survey(
    state: web::Data<AppState>,
    principal: Permit<op::IssueSurvey>,
    id: web::Path<CaseId>,
    body: ApiJson<IssueSurvey>,
) -> Result<HttpResponse, ApiError> {
    let (id, ApiJson(body)) = (id.into_inner(), body);
    let settings = SurveySettings {
        public_base_url: state.settings.public_base_url.clone(),
        validity_days: state.settings.survey_validity_days,
    };
    let invitation = state
        .db
        .run(move |conn| survey_service::issue(conn, &settings, &principal, id, body.template_id))
        .await?;
    Ok(
        crate::routes::created(format!("/api/v1/surveys/{}", invitation.survey.id))
            .json(invitation),
    )
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SurveyListQuery {
    pub case_id: Option<CaseId>,
    pub template_id: Option<SurveyTemplateId>,
    /// `true`: answered only; `false`: not answered (open or expired).
    pub answered: Option<bool>,
    /// `link` (invitations) or `phone` (answered during follow-up calls).
    pub channel: Option<SurveyChannel>,
    /// Issued on or after this local date (the centre's time zone), as `GET /follow-up-calls`.
    pub from: Option<chrono::NaiveDate>,
    /// Issued on or before this local date.
    pub to: Option<chrono::NaiveDate>,
    /// Rows per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(max_length = 64, pattern = "^[A-Za-z0-9_-]*$")]
    pub cursor: Option<String>,
}

/// Survey invitations and their answers, newest first. Never the token. Analysts get the answers
/// without text answers (the citizen's own words) and without who answered; departments only the
/// surveys of cases dispatched to them (without text answers unless they may see the complainant
/// in full: contact allowed and not confidential).
#[utoipa::path(
    tag = "surveys",
    security(("bearer" = [])),
    params(SurveyListQuery),
    responses((status = 200, description = "One page of surveys", body = Page<SurveyView>)),
)]
#[get("/surveys")]
pub async fn list_surveys(
    state: web::Data<AppState>,
    principal: Permit<op::ListSurveys>,
    query: web::Query<SurveyListQuery>,
) -> Result<web::Json<Page<SurveyView>>, ApiError> {
    let query = query.into_inner();
    let page = PageParams {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .parse()?;
    let (issued_from, issued_to) = local_days(&state.reference.calendar(), query.from, query.to)?;
    let filter = SurveyFilter {
        case_id: query.case_id,
        template_id: query.template_id,
        answered: query.answered,
        channel: query.channel,
        issued_from,
        issued_to,
        department_id: None,
    };
    let views = state
        .db
        .run(move |conn| survey_service::list(conn, &principal, filter, page))
        .await?;
    Ok(web::Json(Page::from_rows(
        views,
        page,
        |s| s.id.get(),
        |s| s,
    )))
}

/// One survey invitation with its answer, under the same rules as the list.
#[utoipa::path(
    tag = "surveys",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Survey id")),
    responses(
        (status = 200, description = "The survey", body = SurveyView),
        (status = 404, description = "No such survey, or one of a case not dispatched to the caller's department"),
    ),
)]
#[get("/surveys/{id:\\d+}")]
pub async fn get_survey(
    state: web::Data<AppState>,
    principal: Permit<op::GetSurvey>,
    id: web::Path<SurveyId>,
) -> Result<web::Json<SurveyView>, ApiError> {
    let id = id.into_inner();
    let view = state
        .db
        .run(move |conn| survey_service::get(conn, &principal, id))
        .await?;
    Ok(web::Json(view))
}

/// The survey behind a link (no sign-in): its questions and the case's public summary (number,
/// title, kind, category, status as the citizen sees it), never personal data. Rate-limited per
/// client address (`HOTLINE_PUBLIC_RATE_LIMIT`).
#[utoipa::path(
    tag = "surveys",
    params(("token" = String, Path, description = "The token of the invitation's link")),
    responses(
        (status = 200, description = "The survey (`state: answered` once answered)", body = PublicSurvey),
        (status = 404, description = "No survey has this token"),
        (status = 410, description = "The invitation expired unanswered (`survey_expired`)"),
        (status = 429, description = "Too many requests from this address; see `Retry-After`"),
    ),
)]
#[get("/public/surveys/{token}")]
pub async fn public_survey(
    _limit: WithinPublicLimit,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<web::Json<PublicSurvey>, ApiError> {
    let token = token.into_inner();
    let view = state
        .db
        .run(move |conn| survey_service::public_survey(conn, &token))
        .await?;
    Ok(web::Json(view))
}

/// Answer a survey, once (no sign-in: the token is the credential). A citizen signed in (bearer
/// token) answering their own case's survey is recorded as its author; any other caller's token is
/// checked but the answer stays anonymous. Every bad answer is listed in one 422 (`answers[2].value`:
/// a rating of 6, an option not offered; `answers`: a required question left out). On a template
/// that carries the follow-up result, for a case awaiting follow-up, the answer stands as the
/// follow-up result. On the case's timeline as `survey_answered`. Rate-limited per client address.
#[utoipa::path(
    tag = "surveys",
    params(("token" = String, Path, description = "The token of the invitation's link")),
    request_body = SurveyResponse,
    responses(
        (status = 201, description = "Answered", body = PublicSurvey),
        (status = 404, description = "No survey has this token"),
        (status = 409, description = "Answered already (`survey_already_answered`)"),
        (status = 410, description = "The invitation expired unanswered (`survey_expired`)"),
        (status = 429, description = "Too many requests from this address; see `Retry-After`"),
    ),
)]
#[post("/public/surveys/{token}/responses")]
pub async fn answer_survey(
    _limit: WithinPublicLimit,
    state: web::Data<AppState>,
    caller: PublicCaller<op::AnswerSurvey>,
    token: web::Path<String>,
    body: ApiJson<SurveyResponse>,
) -> Result<HttpResponse, ApiError> {
    let (token, ApiJson(body)) = (token.into_inner(), body);
    let raw: Vec<RawAnswer> = body
        .answers
        .into_iter()
        .map(|a| RawAnswer {
            question: a.question,
            value: a.value,
        })
        .collect();
    let view = state
        .db
        .run(move |conn| {
            let caller = caller.resolve(conn)?;
            survey_service::answer(conn, &token, caller.as_ref(), raw)
        })
        .await?;
    Ok(HttpResponse::Created().json(view))
}
