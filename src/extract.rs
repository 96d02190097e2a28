//! Request extractors whose every failure is a problem document: JSON bodies (content type, size,
//! syntax, types, then the `validator` rules), path and query parameters.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::StreamExt;
use validator::{Validate, ValidationErrors, ValidationErrorsKind};

use crate::error::{ApiError, ErrorCode, FieldError, FieldErrorCode};

/// The largest request body accepted, from `HOTLINE_BODY_LIMIT`; kept in app data.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A JSON body, deserialised and then validated. Failures answer 415 (not JSON), 413 (too big),
/// 400 (not parseable JSON) or 422 (wrong or invalid fields, each named by its path).
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T> FromRequest for ApiJson<T>
where
    T: for<'de> eserde::EDeserialize<'de> + Validate + 'static,
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
    T: for<'de> eserde::EDeserialize<'de> + Validate + 'static,
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
                refuse_nul_in_form(&body)?;
                // serde's wording, without the value it may quote.
                serde_urlencoded::from_bytes::<T>(&body).map_err(|e| {
                    ApiError::validation(vec![describe_data_error("", &e.to_string())])
                })?
            } else {
                parse_json::<T>(&body)?
            };
            validate(value).map(JsonOrForm)
        })
    }
}

/// A form field holding a NUL (`%00`) is refused by name, as in JSON bodies.
fn refuse_nul_in_form(body: &[u8]) -> Result<(), ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let errors: Vec<FieldError> = pairs
        .iter()
        .filter(|(key, value)| key.contains('\0') || value.contains('\0'))
        .map(|(key, _)| nul_error(&key.replace('\0', "")))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(errors))
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
        collect_body(&mut payload, limit).await
    }
}

/// Reads a whole body, refusing it (413) once it passes `limit` bytes.
pub async fn collect_body(payload: &mut Payload, limit: usize) -> Result<web::Bytes, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| {
            ApiError::bad_request(
                ErrorCode::UnreadableBody,
                "the request body could not be read",
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
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

/// Syntax errors are the client's malformed request (400), and so is anything but whitespace after
/// the JSON value. Well-formed JSON of the wrong shape is an invalid field (422): every missing,
/// mistyped or unknown field is reported at once, each by its path. Text with a NUL character is
/// refused (422) before anything reads it: PostgreSQL cannot store it, and no client means it.
pub fn parse_json<T>(body: &[u8]) -> Result<T, ApiError>
where
    T: for<'de> eserde::EDeserialize<'de>,
{
    if std::str::from_utf8(body).is_err() {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidUtf8,
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
            FieldErrorCode::InvalidType,
            "the request body must be a JSON object",
        )]));
    }
    // A NUL can only arrive escaped (a raw one is a syntax error): look closer only then.
    if contains(body, b"u0000")
        && let Ok(value) = serde_json::from_slice::<serde_json::Value>(body)
    {
        let mut errors = Vec::new();
        nul_fields(&value, "", &mut errors);
        if !errors.is_empty() {
            return Err(ApiError::validation(errors));
        }
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let parsed = serde_path_to_error::deserialize(&mut deserializer);
    // `end` refuses trailing bytes (`{...} xx`, two objects back to back).
    let error = match parsed.map(|value| (value, deserializer.end())) {
        Ok((value, Ok(()))) => return Ok(value),
        Ok((_, Err(trailing))) => return Err(malformed(&trailing)),
        Err(error) => error.into_inner(),
    };
    match error.classify() {
        serde_json::error::Category::Data => Err(ApiError::validation(all_field_errors::<T>(body))),
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            Err(malformed(&error))
        }
        serde_json::error::Category::Io => Err(ApiError::bad_request(
            ErrorCode::UnreadableBody,
            "the request body could not be read",
        )),
    }
}

fn malformed(error: &serde_json::Error) -> ApiError {
    ApiError::bad_request(
        ErrorCode::MalformedJson,
        format!("the request body is not valid JSON: {error}"),
    )
}

/// The second pass over a body that did not fit `T` (eserde's): every field error, not only the
/// first. The messages are ours, so that no submitted value is echoed back.
fn all_field_errors<T>(body: &[u8]) -> Vec<FieldError>
where
    T: for<'de> eserde::EDeserialize<'de>,
{
    let Err(errors) = eserde::json::from_slice::<T>(body) else {
        return vec![FieldError::new(
            "",
            FieldErrorCode::InvalidType,
            "the body does not fit",
        )];
    };
    // After a value of the wrong shape (an array where text goes) the second pass cannot find its
    // way on through the document and reports where it lost track: not a problem of the request.
    let lost_track = |error: &eserde::DeserializationError| {
        error.path().is_none_or(|p| p.to_string() == ".") && error.message().starts_with("expected")
    };
    let mut out: Vec<FieldError> = errors
        .iter()
        .filter(|error| errors.len() == 1 || !lost_track(error))
        .map(|error| {
            let path = error
                .path()
                .map(ToString::to_string)
                .filter(|p| p != ".")
                .unwrap_or_default();
            describe_data_error(&path, error.message())
        })
        .collect();
    out.sort_by(|a, b| a.field.cmp(&b.field));
    out.dedup();
    out
}

