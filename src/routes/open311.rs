//! The Open311 GeoReport v2 facade under `/open311/v2`, for civic-tech clients that speak it
//! unchanged: JSON or XML by the path's extension, errors in GeoReport's own format (not problem
//! documents). Public: a POST proves its integration client with `api_key`
//! (`<client_id>:<client_secret>`) and is rate-limited per address.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError, get, post, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::now;
use crate::domain::open311::{
    self as rules, CreatedRequest, Discovery, DiscoveryEndpoint, Endpoints, Format, Formats,
    Open311Error, RequestQuery, Service, ServiceDefinition, ServiceRequest, TokenAnswer,
};
use crate::error::ApiError;
use crate::service::open311 as open311_service;
use crate::startup::AppState;

/// A failed Open311 call, answered in the call's format: `[{"code":…,"description":…}]` or
/// `<errors><error><code>…</code><description>…</description></error></errors>`.
#[derive(Debug)]
pub struct Open311Failure {
    format: Format,
    status: StatusCode,
    errors: Vec<Open311Error>,
    retry_after_secs: Option<u64>,
}

impl Open311Failure {
    /// A refusal made before the facade's handlers run (a middleware's), for a request to the
    /// facade: in the format its path's extension names (JSON unless `.xml`).
    pub fn for_path(path: &str, status: StatusCode, description: impl Into<String>) -> Self {
        let format = if path.ends_with(".xml") {
            Format::Xml
        } else {
            Format::Json
        };
        Self::new(format, status, description)
    }

    fn new(format: Format, status: StatusCode, description: impl Into<String>) -> Self {
        Self {
            format,
            status,
            errors: vec![Open311Error {
                code: status.as_u16(),
                description: description.into(),
            }],
            retry_after_secs: None,
        }
    }

    /// The API's error in GeoReport's terms: invalid fields are a 400 (one error per field, by
    /// name and rule; never the value); the rest keep their status and wording.
    fn of(format: Format, error: ApiError) -> Self {
        match error {
            ApiError::Validation { errors, detail } => {
                let mut failure = Self::new(format, StatusCode::BAD_REQUEST, detail);
                if !errors.is_empty() {
                    failure.errors = errors
                        .iter()
                        .map(|e| Open311Error {
                            code: 400,
                            description: format!("{}: {}", rules::form_field(&e.field), e.message),
                        })
                        .collect();
                }
                failure
            }
            ApiError::TooManyRequests { retry_after_secs } => {
                let mut failure = Self::new(
                    format,
                    StatusCode::TOO_MANY_REQUESTS,
                    "too many requests from this address; retry after Retry-After seconds",
                );
                failure.retry_after_secs = Some(retry_after_secs);
                failure
            }
            ApiError::Internal(cause) => {
                log::error!(
                    "request {} failed: {cause}",
                    crate::telemetry::current_request_id()
                        .as_deref()
                        .unwrap_or("-")
                );
                Self::new(
                    format,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the server failed to handle this request",
                )
            }
            other => {
                let status = other.status_code();
                Self::new(format, status, other.to_string())
            }
        }
    }
}

impl std::fmt::Display for Open311Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Open311 error {}", self.status)
    }
}

impl ResponseError for Open311Failure {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        response
            .extensions_mut()
            .insert(crate::telemetry::OwnErrorFormat);
        if let Some(secs) = self.retry_after_secs {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        // A description may echo a field name the client sent: no control characters (XML 1.0
        // cannot carry them).
        let errors: Vec<Open311Error> = self
            .errors
            .iter()
            .map(|e| Open311Error {
                code: e.code,
                description: e
                    .description
                    .chars()
                    .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
                    .collect(),
            })
            .collect();
        match self.format {
            Format::Json => response.json(&errors),
            Format::Xml => match rules::list_to_xml("errors", "error", &errors) {
                Ok(xml) => response.content_type(Format::Xml.content_type()).body(xml),
                Err(_) => HttpResponse::InternalServerError().finish(),
            },
        }
    }
}

type Answer = Result<HttpResponse, Open311Failure>;

