//! Attachments on cases: who may add one and when, who sees which, their removal and the rows
//! behind uploads made before their case was registered. The bytes are the handlers' and
//! `storage`'s; this module decides and records.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use validator::Validate;

use crate::auth::Principal;
use crate::db::attachments::{self as attachment_db, AttachmentRow, NewAttachment};
use crate::db::{DbConnection, now, write_transaction};
use crate::domain::attachment::{MediaType, Viewer, may_see};
use crate::domain::case::CaseStatus;
use crate::domain::dispatch::AssignmentState;
use crate::domain::ids::{AssignmentId, AttachmentId, CaseId, UserId};
use crate::domain::role::Role;
use crate::error::{ApiError, ErrorCode, FieldErrorCode, FieldErrors};
use crate::service::cases::{event_keeping_status, lock_visible_case, visible_case};
use crate::validation;

/// An attachment as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttachmentView {
    pub id: AttachmentId,
    /// `null` for an upload not yet given to a case (`POST /attachments`).
    pub case_id: Option<CaseId>,
    /// The department's assignment it was attached to, when a department uploaded it.
    pub assignment_id: Option<AssignmentId>,
    /// The name it was uploaded under (without folders).
    #[schema(example = "路灯.jpg")]
    pub file_name: String,
    pub caption: Option<String>,
    /// Decided from the content: `image/jpeg`, `image/png`, `image/webp`, `image/heic`,
    /// `application/pdf`, `application/ofd`, `audio/mpeg`, `audio/amr`, `audio/mp4`,
    /// `video/mp4`, DOCX or XLSX.
    #[schema(example = "image/jpeg")]
    pub media_type: String,
    pub size_bytes: i64,
    /// Hex SHA-256 of the stored content (also the `ETag` of the download).
    pub sha256: String,
    /// Whether a small JPEG preview is served at `/attachments/{id}/thumbnail`.
    pub has_thumbnail: bool,
    /// On a confidential case: whether the centre let the departments see it.
    pub shareable: bool,
    /// The role of whoever uploaded it.
    pub uploaded_by_role: String,
    pub uploaded_at: DateTime<Utc>,
    /// Set when an administrator removed it; the file is gone, the record stays.
    pub removed_at: Option<DateTime<Utc>>,
    pub removal_reason: Option<String>,
}

impl From<AttachmentRow> for AttachmentView {
    fn from(row: AttachmentRow) -> Self {
        let media = MediaType::parse(&row.media_type);
        AttachmentView {
            id: row.id,
            case_id: row.case_id,
            assignment_id: row.assignment_id,
            file_name: row.file_name,
            caption: row.caption,
            has_thumbnail: row.removed_at.is_none() && media.is_some_and(MediaType::has_thumbnail),
            media_type: row.media_type,
            size_bytes: row.size_bytes,
            sha256: row.sha256,
            shareable: row.shareable,
            uploaded_by_role: row.uploader_role,
            uploaded_at: row.uploaded_at.and_utc(),
            removed_at: row.removed_at.map(|t| t.and_utc()),
            removal_reason: row.removal_reason,
        }
    }
}

/// The limits of `HOTLINE_ATTACHMENT_MAX_BYTES` and the per-case ones.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub file_bytes: u64,
    pub case_bytes: u64,
    pub case_count: i64,
}

impl Limits {
    pub fn of(settings: &crate::config::Settings) -> Limits {
        Limits {
            file_bytes: settings.attachment_max_bytes,
            case_bytes: settings.case_attachments_max_bytes,
            case_count: settings.case_attachments_max_count,
        }
    }

    /// For the command line's demo data, which attaches nothing.
    pub const NONE: Limits = Limits {
        file_bytes: u64::MAX,
        case_bytes: u64::MAX,
        case_count: i64::MAX,
    };
}

/// One received file, checked and stored, ready for its row.
#[derive(Debug, Clone)]
pub struct StoredFile {
    pub file_name: String,
    pub media: MediaType,
    pub size: i64,
    pub sha256: String,
}