/// One field error from serde's wording, without the offending value: "missing field `x`" adds
/// `x` to the path; type and value errors keep only what was expected.
fn describe_data_error(path: &str, message: &str) -> FieldError {
    let quoted = |text: &str| text.split('`').nth(1).unwrap_or_default().to_owned();
    let join = |name: &str| match (path.is_empty(), path.ends_with(name) && !name.is_empty()) {
        (true, _) => name.to_owned(),
        // Some paths already end with the field's own name.
        (false, true) => path.to_owned(),
        (false, false) => format!("{path}.{name}"),
    };
    if let Some(rest) = message.strip_prefix("missing field ") {
        return FieldError::new(join(&quoted(rest)), FieldErrorCode::Required, "is required");
    }
    if let Some(rest) = message.strip_prefix("unknown field ") {
        return FieldError::new(
            join(&quoted(rest)),
            FieldErrorCode::UnknownField,
            "is not a field of this request",
        );
    }
    let expected = message
        .rsplit_once("expected ")
        .map(|(_, e)| strip_position(e));
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        // The path may end with the unknown value itself, which is not a field.
        let value = quoted(rest);
        let field = path
            .strip_suffix(&value)
            .map_or(path, |p| p.strip_suffix('.').unwrap_or(p));
        let allowed = expected.unwrap_or_default().replace("one of ", "");
        return FieldError::new(
            field,
            FieldErrorCode::UnknownValue,
            format!("must be one of {allowed}"),
        );
    }
    let detail = expected.map_or_else(
        || "has the wrong type".to_owned(),
        |e| format!("expected {e}"),
    );
    FieldError::new(path, FieldErrorCode::InvalidType, detail)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Every string (or object key) holding a NUL, by path.
fn nul_fields(value: &serde_json::Value, path: &str, out: &mut Vec<FieldError>) {
    match value {
        serde_json::Value::String(text) if text.contains('\0') => out.push(nul_error(path)),
        serde_json::Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                nul_fields(item, &format!("{path}[{index}]"), out);
            }
        }
        serde_json::Value::Object(fields) => {
            for (key, item) in fields {
                if key.contains('\0') {
                    out.push(nul_error(path));
                } else if path.is_empty() {
                    nul_fields(item, key, out);
                } else {
                    nul_fields(item, &format!("{path}.{key}"), out);
                }
            }
        }
        _ => {}
    }
}

fn nul_error(path: &str) -> FieldError {
    FieldError::new(
        path,
        FieldErrorCode::InvalidCharacter,
        "must not contain NUL characters",
    )
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
    // One error per field, the first its rules found (an empty title is too short, not also blank).
    out.sort_by(|a, b| a.field.cmp(&b.field));
    out.dedup_by(|later, earlier| later.field == earlier.field);
    out
}

/// The message of a declared rule, from its bounds (`length`, `range`); never the value.
fn describe_rule(error: &validator::ValidationError) -> String {
    let bound = |name: &str| error.params.get(name).map(|v| v.to_string());
    let (unit, what) = match error.code.as_ref() {
        "length" => (" characters", "be"),
        "range" | "out_of_range" => ("", "be"),
        other => return format!("fails the '{other}' rule"),
    };
    match (bound("min"), bound("max")) {
        (Some(min), Some(max)) => format!("must {what} {min} to {max}{unit}"),
        (Some(min), None) => format!("must {what} at least {min}{unit}"),
        (None, Some(max)) => format!("must {what} at most {max}{unit}"),
        (None, None) => format!("fails the '{}' rule", error.code),
    }
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
                        .unwrap_or_else(|| describe_rule(error));
                    out.push(FieldError::new(
                        path.clone(),
                        FieldErrorCode::from_validator(&error.code),
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
            ErrorCode::InvalidQuery,
            format!("invalid query parameters: {error}"),
        )
        .into()
    })
}