/// The format named by the path's `{format}`; any other extension is a 404 (answered in JSON).
fn format_of(req: &HttpRequest) -> Result<Format, Open311Failure> {
    let extension = req.match_info().get("format").unwrap_or_default();
    Format::parse(extension).ok_or_else(|| {
        Open311Failure::new(
            Format::Json,
            StatusCode::NOT_FOUND,
            "unknown format: end the path with .json or .xml",
        )
    })
}

fn xml_failed(format: Format, error: String) -> Open311Failure {
    Open311Failure::of(format, ApiError::internal(format!("XML: {error}")))
}

/// One document: JSON as is, XML under `root`.
fn document<T: Serialize>(format: Format, status: StatusCode, root: &str, value: &T) -> Answer {
    let mut response = HttpResponse::build(status);
    match format {
        Format::Json => Ok(response.json(value)),
        Format::Xml => {
            let xml = rules::to_xml(root, value).map_err(|e| xml_failed(format, e))?;
            Ok(response.content_type(format.content_type()).body(xml))
        }
    }
}

/// A list: a JSON array, or `<root><item>…</item>…</root>`.
fn list<T: Serialize>(
    format: Format,
    status: StatusCode,
    root: &str,
    item: &'static str,
    items: &[T],
) -> Answer {
    let mut response = HttpResponse::build(status);
    match format {
        Format::Json => Ok(response.json(items)),
        Format::Xml => {
            let xml = rules::list_to_xml(root, item, items).map_err(|e| xml_failed(format, e))?;
            Ok(response.content_type(format.content_type()).body(xml))
        }
    }
}

/// A path segment before the extension (`{service_code}` in `services/{service_code}.json`).
fn segment<'a>(req: &'a HttpRequest, name: &str) -> &'a str {
    req.match_info().get(name).unwrap_or_default()
}

/// The discovery document: this endpoint, its specification and its formats.
#[utoipa::path(
    tag = "open311",
    params(("format" = String, Path, description = "`json` or `xml`")),
    responses(
        (status = 200, description = "The discovery document", content((Discovery = "application/json"), (Discovery = "application/xml"))),
        (status = 404, description = "Unknown format", content((Vec<Open311Error> = "application/json"))),
        (status = 500, description = "Unexpected failure", content((Vec<Open311Error> = "application/json"), (Vec<Open311Error> = "application/xml"))),
    ),
)]
#[get("/discovery.{format}")]
pub async fn open311_discovery(state: web::Data<AppState>, req: HttpRequest) -> Answer {
    let format = format_of(&req)?;
    let url = format!("{}/open311/v2", super::api_base(&state.settings, &req));
    let changeset = "2026-12-05T00:00:00Z".to_owned();
    let discovery = Discovery {
        changeset: changeset.clone(),
        contact: "The 12345 hotline centre operating this server".into(),
        key_service: "api_key is <client_id>:<client_secret> of an integration client; ask the \
                      centre's administrators for one"
            .into(),
        endpoints: Endpoints(vec![DiscoveryEndpoint {
            specification: rules::SPECIFICATION,
            url,
            changeset,
            r#type: "production",
            formats: Formats(vec!["text/xml", "application/json"]),
        }]),
    };
    document(format, StatusCode::OK, "discovery", &discovery)
}

/// Services: the active categories (`service_code` = category code, `group` = parent's name,
/// `metadata` false, `type` realtime).
#[utoipa::path(
    tag = "open311",
    params(("format" = String, Path, description = "`json` or `xml`")),
    responses(
        (status = 200, description = "The services (`<services><service>…` in XML)", content((Vec<Service> = "application/json"), (Vec<Service> = "application/xml"))),
        (status = 404, description = "Unknown format", content((Vec<Open311Error> = "application/json"))),
        (status = 500, description = "Unexpected failure", content((Vec<Open311Error> = "application/json"), (Vec<Open311Error> = "application/xml"))),
    ),
)]
#[get("/services.{format}")]
pub async fn open311_services(state: web::Data<AppState>, req: HttpRequest) -> Answer {
    let format = format_of(&req)?;
    let services = state
        .db
        .run(open311_service::services)
        .await
        .map_err(|e| Open311Failure::of(format, e))?;
    list(format, StatusCode::OK, "services", "service", &services)
}

