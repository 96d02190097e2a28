//! Reading cases: one case as a viewer may see it (the complainant disclosed or masked per
//! SPEC 5.3), lists, the timeline, and the log of full personal-data reads.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::db::cases::{self as case_db, CaseRow, ComplainantRow};
use crate::db::{DbConnection, now};
use crate::domain::case::{
    CaseStatus, Channel, CitizenStatus, Closure, ContactWishes, Disclosure, disclosure, mask_name,
    mask_phone,
};
use crate::domain::ids::{CaseId, CategoryId, ClientId, DepartmentId, UserId};
use crate::domain::role::Role;
use crate::domain::sla::{CaseKind, Urgency};
use crate::error::{ApiError, ErrorCode};
use crate::service::cases::visible_case;

/// What a viewer may see of the complainant.
#[derive(Debug, Serialize, ToSchema)]
pub struct ComplainantView {
    /// `full` or `masked`.
    #[schema(example = "full")]
    pub disclosure: &'static str,
    pub name: Option<String>,
    pub phone: Option<String>,
    /// Only with full disclosure.
    pub contact_address: Option<String>,
    pub contact_allowed: bool,
    pub confidential: bool,
    pub anonymous: bool,
    /// The record this disclosure owes, when it is a full one to centre staff (SPEC 5.3).
    #[serde(skip)]
    pub(crate) owed_read: Option<crate::db::read_log::FullRead>,
}