fn viewer(principal: &Principal) -> Viewer {
    match principal.role {
        Role::DepartmentStaff | Role::DepartmentAdmin => Viewer::Department,
        Role::Citizen | Role::Integration => Viewer::Owner,
        _ => Viewer::Centre,
    }
}

fn not_found() -> ApiError {
    ApiError::not_found("no such attachment")
}

/// Where `principal` may put files on case `id` now: the case (404 when not theirs) and, for a
/// department, its open assignment. Closed and rejected cases take files from the centre only;
/// a department attaches while its share is open.
fn upload_target(
    conn: &mut DbConnection,
    principal: &Principal,
    id: CaseId,
    status: CaseStatus,
) -> Result<Option<AssignmentId>, ApiError> {
    let finished = matches!(status, CaseStatus::Closed | CaseStatus::Rejected);
    match viewer(principal) {
        Viewer::Centre => Ok(None),
        _ if finished => Err(ApiError::conflict(
            ErrorCode::CaseNotOpenForAttachments,
            "the case is closed: only the centre adds files to it now",
        )),
        Viewer::Owner => Ok(None),
        Viewer::Department => {
            let department = principal.department_scope();
            let open = crate::db::assignments::case_assignments(conn, id)?
                .into_iter()
                .rev()
                .find(|a| {
                    Some(a.department_id) == department
                        && matches!(
                            a.state,
                            AssignmentState::PendingSign | AssignmentState::InProgress
                        )
                });
            match open {
                Some(assignment) => Ok(Some(assignment.id)),
                None => Err(ApiError::conflict(
                    ErrorCode::CaseNotOpenForAttachments,
                    "your department has no open share of this case to attach files to",
                )),
            }
        }
    }
}

fn full(detail: String) -> ApiError {
    ApiError::Other {
        status: actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
        code: ErrorCode::CaseAttachmentsFull,
        detail: detail.into(),
    }
}

/// 413 when `added` (files, bytes) do not fit on a case holding `held` (files, bytes).
fn over_limits(limits: Limits, held: (i64, i64), added: (i64, i64)) -> Option<ApiError> {
    let ((count, bytes), (added_count, added)) = (held, added);
    if count + added_count > limits.case_count {
        return Some(full(format!(
            "a case holds at most {} files",
            limits.case_count
        )));
    }
    if (bytes + added) as u64 > limits.case_bytes {
        return Some(full(format!(
            "a case holds at most {} bytes of files",
            limits.case_bytes
        )));
    }
    None
}

/// Before the body is read: whether `principal` may attach to case `id` now (404, 409), and
/// room is left on it (413).
pub fn check_upload(
    conn: &mut DbConnection,
    principal: &Principal,
    id: CaseId,
    limits: Limits,
) -> Result<(), ApiError> {
    let case = visible_case(conn, principal, id)?;
    upload_target(conn, principal, id, case.status)?;
    let (count, _) = attachment_db::case_usage(conn, id)?;
    if count >= limits.case_count {
        return Err(full(format!(
            "a case holds at most {} files",
            limits.case_count
        )));
    }
    Ok(())
}

fn new_row(principal: &Principal, file: &StoredFile, caption: Option<&str>) -> NewAttachment {
    NewAttachment {
        case_id: None,
        assignment_id: None,
        uploaded_by_user_id: principal.user_id(),
        uploaded_by_client_id: principal.client_id(),
        uploader_role: principal.role.as_str().to_owned(),
        file_name: file.file_name.clone(),
        caption: caption.map(str::to_owned),
        media_type: file.media.mime().to_owned(),
        size_bytes: file.size,
        sha256: file.sha256.clone(),
        shareable: false,
        uploaded_at: now(),
    }
}

