//! Open311 GeoReport v2 (<https://wiki.open311.org/GeoReport_v2>): the documents of the facade
//! under `/open311/v2` and the rules that map the hotline onto them. Categories are services;
//! cases are service requests. Pure rules; the service reads and writes.
//!
//! What a GET answer tells of a case is public: no description, nothing of the complainant, no
//! account ids. The address is the district's name and the point is rounded to about 100 m, since
//! a case's street address or exact point can be someone's home (SPEC 5.3 has no masking rule for
//! places, so the facade shows only what identifies no one).

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, TimeDelta, Utc};
use serde::{Serialize, Serializer};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::case::CaseStatus;

/// The URL of the specification, as the discovery document names it.
pub const SPECIFICATION: &str = "http://wiki.open311.org/GeoReport_v2";
/// The widest window `GET requests` searches, and its default (the specification's 90 days).
pub const MAX_WINDOW_DAYS: i64 = 90;
/// The most requests one `GET requests` answers (the specification's 1,000).
pub const MAX_REQUESTS: usize = 1000;
/// How long a POST from one device with the same description counts as a repeat: requests are
/// bucketed by this many seconds, and the current and the previous bucket are looked at.
pub const REPEAT_WINDOW_SECS: i64 = 600;
/// Decimal places kept of a case's latitude and longitude (3: about 110 m).
pub const POINT_DECIMALS: i32 = 3;

/// The two formats of the specification, chosen by the path's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

impl Format {
    /// `json` or `xml`, as the extension is written (lower case).
    pub fn parse(extension: &str) -> Option<Self> {
        match extension {
            "json" => Some(Format::Json),
            "xml" => Some(Format::Xml),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Xml => "application/xml; charset=utf-8",
        }
    }
}

/// `open` or `closed`: the only statuses GeoReport v2 knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RequestStatus {
    Open,
    Closed,
}

impl RequestStatus {
    /// A rejected case is as finished as a closed one; a merged case is closed (closure `merged`).
    pub fn of(status: CaseStatus) -> Self {
        match status {
            CaseStatus::Closed | CaseStatus::Rejected => RequestStatus::Closed,
            CaseStatus::Registered
            | CaseStatus::PendingDispatch
            | CaseStatus::Dispatched
            | CaseStatus::InProgress
            | CaseStatus::PendingReview
            | CaseStatus::AwaitingFollowUp
            | CaseStatus::AwaitingDecision => RequestStatus::Open,
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "open" => Some(RequestStatus::Open),
            "closed" => Some(RequestStatus::Closed),
            _ => None,
        }
    }

    /// The case statuses this status stands for.
    pub fn case_statuses(self) -> Vec<CaseStatus> {
        CaseStatus::ALL
            .iter()
            .copied()
            .filter(|s| RequestStatus::of(*s) == self)
            .collect()
    }
}

/// What a citizen is told of a case's stage, as the request's `status_notes`. The reply's own
/// text is never shown: written to the citizen, it may name them or their home.
pub fn status_notes(status: CaseStatus) -> &'static str {
    use super::case::CitizenStatus;
    match status.for_citizen() {
        CitizenStatus::Received => "已登记",
        CitizenStatus::InHand => "办理中",
        CitizenStatus::Answered => "已答复",
        CitizenStatus::NotAccepted => "不予受理",
        CitizenStatus::Closed => "已办结",
    }
}

