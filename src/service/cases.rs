//! Case intake: registration (by staff, citizens and integration clients), reading with
//! personal-data protection, the intake decisions (accept, reject, answer directly) and the
//! timeline. Dispatch and the later lifecycle build on this.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use validator::Validate;

use crate::auth::{Principal, secrets};
use crate::db::accounts::Account;
use crate::db::cases::{
    self as case_db, CaseChanges, CaseRow, ComplainantRow, IdempotencyRow, NewCase, NewCaseEvent,
};
use crate::db::{DbConnection, now, organisation, write_transaction};
use crate::domain::account::parse_name;
use crate::domain::case::{
    CaseStatus, Channel, CitizenStatus, Closure, ContactWishes, Disclosure, IntakeAction,
    case_number, disclosure, intake_transition, mask_name, mask_phone,
};
use crate::domain::organisation::DepartmentKind;
use crate::domain::phone::PhoneNumber;
use crate::domain::role::Role;
use crate::domain::sla::{CaseKind, Urgency};
use crate::error::{ApiError, ErrorCode, FieldErrorCode, FieldErrors};

#[derive(eserde::Deserialize, Serialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComplainantInput {
    #[schema(example = "张三", max_length = 50)]
    #[serde(default)]
    pub name: Option<String>,
    /// Mainland mobile or landline with area code; stored normalised.
    #[schema(example = "13812345678")]
    #[serde(default)]
    pub phone: Option<String>,
    #[schema(max_length = 200)]
    #[serde(default)]
    pub contact_address: Option<String>,
    /// Whether the handling department may contact the complainant (default true).
    #[serde(default)]
    pub contact_allowed: Option<bool>,
    /// 保密: departments see nothing of the complainant (default false).
    #[serde(default)]
    pub confidential: Option<bool>,
    /// The complainant gave no name (default false).
    #[serde(default)]
    pub anonymous: Option<bool>,
}

/// A new case. Citizens and integration clients use the self-service channels (`web`, `app`,
/// `wechat`); citizens' own name and phone are taken from their account.
#[derive(eserde::Deserialize, Serialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterCase {
    /// Required for centre staff; defaults to `app` for citizens and `wechat` for clients.
    #[serde(default)]
    pub channel: Option<Channel>,
    pub kind: CaseKind,
    /// Default `normal`.
    #[serde(default)]
    pub urgency: Option<Urgency>,
    #[serde(default)]
    pub category_id: Option<i64>,
    #[schema(example = "小区门口占道经营", min_length = 1, max_length = 200)]
    pub title: String,
    #[schema(
        example = "每天傍晚有流动摊贩在小区门口占道经营，影响通行。",
        min_length = 1,
        max_length = 10000
    )]
    pub description: String,
    #[schema(example = "东城区东华门街道某某小区北门", max_length = 500)]
    #[serde(default)]
    pub address: Option<String>,
    /// A department of kind `district`.
    #[serde(default)]
    pub district_id: Option<i64>,
    #[schema(minimum = -90, maximum = 90)]
    #[serde(default)]
    pub latitude: Option<f64>,
    #[schema(minimum = -180, maximum = 180)]
    #[serde(default)]
    pub longitude: Option<f64>,
    #[eserde(compat)]
    #[serde(default)]
    pub occurred_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub complainant: Option<ComplainantInput>,
    /// Integration clients: their own id for the request; the same id twice is the same case.
    #[schema(max_length = 100)]
    #[serde(default)]
    pub external_ref: Option<String>,
}

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
fn serialize_complainant<S: serde::Serializer>(
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
    pub id: i64,
    #[schema(example = "20261121-000042")]
    pub case_no: String,
    pub channel: Channel,
    pub kind: CaseKind,
    pub urgency: Urgency,
    pub category_id: Option<i64>,
    pub title: String,
    pub description: String,
    pub address: Option<String>,
    pub district_id: Option<i64>,
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
    pub source_client: Option<i64>,
    pub external_ref: Option<String>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    /// The dispatch round (0 before the first dispatch).
    pub current_round: i32,
    /// The department leading the current round.
    pub lead_department_id: Option<i64>,
    /// The reply time the citizen was told at dispatch.
    pub reply_due_at: Option<DateTime<Utc>>,
    /// For a merged case: the case it was merged into.
    pub merged_into: Option<i64>,
    /// How many times the case was redone (重办).
    pub redo_count: i32,
    pub dispatched_at: Option<DateTime<Utc>>,
    pub reviewed_at: Option<DateTime<Utc>>,
}

