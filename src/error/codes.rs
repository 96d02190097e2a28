//! The closed catalogue of machine-readable problem codes: the `code` of every problem document
//! the API sends. Clients switch on these values, so a value never changes once published; the
//! OpenAPI document lists every one with its meaning (the `code` property of `Problem`).
//!
//! The codes of single fields inside a problem's `errors[]` are a second, smaller catalogue,
//! [`FieldErrorCode`]. One table per catalogue generates the enum, its wire strings, `ALL` and the
//! meanings.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::openapi::RefOr;
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

/// Generates a closed code enum from one table of `Variant = "wire_code": "meaning"` rows: the
/// enum (each meaning as its doc), `ALL`, `as_str`, `meaning`, `parse`, serde as the string, and
/// an OpenAPI string-enum schema whose description lists every value with its meaning.
macro_rules! code_catalogue {
    (
        $(#[$attr:meta])*
        $vis:vis enum $name:ident ($summary:literal) {
            $( $variant:ident = $code:literal : $meaning:literal, )+
        }
    ) => {
        $(#[$attr])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( #[doc = $meaning] $variant, )+
        }

        impl $name {
            /// Every code, in catalogue order.
            pub const ALL: &'static [$name] = &[$( $name::$variant, )+];

            /// The code as sent on the wire (snake_case).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $code, )+
                }
            }

            /// The one-line meaning documented for integrators.
            pub const fn meaning(self) -> &'static str {
                match self {
                    $( $name::$variant => $meaning, )+
                }
            }

            /// The code with this wire value, if the catalogue has one.
            pub fn parse(value: &str) -> Option<Self> {
                match value {
                    $( $code => Some($name::$variant), )+
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = Cow::<'de, str>::deserialize(deserializer)?;
                $name::parse(&value).ok_or_else(|| {
                    serde::de::Error::custom(format!("unknown {}: {value}", stringify!($name)))
                })
            }
        }

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                catalogue_schema($summary, $name::ALL.iter().map(|c| (c.as_str(), c.meaning())))
            }
        }

        impl ToSchema for $name {}
    };
}

/// A string enum whose description lists each value with its meaning; the same pairs are also
/// given as `x-enum-descriptions` for generators that read it.
fn catalogue_schema<'a>(
    summary: &str,
    entries: impl Iterator<Item = (&'a str, &'a str)> + Clone,
) -> RefOr<Schema> {
    let mut description = format!("{summary}\n");
    for (code, meaning) in entries.clone() {
        description.push_str(&format!("\n- `{code}`: {meaning}"));
    }
    let descriptions: serde_json::Map<String, serde_json::Value> = entries
        .clone()
        .map(|(code, meaning)| (code.to_owned(), meaning.into()))
        .collect();
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .enum_values(Some(entries.map(|(code, _)| code)))
        .extensions(Some(
            ExtensionsBuilder::new()
                .add("x-enum-descriptions", descriptions)
                .build(),
        ))
        .into()
}