/// A time as the documents write it: RFC 3339 in UTC, whole seconds.
pub fn datetime(at: NaiveDateTime) -> String {
    at.and_utc().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A coordinate rounded to [`POINT_DECIMALS`] places.
pub fn coarse(coordinate: f64) -> f64 {
    let scale = 10f64.powi(POINT_DECIMALS);
    (coordinate * scale).round() / scale
}

// ---------------------------------------------------------------------------------------------
// Documents
// ---------------------------------------------------------------------------------------------

/// One endpoint of the discovery document.
#[derive(Debug, Serialize, ToSchema)]
pub struct DiscoveryEndpoint {
    pub specification: &'static str,
    /// The base URL of the endpoint (`…/open311/v2`).
    pub url: String,
    pub changeset: String,
    /// `production`.
    pub r#type: &'static str,
    /// The media types served: `text/xml` and `application/json`.
    pub formats: Formats,
}

/// The formats of an endpoint: a JSON array, `<formats><format>…` in XML.
#[derive(Debug, ToSchema)]
#[schema(value_type = Vec<String>)]
pub struct Formats(pub Vec<&'static str>);

impl Serialize for Formats {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if XML_LISTS.with(|x| x.get()) {
            Wrapped::new("format", &self.0).serialize(serializer)
        } else {
            self.0.serialize(serializer)
        }
    }
}

/// The discovery document: where the endpoint is and what it speaks.
#[derive(Debug, Serialize, ToSchema)]
pub struct Discovery {
    pub changeset: String,
    pub contact: String,
    pub key_service: String,
    pub endpoints: Endpoints,
}

/// The endpoints of the discovery document: a JSON array, `<endpoints><endpoint>…` in XML.
#[derive(Debug, ToSchema)]
#[schema(value_type = Vec<DiscoveryEndpoint>)]
pub struct Endpoints(pub Vec<DiscoveryEndpoint>);

impl Serialize for Endpoints {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if XML_LISTS.with(|x| x.get()) {
            Wrapped::new("endpoint", &self.0).serialize(serializer)
        } else {
            self.0.serialize(serializer)
        }
    }
}

/// One service: an active category.
#[derive(Debug, Serialize, ToSchema)]
pub struct Service {
    /// The category's code.
    #[schema(example = "0301")]
    pub service_code: String,
    #[schema(example = "占道经营")]
    pub service_name: String,
    /// The category's place in the tree (`城市管理 › 市容环境 › 占道经营`).
    pub description: String,
    /// Always `false`: no category asks extra questions yet.
    pub metadata: bool,
    /// Always `realtime`: a request is registered as a case when it is posted.
    #[schema(example = "realtime")]
    pub r#type: &'static str,
    /// Comma-separated; categories have no keywords of their own, so the names of the categories
    /// above this one.
    pub keywords: String,
    /// The parent category's name; absent for a top-level category.
    pub group: Option<String>,
}

/// A category as the services are made from it.
#[derive(Debug, Clone)]
pub struct CategoryFacts {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub parent_id: Option<i64>,
    pub active: bool,
}

/// The active categories as services, in the order given (by code).
pub fn services(categories: &[CategoryFacts]) -> Vec<Service> {
    let by_id: std::collections::HashMap<i64, &CategoryFacts> =
        categories.iter().map(|c| (c.id, c)).collect();
    categories
        .iter()
        .filter(|c| c.active)
        .map(|category| {
            // The names above this category, nearest last; a cycle cannot loop forever.
            let mut ancestors = Vec::new();
            let mut parent = category.parent_id;
            while let Some(p) = parent.and_then(|id| by_id.get(&id)) {
                if ancestors.len() >= 16 {
                    break;
                }
                ancestors.push(p.name.clone());
                parent = p.parent_id;
            }
            ancestors.reverse();
            let group = ancestors.last().cloned();
            let mut path = ancestors.clone();
            path.push(category.name.clone());
            Service {
                service_code: category.code.clone(),
                service_name: category.name.clone(),
                description: path.join(" › "),
                metadata: false,
                r#type: "realtime",
                keywords: ancestors.join(","),
                group,
            }
        })
        .collect()
}

/// One extra question of a service (none is defined yet; the shape is the specification's).
#[derive(Debug, Serialize, ToSchema)]
pub struct Attribute {
    pub variable: bool,
    pub code: String,
    /// `string`, `number`, `datetime`, `text`, `singlevaluelist` or `multivaluelist`.
    pub datatype: String,
    pub required: bool,
    pub datatype_description: Option<String>,
    pub order: i32,
    pub description: String,
}

/// A service's definition: its extra questions. Every active service has one, with no
/// attributes, so that clients which ask regardless of `metadata` get an answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceDefinition {
    pub service_code: String,
    pub attributes: Attributes,
}

/// The attributes: a JSON array, `<attributes><attribute>…` in XML.
#[derive(Debug, ToSchema)]
#[schema(value_type = Vec<Attribute>)]
pub struct Attributes(pub Vec<Attribute>);