fn added_event(
    conn: &mut DbConnection,
    principal: &Principal,
    row: &AttachmentRow,
    case: CaseId,
) -> Result<(), ApiError> {
    // No file name in the timeline: names can carry personal data, and departments read it.
    event_keeping_status(
        conn,
        principal,
        case,
        "attachment_added",
        serde_json::json!({
            "attachment_id": row.id,
            "media_type": row.media_type,
            "size_bytes": row.size_bytes,
        }),
    )
}

/// Records stored files on case `id` (checked again under the case's lock: the case may have
/// moved, or filled up, while the files arrived).
pub fn add_to_case(
    conn: &mut DbConnection,
    principal: &Principal,
    id: CaseId,
    files: &[StoredFile],
    caption: Option<&str>,
    limits: Limits,
) -> Result<Vec<AttachmentView>, ApiError> {
    write_transaction(conn, |conn| {
        let (_, status) = lock_visible_case(conn, principal, id, None)?;
        let assignment = upload_target(conn, principal, id, status)?;
        let added = (files.len() as i64, files.iter().map(|f| f.size).sum());
        if let Some(full) = over_limits(limits, attachment_db::case_usage(conn, id)?, added) {
            return Err(full);
        }
        let mut added = Vec::with_capacity(files.len());
        for file in files {
            let row = attachment_db::insert(
                conn,
                &NewAttachment {
                    case_id: Some(id),
                    assignment_id: assignment,
                    ..new_row(principal, file, caption)
                },
            )?;
            added_event(conn, principal, &row, id)?;
            added.push(row.into());
        }
        Ok(added)
    })
}

/// Records files uploaded ahead of their case (`POST /attachments`): the uploader names them in
/// `POST /cases` within a day, or the sweep removes them.
pub fn add_pending(
    conn: &mut DbConnection,
    principal: &Principal,
    files: &[StoredFile],
    caption: Option<&str>,
) -> Result<Vec<AttachmentView>, ApiError> {
    write_transaction(conn, |conn| {
        files
            .iter()
            .map(|file| {
                attachment_db::insert(conn, &new_row(principal, file, caption))
                    .map(AttachmentView::from)
                    .map_err(ApiError::from)
            })
            .collect()
    })
}

/// Checks, before a case is registered, that `ids` are the caller's own uploads still waiting
/// for a case (errors under `attachment_ids`), and that they fit a case.
pub fn check_pending(
    conn: &mut DbConnection,
    principal: &Principal,
    ids: &[AttachmentId],
    limits: Limits,
    errors: &mut FieldErrors,
) -> Result<(), ApiError> {
    let rows = attachment_db::find_many(conn, ids)?;
    let own = |id: AttachmentId| {
        rows.iter().find(|row| row.id == id).filter(|row| {
            row.case_id.is_none()
                && row.removed_at.is_none()
                && row.uploaded_by_user_id == principal.user_id()
                && row.uploaded_by_client_id == principal.client_id()
        })
    };
    if let Some(id) = ids.iter().copied().find(|&id| own(id).is_none()) {
        errors.add(
            "attachment_ids",
            FieldErrorCode::NotFound,
            format!("{id} is not an upload of yours waiting for its case"),
        );
        return Ok(());
    }
    let bytes = rows.iter().map(|row| row.size_bytes).sum();
    if over_limits(limits, (0, 0), (ids.len() as i64, bytes)).is_some() {
        errors.add(
            "attachment_ids",
            FieldErrorCode::Length,
            "more files than a case holds",
        );
    }
    Ok(())
}

/// Gives the checked uploads `ids` to the case just registered (in its transaction).
pub fn attach_pending(
    conn: &mut DbConnection,
    principal: &Principal,
    ids: &[AttachmentId],
    case: CaseId,
) -> Result<(), ApiError> {
    if ids.is_empty() {
        return Ok(());
    }
    let attached = attachment_db::attach_to_case(conn, ids, case)?;
    if attached.len() != ids.len() {
        // Another registration took one of them meanwhile.
        return Err(ApiError::conflict(
            ErrorCode::ConcurrentUpdate,
            "an attachment was given to another case meanwhile",
        ));
    }
    for row in &attached {
        added_event(conn, principal, row, case)?;
    }
    Ok(())
}

