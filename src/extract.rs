//! Request extractors whose every failure is a problem document: JSON bodies (content type, size,
//! syntax, types, then the `validator` rules), path and query parameters.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use validator::{Validate, ValidationErrors, ValidationErrorsKind};

use crate::error::{ApiError, FieldError};

/// The largest request body accepted, from `HOTLINE_BODY_LIMIT`; kept in app data.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A JSON body, deserialised and then validated. Failures answer 415 (not JSON), 413 (too big),
/// 400 (not parseable JSON) or 422 (wrong or invalid fields, each named by its path).
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T> FromRequest for ApiJson<T>
where
    T: DeserializeOwned + Validate + 'static,
{
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = read_body(req, payload, is_json_content_type(req));
        Box::pin(async move {
            let value = parse_json::<T>(&body.await?)?;
            validate(value).map(ApiJson)
        })
    }
}

/// A body sent either as JSON or as an HTML form (`application/x-www-form-urlencoded`), as OAuth 2
/// token endpoints are called.
#[derive(Debug)]
pub struct JsonOrForm<T>(pub T);

impl<T> FromRequest for JsonOrForm<T>
where
    T: DeserializeOwned + Validate + 'static,
{
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let form =
            content_type_essence(req).as_deref() == Some("application/x-www-form-urlencoded");
        let body = read_body(req, payload, form || is_json_content_type(req));
        Box::pin(async move {
            let body = body.await?;
            let value = if form {
                serde_urlencoded::from_bytes::<T>(&body).map_err(|e| {
                    ApiError::validation(vec![FieldError::new(
                        "",
                        "invalid",
                        format!("invalid form body: {e}"),
                    )])
                })?
            } else {
                parse_json::<T>(&body)?
            };
            validate(value).map(JsonOrForm)
        })
    }
}

fn validate<T: Validate>(value: T) -> Result<T, ApiError> {
    value
        .validate()
        .map_err(|errors| ApiError::validation(flatten_validation_errors(&errors)))?;
    Ok(value)
}

/// Reads the whole body within the configured limit (413 beyond it), after checking the content
/// type (415 when `content_type_ok` is false).
fn read_body(
    req: &HttpRequest,
    payload: &mut Payload,
    content_type_ok: bool,
) -> impl Future<Output = Result<web::Bytes, ApiError>> + 'static {
    let limit = req.app_data::<BodyLimit>().map_or(256 * 1024, |l| l.0);
    let declared_length = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut payload = payload.take();
    async move {
        if !content_type_ok {
            return Err(ApiError::UnsupportedMediaType {
                detail: "the request body must be JSON (Content-Type: application/json)".into(),
            });
        }
        if declared_length.is_some_and(|len| len > limit as u64) {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| {
                ApiError::bad_request("unreadable_body", "the request body could not be read")
            })?;
            if body.len() + chunk.len() > limit {
                return Err(ApiError::PayloadTooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }
}

fn content_type_essence(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(
        value
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase(),
    )
}

fn is_json_content_type(req: &HttpRequest) -> bool {
    let Some(value) = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Syntax errors are the client's malformed request (400); well-formed JSON of the wrong shape is
/// an invalid field (422), reported with the path of the offending field.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if std::str::from_utf8(body).is_err() {
        return Err(ApiError::bad_request(
            "invalid_utf8",
            "the request body is not valid UTF-8",
        ));
    }
    // Every request body of this API is an object. serde would also fill a struct from an array
    // (`[null, null]`), which no client means: refuse anything but an object up front.
    let starts_as_object = body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{');
    if !starts_as_object && serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok() {
        return Err(ApiError::validation(vec![FieldError::new(
            String::new(),
            "invalid_type",
            "the request body must be a JSON object",
        )]));
    }
    let deserializer = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let field = if path == "." { String::new() } else { path };
                ApiError::validation(vec![FieldError::new(
                    field,
                    data_error_code(&inner),
                    strip_position(&inner.to_string()),
                )])
            }
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                ApiError::bad_request(
                    "malformed_json",
                    format!("the request body is not valid JSON: {inner}"),
                )
            }
            serde_json::error::Category::Io => {
                ApiError::bad_request("unreadable_body", "the request body could not be read")
            }
        }
    })
}