impl Serialize for Attributes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if XML_LISTS.with(|x| x.get()) {
            Wrapped::new("attribute", &self.0).serialize(serializer)
        } else {
            self.0.serialize(serializer)
        }
    }
}

/// A case as a service request: public fields only.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceRequest {
    /// The case number.
    #[schema(example = "20261121-000042")]
    pub service_request_id: String,
    pub status: RequestStatus,
    /// The stage as a citizen is told it (已登记, 办理中, 已答复, 不予受理, 已办结).
    pub status_notes: Option<String>,
    pub service_name: Option<String>,
    pub service_code: Option<String>,
    /// The department leading the case's handling.
    pub agency_responsible: Option<String>,
    pub service_notice: Option<String>,
    /// Registered (RFC 3339, UTC).
    #[schema(format = DateTime)]
    pub requested_datetime: String,
    /// Last changed.
    #[schema(format = DateTime)]
    pub updated_datetime: String,
    /// The reply time promised at dispatch.
    #[schema(format = DateTime)]
    pub expected_datetime: Option<String>,
    /// The district's name only: a street address can be someone's home.
    pub address: Option<String>,
    /// Rounded to 3 decimal places (about 110 m).
    pub lat: Option<f64>,
    /// Rounded to 3 decimal places (about 110 m).
    pub long: Option<f64>,
    /// A signed link, valid for a day or two, to the first photo sent by whoever raised the
    /// request (never the centre's or a department's files, nothing of a confidential case).
    pub media_url: Option<String>,
}

/// The public facts of a case, as read for the facade (never its text or its complainant).
#[derive(Debug, Clone)]
pub struct CaseFacts {
    pub case_no: String,
    pub status: CaseStatus,
    pub category: Option<(String, String)>,
    pub lead_department: Option<String>,
    pub district: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub reply_due_at: Option<NaiveDateTime>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

impl From<CaseFacts> for ServiceRequest {
    fn from(case: CaseFacts) -> Self {
        let (service_code, service_name) = case.category.unzip();
        // A point is shown only whole: half of one is no place.
        let point = case.latitude.zip(case.longitude);
        ServiceRequest {
            service_request_id: case.case_no,
            status: RequestStatus::of(case.status),
            status_notes: Some(status_notes(case.status).to_owned()),
            service_name,
            service_code,
            agency_responsible: case.lead_department,
            service_notice: None,
            requested_datetime: datetime(case.created_at),
            updated_datetime: datetime(case.updated_at),
            expected_datetime: case.reply_due_at.map(datetime),
            address: case.district,
            lat: point.map(|(lat, _)| coarse(lat)),
            long: point.map(|(_, long)| coarse(long)),
            media_url: None,
        }
    }
}

/// The answer to a POST: the new request's id (registration is synchronous, so no token).
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedRequest {
    pub service_request_id: String,
    pub service_notice: Option<String>,
    /// Always empty: requests are not tied to accounts of ours.
    pub account_id: Option<String>,
}

/// What a token stands for. Requests are registered at once, so a token is the request's id.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenAnswer {
    pub service_request_id: String,
    pub token: String,
}

/// One error of a GeoReport error answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Open311Error {
    /// The HTTP status.
    #[schema(example = 400)]
    pub code: u16,
    pub description: String,
}

// ---------------------------------------------------------------------------------------------
// XML
// ---------------------------------------------------------------------------------------------

thread_local! {
    /// Set while a document is written as XML: lists nested in a document are then wrapped in
    /// elements named after their items, as the specification's examples write them.
    static XML_LISTS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A list written as repeated `<item>` elements inside its parent.
struct Wrapped<'a, T> {
    item: &'static str,
    items: &'a [T],
}

impl<'a, T> Wrapped<'a, T> {
    fn new(item: &'static str, items: &'a [T]) -> Self {
        Self { item, items }
    }
}

impl<T: Serialize> Serialize for Wrapped<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut list = serializer.serialize_struct("list", 1)?;
        list.serialize_field(self.item, self.items)?;
        list.end()
    }
}

