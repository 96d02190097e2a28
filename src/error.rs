//! The one error type of the API, rendered as an RFC 9457 problem document
//! (`application/problem+json`) with a stable machine-readable `code`.
//!
//! Details written here reach clients, so they describe the request, never the server: a 500 says
//! only that something failed and gives the request id; the cause goes to the log under that id.

use std::borrow::Cow;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::telemetry;

mod codes;

pub use codes::{ErrorCode, FieldErrorCode};

/// A problem with one field of the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    /// Path of the field in the request, e.g. `complainant.phone` or `items[2].name`.
    pub field: String,
    #[schema(inline)]
    pub code: FieldErrorCode,
    /// A human-readable explanation.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: FieldErrorCode, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code,
            message: message.into(),
        }
    }
}

/// The body of every error response (RFC 9457).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:hotline:problem:validation_failed",
    "title": "Unprocessable Content",
    "status": 422,
    "detail": "the request body has invalid fields",
    "code": "validation_failed",
    "request_id": "0b9c7c1e-4f0e-4a43-9b6e-2f7f1f0a8a11",
    "errors": [{"field": "title", "code": "length", "message": "must be 1 to 200 characters"}]
}))]
pub struct Problem {
    /// A URI naming the kind of problem: `urn:hotline:problem:` followed by `code`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// The HTTP status phrase.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    #[schema(inline)]
    pub code: ErrorCode,
    /// The `X-Request-Id` of the request, for support and log correlation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Per-field problems, for validation failures.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub errors: Vec<FieldError>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed (syntax, bad parameter, bad header).
    #[error("{detail}")]
    BadRequest {
        code: ErrorCode,
        detail: Cow<'static, str>,
    },
    /// 422: well-formed, but fields are invalid.
    #[error("{detail}")]
    Validation {
        detail: Cow<'static, str>,
        errors: Vec<FieldError>,
    },
    #[error("{detail}")]
    Unauthorized {
        code: ErrorCode,
        detail: Cow<'static, str>,
    },
    #[error("{detail}")]
    Forbidden {
        code: ErrorCode,
        detail: Cow<'static, str>,
    },
    #[error("{detail}")]
    NotFound {
        code: ErrorCode,
        detail: Cow<'static, str>,
    },
    /// 405, with the methods the resource does allow.
    #[error("method not allowed")]
    MethodNotAllowed { allowed: Vec<&'static str> },
    /// 409: the resource is not in a state that allows this (illegal transition, duplicate).
    #[error("{detail}")]
    Conflict {
        code: ErrorCode,
        detail: Cow<'static, str>,
    },
    /// 410: the resource existed but is gone for good (an expired survey invitation).
    #[error("{detail}")]
    Gone {
        code: ErrorCode,
        detail: Cow<'static, str>,
    },
    #[error("{detail}")]
    PreconditionFailed {
        code: ErrorCode,
        detail: Cow<'static, str>,
    },
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{detail}")]
    UnsupportedMediaType { detail: Cow<'static, str> },
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("{detail}")]
    ServiceUnavailable {
        code: ErrorCode,
        detail: Cow<'static, str>,
    },
    /// Any other status, for errors raised outside our handlers (see [`ApiError::from_status`]).
    #[error("{detail}")]
    Other {
        status: StatusCode,
        code: ErrorCode,
        detail: Cow<'static, str>,
    },
    /// 500: the message is for the log only.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn bad_request(code: ErrorCode, detail: impl Into<Cow<'static, str>>) -> Self {
        Self::BadRequest {
            code,
            detail: detail.into(),
        }
    }

    pub fn not_found(detail: impl Into<Cow<'static, str>>) -> Self {
        Self::NotFound {
            code: ErrorCode::NotFound,
            detail: detail.into(),
        }
    }

    pub fn conflict(code: ErrorCode, detail: impl Into<Cow<'static, str>>) -> Self {
        Self::Conflict {
            code,
            detail: detail.into(),
        }
    }