/// Path segments that do not parse (`/users/abc` where an id is a number): 400.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|error, _req| {
        ApiError::bad_request(
            ErrorCode::InvalidPathParameter,
            format!("invalid path parameter: {error}"),
        )
        .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, eserde::Deserialize, Validate)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        #[validate(length(min = 1, max = 5, message = "must be 1 to 5 characters"))]
        name: String,
        #[validate(nested)]
        inner: Inner,
    }

    #[derive(Debug, eserde::Deserialize, Validate)]
    struct Inner {
        #[validate(range(min = 1, max = 10))]
        count: u32,
    }

    #[test]
    fn syntax_errors_are_bad_requests() {
        let err = parse_json::<Sample>(b"{\"name\": ").unwrap_err();
        assert_eq!(err.code(), ErrorCode::MalformedJson);
    }

    #[test]
    fn wrong_types_name_the_field() {
        let err = parse_json::<Sample>(br#"{"name":"a","inner":{"count":"x"}}"#).unwrap_err();
        let problem = err.problem();
        assert_eq!(problem.status, 422);
        assert_eq!(problem.errors[0].field, "inner.count");
        assert_eq!(problem.errors[0].code, FieldErrorCode::InvalidType);
    }

    #[test]
    fn missing_and_unknown_fields_are_reported() {
        let missing = parse_json::<Sample>(br#"{"inner":{"count":1}}"#)
            .unwrap_err()
            .problem();
        assert_eq!(missing.errors[0].code, FieldErrorCode::Required);
        let unknown = parse_json::<Sample>(br#"{"name":"a","inner":{"count":1},"x":1}"#)
            .unwrap_err()
            .problem();
        assert_eq!(unknown.errors[0].code, FieldErrorCode::UnknownField);
    }

    #[test]
    fn every_missing_field_is_named() {
        let problem = parse_json::<Sample>(b"{}").unwrap_err().problem();
        let fields: Vec<_> = problem.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["inner", "name"]);
        assert!(
            problem
                .errors
                .iter()
                .all(|e| e.code == FieldErrorCode::Required)
        );
        let nested = parse_json::<Sample>(br#"{"name":"a","inner":{}}"#)
            .unwrap_err()
            .problem();
        assert_eq!(nested.errors[0].field, "inner.count");
    }

    #[test]
    fn submitted_values_are_not_echoed() {
        let problem = parse_json::<Sample>(br#"{"name":13812345678,"inner":{"count":"secret"}}"#)
            .unwrap_err()
            .problem();
        assert_eq!(problem.errors.len(), 2);
        for error in &problem.errors {
            assert!(!error.message.contains("13812345678"), "{error:?}");
            assert!(!error.message.contains("secret"), "{error:?}");
        }
    }

    #[test]
    fn trailing_bytes_are_malformed() {
        for body in [
            &br#"{"name":"a","inner":{"count":1}} xx"#[..],
            br#"{"name":"a","inner":{"count":1}}{"name":"b","inner":{"count":1}}"#,
            b"{\"name\":\"a\",\"inner\":{\"count\":1}}\0",
        ] {
            assert_eq!(
                parse_json::<Sample>(body).unwrap_err().code(),
                ErrorCode::MalformedJson
            );
        }
        assert!(parse_json::<Sample>(b"{\"name\":\"a\",\"inner\":{\"count\":1}} \n\t").is_ok());
    }

    #[test]
    fn nul_characters_are_refused_by_field() {
        let problem = parse_json::<Sample>(br#"{"name":"a\u0000b","inner":{"count":1}}"#)
            .unwrap_err()
            .problem();
        assert_eq!(problem.status, 422);
        assert_eq!(problem.errors[0].field, "name");
        assert_eq!(problem.errors[0].code, FieldErrorCode::InvalidCharacter);
        // An escaped backslash before "u0000" is plain text, not a NUL.
        assert!(parse_json::<Sample>(br#"{"name":"\\u0000","inner":{"count":1}}"#).is_ok());
        assert!(refuse_nul_in_form(b"client_id=a%00b&client_secret=x").is_err());
        assert!(refuse_nul_in_form(b"client_id=a%2500b").is_ok());
    }

    #[test]
    fn invalid_utf8_is_rejected() {
        assert_eq!(
            parse_json::<Sample>(b"{\"name\":\"\xff\"}")
                .unwrap_err()
                .code(),
            ErrorCode::InvalidUtf8
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
            assert_eq!(err.code(), ErrorCode::ValidationFailed);
        }
        assert_eq!(
            parse_json::<Sample>(b"[").unwrap_err().code(),
            ErrorCode::MalformedJson
        );
        let sample: Sample = parse_json(br#"{"name":"toolong","inner":{"count":0}}"#).unwrap();
        let errors = flatten_validation_errors(&sample.validate().unwrap_err());
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["inner.count", "name"]);
        assert_eq!(errors[1].message, "must be 1 to 5 characters");
    }
}