/// Writes `value` as an XML document whose root element is `root`, escaped by the XML crate.
pub fn to_xml<T: Serialize>(root: &str, value: &T) -> Result<String, String> {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            XML_LISTS.with(|x| x.set(false));
        }
    }
    XML_LISTS.with(|x| x.set(true));
    let _reset = Reset;
    let body = quick_xml::se::to_string_with_root(root, value).map_err(|e| e.to_string())?;
    Ok(format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n{body}"
    ))
}

/// Writes a list as an XML document: `<root><item>…</item>…</root>`.
pub fn list_to_xml<T: Serialize>(
    root: &str,
    item: &'static str,
    items: &[T],
) -> Result<String, String> {
    to_xml(root, &Wrapped::new(item, items))
}

// ---------------------------------------------------------------------------------------------
// GET requests: filters
// ---------------------------------------------------------------------------------------------

/// The query of `GET requests`, as sent.
#[derive(Debug, Default, Clone)]
pub struct RequestQuery {
    pub service_request_id: Option<String>,
    pub service_code: Option<String>,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
    pub status: Option<String>,
}

/// What `GET requests` looks for.
#[derive(Debug, Clone, PartialEq)]
pub enum RequestFilter {
    /// These requests, whatever else was asked (the specification: the ids override the rest).
    Ids(Vec<String>),
    /// Requests registered in `[from, to)`, newest first, at most [`MAX_REQUESTS`].
    Window {
        from: NaiveDateTime,
        to: NaiveDateTime,
        /// Empty: every service.
        service_codes: Vec<String>,
        /// Empty: every status.
        statuses: Vec<CaseStatus>,
    },
}

/// A comma list: items trimmed, empty ones dropped.
fn comma_list(value: Option<&str>) -> Vec<String> {
    value
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A W3C date-time (`2026-11-21T08:00:00+08:00`, `…Z`) or a bare date (midnight UTC).
fn parse_time(name: &str, text: &str) -> Result<NaiveDateTime, String> {
    use chrono::Datelike;
    let text = text.trim();
    // Years far out (chrono reads `+262142-12-31`) would overflow the window arithmetic.
    let plausible = |at: NaiveDateTime| (1970..=9999).contains(&at.year());
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        let at = at.with_timezone(&Utc).naive_utc();
        if plausible(at) {
            return Ok(at);
        }
    } else if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let at = day.and_hms_opt(0, 0, 0).unwrap_or_default();
        if plausible(at) {
            return Ok(at);
        }
    }
    Err(format!(
        "{name} must be a date-time such as 2026-11-21T08:00:00Z, or a date"
    ))
}

/// The filter of `GET requests` (defaults: the last 90 days; a window of at most 90 days).
pub fn parse_filter(query: &RequestQuery, now: NaiveDateTime) -> Result<RequestFilter, String> {
    let ids = comma_list(query.service_request_id.as_deref());
    if ids.len() > MAX_REQUESTS {
        return Err(format!(
            "service_request_id lists at most {MAX_REQUESTS} requests"
        ));
    }
    if !ids.is_empty() {
        return Ok(RequestFilter::Ids(ids));
    }
    let window = TimeDelta::days(MAX_WINDOW_DAYS);
    let start = query
        .start_date
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|s| parse_time("start_date", s))
        .transpose()?;
    let end = query
        .end_date
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|s| parse_time("end_date", s))
        .transpose()?;
    let (from, to) = match (start, end) {
        (None, None) => (now - window, now + TimeDelta::seconds(1)),
        (Some(from), None) => (from, from + window),
        (None, Some(to)) => (to - window, to),
        (Some(from), Some(to)) => {
            if from > to {
                return Err("start_date is after end_date".into());
            }
            if to - from > window {
                return Err(format!(
                    "start_date and end_date may not span more than {MAX_WINDOW_DAYS} days"
                ));
            }
            (from, to)
        }
    };
    let statuses = comma_list(query.status.as_deref())
        .iter()
        .map(|s| {
            RequestStatus::parse(&s.to_ascii_lowercase())
                .ok_or_else(|| "status is open or closed".to_owned())
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut case_statuses: Vec<CaseStatus> = statuses
        .into_iter()
        .flat_map(|s| s.case_statuses())
        .collect();
    case_statuses.sort_by_key(|s| s.as_str());
    case_statuses.dedup();
    // Both statuses asked for: no status filter at all.
    if case_statuses.len() == CaseStatus::ALL.len() {
        case_statuses.clear();
    }
    Ok(RequestFilter::Window {
        from,
        to,
        service_codes: comma_list(query.service_code.as_deref()),
        statuses: case_statuses,
    })
}

// ---------------------------------------------------------------------------------------------
// POST requests
// ---------------------------------------------------------------------------------------------

/// A new service request, as posted (form fields), checked for what this layer can check.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewServiceRequest {
    pub api_key: String,
    pub service_code: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub address: Option<String>,
    pub description: Option<String>,
    pub email: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub device_id: Option<String>,
}