/// A service's definition. No category asks extra questions yet (every service has `metadata`
/// false), so an active service's definition has no attributes; an unknown or retired code is 404.
#[utoipa::path(
    tag = "open311",
    params(
        ("service_code" = String, Path, description = "The category's code"),
        ("format" = String, Path, description = "`json` or `xml`"),
    ),
    responses(
        (status = 200, description = "The definition (`<service_definition>` in XML)", content((ServiceDefinition = "application/json"), (ServiceDefinition = "application/xml"))),
        (status = 404, description = "No active service has this code, or unknown format", content((Vec<Open311Error> = "application/json"), (Vec<Open311Error> = "application/xml"))),
        (status = 500, description = "Unexpected failure", content((Vec<Open311Error> = "application/json"), (Vec<Open311Error> = "application/xml"))),
    ),
)]
#[get("/services/{service_code}.{format}")]
pub async fn open311_service_definition(state: web::Data<AppState>, req: HttpRequest) -> Answer {
    let format = format_of(&req)?;
    let code = segment(&req, "service_code").to_owned();
    let definition = state
        .db
        .run(move |conn| open311_service::service_definition(conn, &code))
        .await
        .map_err(|e| Open311Failure::of(format, e))?;
    document(format, StatusCode::OK, "service_definition", &definition)
}

/// The query of `GET requests`, as documented (read by hand, so that a bad one is a GeoReport 400).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct RequestsParams {
    /// Comma-separated request ids (case numbers); when given, the other filters are ignored.
    service_request_id: Option<String>,
    /// Comma-separated service codes.
    service_code: Option<String>,
    /// Earliest registration time (W3C date-time, or a date); default 90 days before `end_date`.
    start_date: Option<String>,
    /// Latest registration time; default 90 days after `start_date`, or now. At most 90 days
    /// after `start_date`.
    end_date: Option<String>,
    /// `open` or `closed` (comma-separated: both).
    status: Option<String>,
}

fn parse_query(format: Format, req: &HttpRequest) -> Result<RequestQuery, Open311Failure> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string())
        .map_err(|_| Open311Failure::new(format, StatusCode::BAD_REQUEST, "unreadable query"))?;
    let mut query = RequestQuery::default();
    for (key, value) in pairs {
        let slot = match key.as_str() {
            "service_request_id" => &mut query.service_request_id,
            "service_code" => &mut query.service_code,
            "start_date" => &mut query.start_date,
            "end_date" => &mut query.end_date,
            "status" => &mut query.status,
            // `jurisdiction_id` and anything a client adds: one jurisdiction, nothing else to filter.
            _ => continue,
        };
        *slot = Some(value);
    }
    Ok(query)
}

/// Service requests: cases, newest first, public fields only (no description, nothing of the
/// complainant; `address` is the district's name and `lat`/`long` are rounded to about 110 m).
/// By default the last 90 days; at most 1,000.
#[utoipa::path(
    tag = "open311",
    params(("format" = String, Path, description = "`json` or `xml`"), RequestsParams),
    responses(
        (status = 200, description = "The requests (`<service_requests><request>…` in XML)", content((Vec<ServiceRequest> = "application/json"), (Vec<ServiceRequest> = "application/xml"))),
        (status = 400, description = "A bad filter (date, status, a window over 90 days)", content((Vec<Open311Error> = "application/json"), (Vec<Open311Error> = "application/xml"))),
        (status = 404, description = "Unknown format", content((Vec<Open311Error> = "application/json"))),
        (status = 500, description = "Unexpected failure", content((Vec<Open311Error> = "application/json"), (Vec<Open311Error> = "application/xml"))),
    ),
)]
#[get("/requests.{format}")]
pub async fn open311_requests(state: web::Data<AppState>, req: HttpRequest) -> Answer {
    let format = format_of(&req)?;
    let query = parse_query(format, &req)?;
    let filter = rules::parse_filter(&query, now())
        .map_err(|e| Open311Failure::new(format, StatusCode::BAD_REQUEST, e))?;
    let link = super::public_file_links(&state, &req);
    let requests = state
        .db
        .run(move |conn| open311_service::requests(conn, filter, &link))
        .await
        .map_err(|e| Open311Failure::of(format, e))?;
    list(
        format,
        StatusCode::OK,
        "service_requests",
        "request",
        &requests,
    )
}

