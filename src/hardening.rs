//! Middleware that applies to every answer: input no handler should ever see (a NUL character in
//! the path or query string) is refused up front, and the security headers that OWASP's REST
//! guidance names are set on the way out.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;

use crate::error::{ApiError, ErrorCode};

/// The API answers JSON only: no script, no style, no frame may come from an answer.
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";
/// The documentation UI loads its own scripts, styles and images from this server only (its
/// Swagger UI is vendored) and talks to this server only.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'none'";

/// What the hardening middleware needs from configuration.
#[derive(Debug, Clone)]
pub struct HeaderPolicy {
    /// The `Strict-Transport-Security` value, when the deployment is HTTPS.
    pub hsts: Option<HeaderValue>,
}

impl HeaderPolicy {
    pub fn new(hsts_max_age: Option<u64>) -> Self {
        Self {
            hsts: hsts_max_age.and_then(|age| {
                HeaderValue::from_str(&format!("max-age={age}; includeSubDomains")).ok()
            }),
        }
    }
}

/// True when the raw path or query carries a percent-encoded NUL (a raw one cannot pass the HTTP
/// parser). PostgreSQL refuses NUL in text and no identifier or search contains one.
pub fn has_encoded_nul(uri: &actix_web::http::Uri) -> bool {
    let has = |text: &str| text.as_bytes().windows(3).any(|w| w == b"%00");
    has(uri.path()) || uri.query().is_some_and(has)
}

/// Refuses a percent-encoded NUL in the path or query before any handler reads it (400).
pub async fn refuse_nul(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if has_encoded_nul(req.uri()) {
        const DETAIL: &str = "the path or query string must not contain NUL characters";
        // Open311 clients get the GeoReport error format they parse.
        if req.path().starts_with("/open311/") {
            let failure = crate::routes::open311::Open311Failure::for_path(
                req.path(),
                actix_web::http::StatusCode::BAD_REQUEST,
                DETAIL,
            );
            return Ok(req.error_response(failure).map_into_right_body());
        }
        let error = ApiError::bad_request(ErrorCode::InvalidCharacter, DETAIL);
        return Ok(req.error_response(error).map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// Sets the security headers on every answer, whoever made it (handlers, the documentation UI,
/// CORS refusals, actix itself): it wraps everything else.
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let hsts = req
        .app_data::<HeaderPolicy>()
        .and_then(|policy| policy.hsts.clone());
    let docs = req.path().starts_with("/docs");
    let mut response = next.call(req).await?;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    let csp = if docs { DOCS_CSP } else { API_CSP };
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    // A handler that says how its answer may be cached (the public report: aggregate figures
    // only) is believed.
    if !docs && !headers.contains_key(header::CACHE_CONTROL) {
        // Answers may carry personal data: no browser or shared cache may keep them. (Clients
        // still revalidate with ETag / If-None-Match, which no-store does not prevent.)
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if let Some(hsts) = hsts {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, hsts);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_nul_is_found_in_path_and_query() {
        for (uri, nul) in [
            ("/api/v1/cases?q=%00abc", true),
            ("/api/v1/cases/by-number/2026%00", true),
            ("/api/v1/cases?q=%2500", false),
            ("/api/v1/cases?q=100", false),
        ] {
            let uri: actix_web::http::Uri = uri.parse().unwrap();
            assert_eq!(has_encoded_nul(&uri), nul, "{uri}");
        }
    }

    #[test]
    fn hsts_only_when_configured() {
        assert!(HeaderPolicy::new(None).hsts.is_none());
        assert_eq!(
            HeaderPolicy::new(Some(31_536_000)).hsts.unwrap(),
            "max-age=31536000; includeSubDomains"
        );
    }
}