code_catalogue! {
    /// The machine-readable `code` of a problem document.
    pub enum ErrorCode ("Stable machine-readable code of the problem; clients branch on this, never on `detail`. \
        The list is closed: every value the API sends is one of these.") {
        // Requests the server cannot read (400) or route (404, 405, 413, 415).
        BadRequest = "bad_request": "The request was refused before it reached an endpoint (an unspecified client error).",
        InvalidUtf8 = "invalid_utf8": "The request body is not valid UTF-8.",
        MalformedJson = "malformed_json": "The body is not well-formed JSON, or has bytes after the JSON value.",
        UnreadableBody = "unreadable_body": "The request body could not be read.",
        InvalidQuery = "invalid_query": "A query parameter is malformed, unknown or out of range.",
        InvalidPathParameter = "invalid_path_parameter": "A path parameter is malformed.",
        InvalidCharacter = "invalid_character": "The path or query carries a NUL character.",
        InvalidCursor = "invalid_cursor": "The pagination cursor is not one this server issued.",
        InvalidLimit = "invalid_limit": "The page size is outside the allowed range.",
        InvalidIdempotencyKey = "invalid_idempotency_key": "The `Idempotency-Key` header is empty, too long or not printable ASCII.",
        UnsupportedGrantType = "unsupported_grant_type": "The token request names a grant type other than `client_credentials`.",
        ValidationFailed = "validation_failed": "Fields of the request are invalid; `errors` names each one.",
        RouteNotFound = "route_not_found": "No endpoint has this path.",
        MethodNotAllowed = "method_not_allowed": "The endpoint exists but not with this method; `Allow` lists those it takes.",
        PayloadTooLarge = "payload_too_large": "The request body is larger than the server accepts.",
        UnsupportedMediaType = "unsupported_media_type": "The body's `Content-Type` is not one this endpoint takes.",
        NotAcceptable = "not_acceptable": "`Accept` names no format this endpoint answers in; its description lists them.",
        // Identity (401) and permission (403).
        Unauthorized = "unauthorized": "The request needs a valid bearer token.",
        MissingToken = "missing_token": "The operation needs a bearer access token and none was sent.",
        InvalidToken = "invalid_token": "The `Authorization` header or the access token is malformed, or its signature is invalid.",
        TokenExpired = "token_expired": "The access token has expired; refresh it or sign in again.",
        TokenNotYetValid = "token_not_yet_valid": "The access token is not valid yet (clock skew).",
        UnknownSigningKey = "unknown_signing_key": "The access token was signed with a key this server does not know.",
        TokenRevoked = "token_revoked": "The account is disabled or its sessions were ended; sign in again.",
        InvalidRefreshToken = "invalid_refresh_token": "The refresh token is not valid.",
        RefreshTokenExpired = "refresh_token_expired": "The refresh token has expired; sign in again.",
        RefreshTokenRevoked = "refresh_token_revoked": "The refresh token was revoked, or the account disabled or signed out; sign in again.",
        RefreshTokenReused = "refresh_token_reused": "The refresh token was already used; every session of that sign-in is ended.",
        InvalidCredentials = "invalid_credentials": "The user name or password is wrong, or the account is disabled.",
        InvalidClient = "invalid_client": "The integration client's id or secret is wrong.",
        Forbidden = "forbidden": "The caller may not do this.",
        ForbiddenRole = "forbidden_role": "The caller's role may not use this operation or act on this resource.",
        ForbiddenField = "forbidden_field": "Only administrators may change one of the fields sent (role, department, active flag).",
        // Resources.
        NotFound = "not_found": "The resource does not exist, or the caller may not see it.",
        CalendarNotLoaded = "calendar_not_loaded": "No working-day calendar is loaded for the requested year.",
        AlreadyExists = "already_exists": "A resource with the same unique value already exists.",
        CodeTaken = "code_taken": "Another department or category already uses this code.",
        UsernameTaken = "username_taken": "Another account already uses this user name.",
        AlreadyRegistered = "already_registered": "This phone number is already registered; sign in instead.",
        CannotLockOutSelf = "cannot_lock_out_self": "Administrators cannot disable or demote their own account.",
        DemoLoaded = "demo_loaded": "The demo organisation is already loaded (command line only).",
        DemoCasesLoaded = "demo_cases_loaded": "Cases exist already; demo cases are added only to an empty database (command line only).",
        // Concurrency and idempotency.
        ConcurrentUpdate = "concurrent_update": "Another request changed the resource at the same time; fetch it again and retry.",
        VersionMismatch = "version_mismatch": "The `If-Match` version is not the current one; fetch the resource again.",
        IdempotencyKeyReused = "idempotency_key_reused": "The `Idempotency-Key` was used before for a different request.",
        IdempotencyKeyInUse = "idempotency_key_in_use": "A request with this `Idempotency-Key` is still being answered; retry later.",
        IdempotencyOutcomeUnknown = "idempotency_outcome_unknown": "A request with this `Idempotency-Key` was started but never answered; its outcome is unknown.",
        // Case life cycle (409).
        CaseNotRegistered = "case_not_registered": "Only a newly registered case can be accepted, rejected or answered directly.",
        NotAConsultation = "not_a_consultation": "Only consultations can be answered directly.",
        ClassificationLocked = "classification_locked": "The classification can change only until the case is dispatched.",
        CaseNotPendingDispatch = "case_not_pending_dispatch": "Only an accepted case waiting for dispatch can be dispatched.",
        CaseNotPendingReview = "case_not_pending_review": "The case is not waiting for review of the departments' replies.",
        CaseNotRedoable = "case_not_redoable": "A case is redone only after its replies are in (pending review, awaiting follow-up or awaiting the supervisor's decision).",
        CaseNotMergeable = "case_not_mergeable": "Only a case not yet dispatched can be merged into another.",
        MergeTargetClosed = "merge_target_closed": "The case to merge into is closed or rejected.",
        MergeTargetNotEarlier = "merge_target_not_earlier": "A case is merged into an earlier case, not a later one.",
        CaseNotOpen = "case_not_open": "Only an open, accepted case can be closed.",
        CaseNotClosed = "case_not_closed": "Only a closed case can be reopened.",
        CaseClosed = "case_closed": "A closed or rejected case is read-only; a supervisor may reopen a closed one.",
        ReopenWindowPassed = "reopen_window_passed": "A closed case can be reopened only within 30 days of closing.",
        // Follow-up (409).
        CaseNotAwaitingFollowUp = "case_not_awaiting_follow_up": "Follow-up calls are recorded for a case whose result the centre approved (awaiting follow-up), or a case merged into one.",
        FollowUpNotDue = "follow_up_not_due": "The case this one was merged into has not had its result approved yet; follow up after that.",
        FollowUpEnded = "follow_up_ended": "The follow-up of this case is over (the citizen answered, refused, or could not be reached).",
        CaseNotAwaitingDecision = "case_not_awaiting_decision": "Only a case whose citizen was dissatisfied at the follow-up awaits the supervisor's decision.",
        // Assignment life cycle (409, 403).
        AssignmentSuperseded = "assignment_superseded": "The assignment belongs to an earlier dispatch round.",
        NotYourAssignment = "not_your_assignment": "The assignment was handed to another member of the department.",
        AssignmentNotPendingSign = "assignment_not_pending_sign": "Only an assignment waiting to be signed for can be signed.",
        AssignmentNotReturnable = "assignment_not_returnable": "An assignment can be returned only before it is replied to.",
        AssignmentNotReturned = "assignment_not_returned": "Only a returned assignment can be ruled on.",
        AssignmentNotOpen = "assignment_not_open": "The department has no work left on this assignment.",
        AssignmentNotInProgress = "assignment_not_in_progress": "The assignment is not signed, or is already replied to.",
        AssignmentNotSigned = "assignment_not_signed": "Sign for the assignment before replying.",
        AssignmentNotReplied = "assignment_not_replied": "Only a replied assignment can be sent back.",
        // Deadlines, extensions and supervision (409).
        NotExtendable = "not_extendable": "Only reply deadlines can be extended.",
        DeadlineNotRunning = "deadline_not_running": "The deadline has stopped: it was met, missed or cancelled.",
        ExtensionPending = "extension_pending": "An extension request for this assignment is already waiting for a decision.",
        ExtensionLimitReached = "extension_limit_reached": "The assignment has had all the extensions the policy allows.",
        ExtensionDecided = "extension_decided": "The extension request has been decided already.",
        NoExplanationRequired = "no_explanation_required": "Only written supervision asks for an explanation.",
        AlreadyExplained = "already_explained": "The explanation was given already.",
        // Satisfaction surveys (409, 410).
        CaseNotSurveyable = "case_not_surveyable": "A survey is issued only for a case awaiting follow-up or closed (not merged into another: that citizen is followed up on the other case).",
        TemplateSuperseded = "template_superseded": "The survey template has a newer version; use (or edit) that one.",
        SurveyAlreadyAnswered = "survey_already_answered": "The survey was answered already; each invitation takes one answer.",
        SurveyExpired = "survey_expired": "The survey invitation has expired unanswered; ask the centre for a new one.",
        // Knowledge base (409).
        KnowledgeVersionConflict = "knowledge_version_conflict": "The article has a newer version than the one the edit started from (`based_on`), or another edit was saved at the same moment; read it again.",
        KnowledgeVersionNotDraft = "knowledge_version_not_draft": "Only a draft is approved; this version was approved already or set aside by a later approval.",
        KnowledgeVersionOutdated = "knowledge_version_outdated": "A newer version of the article exists; approve (or edit) the newest one.",
        // Attachments (409, 410, 413, 415, 416, 403).
        CaseNotOpenForAttachments = "case_not_open_for_attachments": "The case takes no files from the caller now: it is closed or rejected (only the centre adds files then), or the department's share of it is not open.",
        FileTooLarge = "file_too_large": "A file is larger than the server takes (`HOTLINE_ATTACHMENT_MAX_BYTES`).",
        CaseAttachmentsFull = "case_attachments_full": "The case holds as many files, or as many bytes of files, as it may.",
        UnsupportedFileType = "unsupported_file_type": "The file's content is none of the accepted types (JPEG, PNG, WebP, HEIC, PDF, OFD, MP3, AMR, M4A, MP4, DOCX, XLSX), whatever its name says.",
        AttachmentRemoved = "attachment_removed": "The attachment was removed by an administrator; its record stays, the file is gone.",
        RangeNotSatisfiable = "range_not_satisfiable": "The `Range` asked for lies outside the file.",
        InvalidLink = "invalid_link": "The signed link is malformed, altered or expired.",
        // Load and server state (429, 500, 503).
        RateLimited = "rate_limited": "Too many requests, or too many failed sign-ins for the account; wait for the seconds in `Retry-After`.",
        Busy = "busy": "Too many sign-ins are being checked right now; try again shortly.",
        ExportsBusy = "exports_busy": "Too many exports are running on this server; try again shortly.",
        DatabaseUnavailable = "database_unavailable": "The database is not reachable; try again shortly.",
        InternalError = "internal_error": "The server failed; quote the `request_id` to support.",
    }
}