/// One service request, by its id (the case number), as a list of one (as the specification has it).
#[utoipa::path(
    tag = "open311",
    params(
        ("service_request_id" = String, Path, description = "The case number"),
        ("format" = String, Path, description = "`json` or `xml`"),
    ),
    responses(
        (status = 200, description = "The request, alone in a list", content((Vec<ServiceRequest> = "application/json"), (Vec<ServiceRequest> = "application/xml"))),
        (status = 404, description = "No such request, or unknown format", content((Vec<Open311Error> = "application/json"), (Vec<Open311Error> = "application/xml"))),
        (status = 500, description = "Unexpected failure", content((Vec<Open311Error> = "application/json"), (Vec<Open311Error> = "application/xml"))),
    ),
)]
#[get("/requests/{service_request_id}.{format}")]
pub async fn open311_request(state: web::Data<AppState>, req: HttpRequest) -> Answer {
    let format = format_of(&req)?;
    let id = segment(&req, "service_request_id").to_owned();
    let link = super::public_file_links(&state, &req);
    let found = state
        .db
        .run(move |conn| open311_service::request(conn, &id, &link))
        .await
        .map_err(|e| Open311Failure::of(format, e))?;
    list(
        format,
        StatusCode::OK,
        "service_requests",
        "request",
        &[found],
    )
}

/// What a token stands for. Requests are registered synchronously and a POST answers with the
/// request's id, so the only tokens are the ids themselves.
#[utoipa::path(
    tag = "open311",
    params(
        ("token" = String, Path, description = "A request's token (its id)"),
        ("format" = String, Path, description = "`json` or `xml`"),
    ),
    responses(
        (status = 200, description = "The request's id, alone in a list", content((Vec<TokenAnswer> = "application/json"), (Vec<TokenAnswer> = "application/xml"))),
        (status = 404, description = "No such token, or unknown format", content((Vec<Open311Error> = "application/json"), (Vec<Open311Error> = "application/xml"))),
        (status = 500, description = "Unexpected failure", content((Vec<Open311Error> = "application/json"), (Vec<Open311Error> = "application/xml"))),
    ),
)]
#[get("/tokens/{token}.{format}")]
pub async fn open311_token(state: web::Data<AppState>, req: HttpRequest) -> Answer {
    let format = format_of(&req)?;
    let token = segment(&req, "token").to_owned();
    let answer = state
        .db
        .run(move |conn| open311_service::token(conn, &token))
        .await
        .map_err(|e| Open311Failure::of(format, e))?;
    list(
        format,
        StatusCode::OK,
        "service_requests",
        "request",
        &[answer],
    )
}

/// The form of `POST requests` (`application/x-www-form-urlencoded`), as the specification
/// names its fields; checked field by field by `domain::open311::parse_new_request`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Open311RequestForm {
    /// `<client_id>:<client_secret>` of an active integration client.
    api_key: String,
    /// Accepted and not used: the server serves one jurisdiction.
    jurisdiction_id: Option<String>,
    /// The category's code.
    service_code: String,
    /// With `long`, or give `address_string`.
    lat: Option<f64>,
    long: Option<f64>,
    #[schema(max_length = 500)]
    address_string: Option<String>,
    #[schema(max_length = 10000)]
    description: Option<String>,
    /// The complainant's; kept as their contact address (personal data, never shown by GETs).
    #[schema(max_length = 200)]
    email: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    /// A mainland mobile or landline number.
    phone: Option<String>,
    /// With the description, makes a repeat within 10 minutes the same request.
    #[schema(max_length = 200)]
    device_id: Option<String>,
    /// Accepted and not used.
    account_id: Option<String>,
    /// Accepted and not used: the server fetches no one's URLs; attach files through the API.
    media_url: Option<String>,
}