    /// A 422 about one field.
    pub fn field(field: &str, code: FieldErrorCode, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError::new(field, code, message)])
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        Self::Validation {
            detail: "the request has invalid fields".into(),
            errors,
        }
    }

    pub fn internal(cause: impl Into<String>) -> Self {
        Self::Internal(cause.into())
    }

    /// The pool could not hand out a connection: the database is down or saturated.
    pub fn database_unavailable(cause: impl std::fmt::Display) -> Self {
        log::error!("database unavailable: {cause}");
        Self::ServiceUnavailable {
            code: ErrorCode::DatabaseUnavailable,
            detail: "the database is not reachable; try again shortly".into(),
        }
    }

    /// An error answer made by something other than our handlers, given as a status and maybe a
    /// message; server-side messages are logged, not returned.
    pub fn from_status(status: StatusCode, message: Option<String>) -> Self {
        if status.is_server_error() {
            return Self::internal(message.unwrap_or_else(|| status.to_string()));
        }
        let detail: Cow<'static, str> = match message {
            Some(m) if !m.is_empty() => m.into(),
            _ => status.canonical_reason().unwrap_or("request failed").into(),
        };
        match status {
            StatusCode::NOT_FOUND => Self::NotFound {
                code: ErrorCode::NotFound,
                detail,
            },
            StatusCode::UNAUTHORIZED => Self::Unauthorized {
                code: ErrorCode::Unauthorized,
                detail,
            },
            StatusCode::FORBIDDEN => Self::Forbidden {
                code: ErrorCode::Forbidden,
                detail,
            },
            StatusCode::PAYLOAD_TOO_LARGE => Self::Other {
                status,
                code: ErrorCode::PayloadTooLarge,
                detail,
            },
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::UnsupportedMediaType { detail },
            _ => Self::Other {
                status,
                code: ErrorCode::BadRequest,
                detail,
            },
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadRequest { code, .. }
            | Self::Unauthorized { code, .. }
            | Self::Forbidden { code, .. }
            | Self::NotFound { code, .. }
            | Self::Conflict { code, .. }
            | Self::Gone { code, .. }
            | Self::PreconditionFailed { code, .. }
            | Self::ServiceUnavailable { code, .. }
            | Self::Other { code, .. } => *code,
            Self::Validation { .. } => ErrorCode::ValidationFailed,
            Self::MethodNotAllowed { .. } => ErrorCode::MethodNotAllowed,
            Self::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            Self::UnsupportedMediaType { .. } => ErrorCode::UnsupportedMediaType,
            Self::TooManyRequests { .. } => ErrorCode::RateLimited,
            Self::Internal(_) => ErrorCode::InternalError,
        }
    }

    fn detail(&self) -> String {
        match self {
            Self::Internal(_) => {
                "the server failed to handle this request; quote the request id to support".into()
            }
            other => other.to_string(),
        }
    }

    fn field_errors(&self) -> &[FieldError] {
        match self {
            Self::Validation { errors, .. } => errors,
            _ => &[],
        }
    }

    /// The problem document for this error, as sent to the client.
    pub fn problem(&self) -> Problem {
        let status = self.status_code();
        let code = self.code();
        Problem {
            problem_type: format!("urn:hotline:problem:{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: self.detail(),
            code,
            request_id: telemetry::current_request_id(),
            errors: self.field_errors().to_vec(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::Gone { .. } => StatusCode::GONE,
            Self::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::ServiceUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Other { status, .. } => *status,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Internal(cause) = self {
            log::error!(
                "request {} failed: {cause}",
                telemetry::current_request_id().as_deref().unwrap_or("-")
            );
        }
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        match self {
            Self::MethodNotAllowed { allowed } => {
                response.insert_header((header::ALLOW, allowed.join(", ")));
            }
            Self::TooManyRequests { retry_after_secs } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            Self::Unauthorized { .. } => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            _ => {}
        }
        response.body(serde_json::to_vec(&self.problem()).unwrap_or_default())
    }
}

pub const PROBLEM_JSON: &str = "application/problem+json";

impl From<diesel::result::Error> for ApiError {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match error {
            Error::NotFound => Self::not_found("no such resource"),
            // Constraint details name tables and columns: keep them in the log, not the response.
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                log::info!("unique violation: {}", info.message());
                Self::conflict(
                    ErrorCode::AlreadyExists,
                    "a resource with the same unique value already exists",
                )
            }
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => Self::conflict(
                ErrorCode::ConcurrentUpdate,
                "another request changed this resource at the same time; retry",
            ),
            // The connection broke under the query (the database restarted, failed over, or the
            // network went): the same answer as no connection at all, which the client may retry.
            other if crate::db::is_connection_lost(&other) => Self::database_unavailable(other),
            other => Self::internal(format!("database error: {other}")),
        }
    }
}

impl From<crate::db::DbSetupError> for ApiError {
    fn from(error: crate::db::DbSetupError) -> Self {
        Self::database_unavailable(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_do_not_leak_their_cause() {
        let problem = ApiError::internal("disk I/O error at /var/lib/secret.db").problem();
        assert_eq!(problem.status, 500);
        assert_eq!(problem.code, ErrorCode::InternalError);
        assert!(!problem.detail.contains("secret"));
    }

    #[test]
    fn validation_problems_carry_field_errors() {
        let problem = ApiError::validation(vec![FieldError::new(
            "title",
            FieldErrorCode::Required,
            "missing",
        )])
        .problem();
        assert_eq!(problem.status, 422);
        assert_eq!(
            problem.problem_type,
            "urn:hotline:problem:validation_failed"
        );
        assert_eq!(problem.errors.len(), 1);
    }

    #[test]
    fn diesel_not_found_becomes_404() {
        let err: ApiError = diesel::result::Error::NotFound.into();
        assert_eq!(err.status_code(), StatusCode::NOT_FOUND);
    }
}

/// Collects field problems while parsing a request, so that one answer lists them all.
#[derive(Debug, Default)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    /// Keeps the value, or records the error under `field` with code `invalid`.
    pub fn check<T, E: std::fmt::Display>(
        &mut self,
        field: &str,
        result: Result<T, E>,
    ) -> Option<T> {
        result
            .map_err(|e| self.add(field, FieldErrorCode::Invalid, e.to_string()))
            .ok()
    }

    pub fn add(&mut self, field: &str, code: FieldErrorCode, message: impl Into<String>) {
        self.0.push(FieldError::new(field, code, message));
    }

    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.0))
        }
    }
}
