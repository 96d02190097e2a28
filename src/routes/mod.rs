//! HTTP handlers, thin by rule: parse, authorize, call a service, map the result.
//! Every handler is registered with `.service(...)` here, which is also how the OpenAPI document
//! learns about it.

use actix_web::HttpRequest;
use actix_web::http::header;
use utoipa_actix_web::{scope, service_config::ServiceConfig};

use crate::error::{ApiError, ErrorCode};

pub mod assignments;
pub mod attachments;
pub mod auth;
pub mod calendar;
pub mod cases;
pub mod deadlines;
pub mod exports;
pub mod extensions;
pub mod follow_up;
pub mod health;
pub mod knowledge;
pub mod open311;
pub mod organisation;
pub mod personal_data_reads;
pub mod reports;
pub mod stats;
pub mod supervision;
pub mod surveys;
pub mod users;
pub mod webhooks;

/// Registers every endpoint; shared by the server and by the OpenAPI document generator.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(
            scope::scope("/api/v1")
                .service(auth::login)
                .service(auth::refresh)
                .service(auth::logout)
                .service(auth::token)
                .service(auth::me)
                .service(auth::register_citizen)
                .service(users::list_users)
                .service(users::create_user)
                .service(users::get_user)
                .service(users::update_user)
                // `/tree` before `/{id}`: routes match in registration order.
                .service(organisation::department_tree)
                .service(organisation::list_departments)
                .service(organisation::create_department)
                .service(organisation::get_department)
                .service(organisation::update_department)
                .service(organisation::category_tree)
                .service(organisation::list_categories)
                .service(organisation::create_category)
                .service(organisation::get_category)
                .service(organisation::update_category)
                .service(organisation::list_clients)
                .service(organisation::create_client)
                .service(organisation::update_client)
                .service(calendar::working_days)
                .service(calendar::hours)
                .service(calendar::working_time)
                .service(calendar::get_year)
                .service(calendar::put_year)
                .service(calendar::get_policy)
                .service(calendar::put_policy)
                .service(cases::list_cases)
                .service(cases::register)
                .service(cases::update_case)
                .service(cases::get_case)
                .service(cases::get_case_by_number)
                .service(cases::timeline)
                .service(cases::actions::accept)
                .service(cases::actions::reject)
                .service(cases::actions::answer)
                .service(personal_data_reads::personal_data_reads)
                .service(personal_data_reads::personal_data_exports)
                .service(cases::actions::dispatch)
                .service(cases::actions::review)
                .service(cases::actions::redo)
                .service(cases::actions::merge)
                .service(cases::actions::similar)
                .service(cases::actions::close)
                .service(cases::actions::reopen)
                .service(cases::actions::add_note)
                .service(assignments::list_assignments)
                .service(assignments::get_assignment)
                .service(assignments::sign)
                .service(assignments::return_assignment)
                .service(assignments::return_ruling)
                .service(assignments::handover)
                .service(assignments::progress)
                .service(assignments::reply)
                .service(deadlines::list_deadlines)
                .service(deadlines::get_deadline)
                .service(extensions::request_extension)
                .service(extensions::list_extensions)
                .service(extensions::get_extension)
                .service(extensions::decide_extension)
                .service(supervision::create_supervision)
                .service(supervision::list_supervisions)
                .service(supervision::get_supervision)
                .service(supervision::explain)
                .service(follow_up::record_follow_up_call)
                .service(follow_up::case_follow_up_calls)
                .service(follow_up::list_follow_up_calls)
                .service(follow_up::follow_up_queue)
                .service(follow_up::follow_up_decision)
                .service(surveys::list_survey_templates)
                .service(surveys::create_survey_template)
                .service(surveys::get_survey_template)
                .service(surveys::issue_survey)
                .service(surveys::list_surveys)
                .service(surveys::get_survey)
                .service(surveys::public_survey)
                .service(surveys::answer_survey)
                .service(stats::stats_departments)
                .service(stats::stats_trends)
                .service(stats::get_stats_weights)
                .service(stats::put_stats_weights)
                .service(exports::export_cases)
                .service(stats::stats_hotspots)
                .service(reports::public_report)
                .service(attachments::upload_case_attachments)
                .service(attachments::list_case_attachments)
                .service(attachments::upload_attachments)
                .service(attachments::get_attachment)
                .service(attachments::attachment_thumbnail)
                .service(attachments::update_attachment)
                .service(attachments::remove_attachment)
                .service(attachments::create_attachment_link)
                .service(attachments::public_attachment)
                .service(webhooks::list_webhooks)
                .service(webhooks::create_webhook)
                .service(webhooks::update_webhook)
                .service(webhooks::delete_webhook)
                .service(webhooks::list_webhook_deliveries)
                .service(webhooks::replay_webhook_delivery)
                .service(knowledge::list_articles)
                .service(knowledge::create_article)
                .service(knowledge::get_article)
                .service(knowledge::update_article)
                .service(knowledge::list_article_versions)
                .service(knowledge::get_article_version)
                .service(knowledge::approve_article_version)
                .service(knowledge::search_knowledge)
                .service(knowledge::suggest_articles)
                .service(knowledge::case_suggested_articles)
                .service(knowledge::stats_knowledge)
                .service(knowledge::public_knowledge_search)
                .service(knowledge::public_knowledge_article),
        )
        // Open311 GeoReport v2, outside `/api/v1`: its paths and formats are the specification's.
        .service(
            scope::scope("/open311/v2")
                .service(open311::open311_discovery)
                .service(open311::open311_services)
                .service(open311::open311_service_definition)
                .service(open311::open311_requests)
                .service(open311::open311_create_request)
                .service(open311::open311_request)
                .service(open311::open311_token),
        );
}