code_catalogue! {
    /// The machine-readable `code` of one entry of a problem's `errors[]` (a field problem).
    pub enum FieldErrorCode ("Machine-readable reason this field is invalid; `message` explains it to people. \
        The list is closed: every value the API sends is one of these.") {
        Required = "required": "The field is missing or null.",
        InvalidType = "invalid_type": "The value has the wrong JSON type or cannot be read as the field's type.",
        UnknownField = "unknown_field": "The body carries a field this operation does not take.",
        UnknownValue = "unknown_value": "The value is not one of the field's allowed values; `message` lists them.",
        InvalidCharacter = "invalid_character": "The text contains a NUL character.",
        Length = "length": "The text or list is too short or too long.",
        Range = "range": "The number is outside its allowed range.",
        OutOfRange = "out_of_range": "The number of working days asked for is outside the allowed range.",
        BeyondLimit = "beyond_limit": "The new deadline would go past the latest one the policy allows.",
        Invalid = "invalid": "The value is not valid for this field; `message` says why.",
        NotFound = "not_found": "The id refers to nothing that exists (or that the caller may see).",
        Inactive = "inactive": "The record referred to is retired and takes no new uses.",
        NotAllowed = "not_allowed": "The caller may not set this field, or not to this value.",
        Mismatch = "mismatch": "The value does not match the stored one (the current password).",
        Cycle = "cycle": "The parent given would place the record under itself.",
    }
}

