//! The Open311 GeoReport v2 facade: services from categories, service requests from cases, and
//! new requests registered through the normal intake by an integration client.

use std::collections::HashMap;

use validator::Validate;

use crate::auth::Principal;
use crate::db::open311::{self as store, PublicCaseRow};
use crate::db::{DbConnection, now};
use crate::domain::case::Channel;
use crate::domain::ids::{AttachmentId, CaseId, CategoryId, DepartmentId};
use crate::domain::open311::{
    Attributes, CaseFacts, CategoryFacts, CreatedRequest, MAX_REQUESTS, NewServiceRequest,
    RequestFilter, Service, ServiceDefinition, ServiceRequest, TokenAnswer, full_name,
    repeat_bucket, repeat_ref, split_api_key,
};
use crate::domain::sla::CaseKind;
use crate::error::{ApiError, ErrorCode};
use crate::service::intake::{ComplainantInput, RegisterCase, register};

fn category_facts(conn: &mut DbConnection) -> Result<Vec<CategoryFacts>, ApiError> {
    Ok(store::categories(conn)?
        .into_iter()
        .map(|(id, code, name, parent_id, active)| CategoryFacts {
            id: id.get(),
            code,
            name,
            parent_id: parent_id.map(|p| p.get()),
            active,
        })
        .collect())
}

/// The active categories as services.
pub fn services(conn: &mut DbConnection) -> Result<Vec<Service>, ApiError> {
    Ok(crate::domain::open311::services(&category_facts(conn)?))
}

fn unknown_service() -> ApiError {
    ApiError::not_found("no service has this service_code")
}

/// The definition of an active service: no category has extra questions, so no attributes.
pub fn service_definition(
    conn: &mut DbConnection,
    service_code: &str,
) -> Result<ServiceDefinition, ApiError> {
    let known = category_facts(conn)?
        .into_iter()
        .any(|c| c.active && c.code == service_code);
    if !known {
        return Err(unknown_service());
    }
    Ok(ServiceDefinition {
        service_code: service_code.to_owned(),
        attributes: Attributes(Vec::new()),
    })
}

/// Makes the public, signed and expiring URL of an attachment (the routes know the host).
pub type MediaLink<'a> = &'a (dyn Fn(AttachmentId) -> String + Send + Sync);

/// The rows as service requests: categories and departments named, nothing else read.
fn as_requests(
    conn: &mut DbConnection,
    rows: Vec<PublicCaseRow>,
    media_link: MediaLink<'_>,
) -> Result<Vec<ServiceRequest>, ApiError> {
    let ids: Vec<CaseId> = rows.iter().map(|r| r.id).collect();
    let photos: HashMap<CaseId, AttachmentId> =
        store::request_photos(conn, &ids)?.into_iter().collect();
    let categories: HashMap<CategoryId, (String, String)> = store::categories(conn)?
        .into_iter()
        .map(|(id, code, name, _, _)| (id, (code, name)))
        .collect();
    let mut departments: Vec<DepartmentId> = rows
        .iter()
        .flat_map(|r| [r.lead_department_id, r.district_id])
        .flatten()
        .collect();
    departments.sort_unstable();
    departments.dedup();
    let names: HashMap<DepartmentId, String> = store::department_names(conn, &departments)?
        .into_iter()
        .collect();
    Ok(rows
        .into_iter()
        .map(|row| {
            let photo = photos.get(&row.id).copied();
            let mut request = ServiceRequest::from(CaseFacts {
                case_no: row.case_no,
                status: row.status,
                category: row.category_id.and_then(|id| categories.get(&id).cloned()),
                lead_department: row
                    .lead_department_id
                    .and_then(|id| names.get(&id).cloned()),
                district: row.district_id.and_then(|id| names.get(&id).cloned()),
                created_at: row.created_at,
                updated_at: row.updated_at,
                reply_due_at: row.reply_due_at,
                latitude: row.latitude,
                longitude: row.longitude,
            });
            request.media_url = photo.map(media_link);
            request
        })
        .collect())
}

/// The requests a filter finds, newest first, at most 1,000.
pub fn requests(
    conn: &mut DbConnection,
    filter: RequestFilter,
    media_link: MediaLink<'_>,
) -> Result<Vec<ServiceRequest>, ApiError> {
    let rows = match filter {
        RequestFilter::Ids(numbers) => store::cases_by_number(conn, &numbers)?,
        RequestFilter::Window {
            from,
            to,
            service_codes,
            statuses,
        } => {
            let categories: Vec<CategoryId> = if service_codes.is_empty() {
                Vec::new()
            } else {
                let wanted: Vec<CategoryId> = store::categories(conn)?
                    .into_iter()
                    .filter(|(_, code, ..)| service_codes.contains(code))
                    .map(|(id, ..)| id)
                    .collect();
                // Only unknown services asked for: nothing is theirs.
                if wanted.is_empty() {
                    return Ok(Vec::new());
                }
                wanted
            };
            store::cases_registered_between(
                conn,
                (from, to),
                &categories,
                &statuses,
                MAX_REQUESTS as i64,
            )?
        }
    };
    as_requests(conn, rows, media_link)
}