/// The base of the links this API hands out: `HOTLINE_API_BASE_URL` when configured (a client's
/// `Host` header cannot then steer them), else the request's own scheme and host.
pub fn api_base(settings: &crate::config::Settings, req: &HttpRequest) -> String {
    match &settings.api_base_url {
        Some(base) => base.clone(),
        None => {
            let info = req.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        }
    }
}

/// `If-Match: "3"` → 3. Anything else can never match the case's version.
pub fn if_match(req: &HttpRequest) -> Option<i32> {
    let value = req.headers().get(header::IF_MATCH)?.to_str().ok()?;
    // An empty field lists no entity tag: as if it were not sent.
    if value.trim().is_empty() {
        return None;
    }
    Some(
        value
            .trim()
            .trim_start_matches("W/")
            .trim_matches('"')
            .parse()
            .unwrap_or(-1),
    )
}

/// A 201 answer naming where the new resource can be read (`Location`, RFC 9110 15.3.2).
pub fn created(location: String) -> actix_web::HttpResponseBuilder {
    let mut builder = actix_web::HttpResponse::Created();
    builder.insert_header((actix_web::http::header::LOCATION, location));
    builder
}

/// A free-text search parameter: trimmed, empty means none, at most 100 characters.
pub fn search_text(q: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(q) = q.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty()) else {
        return Ok(None);
    };
    if q.chars().count() > 100 {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidQuery,
            "q must be at most 100 characters",
        ));
    }
    Ok(Some(q))
}

/// A comma-separated list of enum values in a query (`state=a,b`); empty means any.
pub fn enum_list<T>(
    name: &str,
    value: Option<&str>,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Vec<T>, ApiError> {
    let Some(list) = value.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(Vec::new());
    };
    list.split(',')
        .map(|item| {
            parse(item.trim()).ok_or_else(|| {
                ApiError::bad_request(
                    ErrorCode::InvalidQuery,
                    format!("unknown {name} '{}'", item.trim()),
                )
            })
        })
        .collect()
}

/// A list's `from`/`to` filter of local dates (both inclusive, in the centre's time zone) as the
/// UTC instants `[start of from, start of the day after to)`; 400 when `from` is after `to`.
pub fn local_days(
    calendar: &crate::domain::calendar::WorkingCalendar,
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
) -> Result<(Option<chrono::NaiveDateTime>, Option<chrono::NaiveDateTime>), ApiError> {
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        return Err(ApiError::bad_request(
            crate::error::ErrorCode::InvalidQuery,
            "`from` is after `to`",
        ));
    }
    Ok((
        from.map(|day| calendar.start_of(day).naive_utc()),
        to.and_then(|day| day.succ_opt())
            .map(|day| calendar.start_of(day).naive_utc()),
    ))
}

/// Signs public links to attachments (Open311's `media_url`, the public FAQ's files): expiring at the end of the day after
/// tomorrow (UTC), so that the links of one day are the same from request to request (and
/// cacheable) and each works for at least a day.
pub(crate) fn public_file_links(
    state: &crate::startup::AppState,
    req: &HttpRequest,
) -> impl Fn(crate::domain::ids::AttachmentId) -> String + Send + Sync + 'static {
    let base = api_base(&state.settings, req);
    let links = state.links.clone();
    let expires = (chrono::Utc::now().timestamp() / 86_400 + 2) * 86_400;
    move |id| {
        let signature = links.sign(id.get(), expires);
        format!("{base}/api/v1/public/attachments/{id}?expires={expires}&signature={signature}")
    }
}