impl FieldErrorCode {
    /// The code for a `validator` rule that failed. Rules report their own names (`length`,
    /// `range`, `required`) or, for custom validators, the code they were given: give those one
    /// of this catalogue's values (`ValidationError::new(FieldErrorCode::X.as_str())`). A code the
    /// catalogue lacks is sent as `invalid` (and fails debug builds, so tests catch it).
    pub fn from_validator(code: &str) -> Self {
        let known = Self::parse(code);
        debug_assert!(
            known.is_some(),
            "validator code '{code}' is not a FieldErrorCode"
        );
        known.unwrap_or(Self::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_snake_case(code: &str) -> bool {
        !code.is_empty()
            && code.starts_with(|c: char| c.is_ascii_lowercase())
            && !code.ends_with('_')
            && !code.contains("__")
            && code
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    }

    #[test]
    fn codes_are_unique_snake_case_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for &code in ErrorCode::ALL {
            let value = code.as_str();
            assert!(is_snake_case(value), "{value} is not snake_case");
            assert!(seen.insert(value), "{value} is listed twice");
            assert_eq!(ErrorCode::parse(value), Some(code));
            assert!(!code.meaning().trim().is_empty(), "{value} has no meaning");
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, serde_json::Value::from(value));
            assert_eq!(serde_json::from_value::<ErrorCode>(json).unwrap(), code);
        }
        assert_eq!(ErrorCode::parse("no_such_code"), None);
    }

    #[test]
    fn field_codes_are_unique_snake_case_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for &code in FieldErrorCode::ALL {
            let value = code.as_str();
            assert!(is_snake_case(value), "{value} is not snake_case");
            assert!(seen.insert(value), "{value} is listed twice");
            assert_eq!(FieldErrorCode::parse(value), Some(code));
            assert_eq!(FieldErrorCode::from_validator(value), code);
            assert!(!code.meaning().trim().is_empty(), "{value} has no meaning");
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, serde_json::Value::from(value));
            assert_eq!(
                serde_json::from_value::<FieldErrorCode>(json).unwrap(),
                code
            );
        }
    }
}
