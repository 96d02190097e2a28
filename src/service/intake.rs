//! Case intake: registration (by staff, citizens and integration clients), the intake decisions
//! (accept, reject, answer directly) and reclassification until dispatch.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use validator::Validate;

use crate::auth::{Principal, secrets};
use crate::db::accounts::Account;
use crate::db::cases::{
    self as case_db, CaseChanges, CaseRow, ComplainantRow, IdempotencyRow, NewCase,
};
use crate::db::{DbConnection, now, organisation, write_transaction};
use crate::domain::account::parse_name;
use crate::domain::case::{CaseStatus, Channel, Closure, case_number};
use crate::domain::ids::{AttachmentId, CaseId, CategoryId, DepartmentId};
use crate::domain::lifecycle::{CaseMove, answerable, transition};
use crate::domain::organisation::DepartmentKind;
use crate::domain::phone::PhoneNumber;
use crate::domain::place::address_key;
use crate::domain::role::Role;
use crate::domain::sla::{CaseKind, Urgency};
use crate::error::{ApiError, ErrorCode, FieldErrorCode, FieldErrors};
use crate::service::case_views::{CaseView, render, view};
use crate::service::cases::{
    check_version, conflict, event, stored, visible_case, visible_case_at,
};
use crate::validation::{self, parsed, trimmed};

#[derive(eserde::Deserialize, Serialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComplainantInput {
    #[schema(example = "张三", max_length = 50)]
    #[validate(length(max = 50), custom(function = "validation::name"))]
    #[serde(default)]
    pub name: Option<String>,
    /// Mainland mobile or landline with area code; stored normalised.
    #[schema(example = "13812345678")]
    #[validate(custom(function = "validation::phone"))]
    #[serde(default)]
    pub phone: Option<String>,
    #[schema(max_length = 200)]
    #[validate(length(max = 200), custom(function = "validation::text"))]
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
    pub category_id: Option<CategoryId>,
    #[schema(example = "小区门口占道经营", min_length = 1, max_length = 200)]
    #[validate(length(min = 1, max = 200), custom(function = "validation::text"))]
    pub title: String,
    #[schema(
        example = "每天傍晚有流动摊贩在小区门口占道经营，影响通行。",
        min_length = 1,
        max_length = 10000
    )]
    #[validate(length(min = 1, max = 10000), custom(function = "validation::text"))]
    pub description: String,
    #[schema(example = "东城区东华门街道某某小区北门", max_length = 500)]
    #[validate(length(max = 500), custom(function = "validation::text"))]
    #[serde(default)]
    pub address: Option<String>,
    /// A department of kind `district`.
    #[serde(default)]
    pub district_id: Option<DepartmentId>,
    #[schema(minimum = -90, maximum = 90)]
    #[validate(range(min = -90.0, max = 90.0))]
    #[serde(default)]
    pub latitude: Option<f64>,
    #[schema(minimum = -180, maximum = 180)]
    #[validate(range(min = -180.0, max = 180.0))]
    #[serde(default)]
    pub longitude: Option<f64>,
    #[eserde(compat)]
    #[serde(default)]
    pub occurred_at: Option<DateTime<Utc>>,
    #[validate(nested)]
    #[serde(default)]
    pub complainant: Option<ComplainantInput>,
    /// Integration clients: their own id for the request; the same id twice is the same case.
    #[schema(max_length = 100)]
    #[validate(length(max = 100), custom(function = "validation::text"))]
    #[serde(default)]
    pub external_ref: Option<String>,
    /// Files uploaded just before by the same caller (`POST /attachments`), given to the new case.
    #[schema(max_items = 20)]
    #[validate(length(max = 20))]
    #[serde(default)]
    pub attachment_ids: Option<Vec<AttachmentId>>,
}

/// The outcome of a registration: a new case, or one already made for the same request.
pub struct Registered {
    pub case: CaseView,
    pub created: bool,
}