/// Writing a complainant into an answer notes the full read it owes; the server records it
/// before the answer leaves (`startup::record_personal_data_reads`).
pub(crate) fn serialize_complainant<S: serde::Serializer>(
    complainant: &Option<ComplainantView>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    if let Some(read) = complainant.as_ref().and_then(|c| c.owed_read.as_ref()) {
        crate::db::read_log::owe(read);
    }
    complainant.serialize(serializer)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CaseView {
    pub id: CaseId,
    #[schema(example = "20261121-000042")]
    pub case_no: String,
    pub channel: Channel,
    pub kind: CaseKind,
    pub urgency: Urgency,
    pub category_id: Option<CategoryId>,
    pub title: String,
    pub description: String,
    pub address: Option<String>,
    pub district_id: Option<DepartmentId>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub occurred_at: Option<DateTime<Utc>>,
    pub status: CaseStatus,
    /// The plainer status citizens are shown.
    pub citizen_status: CitizenStatus,
    pub closure: Option<Closure>,
    /// The answer given, the reason for rejection, or the result.
    pub resolution: Option<String>,
    /// Absent where the viewer may see nothing of the complainant.
    #[serde(serialize_with = "serialize_complainant")]
    pub complainant: Option<ComplainantView>,
    pub source_client: Option<ClientId>,
    pub external_ref: Option<String>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// The dispatch round (0 before the first dispatch).
    pub current_round: i32,
    /// The department leading the current round.
    pub lead_department_id: Option<DepartmentId>,
    /// The reply time the citizen was told at dispatch.
    pub reply_due_at: Option<DateTime<Utc>>,
    /// For a merged case: the case it was merged into.
    pub merged_into: Option<CaseId>,
    /// How many times the case was redone (重办).
    pub redo_count: i32,
    pub dispatched_at: Option<DateTime<Utc>>,
    pub reviewed_at: Option<DateTime<Utc>>,
}

/// Renders a case for `principal`, disclosing the complainant per SPEC 5.3. A full disclosure to
/// centre staff carries the read it owes, recorded when the case is written into an answer.
pub fn view(
    conn: &mut DbConnection,
    principal: &Principal,
    row: CaseRow,
) -> Result<CaseView, ApiError> {
    let complainant = case_db::complainant(conn, row.id)?;
    render(principal, row, complainant)
}

/// What `principal` may see of a case's complainant (SPEC 5.3); a full disclosure to centre staff
/// carries the read it owes.
pub(crate) fn complainant_view(
    principal: &Principal,
    (case_id, citizen_id): (CaseId, Option<UserId>),
    complainant: Option<ComplainantRow>,
) -> Option<ComplainantView> {
    let c = complainant?;
    let is_own = principal.role == Role::Citizen && citizen_id == principal.user_id();
    let wishes = ContactWishes {
        contact_allowed: c.contact_allowed,
        confidential: c.confidential,
    };
    match disclosure(principal.role, is_own, wishes) {
        Disclosure::Hidden => None,
        Disclosure::Masked => Some(ComplainantView {
            disclosure: "masked",
            name: c.name.as_deref().map(mask_name),
            phone: c.phone.as_deref().map(mask_phone),
            contact_address: None,
            contact_allowed: c.contact_allowed,
            confidential: c.confidential,
            anonymous: c.anonymous,
            owed_read: None,
        }),
        Disclosure::Full => {
            let has_data = c.name.is_some() || c.phone.is_some() || c.contact_address.is_some();
            let owed_read = match principal.user_id() {
                Some(user_id) if has_data && principal.role != Role::Citizen => {
                    Some(crate::db::read_log::FullRead {
                        case_id,
                        user_id,
                        role: principal.role.as_str(),
                        at: now(),
                    })
                }
                _ => None,
            };
            Some(ComplainantView {
                disclosure: "full",
                name: c.name,
                phone: c.phone,
                contact_address: c.contact_address,
                contact_allowed: c.contact_allowed,
                confidential: c.confidential,
                anonymous: c.anonymous,
                owed_read,
            })
        }
    }
}

/// [`view`] with the complainant already at hand.
pub(crate) fn render(
    principal: &Principal,
    row: CaseRow,
    complainant: Option<ComplainantRow>,
) -> Result<CaseView, ApiError> {
    let complainant = complainant_view(principal, (row.id, row.citizen_id), complainant);
    let status = row.status;
    Ok(CaseView {
        id: row.id,
        case_no: row.case_no,
        channel: row.channel,
        kind: row.kind,
        urgency: row.urgency,
        category_id: row.category_id,
        title: row.title,
        description: row.description,
        address: row.address,
        district_id: row.district_id,
        latitude: row.latitude,
        longitude: row.longitude,
        occurred_at: row.occurred_at.map(|t| t.and_utc()),
        status,
        citizen_status: status.for_citizen(),
        closure: row.closure,
        resolution: row.resolution,
        complainant,
        source_client: row.source_client,
        external_ref: row.external_ref,
        version: row.version,
        created_at: row.created_at.and_utc(),
        updated_at: row.updated_at.and_utc(),
        accepted_at: row.accepted_at.map(|t| t.and_utc()),
        closed_at: row.closed_at.map(|t| t.and_utc()),
        current_round: row.current_round,
        lead_department_id: row.lead_department_id,
        reply_due_at: row.reply_due_at.map(|t| t.and_utc()),
        merged_into: row.merged_into,
        redo_count: row.redo_count,
        dispatched_at: row.dispatched_at.map(|t| t.and_utc()),
        reviewed_at: row.reviewed_at.map(|t| t.and_utc()),
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineEvent {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// The user who acted (absent for clients and the system).
    pub actor_user_id: Option<UserId>,
    pub actor_client_id: Option<ClientId>,
    /// The actor's role, or `system`.
    pub actor_role: String,
    #[schema(example = "accepted")]
    pub action: String,
    pub status_before: Option<String>,
    pub status_after: Option<String>,
    /// What the action said (reasons, answers); never the complainant's personal data.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

pub fn timeline(
    conn: &mut DbConnection,
    principal: &Principal,
    id: CaseId,
) -> Result<Vec<TimelineEvent>, ApiError> {
    visible_case(conn, principal, id)?;
    case_db::events(conn, id)?
        .into_iter()
        .map(|e| {
            Ok(TimelineEvent {
                id: e.id,
                at: e.occurred_at.and_utc(),
                actor_user_id: e.actor_user_id,
                actor_client_id: e.actor_client_id,
                actor_role: e.actor_role,
                action: e.action,
                status_before: e.status_before,
                status_after: e.status_after,
                details: serde_json::from_str(&e.details)
                    .map_err(|_| ApiError::internal("unreadable event details"))?,
            })
        })
        .collect()
}

/// A case in a list: no description and nothing of the complainant.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaseSummary {
    pub id: CaseId,
    pub case_no: String,
    pub channel: Channel,
    pub kind: CaseKind,
    pub urgency: Urgency,
    pub category_id: Option<CategoryId>,
    pub district_id: Option<DepartmentId>,
    pub title: String,
    pub status: CaseStatus,
    pub citizen_status: CitizenStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl CaseSummary {
    pub fn from_row(row: CaseRow) -> Result<Self, ApiError> {
        let status = row.status;
        Ok(Self {
            id: row.id,
            case_no: row.case_no,
            channel: row.channel,
            kind: row.kind,
            urgency: row.urgency,
            category_id: row.category_id,
            district_id: row.district_id,
            title: row.title,
            status,
            citizen_status: status.for_citizen(),
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        })
    }
}

/// Lists the cases `principal` may see that match `filter`.
pub fn list(
    conn: &mut DbConnection,
    principal: &Principal,
    mut filter: case_db::CaseFilter,
    page: crate::db::PageRequest,
) -> Result<Vec<CaseRow>, ApiError> {
    match principal.role {
        Role::Operator | Role::Dispatcher | Role::Supervisor | Role::Admin => {}
        Role::Citizen => {
            filter.citizen_id = Some(
                principal
                    .user_id()
                    .ok_or_else(|| ApiError::internal("citizen without id"))?,
            )
        }
        Role::Integration => {
            filter.source_client = Some(
                principal
                    .client_id()
                    .ok_or_else(|| ApiError::internal("client without id"))?,
            )
        }
        // Departments list the cases dispatched to them (in any round).
        Role::DepartmentStaff | Role::DepartmentAdmin => {
            let Some(department_id) = principal.department_filter(filter.department_id)? else {
                return Ok(Vec::new());
            };
            filter.department_id = department_id;
        }
        Role::Analyst => {
            return Err(ApiError::Forbidden {
                code: ErrorCode::ForbiddenRole,
                detail: "analysts read statistics".into(),
            });
        }
    }
    Ok(case_db::list_cases(conn, &filter, page)?)
}

/// One page of the personal-data read log (administrators), newest rows last.
pub fn personal_data_reads(
    conn: &mut DbConnection,
    case_id: Option<CaseId>,
    user_id: Option<UserId>,
    page: crate::db::PageRequest,
) -> Result<Vec<(case_db::PersonalDataRead, Role)>, ApiError> {
    case_db::list_reads(conn, case_id, user_id, page)?
        .into_iter()
        .map(|read| {
            let role = read.role;
            Ok((read, role))
        })
        .collect()
}

/// One full read of a complainant's personal data by centre staff.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct PersonalDataReadView {
    pub id: i64,
    pub case_id: CaseId,
    pub user_id: UserId,
    pub role: Role,
    pub read_at: chrono::DateTime<chrono::Utc>,
}
