//! Notes added to an open case (补充材料): they join its timeline.

use serde::Serialize;
use utoipa::ToSchema;
use validator::Validate;

use crate::auth::Principal;
use crate::db::cases::CaseChanges;
use crate::db::{DbConnection, write_transaction};
use crate::domain::ids::CaseId;
use crate::domain::lifecycle::{CaseMove, transition};
use crate::error::ApiError;
use crate::service::case_views::{TimelineEvent, timeline};
use crate::service::cases::{change_case, conflict, lock_visible_case};
use crate::validation::{self, trimmed};

#[derive(Debug, eserde::Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewNote {
    /// Information added to the case (补充材料).
    #[schema(
        example = "今天傍晚摊贩又来了，还占了盲道。",
        min_length = 1,
        max_length = 5000
    )]
    #[validate(length(min = 1, max = 5000), custom(function = "validation::text"))]
    pub text: String,
}

/// Adds a note to an open case (citizens to their own, the centre to any); it joins the timeline.
pub fn add_note(
    conn: &mut DbConnection,
    principal: &Principal,
    id: CaseId,
    input: NewNote,
) -> Result<TimelineEvent, ApiError> {
    let note = trimmed(&input.text);
    write_transaction(conn, |conn| -> Result<(), ApiError> {
        let (case, status) = lock_visible_case(conn, principal, id, None)?;
        let next = transition(status, CaseMove::Note).map_err(conflict)?;
        change_case(
            conn,
            principal,
            &case,
            (status, next),
            "note_added",
            CaseChanges::default(),
            serde_json::json!({"text": note}),
        )?;
        Ok(())
    })?;
    timeline(conn, principal, id)?
        .pop()
        .ok_or_else(|| ApiError::internal("the note's event is missing"))
}