fn unknown_request() -> ApiError {
    ApiError::not_found("no service request has this id")
}

/// One request, by its id (the case number).
pub fn request(
    conn: &mut DbConnection,
    service_request_id: &str,
    media_link: MediaLink<'_>,
) -> Result<ServiceRequest, ApiError> {
    let rows = store::cases_by_number(conn, &[service_request_id.to_owned()])?;
    as_requests(conn, rows, media_link)?
        .into_iter()
        .next()
        .ok_or_else(unknown_request)
}

/// What a token stands for: requests are registered at once, so a token is the request's id.
pub fn token(conn: &mut DbConnection, token: &str) -> Result<TokenAnswer, ApiError> {
    // Only the id is answered: no names or photo links to look up.
    let found = store::cases_by_number(conn, &[token.to_owned()])?
        .into_iter()
        .next()
        .ok_or_else(unknown_request)?;
    Ok(TokenAnswer {
        service_request_id: found.case_no,
        token: token.to_owned(),
    })
}

fn invalid_api_key() -> ApiError {
    ApiError::Forbidden {
        code: ErrorCode::Forbidden,
        detail: "invalid api_key: send <client_id>:<client_secret> of an active integration client"
            .into(),
    }
}

/// The integration client whose `<client_id>:<client_secret>` is the `api_key` (403 otherwise).
pub fn client_by_api_key(conn: &mut DbConnection, api_key: &str) -> Result<Principal, ApiError> {
    let (client_id, secret) = split_api_key(api_key).ok_or_else(invalid_api_key)?;
    let client = crate::service::auth::authenticate_client(conn, client_id, secret)?
        .ok_or_else(invalid_api_key)?;
    Ok(Principal::client_by_secret(client))
}

/// What the intake needs from the server's settings.
#[derive(Debug, Clone, Copy)]
pub struct IntakeSettings {
    pub idempotency_ttl: chrono::Duration,
    pub timezone: chrono_tz::Tz,
    pub attachment_limits: crate::service::attachments::Limits,
}

/// Registers a request as a complaint from the `app` channel through the normal intake. The
/// same device posting the same description again within 10 to 20 minutes gets the first case
/// (its `external_ref` is a hash of both and the time bucket, looked up in this bucket and the
/// one before); without a `device_id` every POST is a new case.
pub fn create(
    conn: &mut DbConnection,
    principal: &Principal,
    input: NewServiceRequest,
    settings: IntakeSettings,
) -> Result<CreatedRequest, ApiError> {
    let category = category_facts(conn)?
        .into_iter()
        .find(|c| c.active && c.code == input.service_code)
        .ok_or_else(|| {
            ApiError::bad_request(ErrorCode::InvalidQuery, "no service has this service_code")
        })?;
    let description = input
        .description
        .clone()
        .unwrap_or_else(|| category.name.clone());
    let client = principal
        .client_id()
        .ok_or_else(|| ApiError::internal("an Open311 POST without its client"))?;
    let external_ref = match input.device_id.as_deref() {
        Some(device) => {
            let bucket = repeat_bucket(now());
            let earlier = repeat_ref(device, &description, bucket - 1);
            if let Some(case) = crate::db::cases::find_by_external_ref(conn, client, &earlier)? {
                return Ok(created(case.case_no));
            }
            repeat_ref(device, &description, bucket)
        }
        None => format!("open311:{}", uuid::Uuid::new_v4().simple()),
    };
    let name = full_name(input.first_name.as_deref(), input.last_name.as_deref());
    let anonymous = name.is_none() && input.phone.is_none();
    let registration = RegisterCase {
        channel: Some(Channel::App),
        kind: CaseKind::Complaint,
        urgency: None,
        category_id: Some(CategoryId(category.id)),
        title: category.name.chars().take(200).collect(),
        description,
        address: input.address,
        district_id: None,
        latitude: input.latitude,
        longitude: input.longitude,
        occurred_at: None,
        complainant: Some(ComplainantInput {
            name,
            phone: input.phone,
            // The complainant's e-mail is where they can be reached.
            contact_address: input.email,
            contact_allowed: None,
            confidential: None,
            anonymous: Some(anonymous),
        }),
        external_ref: Some(external_ref),
        attachment_ids: None,
    };
    // The rules a JSON registration is held to; the errors name fields, never values.
    registration.validate().map_err(|errors| {
        ApiError::validation(crate::extract::flatten_validation_errors(&errors))
    })?;
    let registered = register(
        conn,
        principal,
        registration,
        None,
        settings.idempotency_ttl,
        settings.timezone,
        settings.attachment_limits,
    )?;
    Ok(created(registered.case.case_no))
}

fn created(case_no: String) -> CreatedRequest {
    CreatedRequest {
        service_notice: Some(format!("已登记为工单 {case_no}")),
        service_request_id: case_no,
        account_id: None,
    }
}