/// The outcome of a registration: a new case, or one already made for the same request.
pub struct Registered {
    pub case: CaseView,
    pub created: bool,
}

fn actor_ids(principal: &Principal) -> (Option<i64>, Option<i64>) {
    (principal.user_id(), principal.client_id())
}

pub(crate) fn event(
    principal: &Principal,
    case_id: i64,
    action: &str,
    before: Option<CaseStatus>,
    after: CaseStatus,
    details: serde_json::Value,
) -> NewCaseEvent {
    let (user, client) = actor_ids(principal);
    NewCaseEvent {
        case_id,
        occurred_at: now(),
        actor_user_id: user,
        actor_client_id: client,
        actor_role: principal.role.as_str().to_owned(),
        action: action.to_owned(),
        status_before: before.map(|s| s.as_str().to_owned()),
        status_after: Some(after.as_str().to_owned()),
        details: details.to_string(),
    }
}

/// Appends an event to a case's timeline for a change that leaves the case's status as it is
/// (extensions, supervision).
pub(crate) fn event_keeping_status(
    conn: &mut DbConnection,
    principal: &Principal,
    case_id: i64,
    action: &str,
    details: serde_json::Value,
) -> Result<(), ApiError> {
    let case = stored(case_db::find_case(conn, case_id)?, "case")?;
    let status = stored(CaseStatus::parse(&case.status), "status")?;
    case_db::insert_event(
        conn,
        event(principal, case_id, action, Some(status), status, details),
    )
    .map_err(ApiError::from)
}

pub(crate) fn stored<T>(value: Option<T>, what: &str) -> Result<T, ApiError> {
    value.ok_or_else(|| ApiError::internal(format!("unreadable stored {what}")))
}

pub(crate) fn text(
    errors: &mut FieldErrors,
    field: &str,
    value: &str,
    max: usize,
) -> Option<String> {
    let value = value.trim();
    if value.is_empty() {
        errors.add(field, FieldErrorCode::Required, "must not be empty");
        None
    } else if value.chars().count() > max {
        errors.add(
            field,
            FieldErrorCode::Length,
            format!("must be at most {max} characters"),
        );
        None
    } else if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        errors.add(
            field,
            FieldErrorCode::Invalid,
            "must not contain control characters",
        );
        None
    } else {
        Some(value.to_owned())
    }
}

/// A case may be filed under an existing category that is still in use: a retired category stays
/// on the cases filed under it before, but takes no new ones.
fn check_category(
    conn: &mut DbConnection,
    errors: &mut FieldErrors,
    id: i64,
) -> Result<(), ApiError> {
    match organisation::find_category(conn, id)? {
        None => errors.add(
            "category_id",
            FieldErrorCode::NotFound,
            "no category with this id",
        ),
        Some(category) if !category.active => errors.add(
            "category_id",
            FieldErrorCode::Inactive,
            "this category is no longer in use; choose a current one",
        ),
        Some(_) => {}
    }
    Ok(())
}