/// A case may be filed under an existing category that is still in use: a retired category stays
/// on the cases filed under it before, but takes no new ones.
fn check_category(
    conn: &mut DbConnection,
    errors: &mut FieldErrors,
    id: CategoryId,
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

/// A case's district is a department of kind `district`.
fn check_district(
    conn: &mut DbConnection,
    errors: &mut FieldErrors,
    id: DepartmentId,
) -> Result<(), ApiError> {
    if organisation::find_department(conn, id)?.is_none_or(|d| d.kind != DepartmentKind::District) {
        errors.add(
            "district_id",
            FieldErrorCode::NotFound,
            "no district with this id",
        );
    }
    Ok(())
}

/// Registers a case. Runs in one transaction: case, complainant, first timeline event and the
/// idempotency record all commit together or not at all; so does the number on SQLite, while on
/// PostgreSQL it is taken just before (see `db::cases::next_sequence_apart`).
pub fn register(
    conn: &mut DbConnection,
    principal: &Principal,
    input: RegisterCase,
    idempotency_key: Option<String>,
    idempotency_ttl: chrono::Duration,
    tz: chrono_tz::Tz,
    attachment_limits: crate::service::attachments::Limits,
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
    let title = trimmed(&input.title);
    let description = trimmed(&input.description);
    let address = input.address.as_deref().map(trimmed);
    if input.latitude.is_some() != input.longitude.is_some() {
        errors.add(
            "longitude",
            FieldErrorCode::Required,
            "latitude and longitude come together",
        );
    }
    let external_ref = match (principal.role, input.external_ref.as_deref()) {
        (Role::Integration, Some(r)) => Some(trimmed(r)),
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
    if let Some(district) = input.district_id {
        check_district(conn, &mut errors, district)?;
    }
    let attachment_ids = input.attachment_ids.clone().unwrap_or_default();
    if !attachment_ids.is_empty() {
        crate::service::attachments::check_pending(
            conn,
            principal,
            &attachment_ids,
            attachment_limits,
            &mut errors,
        )?;
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
                    .map(|n| parsed(parse_name(n, 50)))
                    .transpose()?;
                let phone = given
                    .and_then(|c| c.phone.as_deref())
                    .map(|p| parsed(PhoneNumber::parse(p)).map(|p| p.as_str().to_owned()))
                    .transpose()?;
                let address = given
                    .and_then(|c| c.contact_address.as_deref())
                    .map(trimmed);
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

    let created_at = now();
    let day = created_at.and_utc().with_timezone(&tz).date_naive();
    let day_key = day.format("%Y%m%d").to_string();
    let taken = case_db::next_sequence_apart(conn, &day_key)?;
    let outcome = write_transaction(conn, |conn| {
        let sequence = match taken {
            Some(sequence) => sequence,
            None => case_db::next_sequence(conn, &day_key)?,
        };
        let row = case_db::insert_case(
            conn,
            NewCase {
                case_no: case_number(day, sequence),
                channel,
                kind: input.kind,
                urgency: input.urgency.unwrap_or(Urgency::Normal),
                category_id: input.category_id,
                title,
                description,
                address_key: address.as_deref().map(address_key),
                address,
                district_id: input.district_id,
                latitude: input.latitude,
                longitude: input.longitude,
                occurred_at: input.occurred_at.map(|t| t.naive_utc()),
                status: CaseStatus::Registered,
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
        crate::service::attachments::attach_pending(conn, principal, &attachment_ids, row.id)?;
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
    let id = previous
        .response
        .parse()
        .map(CaseId)
        .map_err(|_| ApiError::internal("unreadable idempotency record"))?;
    let row = stored(case_db::find_case(conn, id)?, "case")?;
    Ok(Registered {
        case: view(conn, principal, row)?,
        created: true,
    })
}

/// What the intake desk decides, with its text.
pub enum IntakeDecision {
    Accept,
    Reject {
        reason: String,
        redirect_to: String,
    },
    /// `article`: the approved article version read out, if one was (checked against `today`).
    Answer {
        answer: String,
        article: Option<AnsweredWith>,
    },
}

/// The knowledge-base article version a case was answered with.
#[derive(Debug, Clone, Copy)]
pub struct AnsweredWith {
    pub article: crate::domain::ids::ArticleId,
    pub version: i32,
    /// The local day the answer is given: the version must be shown that day.
    pub today: chrono::NaiveDate,
}

/// Accepts, rejects or answers a registered case. `if_match` is the version the client last saw
/// (412 when it is stale); without it the version read here must still hold when writing (409).
pub fn decide(
    conn: &mut DbConnection,
    principal: &Principal,
    id: CaseId,
    decision: IntakeDecision,
    if_match: Option<i32>,
) -> Result<CaseView, ApiError> {
    let row = write_transaction(conn, |conn| -> Result<CaseRow, ApiError> {
        let case = visible_case_at(conn, principal, id, if_match)?;
        let status = case.status;
        let kind = case.kind;
        let (mv, name) = match &decision {
            IntakeDecision::Accept => (CaseMove::Accept, "accepted"),
            IntakeDecision::Reject { .. } => (CaseMove::Reject, "rejected"),
            IntakeDecision::Answer { .. } => (CaseMove::Answer, "answered_directly"),
        };
        let next = transition(status, mv).map_err(conflict)?;
        if mv == CaseMove::Answer {
            answerable(kind).map_err(conflict)?;
        }
        let article = match &decision {
            IntakeDecision::Answer {
                article: Some(with),
                ..
            } => Some((
                *with,
                crate::service::knowledge::check_answer_article(
                    conn,
                    with.article,
                    with.version,
                    with.today,
                )?,
            )),
            _ => None,
        };
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
            IntakeDecision::Answer { answer, .. } => (
                CaseChanges {
                    closure: Some(Some(Closure::AnsweredDirectly)),
                    resolution: Some(Some(answer.clone())),
                    closed_at: Some(Some(at)),
                    ..Default::default()
                },
                match &article {
                    Some((with, version)) => serde_json::json!({
                        "answer": answer,
                        "article": {
                            "id": with.article,
                            "version": with.version,
                            "title": version.title,
                        },
                    }),
                    None => serde_json::json!({"answer": answer}),
                },
            ),
        };
        let changes = CaseChanges {
            status: Some(next),
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
        if let Some((with, _)) = article {
            crate::db::knowledge::record_use(
                conn,
                id,
                with.article,
                with.version,
                principal.user_id(),
                at,
            )?;
        }
        Ok(updated)
    })?;
    view(conn, principal, row)
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
    #[schema(value_type = Option<CategoryId>)]
    pub category_id: Option<Option<CategoryId>>,
    #[schema(min_length = 1, max_length = 200)]
    #[validate(length(min = 1, max = 200), custom(function = "validation::text"))]
    #[serde(default)]
    pub title: Option<String>,
    #[schema(min_length = 1, max_length = 10000)]
    #[validate(length(min = 1, max = 10000), custom(function = "validation::text"))]
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "crate::service::users::nullable")]
    #[schema(value_type = Option<String>, max_length = 500)]
    #[validate(length(max = 500), custom(function = "validation::text"))]
    pub address: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::service::users::nullable")]
    #[schema(value_type = Option<DepartmentId>)]
    pub district_id: Option<Option<DepartmentId>>,
}

pub fn reclassify(
    conn: &mut DbConnection,
    principal: &Principal,
    id: CaseId,
    input: UpdateCase,
    if_match: Option<i32>,
) -> Result<CaseView, ApiError> {
    let row = write_transaction(conn, |conn| -> Result<CaseRow, ApiError> {
        // Not found, then bad input, then a stale If-Match, then the wrong moment (RFC 9110
        // 13.2.1: failures found before processing take precedence over preconditions).
        let case = visible_case(conn, principal, id)?;
        let mut errors = FieldErrors::default();
        let title = input.title.as_deref().map(trimmed);
        let description = input.description.as_deref().map(trimmed);
        let address = input.address.as_ref().map(|a| a.as_deref().map(trimmed));
        if let Some(Some(category)) = input.category_id {
            check_category(conn, &mut errors, category)?;
        }
        if let Some(Some(district)) = input.district_id {
            check_district(conn, &mut errors, district)?;
        }
        errors.finish()?;
        check_version(&case, if_match)?;
        let status = case.status;
        let status = transition(status, CaseMove::Reclassify).map_err(conflict)?;
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
                kind: input.kind,
                urgency: input.urgency,
                category_id: input.category_id,
                title,
                description,
                address,
                // Set by `reclassify` from the address.
                address_key: None,
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

#[derive(eserde::Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectCase {
    /// Why the centre does not take the case (不予受理).
    #[schema(example = "属于司法程序范围", min_length = 1, max_length = 2000)]
    #[validate(length(min = 1, max = 2000), custom(function = "validation::text"))]
    pub reason: String,
    /// Where the matter belongs: what the citizen is told to do instead.
    #[schema(example = "请向区人民法院提起诉讼", min_length = 1, max_length = 2000)]
    #[validate(length(min = 1, max = 2000), custom(function = "validation::text"))]
    pub redirect_to: String,
}

#[derive(eserde::Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerCase {
    /// The answer given to the citizen during the call.
    #[schema(
        example = "办理居住证需携带身份证和租房合同到街道办事处。",
        min_length = 1,
        max_length = 5000
    )]
    #[validate(length(min = 1, max = 5000), custom(function = "validation::text"))]
    pub answer: String,
    /// The knowledge-base article read out (`GET /knowledge/search`), with `article_version`:
    /// the version shown today. Recorded in the timeline and counted in `GET /stats/knowledge`.
    #[serde(default)]
    pub article_id: Option<crate::domain::ids::ArticleId>,
    /// The version of `article_id` used; both or neither.
    #[schema(minimum = 1)]
    #[validate(range(min = 1))]
    #[serde(default)]
    pub article_version: Option<i32>,
}