/// The case's attachments `principal` sees (404 when the case is not theirs).
pub fn list(
    conn: &mut DbConnection,
    principal: &Principal,
    id: CaseId,
) -> Result<Vec<AttachmentView>, ApiError> {
    visible_case(conn, principal, id)?;
    let confidential = crate::db::cases::complainant(conn, id)?.is_some_and(|c| c.confidential);
    Ok(attachment_db::of_case(conn, id)?
        .into_iter()
        .filter(|row| may_see(viewer(principal), confidential, row.shareable))
        .map(AttachmentView::from)
        .collect())
}

/// What a download needs: the row, and whether the read is of a case with personal data by the
/// centre's staff (to be recorded).
pub struct Readable {
    pub row: AttachmentRow,
    pub recorded_read: Option<crate::db::read_log::FullRead>,
}

/// The attachment if `principal` may read it: its case is theirs and, for departments, not
/// confidential unless shared; an upload without a case only by its uploader. Removed ones are
/// 410.
pub fn readable(
    conn: &mut DbConnection,
    principal: &Principal,
    id: AttachmentId,
) -> Result<Readable, ApiError> {
    let row = attachment_db::find(conn, id)?.ok_or_else(not_found)?;
    let recorded_read = match row.case_id {
        None if row.article_id.is_some() => {
            let article = row.article_id.ok_or_else(not_found)?;
            if !crate::service::knowledge::files_readable(conn, principal, article)? {
                return Err(not_found());
            }
            None
        }
        None => {
            let own = row.uploaded_by_user_id == principal.user_id()
                && row.uploaded_by_client_id == principal.client_id();
            if !own {
                return Err(not_found());
            }
            None
        }
        Some(case) => {
            visible_case(conn, principal, case).map_err(|e| match e {
                ApiError::NotFound { .. } => not_found(),
                other => other,
            })?;
            let complainant = crate::db::cases::complainant(conn, case)?;
            let confidential = complainant.as_ref().is_some_and(|c| c.confidential);
            if !may_see(viewer(principal), confidential, row.shareable) {
                return Err(not_found());
            }
            let personal = complainant.is_some_and(|c| !c.anonymous);
            match (viewer(principal), principal.user_id()) {
                (Viewer::Centre, Some(user_id)) if personal => {
                    Some(crate::db::read_log::FullRead {
                        case_id: case,
                        user_id,
                        role: principal.role.as_str(),
                        at: now(),
                    })
                }
                _ => None,
            }
        }
    };
    if row.removed_at.is_some() {
        return Err(ApiError::Gone {
            code: ErrorCode::AttachmentRemoved,
            detail: "the file was removed; its record stays in the list".into(),
        });
    }
    Ok(Readable { row, recorded_read })
}

#[derive(Debug, eserde::Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct AttachmentChanges {
    /// On a confidential case: let the departments see this file (default: they do not).
    pub shareable: bool,
}

/// Marks an attachment shareable or not (the centre).
pub fn set_shareable(
    conn: &mut DbConnection,
    principal: &Principal,
    id: AttachmentId,
    changes: AttachmentChanges,
) -> Result<AttachmentView, ApiError> {
    write_transaction(conn, |conn| {
        let row = readable(conn, principal, id)?.row;
        let case = row.case_id.ok_or_else(not_found)?;
        // A change of the case, like any other: the case first (its statistics are refreshed
        // by one transaction at a time; see `db::stats`).
        crate::db::assignments::lock_case(conn, case)?;
        let row = attachment_db::set_shareable(conn, id, changes.shareable)?;
        event_keeping_status(
            conn,
            principal,
            case,
            "attachment_shared",
            serde_json::json!({"attachment_id": id, "shareable": changes.shareable}),
        )?;
        Ok(row.into())
    })
}