/// The fields of a POST (form pairs in order). `jurisdiction_id` (there is one jurisdiction),
/// `account_id`, `attribute[…]` (no service has attributes) and `media_url` (the server fetches
/// no one's URLs) are accepted and not used. Errors are the descriptions of a 400.
pub fn parse_new_request(pairs: &[(String, String)]) -> Result<NewServiceRequest, Vec<String>> {
    let mut errors = Vec::new();
    let mut request = NewServiceRequest::default();
    let text = |value: &str| Some(value.trim().to_owned()).filter(|v| !v.is_empty());
    let mut lat = None;
    let mut long = None;
    for (key, value) in pairs {
        match key.as_str() {
            "api_key" => request.api_key = value.trim().to_owned(),
            "service_code" => request.service_code = value.trim().to_owned(),
            "lat" => lat = text(value),
            "long" => long = text(value),
            "address_string" => request.address = text(value),
            "description" => request.description = text(value),
            "email" => request.email = text(value),
            "first_name" => request.first_name = text(value),
            "last_name" => request.last_name = text(value),
            "phone" => request.phone = text(value),
            "device_id" => request.device_id = text(value),
            "jurisdiction_id" | "account_id" | "media_url" | "address_id" => {}
            other if other.starts_with("attribute[") => {}
            // Unknown fields are named, never their values (which may be personal data).
            other => errors.push(format!(
                "unknown field {}",
                other.chars().take(40).collect::<String>()
            )),
        }
    }
    if request.service_code.is_empty() {
        errors.push("service_code is required".into());
    }
    let coordinate = |name: &str, value: Option<String>, limit: f64, errors: &mut Vec<String>| {
        let value = value?;
        match value.parse::<f64>() {
            Ok(v) if v.is_finite() && v.abs() <= limit => Some(v),
            _ => {
                errors.push(format!("{name} must be a number from -{limit} to {limit}"));
                None
            }
        }
    };
    request.latitude = coordinate("lat", lat.clone(), 90.0, &mut errors);
    request.longitude = coordinate("long", long.clone(), 180.0, &mut errors);
    if lat.is_some() != long.is_some() {
        errors.push("lat and long come together".into());
    }
    if lat.is_none() && long.is_none() && request.address.is_none() {
        errors.push("give lat and long, or address_string".into());
    }
    for (name, value, max) in [
        ("description", &request.description, 10_000),
        ("address_string", &request.address, 500),
        ("email", &request.email, 200),
        ("device_id", &request.device_id, 200),
    ] {
        if value.as_ref().is_some_and(|v| v.chars().count() > max) {
            errors.push(format!("{name} is longer than {max} characters"));
        }
    }
    if let Some(email) = &request.email
        && !email.contains('@')
    {
        errors.push("email is not an e-mail address".into());
    }
    if errors.is_empty() {
        Ok(request)
    } else {
        Err(errors)
    }
}

/// The form's name of a field of the case registration the form becomes, for error answers.
pub fn form_field(registration_field: &str) -> &str {
    match registration_field {
        "complainant.name" => "first_name/last_name",
        "complainant.phone" => "phone",
        "complainant.contact_address" => "email",
        "address" => "address_string",
        "latitude" => "lat",
        "longitude" => "long",
        "category_id" | "title" => "service_code",
        other => other,
    }
}