/// Registers a case. Runs in one transaction: number, case, complainant, first timeline event and
/// the idempotency record all commit together or not at all.
pub fn register(
    conn: &mut DbConnection,
    principal: &Principal,
    input: RegisterCase,
    idempotency_key: Option<String>,
    idempotency_ttl: chrono::Duration,
    tz: chrono_tz::Tz,
) -> Result<Registered, ApiError> {
    let subject = crate::auth::principal::subject(principal.kind);
    let request_hash = secrets::digest(
        &serde_json::to_string(&input).map_err(|e| ApiError::internal(e.to_string()))?,
    );
    // A key older than the time it is kept for is forgotten, as if pruned already.
    let kept_since = now() - idempotency_ttl;
    if let Some(key) = &idempotency_key
        && let Some(previous) = case_db::find_idempotent(conn, &subject, key)?
        && previous.created_at >= kept_since
    {
        return replay(conn, principal, &previous, &request_hash);
    }
    if let (Some(client), Some(external_ref)) =
        (principal.client_id(), input.external_ref.as_deref())
        && let Some(existing) = case_db::find_by_external_ref(conn, client, external_ref.trim())?
    {
        return Ok(Registered {
            case: view(conn, principal, existing)?,
            created: false,
        });
    }

    let mut errors = FieldErrors::default();
    let channel = match (principal.role, input.channel) {
        (Role::Citizen | Role::Integration, Some(channel)) if !channel.is_self_service() => {
            errors.add(
                "channel",
                FieldErrorCode::NotAllowed,
                "self-service registrations come by web, app or wechat",
            );
            channel
        }
        (Role::Citizen, channel) => channel.unwrap_or(Channel::App),
        (Role::Integration, channel) => channel.unwrap_or(Channel::Wechat),
        (_, Some(channel)) => channel,
        (_, None) => {
            errors.add(
                "channel",
                FieldErrorCode::Required,
                "give the channel the request came by",
            );
            Channel::Phone
        }
    };
    let title = text(&mut errors, "title", &input.title, 200);
    let description = text(&mut errors, "description", &input.description, 10_000);
    let address = input
        .address
        .as_deref()
        .and_then(|a| text(&mut errors, "address", a, 500));
    if input.latitude.is_some_and(|v| !(-90.0..=90.0).contains(&v)) {
        errors.add("latitude", FieldErrorCode::Range, "must be from -90 to 90");
    }
    if input
        .longitude
        .is_some_and(|v| !(-180.0..=180.0).contains(&v))
    {
        errors.add(
            "longitude",
            FieldErrorCode::Range,
            "must be from -180 to 180",
        );
    }
    if input.latitude.is_some() != input.longitude.is_some() {
        errors.add(
            "longitude",
            FieldErrorCode::Required,
            "latitude and longitude come together",
        );
    }
    let external_ref = match (principal.role, input.external_ref.as_deref()) {
        (Role::Integration, Some(r)) => text(&mut errors, "external_ref", r, 100),
        (Role::Integration, None) => {
            errors.add(
                "external_ref",
                FieldErrorCode::Required,
                "integration clients give their own id for the request",
            );
            None
        }
        (_, Some(_)) => {
            errors.add(
                "external_ref",
                FieldErrorCode::NotAllowed,
                "only integration clients give an external reference",
            );
            None
        }
        (_, None) => None,
    };
    if let Some(category) = input.category_id {
        check_category(conn, &mut errors, category)?;
    }
    if let Some(district) = input.district_id
        && organisation::find_department(conn, district)?
            .is_none_or(|d| d.kind != DepartmentKind::District.as_str())
    {
        errors.add(
            "district_id",
            FieldErrorCode::NotFound,
            "no district with this id",
        );
    }

    // The complainant: citizens are who their account says; others give the details.
    let wishes = input.complainant.as_ref();
    let contact_allowed = wishes.and_then(|c| c.contact_allowed).unwrap_or(true);
    let confidential = wishes.and_then(|c| c.confidential).unwrap_or(false);
    let (name, phone, contact_address, anonymous, citizen_id) =
        match (&principal.account, principal.role) {
            (Some(Account::User(user)), Role::Citizen) => (
                Some(user.display_name.clone()),
                user.phone.clone(),
                None,
                false,
                Some(user.id),
            ),
            _ => {
                let given = input.complainant.as_ref();
                let anonymous = given.and_then(|c| c.anonymous).unwrap_or(given.is_none());
                let name = given
                    .and_then(|c| c.name.as_deref())
                    .and_then(|n| errors.check("complainant.name", parse_name(n, 50)));
                let phone = given
                    .and_then(|c| c.phone.as_deref())
                    .and_then(|p| errors.check("complainant.phone", PhoneNumber::parse(p)))
                    .map(|p| p.as_str().to_owned());
                let address = given
                    .and_then(|c| c.contact_address.as_deref())
                    .and_then(|a| text(&mut errors, "complainant.contact_address", a, 200));
                if !anonymous && name.is_none() && phone.is_none() {
                    errors.add(
                        "complainant",
                        FieldErrorCode::Required,
                        "give a name or phone, or mark the complainant anonymous",
                    );
                }
                (name, phone, address, anonymous, None)
            }
        };
    errors.finish()?;
    let (Some(title), Some(description)) = (title, description) else {
        return Err(ApiError::internal("validated fields missing"));
    };

    let outcome = write_transaction(conn, |conn| {
        let created_at = now();
        let day = created_at.and_utc().with_timezone(&tz).date_naive();
        let sequence = case_db::next_sequence(conn, &day.format("%Y%m%d").to_string())?;
        let row = case_db::insert_case(
            conn,
            NewCase {
                case_no: case_number(day, sequence),
                channel: channel.as_str().to_owned(),
                kind: input.kind.as_str().to_owned(),
                urgency: input.urgency.unwrap_or(Urgency::Normal).as_str().to_owned(),
                category_id: input.category_id,
                title,
                description,
                address,
                district_id: input.district_id,
                latitude: input.latitude,
                longitude: input.longitude,
                occurred_at: input.occurred_at.map(|t| t.naive_utc()),
                status: CaseStatus::Registered.as_str().to_owned(),
                closure: None,
                resolution: None,
                citizen_id,
                registered_by: principal.user_id(),
                source_client: principal.client_id(),
                external_ref,
                version: 1,
                created_at,
                updated_at: created_at,
                accepted_at: None,
                closed_at: None,
                current_round: 0,
                lead_department_id: None,
                reply_due_at: None,
                merged_into: None,
                redo_count: 0,
                dispatched_at: None,
                reviewed_at: None,
            },
        )?;
        let complainant = ComplainantRow {
            case_id: row.id,
            name,
            phone,
            contact_address,
            contact_allowed,
            confidential,
            anonymous,
        };
        case_db::insert_complainant(conn, complainant.clone())?;
        case_db::insert_event(
            conn,
            event(
                principal,
                row.id,
                "registered",
                None,
                CaseStatus::Registered,
                serde_json::json!({"channel": channel.as_str()}),
            ),
        )?;
        if let Some(key) = &idempotency_key {
            case_db::forget_idempotent(conn, &subject, key, kept_since)?;
            case_db::save_idempotent(
                conn,
                IdempotencyRow {
                    principal: subject.clone(),
                    idempotency_key: key.clone(),
                    request_hash: request_hash.clone(),
                    status: 201,
                    // The case id, not the answer: the answer holds personal data.
                    response: row.id.to_string(),
                    created_at,
                },
            )?;
        }
        Ok((row, complainant))
    });
    match outcome {
        // Answered from what was just written: no second read. Nor a record of one: the answer
        // shows the registering caller what they sent, nothing they did not know.
        Ok((row, complainant)) => {
            let mut case = render(principal, row, Some(complainant))?;
            if let Some(complainant) = case.complainant.as_mut() {
                complainant.owed_read = None;
            }
            Ok(Registered {
                case,
                created: true,
            })
        }
        // A concurrent retry with the same key won the race: answer as it did.
        Err(ApiError::Conflict {
            code: ErrorCode::AlreadyExists,
            ..
        }) if idempotency_key.is_some() => {
            let key = idempotency_key.unwrap_or_default();
            let previous = stored(
                case_db::find_idempotent(conn, &subject, &key)?,
                "idempotency record",
            )?;
            replay(conn, principal, &previous, &request_hash)
        }
        Err(error) => Err(error),
    }
}