#[derive(Debug, eserde::Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct RemoveAttachment {
    /// Why the file is removed (kept in the record and the timeline).
    #[schema(
        example = "上传了错误的文件，含有无关人员的身份证照片",
        min_length = 1,
        max_length = 500
    )]
    #[validate(length(min = 1, max = 500), custom(function = "validation::text"))]
    pub reason: String,
}

/// Removes an attachment (administrators): the row records who and why, the timeline the
/// removal; the digest is returned so that the handler deletes the file when no other row uses
/// it.
pub fn remove(
    conn: &mut DbConnection,
    principal: &Principal,
    id: AttachmentId,
    input: RemoveAttachment,
) -> Result<(AttachmentView, bool), ApiError> {
    let reason = validation::trimmed(&input.reason);
    let by: UserId = principal
        .user_id()
        .ok_or_else(|| ApiError::internal("an administrator is a user"))?;
    write_transaction(conn, |conn| {
        let row = attachment_db::find(conn, id)?.ok_or_else(not_found)?;
        if row.removed_at.is_some() {
            return Err(ApiError::conflict(
                ErrorCode::AttachmentRemoved,
                "the file was removed already",
            ));
        }
        if let Some(case) = row.case_id {
            crate::db::assignments::lock_case(conn, case)?;
        }
        let row = attachment_db::mark_removed(conn, id, by, &reason, now())?;
        if let Some(case) = row.case_id {
            event_keeping_status(
                conn,
                principal,
                case,
                "attachment_removed",
                serde_json::json!({"attachment_id": id, "reason": reason}),
            )?;
        }
        let still_used = attachment_db::file_in_use(conn, &row.sha256)?;
        Ok((row.into(), !still_used))
    })
}

/// What a sweep of the files removed.
#[derive(Debug, Default, Serialize)]
pub struct FilesSwept {
    /// Uploads never given to a case, older than the age given.
    pub pending_uploads_removed: usize,
    /// Stored files no attachment points to (left by failed requests, removals whose delete
    /// failed, expired uploads), older than the age given.
    pub files_removed: usize,
}

/// Removes uploads never given to a case and stored files no row points to, both older than
/// `age` (a day by default: a file is written before its row, so a younger one may be an upload
/// still being recorded).
pub async fn sweep_files(
    db: &crate::db::Db,
    storage: &crate::storage::Storage,
    age: std::time::Duration,
) -> Result<FilesSwept, ApiError> {
    let age = chrono::Duration::from_std(age).map_err(|e| ApiError::internal(e.to_string()))?;
    let cutoff = now() - age;
    let pending_uploads_removed = db
        .run(move |conn| Ok(attachment_db::delete_pending_before(conn, cutoff)?))
        .await?;
    let storage_error = |e: crate::storage::StorageError| ApiError::internal(e.to_string());
    let candidates = storage
        .objects_before(cutoff.and_utc())
        .await
        .map_err(storage_error)?;
    let unused: Vec<String> = {
        let asked = candidates.clone();
        let used = db
            .run(move |conn| Ok(attachment_db::files_in_use(conn, &asked)?))
            .await?;
        let used: std::collections::HashSet<String> = used.into_iter().collect();
        candidates
            .into_iter()
            .filter(|c| !used.contains(c))
            .collect()
    };
    for digest in &unused {
        storage.delete(digest).await.map_err(storage_error)?;
    }
    Ok(FilesSwept {
        pending_uploads_removed,
        files_removed: unused.len(),
    })
}

/// Runs [`sweep_files`] every `every` while the server runs.
pub async fn sweep_files_periodically(
    db: crate::db::Db,
    storage: crate::storage::Storage,
    age: std::time::Duration,
    every: std::time::Duration,
) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        match sweep_files(&db, &storage, age).await {
            Ok(swept) if swept.files_removed + swept.pending_uploads_removed > 0 => log::info!(
                "file sweep: {} unused files, {} expired uploads removed",
                swept.files_removed,
                swept.pending_uploads_removed
            ),
            Ok(_) => {}
            Err(error) => log::warn!("file sweep failed (the next one retries): {error}"),
        }
    }
}