/// `<client_id>:<client_secret>` of an integration client.
pub fn split_api_key(api_key: &str) -> Option<(&str, &str)> {
    api_key
        .split_once(':')
        .filter(|(id, secret)| !id.is_empty() && !secret.is_empty())
}

/// The complainant's name from the form: family name first when either part is not Latin
/// (`张` + `三` → `张三`), else `first last`.
pub fn full_name(first: Option<&str>, last: Option<&str>) -> Option<String> {
    match (first, last) {
        (None, None) => None,
        (Some(one), None) | (None, Some(one)) => Some(one.to_owned()),
        (Some(first), Some(last)) => {
            let latin = |s: &str| {
                s.chars()
                    .all(|c| c.is_ascii() || c.is_alphabetic() && (c as u32) < 0x0250)
            };
            if latin(first) && latin(last) {
                Some(format!("{first} {last}"))
            } else {
                Some(format!("{last}{first}"))
            }
        }
    }
}

/// The `external_ref` of a POST from a device: the same device and description in the same
/// [`REPEAT_WINDOW_SECS`] bucket make the same reference, so the repeat finds the first case.
/// Hashed, so that the description is not stored twice.
pub fn repeat_ref(device_id: &str, description: &str, bucket: i64) -> String {
    let mut hasher = Sha256::new();
    for part in [device_id.as_bytes(), b"\0", description.as_bytes(), b"\0"] {
        hasher.update(part);
    }
    hasher.update(bucket.to_string().as_bytes());
    let digest = hasher.finalize();
    let hex: String = digest.iter().take(20).map(|b| format!("{b:02x}")).collect();
    format!("open311:{hex}")
}