/// Registers a request as a case (kind `complaint`, channel `app`) through the normal intake,
/// for the integration client named by `api_key`; the contact fields become the complainant's
/// personal data. The same `device_id` and description again within 10 minutes answer the first
/// case. `attribute[…]` fields are accepted and not used (no service has attributes).
/// Rate-limited per client address (`HOTLINE_PUBLIC_RATE_LIMIT`).
#[utoipa::path(
    tag = "open311",
    params(("format" = String, Path, description = "`json` or `xml`")),
    request_body(content = Open311RequestForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 201, description = "Registered (or the same device's repeat): the request's id, alone in a list", content((Vec<CreatedRequest> = "application/json"), (Vec<CreatedRequest> = "application/xml"))),
        (status = 400, description = "Missing or invalid fields, unknown service_code, no api_key", content((Vec<Open311Error> = "application/json"), (Vec<Open311Error> = "application/xml"))),
        (status = 403, description = "The api_key is not an active client's id and secret", content((Vec<Open311Error> = "application/json"), (Vec<Open311Error> = "application/xml"))),
        (status = 404, description = "Unknown format", content((Vec<Open311Error> = "application/json"))),
        (status = 413, description = "The body exceeds the configured limit", content((Vec<Open311Error> = "application/json"), (Vec<Open311Error> = "application/xml"))),
        (status = 415, description = "The body is not a form", content((Vec<Open311Error> = "application/json"), (Vec<Open311Error> = "application/xml"))),
        (status = 429, description = "Too many requests from this address; see `Retry-After`", content((Vec<Open311Error> = "application/json"), (Vec<Open311Error> = "application/xml"))),
        (status = 500, description = "Unexpected failure", content((Vec<Open311Error> = "application/json"), (Vec<Open311Error> = "application/xml"))),
    ),
)]
#[post("/requests.{format}")]
pub async fn open311_create_request(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Answer {
    let format = format_of(&req)?;
    let fail = |e| Open311Failure::of(format, e);
    let forwarded_for = req
        .headers()
        .get(header::X_FORWARDED_FOR)
        .and_then(|value| value.to_str().ok());
    state
        .public_limit
        .check(req.peer_addr(), forwarded_for)
        .map_err(fail)?;
    let form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form {
        return Err(Open311Failure::new(
            format,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the fields as application/x-www-form-urlencoded",
        ));
    }
    let limit = req
        .app_data::<crate::extract::BodyLimit>()
        .map_or(256 * 1024, |l| l.0);
    let body = crate::extract::collect_body(&mut payload.into_inner(), limit)
        .await
        .map_err(fail)?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|_| Open311Failure::new(format, StatusCode::BAD_REQUEST, "unreadable form"))?;
    if pairs
        .iter()
        .any(|(k, v)| k.contains('\0') || v.contains('\0'))
    {
        return Err(Open311Failure::new(
            format,
            StatusCode::BAD_REQUEST,
            "a field holds a NUL character",
        ));
    }
    let input = rules::parse_new_request(&pairs).map_err(|errors| Open311Failure {
        format,
        status: StatusCode::BAD_REQUEST,
        errors: errors
            .into_iter()
            .map(|description| Open311Error {
                code: 400,
                description,
            })
            .collect(),
        retry_after_secs: None,
    })?;
    if input.api_key.is_empty() {
        return Err(Open311Failure::new(
            format,
            StatusCode::BAD_REQUEST,
            "api_key is required",
        ));
    }
    let settings = open311_service::IntakeSettings {
        idempotency_ttl: chrono::Duration::from_std(state.settings.idempotency_ttl)
            .map_err(|e| fail(ApiError::internal(e.to_string())))?,
        timezone: state.settings.timezone,
        attachment_limits: crate::service::attachments::Limits::of(&state.settings),
    };
    let created = state
        .db
        .run(move |conn| {
            let client = open311_service::client_by_api_key(conn, &input.api_key)?;
            open311_service::create(conn, &client, input, settings)
        })
        .await
        .map_err(fail)?;
    list(
        format,
        StatusCode::CREATED,
        "service_requests",
        "request",
        &[created],
    )
}