fn replay(
    conn: &mut DbConnection,
    principal: &Principal,
    previous: &IdempotencyRow,
    request_hash: &str,
) -> Result<Registered, ApiError> {
    if previous.request_hash != request_hash {
        return Err(ApiError::conflict(
            ErrorCode::IdempotencyKeyReused,
            "this Idempotency-Key was used for a different request",
        ));
    }
    let id: i64 = previous
        .response
        .parse()
        .map_err(|_| ApiError::internal("unreadable idempotency record"))?;
    let row = stored(case_db::find_case(conn, id)?, "case")?;
    Ok(Registered {
        case: view(conn, principal, row)?,
        created: true,
    })
}

/// Whether `principal` may see `case` at all; everyone else is told it does not exist.
pub fn may_see(principal: &Principal, case: &CaseRow) -> bool {
    match principal.role {
        Role::Operator | Role::Dispatcher | Role::Supervisor | Role::Admin => true,
        Role::Citizen => principal.user_id().is_some() && case.citizen_id == principal.user_id(),
        Role::Integration => {
            principal.client_id().is_some() && case.source_client == principal.client_id()
        }
        // Departments see the cases dispatched to them: a lookup, in `checked_visibility`.
        Role::DepartmentStaff | Role::DepartmentAdmin => false,
        Role::Analyst => false,
    }
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

/// [`view`] with the complainant already at hand.
fn render(
    principal: &Principal,
    row: CaseRow,
    complainant: Option<ComplainantRow>,
) -> Result<CaseView, ApiError> {
    let is_own = principal.role == Role::Citizen && row.citizen_id == principal.user_id();
    let complainant = match complainant {
        None => None,
        Some(c) => {
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
                    let has_data =
                        c.name.is_some() || c.phone.is_some() || c.contact_address.is_some();
                    let owed_read = match principal.user_id() {
                        Some(user_id) if has_data && principal.role != Role::Citizen => {
                            Some(crate::db::read_log::FullRead {
                                case_id: row.id,
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
    };
    let status = stored(CaseStatus::parse(&row.status), "status")?;
    Ok(CaseView {
        id: row.id,
        case_no: row.case_no,
        channel: stored(Channel::parse(&row.channel), "channel")?,
        kind: stored(CaseKind::parse(&row.kind), "kind")?,
        urgency: stored(Urgency::parse(&row.urgency), "urgency")?,
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
        closure: row.closure.as_deref().and_then(Closure::parse),
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

pub(crate) fn not_found() -> ApiError {
    ApiError::not_found("no such case")
}

/// Loads a case the principal may see, or answers 404.
pub fn visible_case(
    conn: &mut DbConnection,
    principal: &Principal,
    id: i64,
) -> Result<CaseRow, ApiError> {
    let case = case_db::find_case(conn, id)?.ok_or_else(not_found)?;
    checked_visibility(conn, principal, case)
}

/// The case if `principal` may see it; departments see the cases ever dispatched to them.
fn checked_visibility(
    conn: &mut DbConnection,
    principal: &Principal,
    case: CaseRow,
) -> Result<CaseRow, ApiError> {
    let visible = match (principal.role, principal.department_scope()) {
        (Role::DepartmentStaff | Role::DepartmentAdmin, Some(department)) => {
            crate::db::assignments::department_has_case(conn, department, case.id)?
        }
        _ => may_see(principal, &case),
    };
    if visible { Ok(case) } else { Err(not_found()) }
}

/// Like [`visible_case`], and 412 when the client's `If-Match` version is no longer current.
pub(crate) fn visible_case_at(
    conn: &mut DbConnection,
    principal: &Principal,
    id: i64,
    if_match: Option<i32>,
) -> Result<CaseRow, ApiError> {
    let case = visible_case(conn, principal, id)?;
    check_version(&case, if_match)?;
    Ok(case)
}

/// `If-Match` against the case's version: 412 when it changed since the client read it.
pub(crate) fn check_version(case: &CaseRow, if_match: Option<i32>) -> Result<(), ApiError> {
    if if_match.is_some_and(|v| v != case.version) {
        return Err(ApiError::PreconditionFailed {
            code: ErrorCode::VersionMismatch,
            detail: "the case changed since you read it; fetch it again".into(),
        });
    }
    Ok(())
}

pub fn visible_case_by_number(
    conn: &mut DbConnection,
    principal: &Principal,
    case_no: &str,
) -> Result<CaseRow, ApiError> {
    let case = case_db::find_by_number(conn, case_no)?.ok_or_else(not_found)?;
    checked_visibility(conn, principal, case)
}

/// What the intake desk decides, with its text.
pub enum IntakeDecision {
    Accept,
    Reject { reason: String, redirect_to: String },
    Answer { answer: String },
}

/// Accepts, rejects or answers a registered case. `if_match` is the version the client last saw
/// (412 when it is stale); without it the version read here must still hold when writing (409).
pub fn decide(
    conn: &mut DbConnection,
    principal: &Principal,
    id: i64,
    decision: IntakeDecision,
    if_match: Option<i32>,
) -> Result<CaseView, ApiError> {
    let row = write_transaction(conn, |conn| -> Result<CaseRow, ApiError> {
        let case = visible_case_at(conn, principal, id, if_match)?;
        let status = stored(CaseStatus::parse(&case.status), "status")?;
        let kind = stored(CaseKind::parse(&case.kind), "kind")?;
        let (action, name) = match &decision {
            IntakeDecision::Accept => (IntakeAction::Accept, "accepted"),
            IntakeDecision::Reject { .. } => (IntakeAction::Reject, "rejected"),
            IntakeDecision::Answer { .. } => (IntakeAction::Answer, "answered_directly"),
        };
        let next = intake_transition(status, kind, action)
            .map_err(|e| ApiError::conflict(e.code, e.detail))?;
        let at = now();
        let (changes, details) = match &decision {
            IntakeDecision::Accept => (
                CaseChanges {
                    accepted_at: Some(at),
                    ..Default::default()
                },
                serde_json::json!({}),
            ),
            IntakeDecision::Reject {
                reason,
                redirect_to,
            } => (
                CaseChanges {
                    resolution: Some(Some(format!("{reason}\n{redirect_to}"))),
                    closed_at: Some(Some(at)),
                    ..Default::default()
                },
                serde_json::json!({"reason": reason, "redirect_to": redirect_to}),
            ),
            IntakeDecision::Answer { answer } => (
                CaseChanges {
                    closure: Some(Some(Closure::AnsweredDirectly.as_str().to_owned())),
                    resolution: Some(Some(answer.clone())),
                    closed_at: Some(Some(at)),
                    ..Default::default()
                },
                serde_json::json!({"answer": answer}),
            ),
        };
        let changes = CaseChanges {
            status: Some(next.as_str().to_owned()),
            updated_at: Some(at),
            ..changes
        };
        let updated =
            case_db::change_status(conn, id, case.version, changes)?.ok_or_else(|| {
                ApiError::conflict(
                    ErrorCode::ConcurrentUpdate,
                    "another request changed this case at the same time; fetch it again",
                )
            })?;
        case_db::insert_event(
            conn,
            event(principal, id, name, Some(status), next, details),
        )?;
        Ok(updated)
    })?;
    view(conn, principal, row)
}

/// Texts of the intake decisions, checked.
pub fn decision_text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    let mut errors = FieldErrors::default();
    let value = text(&mut errors, field, value, max);
    errors.finish()?;
    value.ok_or_else(|| ApiError::internal("validated text missing"))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineEvent {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// The user who acted (absent for clients and the system).
    pub actor_user_id: Option<i64>,
    pub actor_client_id: Option<i64>,
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
    id: i64,
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
    pub id: i64,
    pub case_no: String,
    pub channel: Channel,
    pub kind: CaseKind,
    pub urgency: Urgency,
    pub category_id: Option<i64>,
    pub district_id: Option<i64>,
    pub title: String,
    pub status: CaseStatus,
    pub citizen_status: CitizenStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl CaseSummary {
    pub fn from_row(row: CaseRow) -> Result<Self, ApiError> {
        let status = stored(CaseStatus::parse(&row.status), "status")?;
        Ok(Self {
            id: row.id,
            case_no: row.case_no,
            channel: stored(Channel::parse(&row.channel), "channel")?,
            kind: stored(CaseKind::parse(&row.kind), "kind")?,
            urgency: stored(Urgency::parse(&row.urgency), "urgency")?,
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

/// Classification and wording, changeable until the case is dispatched. `null` clears an
/// optional field.
#[derive(eserde::Deserialize, Serialize, Validate, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct UpdateCase {
    #[serde(default)]
    pub kind: Option<CaseKind>,
    #[serde(default)]
    pub urgency: Option<Urgency>,
    #[serde(default, deserialize_with = "crate::service::users::nullable")]
    #[schema(value_type = Option<i64>)]
    pub category_id: Option<Option<i64>>,
    #[schema(min_length = 1, max_length = 200)]
    #[serde(default)]
    pub title: Option<String>,
    #[schema(min_length = 1, max_length = 10000)]
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "crate::service::users::nullable")]
    #[schema(value_type = Option<String>, max_length = 500)]
    pub address: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::service::users::nullable")]
    #[schema(value_type = Option<i64>)]
    pub district_id: Option<Option<i64>>,
}

pub fn reclassify(
    conn: &mut DbConnection,
    principal: &Principal,
    id: i64,
    input: UpdateCase,
    if_match: Option<i32>,
) -> Result<CaseView, ApiError> {
    let row = write_transaction(conn, |conn| -> Result<CaseRow, ApiError> {
        // Not found, then bad input, then a stale If-Match, then the wrong moment (RFC 9110
        // 13.2.1: failures found before processing take precedence over preconditions).
        let case = visible_case(conn, principal, id)?;
        let mut errors = FieldErrors::default();
        let title = input
            .title
            .as_deref()
            .and_then(|t| text(&mut errors, "title", t, 200));
        let description = input
            .description
            .as_deref()
            .and_then(|d| text(&mut errors, "description", d, 10_000));
        let address = input.address.as_ref().map(|a| {
            a.as_deref()
                .and_then(|a| text(&mut errors, "address", a, 500))
        });
        if let Some(Some(category)) = input.category_id {
            check_category(conn, &mut errors, category)?;
        }
        if let Some(Some(district)) = input.district_id
            && organisation::find_department(conn, district)?
                .is_none_or(|d| d.kind != DepartmentKind::District.as_str())
        {
            errors.add(
                "district_id",
                FieldErrorCode::NotFound,
                "no district with this id",
            );
        }
        errors.finish()?;
        check_version(&case, if_match)?;
        let status = stored(CaseStatus::parse(&case.status), "status")?;
        if !matches!(status, CaseStatus::Registered | CaseStatus::PendingDispatch) {
            return Err(ApiError::conflict(
                ErrorCode::ClassificationLocked,
                "the classification can change only until the case is dispatched",
            ));
        }
        let changed: Vec<&str> = [
            ("kind", input.kind.is_some()),
            ("urgency", input.urgency.is_some()),
            ("category_id", input.category_id.is_some()),
            ("title", title.is_some()),
            ("description", description.is_some()),
            ("address", address.is_some()),
            ("district_id", input.district_id.is_some()),
        ]
        .into_iter()
        .filter_map(|(field, present)| present.then_some(field))
        .collect();
        let details = serde_json::json!({
            "changed": changed,
            "kind": input.kind.map(|k| k.as_str()),
            "urgency": input.urgency.map(|u| u.as_str()),
            "category_id": input.category_id,
        });
        let updated = case_db::reclassify(
            conn,
            id,
            case.version,
            case_db::Classification {
                kind: input.kind.map(|k| k.as_str().to_owned()),
                urgency: input.urgency.map(|u| u.as_str().to_owned()),
                category_id: input.category_id,
                title,
                description,
                address,
                district_id: input.district_id,
                updated_at: Some(now()),
            },
        )?
        .ok_or_else(|| {
            ApiError::conflict(
                ErrorCode::ConcurrentUpdate,
                "another request changed this case at the same time; fetch it again",
            )
        })?;
        case_db::insert_event(
            conn,
            event(principal, id, "reclassified", Some(status), status, details),
        )?;
        Ok(updated)
    })?;
    view(conn, principal, row)
}

/// One page of the personal-data read log (administrators), newest rows last.
pub fn personal_data_reads(
    conn: &mut DbConnection,
    case_id: Option<i64>,
    user_id: Option<i64>,
    page: crate::db::PageRequest,
) -> Result<Vec<(case_db::PersonalDataRead, Role)>, ApiError> {
    case_db::list_reads(conn, case_id, user_id, page)?
        .into_iter()
        .map(|read| {
            let role = crate::db::accounts::parse_role(&read.role)?;
            Ok((read, role))
        })
        .collect()
}