/// The bucket of [`repeat_ref`] an instant falls in.
pub fn repeat_bucket(at: NaiveDateTime) -> i64 {
    at.and_utc().timestamp().div_euclid(REPEAT_WINDOW_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        DateTime::parse_from_rfc3339(text).unwrap().naive_utc()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn finished_cases_are_closed_and_the_rest_open() {
        assert_eq!(RequestStatus::of(CaseStatus::Closed), RequestStatus::Closed);
        assert_eq!(
            RequestStatus::of(CaseStatus::Rejected),
            RequestStatus::Closed
        );
        for open in [
            CaseStatus::Registered,
            CaseStatus::Dispatched,
            CaseStatus::AwaitingFollowUp,
        ] {
            assert_eq!(RequestStatus::of(open), RequestStatus::Open);
        }
        let closed = RequestStatus::Closed.case_statuses();
        assert_eq!(closed.len(), 2);
        assert_eq!(
            RequestStatus::Open.case_statuses().len() + closed.len(),
            CaseStatus::ALL.len()
        );
    }

    #[test]
    fn the_default_window_is_the_last_90_days() {
        let now = at("2026-12-01T00:00:00Z");
        let RequestFilter::Window {
            from,
            to,
            service_codes,
            statuses,
        } = parse_filter(&RequestQuery::default(), now).unwrap()
        else {
            panic!("a window")
        };
        assert_eq!(from, at("2026-09-02T00:00:00Z"));
        assert!(to > now);
        assert!(service_codes.is_empty() && statuses.is_empty());
    }

    #[test]
    fn a_start_alone_opens_a_90_day_window_and_spans_are_bounded() {
        let now = at("2026-12-01T00:00:00Z");
        let query = RequestQuery {
            start_date: Some("2026-01-01T08:00:00+08:00".into()),
            ..Default::default()
        };
        let RequestFilter::Window { from, to, .. } = parse_filter(&query, now).unwrap() else {
            panic!()
        };
        assert_eq!(from, at("2026-01-01T00:00:00Z"));
        assert_eq!(to, at("2026-04-01T00:00:00Z"));
        let too_wide = RequestQuery {
            start_date: Some("2026-01-01".into()),
            end_date: Some("2026-06-01".into()),
            ..Default::default()
        };
        assert!(
            parse_filter(&too_wide, now)
                .unwrap_err()
                .contains("90 days")
        );
        let reversed = RequestQuery {
            start_date: Some("2026-02-01".into()),
            end_date: Some("2026-01-01".into()),
            ..Default::default()
        };
        assert!(parse_filter(&reversed, now).is_err());
        let garbage = RequestQuery {
            end_date: Some("yesterday".into()),
            ..Default::default()
        };
        assert!(
            parse_filter(&garbage, now)
                .unwrap_err()
                .contains("end_date")
        );
    }

    #[test]
    fn ids_override_the_other_filters_and_statuses_are_open_or_closed() {
        let now = at("2026-12-01T00:00:00Z");
        let query = RequestQuery {
            service_request_id: Some("20261121-000001, 20261121-000002,".into()),
            status: Some("bogus".into()),
            ..Default::default()
        };
        assert_eq!(
            parse_filter(&query, now).unwrap(),
            RequestFilter::Ids(vec!["20261121-000001".into(), "20261121-000002".into()])
        );
        let closed = RequestQuery {
            status: Some("closed".into()),
            service_code: Some("A,B".into()),
            ..Default::default()
        };
        let RequestFilter::Window {
            statuses,
            service_codes,
            ..
        } = parse_filter(&closed, now).unwrap()
        else {
            panic!()
        };
        assert_eq!(statuses.len(), 2);
        assert_eq!(service_codes, ["A", "B"]);
        let both = RequestQuery {
            status: Some("open,closed".into()),
            ..Default::default()
        };
        let RequestFilter::Window { statuses, .. } = parse_filter(&both, now).unwrap() else {
            panic!()
        };
        assert!(statuses.is_empty());
        let bad = RequestQuery {
            status: Some("pending".into()),
            ..Default::default()
        };
        assert!(parse_filter(&bad, now).is_err());
    }

    #[test]
    fn services_are_the_active_categories_grouped_by_their_parent() {
        let category = |id, code: &str, name: &str, parent_id, active| CategoryFacts {
            id,
            code: code.into(),
            name: name.into(),
            parent_id,
            active,
        };
        let services = services(&[
            category(1, "03", "城市管理", None, true),
            category(2, "0301", "市容环境", Some(1), true),
            category(3, "030101", "占道经营", Some(2), true),
            category(4, "030102", "旧分类", Some(2), false),
        ]);
        assert_eq!(services.len(), 3);
        assert_eq!(services[0].group, None);
        let leaf = &services[2];
        assert_eq!(leaf.service_code, "030101");
        assert_eq!(leaf.group.as_deref(), Some("市容环境"));
        assert_eq!(leaf.description, "城市管理 › 市容环境 › 占道经营");
        assert_eq!(leaf.keywords, "城市管理,市容环境");
        assert_eq!(leaf.r#type, "realtime");
        assert!(!leaf.metadata);
    }

    #[test]
    fn a_request_shows_no_street_address_and_a_coarse_point() {
        let request = ServiceRequest::from(CaseFacts {
            case_no: "20261121-000042".into(),
            status: CaseStatus::Rejected,
            category: Some(("030101".into(), "占道经营".into())),
            lead_department: Some("城管局".into()),
            district: Some("东城区".into()),
            created_at: at("2026-11-21T08:00:00.123456Z"),
            updated_at: at("2026-11-22T08:00:00Z"),
            reply_due_at: None,
            latitude: Some(39.916_345_6),
            longitude: Some(116.397_123),
        });
        assert_eq!(request.status, RequestStatus::Closed);
        assert_eq!(request.status_notes.as_deref(), Some("不予受理"));
        assert_eq!(request.address.as_deref(), Some("东城区"));
        assert_eq!(request.lat, Some(39.916));
        assert_eq!(request.long, Some(116.397));
        assert_eq!(request.requested_datetime, "2026-11-21T08:00:00Z");
        assert_eq!(request.expected_datetime, None);
    }

    #[test]
    fn xml_documents_are_escaped_and_shaped_like_the_specification() {
        let services = services(&[CategoryFacts {
            id: 1,
            code: "A&B".into(),
            name: "<占道>".into(),
            parent_id: None,
            active: true,
        }]);
        let xml = list_to_xml("services", "service", &services).unwrap();
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>"));
        assert!(xml.contains("<services><service><service_code>A&amp;B</service_code>"));
        assert!(xml.contains("<service_name>&lt;占道&gt;</service_name>"));
        assert!(xml.contains("<metadata>false</metadata><type>realtime</type>"));
        assert!(xml.contains("<group/>"));
        let empty = list_to_xml::<Service>("services", "service", &[]).unwrap();
        assert!(empty.ends_with("<services/>"));
        let definition = ServiceDefinition {
            service_code: "A".into(),
            attributes: Attributes(Vec::new()),
        };
        assert!(
            to_xml("service_definition", &definition)
                .unwrap()
                .ends_with("<service_definition><service_code>A</service_code><attributes/></service_definition>")
        );
        assert_eq!(
            serde_json::to_value(&definition).unwrap(),
            serde_json::json!({"service_code": "A", "attributes": []})
        );
        let discovery = Discovery {
            changeset: "c".into(),
            contact: "x".into(),
            key_service: "k".into(),
            endpoints: Endpoints(vec![DiscoveryEndpoint {
                specification: SPECIFICATION,
                url: "http://h/open311/v2".into(),
                changeset: "c".into(),
                r#type: "production",
                formats: Formats(vec!["text/xml", "application/json"]),
            }]),
        };
        let xml = to_xml("discovery", &discovery).unwrap();
        assert!(
            xml.contains("<endpoints><endpoint><specification>"),
            "{xml}"
        );
        assert!(
            xml.contains(
                "<formats><format>text/xml</format><format>application/json</format></formats>"
            ),
            "{xml}"
        );
        let json = serde_json::to_value(&discovery).unwrap();
        assert_eq!(json["endpoints"][0]["formats"][1], "application/json");
    }

    #[test]
    fn a_post_needs_a_service_and_a_place_and_names_no_values() {
        let ok = parse_new_request(&pairs(&[
            ("api_key", "id:secret"),
            ("service_code", "0301"),
            ("lat", "39.9"),
            ("long", "116.4"),
            ("attribute[WHISPER]", "x"),
            ("jurisdiction_id", "city"),
            ("first_name", "三"),
            ("last_name", "张"),
        ]))
        .unwrap();
        assert_eq!(ok.latitude, Some(39.9));
        assert_eq!(ok.service_code, "0301");
        let errors = parse_new_request(&pairs(&[("lat", "91"), ("secret_field", "13812345678")]))
            .unwrap_err();
        let all = errors.join("; ");
        assert!(all.contains("service_code is required"), "{all}");
        assert!(all.contains("lat must be"), "{all}");
        assert!(all.contains("lat and long come together"), "{all}");
        assert!(all.contains("unknown field secret_field"), "{all}");
        assert!(!all.contains("13812345678"));
        let nowhere = parse_new_request(&pairs(&[("service_code", "0301")])).unwrap_err();
        assert!(nowhere.join(";").contains("address_string"));
    }

    #[test]
    fn names_keys_and_repeat_references() {
        assert_eq!(full_name(Some("三"), Some("张")).as_deref(), Some("张三"));
        assert_eq!(
            full_name(Some("Ada"), Some("Lovelace")).as_deref(),
            Some("Ada Lovelace")
        );
        assert_eq!(full_name(None, None), None);
        assert_eq!(split_api_key("abc:def"), Some(("abc", "def")));
        assert_eq!(split_api_key("abc:d:ef"), Some(("abc", "d:ef")));
        assert_eq!(split_api_key("abc"), None);
        assert_eq!(split_api_key(":x"), None);
        assert_eq!(form_field("complainant.phone"), "phone");
        assert_eq!(form_field("description"), "description");
        let a = repeat_ref("device", "坑", 7);
        assert_eq!(a, repeat_ref("device", "坑", 7));
        assert_ne!(a, repeat_ref("device", "坑", 8));
        assert_ne!(a, repeat_ref("other", "坑", 7));
        assert!(a.len() <= 100 && a.starts_with("open311:"));
        assert_eq!(
            repeat_bucket(at("2026-12-01T00:09:59Z")),
            repeat_bucket(at("2026-12-01T00:00:00Z"))
        );
    }
}
