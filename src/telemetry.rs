//! Logging, request ids and the access log.
//!
//! The access log names the matched route pattern (`/api/v1/cases/{id}`), never the raw path or the
//! query string: those can carry tokens and personal data, which must never reach a log.

use std::time::Instant;

use actix_web::ResponseError;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;

use crate::error::{ApiError, PROBLEM_JSON};

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being handled on this task, if any.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// `future` with the current request's id, for work a request hands to a task of its own.
pub fn with_request_id<F: std::future::Future>(
    future: F,
) -> impl std::future::Future<Output = F::Output> {
    let id = current_request_id().unwrap_or_default();
    REQUEST_ID.scope(id, future)
}

/// Starts env_logger with `RUST_LOG` (default `info`).
pub fn init_logging() {
    let _ = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp_millis()
        .try_init();
}

/// A client-supplied id is kept only when it is short and plain, so it cannot forge log lines.
fn acceptable_request_id(value: &HeaderValue) -> Option<String> {
    let value = value.to_str().ok()?;
    let plain = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    plain.then(|| value.to_owned())
}

/// Middleware: accepts or generates `X-Request-Id`, makes it available to the error renderer,
/// returns it on every response and writes the access log line.
pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let request_id = req
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(acceptable_request_id)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());

    let response = REQUEST_ID.scope(request_id.clone(), next.call(req)).await?;
    let mut response = REQUEST_ID.sync_scope(request_id.clone(), || {
        as_problem(response.map_into_boxed_body())
    });

    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    if log::log_enabled!(target: "hotline::access", log::Level::Info) {
        let request = response.request();
        let pattern = request.match_pattern();
        log::info!(
            target: "hotline::access",
            "{} \"{} {}\" {} {:.2}ms rid={}",
            request.connection_info().peer_addr().unwrap_or("-"),
            request.method(),
            pattern.as_deref().unwrap_or("<unmatched>"),
            response.status().as_u16(),
            started.elapsed().as_secs_f64() * 1000.0,
            request_id,
        );
    }
    Ok(response)
}

/// Marks an error answer written in a format of its own (Open311's GeoReport errors), which
/// [`as_problem`] leaves as it is.
#[derive(Debug, Clone, Copy)]
pub struct OwnErrorFormat;

/// Error answers produced outside our handlers (the documentation UI, CORS, actix itself) are
/// re-rendered as problem documents, so that clients meet one error shape everywhere.
fn as_problem(response: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == PROBLEM_JSON.as_bytes());
    let own_format = response
        .response()
        .extensions()
        .contains::<OwnErrorFormat>();
    if status.as_u16() < 400 || is_problem || own_format {
        return response;
    }
    let detail = response.response().error().map(|e| e.to_string());
    let (request, _) = response.into_parts();
    let error = ApiError::from_status(status, detail);
    ServiceResponse::new(request, error.error_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_request_ids_are_accepted() {
        let ok = HeaderValue::from_static("abc-123_x.y:z");
        assert_eq!(acceptable_request_id(&ok).as_deref(), Some("abc-123_x.y:z"));
        for bad in ["", "has space", "new\tline", &"x".repeat(65)] {
            let value = HeaderValue::from_str(bad).unwrap();
            assert_eq!(acceptable_request_id(&value), None, "{bad:?}");
        }
    }
}