fn data_error_code(error: &serde_json::Error) -> &'static str {
    let text = error.to_string();
    if text.starts_with("missing field") {
        "required"
    } else if text.starts_with("unknown variant") {
        "unknown_value"
    } else if text.starts_with("unknown field") {
        "unknown_field"
    } else {
        "invalid_type"
    }
}

/// serde_json appends "at line 1 column 17"; the field path says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// Turns `validator`'s nested errors into one flat list with dotted paths (`items[1].name`).
pub fn flatten_validation_errors(errors: &ValidationErrors) -> Vec<FieldError> {
    let mut out = Vec::new();
    flatten_into(errors, "", &mut out);
    out.sort_by(|a, b| a.field.cmp(&b.field));
    out
}

fn flatten_into(errors: &ValidationErrors, prefix: &str, out: &mut Vec<FieldError>) {
    for (field, kind) in errors.errors() {
        let path = if prefix.is_empty() {
            field.to_string()
        } else {
            format!("{prefix}.{field}")
        };
        match kind {
            ValidationErrorsKind::Field(list) => {
                for error in list {
                    let message = error
                        .message
                        .as_ref()
                        .map(|m| m.to_string())
                        .unwrap_or_else(|| format!("fails the '{}' rule", error.code));
                    out.push(FieldError::new(
                        path.clone(),
                        error.code.to_string(),
                        message,
                    ));
                }
            }
            ValidationErrorsKind::Struct(inner) => flatten_into(inner, &path, out),
            ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    flatten_into(inner, &format!("{path}[{index}]"), out);
                }
            }
        }
    }
}

/// Query strings that do not parse (unknown enum values, letters where numbers go): 400.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|error, _req| {
        ApiError::bad_request(
            "invalid_query",
            format!("invalid query parameters: {error}"),
        )
        .into()
    })
}

/// Path segments that do not parse (`/users/abc` where an id is a number): 400.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|error, _req| {
        ApiError::bad_request(
            "invalid_path_parameter",
            format!("invalid path parameter: {error}"),
        )
        .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, Validate)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        #[validate(length(min = 1, max = 5, message = "must be 1 to 5 characters"))]
        name: String,
        #[validate(nested)]
        inner: Inner,
    }

    #[derive(Debug, Deserialize, Validate)]
    struct Inner {
        #[validate(range(min = 1, max = 10))]
        count: u32,
    }

    #[test]
    fn syntax_errors_are_bad_requests() {
        let err = parse_json::<Sample>(b"{\"name\": ").unwrap_err();
        assert_eq!(err.code(), "malformed_json");
    }

    #[test]
    fn wrong_types_name_the_field() {
        let err = parse_json::<Sample>(br#"{"name":"a","inner":{"count":"x"}}"#).unwrap_err();
        let problem = err.problem();
        assert_eq!(problem.status, 422);
        assert_eq!(problem.errors[0].field, "inner.count");
        assert_eq!(problem.errors[0].code, "invalid_type");
    }

    #[test]
    fn missing_and_unknown_fields_are_reported() {
        let missing = parse_json::<Sample>(br#"{"inner":{"count":1}}"#)
            .unwrap_err()
            .problem();
        assert_eq!(missing.errors[0].code, "required");
        let unknown = parse_json::<Sample>(br#"{"name":"a","inner":{"count":1},"x":1}"#)
            .unwrap_err()
            .problem();
        assert_eq!(unknown.errors[0].code, "unknown_field");
    }

    #[test]
    fn invalid_utf8_is_rejected() {
        assert_eq!(
            parse_json::<Sample>(b"{\"name\":\"\xff\"}")
                .unwrap_err()
                .code(),
            "invalid_utf8"
        );
    }

    #[test]
    fn nested_validation_errors_are_flattened() {
        for not_an_object in [
            &b"[\"a\", {\"count\": 1}]"[..],
            b" 42",
            b"null",
            b"\"text\"",
        ] {
            let err = parse_json::<Sample>(not_an_object).unwrap_err();
            assert_eq!(err.code(), "validation_failed");
        }
        assert_eq!(
            parse_json::<Sample>(b"[").unwrap_err().code(),
            "malformed_json"
        );
        let sample: Sample = parse_json(br#"{"name":"toolong","inner":{"count":0}}"#).unwrap();
        let errors = flatten_validation_errors(&sample.validate().unwrap_err());
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["inner.count", "name"]);
        assert_eq!(errors[1].message, "must be 1 to 5 characters");
    }
}
