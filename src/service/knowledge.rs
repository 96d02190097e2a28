//! The knowledge base: articles drafted by the centre or the owning department, approved by the
//! owning department's admin or a centre supervisor, searched by call-takers while a citizen
//! is on the line, and (public ones) by anyone on the FAQ.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};
use validator::{Validate, ValidationError};

use crate::auth::Principal;
use crate::auth::policy::{Operation, op};
use crate::db::knowledge::{self as store, ArticleFilter, ArticleRow, NewArticle, VersionRow};
use crate::db::{DbConnection, PageRequest, now, organisation, write_transaction};
use crate::domain::ids::{ArticleId, AttachmentId, CategoryId, DepartmentId, UserId};
use crate::domain::knowledge::{
    self as rules, ApprovalRefused, Term, VersionState, Visibility, approvable, may_approve,
    may_keep, normalized_keywords, parse_query,
};
use crate::domain::role::Role;
use crate::error::{ApiError, ErrorCode, FieldErrorCode, FieldErrors};
use crate::pagination::Page;
use crate::validation::{self, trimmed};

/// Most keywords an article carries, and the longest one.
const MAX_KEYWORDS: usize = 20;
const MAX_KEYWORD_CHARS: usize = 50;

fn valid_keywords(value: &[String]) -> Result<(), ValidationError> {
    if value.len() > MAX_KEYWORDS {
        return Err(ValidationError::new(FieldErrorCode::Length.as_str())
            .with_message("at most 20 keywords".into()));
    }
    for keyword in value {
        validation::text(keyword)?;
        if keyword.chars().count() > MAX_KEYWORD_CHARS || keyword.contains(['\n', '\r']) {
            return Err(ValidationError::new(FieldErrorCode::Length.as_str())
                .with_message("each keyword is one line of at most 50 characters".into()));
        }
    }
    Ok(())
}

/// A local calendar day on the wire (`2026-11-15`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(transparent)]
pub struct LocalDay(pub NaiveDate);

eserde::impl_edeserialize_compat!(LocalDay);

impl utoipa::PartialSchema for LocalDay {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Date,
            )))
            .description(Some("A local calendar day."))
            .into()
    }
}

impl ToSchema for LocalDay {}

fn day(value: Option<LocalDay>) -> Option<NaiveDate> {
    value.map(|d| d.0)
}

/// A new article: its first version, a draft.
#[derive(Debug, eserde::Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateArticle {
    #[schema(example = "供暖季开始和结束时间", min_length = 1, max_length = 200)]
    #[validate(length(min = 1, max = 200), custom(function = "validation::text"))]
    pub title: String,
    /// Markdown source; clients render it (safely: no raw HTML).
    #[schema(
        example = "本市供暖季为每年11月15日至次年3月15日。",
        min_length = 1,
        max_length = 20000
    )]
    #[validate(length(min = 1, max = 20000), custom(function = "validation::text"))]
    pub body: String,
    /// What citizens say (群众说法) and synonyms, each one line of at most 50 characters, at
    /// most 20: a search for any of them finds the article.
    #[schema(example = json!(["暖气", "暖气不热", "采暖"]))]
    #[validate(custom(function = "valid_keywords"))]
    #[serde(default)]
    pub keywords: Vec<String>,
    #[schema(max_items = 10)]
    #[validate(length(max = 10))]
    #[serde(default)]
    pub category_ids: Vec<CategoryId>,
    /// The department whose answer it is: its staff keep it, its admin approves. Department
    /// staff may name only their own (the default for them); the centre any, or none (the
    /// centre's own answer).
    #[serde(default)]
    pub owner_department_id: Option<DepartmentId>,
    pub visibility: Visibility,
    /// First day shown (local date); `null`: from approval.
    #[serde(default)]
    pub valid_from: Option<LocalDay>,
    /// Last day shown (local date); after it the article is hidden from call-takers and the
    /// public and kept for the record.
    #[serde(default)]
    pub valid_until: Option<LocalDay>,
    /// For call-takers only (how to handle the call); never on the public FAQ.
    #[schema(max_length = 2000)]
    #[validate(length(max = 2000), custom(function = "validation::text"))]
    #[serde(default)]
    pub internal_note: Option<String>,
    /// Files uploaded before by the caller (`POST /attachments`), or files of this article.
    #[schema(max_items = 10)]
    #[validate(length(max = 10))]
    #[serde(default)]
    pub attachment_ids: Vec<AttachmentId>,
    /// Why this version (shown in the history).
    #[schema(max_length = 500)]
    #[validate(length(max = 500), custom(function = "validation::text"))]
    #[serde(default)]
    pub change_note: Option<String>,
}

/// A new version, made from the newest one with these changes; a draft until approved.
/// `null` clears an optional field.
#[derive(Debug, eserde::Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateArticle {
    /// The version the editor started from: when a newer one exists the edit is refused (409
    /// `knowledge_version_conflict`) instead of overwriting it. Without it, the newest.
    #[schema(minimum = 1)]
    #[validate(range(min = 1))]
    #[serde(default)]
    pub based_on: Option<i32>,
    #[schema(min_length = 1, max_length = 200)]
    #[validate(length(min = 1, max = 200), custom(function = "validation::text"))]
    #[serde(default)]
    pub title: Option<String>,
    #[schema(min_length = 1, max_length = 20000)]
    #[validate(length(min = 1, max = 20000), custom(function = "validation::text"))]
    #[serde(default)]
    pub body: Option<String>,
    #[validate(custom(function = "valid_keywords"))]
    #[serde(default)]
    pub keywords: Option<Vec<String>>,
    #[schema(max_items = 10)]
    #[validate(length(max = 10))]
    #[serde(default)]
    pub category_ids: Option<Vec<CategoryId>>,
    #[serde(default, deserialize_with = "crate::service::users::nullable")]
    #[schema(value_type = Option<DepartmentId>)]
    pub owner_department_id: Option<Option<DepartmentId>>,
    #[serde(default)]
    pub visibility: Option<Visibility>,
    #[serde(default, deserialize_with = "crate::service::users::nullable")]
    #[schema(value_type = Option<LocalDay>)]
    pub valid_from: Option<Option<LocalDay>>,
    #[serde(default, deserialize_with = "crate::service::users::nullable")]
    #[schema(value_type = Option<LocalDay>)]
    pub valid_until: Option<Option<LocalDay>>,
    #[serde(default, deserialize_with = "crate::service::users::nullable")]
    #[schema(value_type = Option<String>, max_length = 2000)]
    #[validate(length(max = 2000), custom(function = "validation::text"))]
    pub internal_note: Option<Option<String>>,
    #[schema(max_items = 10)]
    #[validate(length(max = 10))]
    #[serde(default)]
    pub attachment_ids: Option<Vec<AttachmentId>>,
    #[schema(max_length = 500)]
    #[validate(length(max = 500), custom(function = "validation::text"))]
    #[serde(default)]
    pub change_note: Option<String>,
}

/// One version of an article, as its keepers see it (drafts included).
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionView {
    pub article_id: ArticleId,
    pub version: i32,
    pub state: VersionState,
    pub title: String,
    /// Markdown source.
    pub body: String,
    pub keywords: Vec<String>,
    pub category_ids: Vec<CategoryId>,
    pub owner_department_id: Option<DepartmentId>,
    pub visibility: Visibility,
    pub valid_from: Option<NaiveDate>,
    pub valid_until: Option<NaiveDate>,
    pub internal_note: Option<String>,
    pub attachment_ids: Vec<AttachmentId>,
    /// The fields this version changed from the one before (all of them for version 1).
    pub changed: Vec<String>,
    pub change_note: Option<String>,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    pub approved_by: Option<UserId>,
    pub approved_at: Option<DateTime<Utc>>,
}

impl From<VersionRow> for VersionView {
    fn from(row: VersionRow) -> Self {
        VersionView {
            keywords: row.keyword_list(),
            category_ids: row.category_list(),
            attachment_ids: row.attachment_list(),
            changed: row
                .changed
                .split(',')
                .filter(|f| !f.is_empty())
                .map(str::to_owned)
                .collect(),
            article_id: row.article_id,
            version: row.version,
            state: row.state,
            title: row.title,
            body: row.body,
            owner_department_id: row.owner_department_id,
            visibility: row.visibility,
            valid_from: row.valid_from,
            valid_until: row.valid_until,
            internal_note: row.internal_note,
            change_note: row.change_note,
            created_by: row.created_by_user_id,
            created_at: row.created_at.and_utc(),
            approved_by: row.approved_by_user_id,
            approved_at: row.approved_at.map(|t| t.and_utc()),
        }
    }
}

/// An article as staff read it: the approved version, with where the article stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct ArticleView {
    pub id: ArticleId,
    /// The version shown (approved); `null` until the first approval (then the text fields are
    /// those of the newest draft, shown to the article's keepers only).
    pub version: Option<i32>,
    /// The newest version (a draft when greater than `version`).
    pub latest_version: i32,
    /// Whether call-takers see it today: approved and within its validity.
    pub shown: bool,
    pub title: String,
    /// Markdown source.
    pub body: String,
    pub keywords: Vec<String>,
    pub category_ids: Vec<CategoryId>,
    pub owner_department_id: Option<DepartmentId>,
    pub visibility: Visibility,
    pub valid_from: Option<NaiveDate>,
    pub valid_until: Option<NaiveDate>,
    /// For call-takers only.
    pub internal_note: Option<String>,
    pub attachment_ids: Vec<AttachmentId>,
    /// Cases answered with it.
    pub use_count: i64,
    pub published_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

fn article_view(article: &ArticleRow, version: VersionRow, today: NaiveDate) -> ArticleView {
    ArticleView {
        id: article.id,
        version: article.published_version,
        latest_version: article.latest_version,
        shown: shown(article, today),
        keywords: version.keyword_list(),
        category_ids: version.category_list(),
        attachment_ids: version.attachment_list(),
        title: version.title,
        body: version.body,
        owner_department_id: version.owner_department_id,
        visibility: version.visibility,
        valid_from: version.valid_from,
        valid_until: version.valid_until,
        internal_note: version.internal_note,
        use_count: article.use_count,
        published_at: article.published_at.map(|t| t.and_utc()),
        updated_at: article.updated_at.and_utc(),
    }
}

fn shown(article: &ArticleRow, today: NaiveDate) -> bool {
    article.published_version.is_some()
        && rules::valid_on(article.valid_from, article.valid_until, today)
}

fn not_found() -> ApiError {
    ApiError::not_found("no such article")
}

/// Whether the caller reads the files of `article`: staff who read articles, once it has an
/// approved version (expired ones too: kept for the record); before that its keepers.
pub fn files_readable(
    conn: &mut DbConnection,
    principal: &Principal,
    article: ArticleId,
) -> Result<bool, ApiError> {
    // Whoever reads articles (the policy table's readers of `GET /knowledge/articles/{id}`).
    let staff = <op::GetArticle as Operation>::ENTRY.allows(principal.role);
    let Some(row) = store::find_article(conn, article)? else {
        return Ok(false);
    };
    Ok(staff && (row.published_version.is_some() || keeps(principal, &row)))
}

fn keeps(principal: &Principal, article: &ArticleRow) -> bool {
    may_keep(
        principal.role,
        principal.department_scope(),
        article.owner_department_id,
    )
}

/// The article if the caller reads it: shown today, or one they keep.
fn readable(
    conn: &mut DbConnection,
    principal: &Principal,
    id: ArticleId,
    today: NaiveDate,
) -> Result<ArticleRow, ApiError> {
    let article = store::find_article(conn, id)?.ok_or_else(not_found)?;
    if shown(&article, today) || keeps(principal, &article) {
        Ok(article)
    } else {
        Err(not_found())
    }
}

fn kept(
    conn: &mut DbConnection,
    principal: &Principal,
    id: ArticleId,
) -> Result<ArticleRow, ApiError> {
    let article = store::find_article(conn, id)?.ok_or_else(not_found)?;
    if keeps(principal, &article) {
        Ok(article)
    } else {
        Err(not_found())
    }
}

fn stored_version(
    conn: &mut DbConnection,
    id: ArticleId,
    version: i32,
) -> Result<VersionRow, ApiError> {
    store::find_version(conn, id, version)?
        .ok_or_else(|| ApiError::internal("an article's version is missing"))
}

/// The version a reader sees: the approved one; for keepers of a never-approved article, the
/// newest draft.
fn display_version(conn: &mut DbConnection, article: &ArticleRow) -> Result<VersionRow, ApiError> {
    stored_version(
        conn,
        article.id,
        article.published_version.unwrap_or(article.latest_version),
    )
}

pub fn get(
    conn: &mut DbConnection,
    principal: &Principal,
    id: ArticleId,
    today: NaiveDate,
) -> Result<ArticleView, ApiError> {
    let article = readable(conn, principal, id, today)?;
    let version = display_version(conn, &article)?;
    Ok(article_view(&article, version, today))
}

/// What the checks of an edit need to know.
struct Draft {
    title: String,
    body: String,
    keywords: Vec<String>,
    category_ids: Vec<CategoryId>,
    owner_department_id: Option<DepartmentId>,
    visibility: Visibility,
    valid_from: Option<NaiveDate>,
    valid_until: Option<NaiveDate>,
    internal_note: Option<String>,
    attachment_ids: Vec<AttachmentId>,
}

impl Draft {
    fn of(row: &VersionRow) -> Draft {
        Draft {
            title: row.title.clone(),
            body: row.body.clone(),
            keywords: row.keyword_list(),
            category_ids: row.category_list(),
            owner_department_id: row.owner_department_id,
            visibility: row.visibility,
            valid_from: row.valid_from,
            valid_until: row.valid_until,
            internal_note: row.internal_note.clone(),
            attachment_ids: row.attachment_list(),
        }
    }

    /// The names of the fields that differ from `before`.
    fn changed_from(&self, before: &Draft) -> Vec<&'static str> {
        [
            ("title", self.title != before.title),
            ("body", self.body != before.body),
            ("keywords", self.keywords != before.keywords),
            ("category_ids", self.category_ids != before.category_ids),
            (
                "owner_department_id",
                self.owner_department_id != before.owner_department_id,
            ),
            ("visibility", self.visibility != before.visibility),
            ("valid_from", self.valid_from != before.valid_from),
            ("valid_until", self.valid_until != before.valid_until),
            ("internal_note", self.internal_note != before.internal_note),
            (
                "attachment_ids",
                self.attachment_ids != before.attachment_ids,
            ),
        ]
        .into_iter()
        .filter_map(|(field, differs)| differs.then_some(field))
        .collect()
    }

    fn row(
        &self,
        article: ArticleId,
        version: i32,
        changed: &[&str],
        change_note: Option<String>,
        by: UserId,
        at: NaiveDateTime,
    ) -> VersionRow {
        VersionRow {
            article_id: article,
            version,
            title: self.title.clone(),
            body: self.body.clone(),
            keywords: self.keywords.join("\n"),
            category_ids: store::id_list(self.category_ids.iter().map(|c| c.get())),
            owner_department_id: self.owner_department_id,
            visibility: self.visibility,
            valid_from: self.valid_from,
            valid_until: self.valid_until,
            internal_note: self.internal_note.clone(),
            attachment_ids: store::id_list(self.attachment_ids.iter().map(|a| a.get())),
            state: VersionState::Draft,
            changed: changed.join(","),
            change_note,
            created_by_user_id: by,
            created_at: at,
            approved_by_user_id: None,
            approved_at: None,
        }
    }

    /// The rules a version must follow, as field errors: categories and the owner exist,
    /// department staff keep their own department's answers, the dates are in order, the files
    /// are the caller's uploads or this article's.
    fn check(
        &self,
        conn: &mut DbConnection,
        principal: &Principal,
        article: Option<ArticleId>,
    ) -> Result<(), ApiError> {
        let mut errors = FieldErrors::default();
        for &category in &self.category_ids {
            if organisation::find_category(conn, category)?.is_none() {
                errors.add(
                    "category_ids",
                    FieldErrorCode::NotFound,
                    format!("no category {category}"),
                );
            }
        }
        if let Some(own) = principal.department_scope() {
            if self.owner_department_id != Some(own) {
                errors.add(
                    "owner_department_id",
                    FieldErrorCode::Invalid,
                    "department staff keep their own department's articles only",
                );
            }
        } else if let Some(owner) = self.owner_department_id
            && organisation::find_department(conn, owner)?.is_none()
        {
            errors.add(
                "owner_department_id",
                FieldErrorCode::NotFound,
                "no department with this id",
            );
        }
        if let (Some(from), Some(until)) = (self.valid_from, self.valid_until)
            && until < from
        {
            errors.add(
                "valid_until",
                FieldErrorCode::Invalid,
                "valid_until is before valid_from",
            );
        }
        if !self.attachment_ids.is_empty() {
            let rows = crate::db::attachments::find_many(conn, &self.attachment_ids)?;
            let usable = |id: AttachmentId| {
                rows.iter().any(|row| {
                    row.id == id
                        && row.removed_at.is_none()
                        && row.case_id.is_none()
                        && match row.article_id {
                            Some(on) => Some(on) == article,
                            None => {
                                row.uploaded_by_user_id == principal.user_id()
                                    && row.uploaded_by_client_id.is_none()
                            }
                        }
                })
            };
            if let Some(id) = self.attachment_ids.iter().copied().find(|&id| !usable(id)) {
                errors.add(
                    "attachment_ids",
                    FieldErrorCode::NotFound,
                    format!("{id} is neither an upload of yours nor a file of this article"),
                );
            }
        }
        errors.finish()
    }
}

fn user(principal: &Principal) -> Result<UserId, ApiError> {
    principal
        .user_id()
        .ok_or_else(|| ApiError::internal("knowledge editors are users"))
}

fn distinct<T: PartialEq + Copy>(items: &[T]) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for &item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// Creates an article with its first version, a draft.
pub fn create(
    conn: &mut DbConnection,
    principal: &Principal,
    input: CreateArticle,
) -> Result<VersionView, ApiError> {
    let by = user(principal)?;
    let draft = Draft {
        title: trimmed(&input.title),
        body: input.body.trim_end().to_owned(),
        keywords: normalized_keywords(&input.keywords),
        category_ids: distinct(&input.category_ids),
        owner_department_id: input.owner_department_id.or(principal.department_scope()),
        visibility: input.visibility,
        valid_from: day(input.valid_from),
        valid_until: day(input.valid_until),
        internal_note: input.internal_note.as_deref().map(trimmed),
        attachment_ids: distinct(&input.attachment_ids),
    };
    write_transaction(conn, |conn| {
        draft.check(conn, principal, None)?;
        let at = now();
        let article = store::insert_article(
            conn,
            &NewArticle {
                owner_department_id: draft.owner_department_id,
                latest_version: 1,
                use_count: 0,
                created_by_user_id: by,
                created_at: at,
                updated_at: at,
            },
        )?;
        let changed = draft.changed_from(&Draft {
            title: String::new(),
            body: String::new(),
            keywords: Vec::new(),
            category_ids: Vec::new(),
            owner_department_id: None,
            visibility: Visibility::Internal,
            valid_from: None,
            valid_until: None,
            internal_note: None,
            attachment_ids: Vec::new(),
        });
        let mut changed = changed;
        for field in ["title", "body", "visibility"] {
            if !changed.contains(&field) {
                changed.push(field);
            }
        }
        let row = draft.row(
            article.id,
            1,
            &changed,
            input.change_note.as_deref().map(trimmed),
            by,
            at,
        );
        store::insert_version(conn, &row)?;
        crate::db::attachments::attach_to_article(conn, &draft.attachment_ids, article.id)?;
        Ok(row.into())
    })
}

/// Makes a new version (a draft) from the newest with the changes given.
pub fn update(
    conn: &mut DbConnection,
    principal: &Principal,
    id: ArticleId,
    input: UpdateArticle,
) -> Result<VersionView, ApiError> {
    let by = user(principal)?;
    write_transaction(conn, |conn| {
        let article = kept(conn, principal, id)?;
        let latest = stored_version(conn, id, article.latest_version)?;
        let before = Draft::of(&latest);
        let draft = Draft {
            title: input
                .title
                .as_deref()
                .map(trimmed)
                .unwrap_or(before.title.clone()),
            body: input
                .body
                .as_deref()
                .map(|b| b.trim_end().to_owned())
                .unwrap_or(before.body.clone()),
            keywords: input
                .keywords
                .as_deref()
                .map(normalized_keywords)
                .unwrap_or(before.keywords.clone()),
            category_ids: input
                .category_ids
                .as_deref()
                .map(distinct)
                .unwrap_or(before.category_ids.clone()),
            owner_department_id: input
                .owner_department_id
                .unwrap_or(before.owner_department_id),
            visibility: input.visibility.unwrap_or(before.visibility),
            valid_from: input.valid_from.map(day).unwrap_or(before.valid_from),
            valid_until: input.valid_until.map(day).unwrap_or(before.valid_until),
            internal_note: input
                .internal_note
                .clone()
                .map(|n| n.as_deref().map(trimmed))
                .unwrap_or(before.internal_note.clone()),
            attachment_ids: input
                .attachment_ids
                .as_deref()
                .map(distinct)
                .unwrap_or(before.attachment_ids.clone()),
        };
        draft.check(conn, principal, Some(id))?;
        if input.based_on.is_some_and(|v| v != article.latest_version) {
            return Err(version_conflict());
        }
        let changed = draft.changed_from(&before);
        if changed.is_empty() {
            return Err(ApiError::field(
                "body",
                FieldErrorCode::Invalid,
                "the edit changes nothing",
            ));
        }
        let at = now();
        if !store::claim_next_version(conn, id, article.latest_version, at)? {
            return Err(version_conflict());
        }
        let row = draft.row(
            id,
            article.latest_version + 1,
            &changed,
            input.change_note.as_deref().map(trimmed),
            by,
            at,
        );
        store::insert_version(conn, &row)?;
        crate::db::attachments::attach_to_article(conn, &draft.attachment_ids, id)?;
        Ok(row.into())
    })
}

fn version_conflict() -> ApiError {
    ApiError::conflict(
        ErrorCode::KnowledgeVersionConflict,
        "the article has a newer version than the one this edit started from; read it again",
    )
}

/// Approves the newest version, a draft: it becomes the one shown.
pub fn approve(
    conn: &mut DbConnection,
    principal: &Principal,
    id: ArticleId,
    version: i32,
    today: NaiveDate,
) -> Result<ArticleView, ApiError> {
    let by = user(principal)?;
    write_transaction(conn, |conn| {
        let article = store::find_article(conn, id)?.ok_or_else(not_found)?;
        if !keeps(principal, &article) {
            return Err(not_found());
        }
        if !may_approve(
            principal.role,
            principal.department_scope(),
            article.owner_department_id,
        ) {
            return Err(ApiError::Forbidden {
                code: ErrorCode::ForbiddenRole,
                detail: "only the owning department's admin or a centre supervisor approves".into(),
            });
        }
        let row = store::find_version(conn, id, version)?
            .ok_or_else(|| ApiError::not_found("no such version"))?;
        approvable(row.state, version, article.latest_version).map_err(
            |refused| match refused {
                ApprovalRefused::NotDraft => ApiError::conflict(
                    ErrorCode::KnowledgeVersionNotDraft,
                    "only a draft is approved; this version was approved or set aside already",
                ),
                ApprovalRefused::Outdated => ApiError::conflict(
                    ErrorCode::KnowledgeVersionOutdated,
                    "a newer version exists; approve that one (or edit it) instead",
                ),
            },
        )?;
        let at = now();
        if !store::publish(conn, &row, by, at)? {
            return Err(version_conflict());
        }
        let article = store::find_article(conn, id)?.ok_or_else(not_found)?;
        let row = stored_version(conn, id, version)?;
        Ok(article_view(&article, row, today))
    })
}

pub fn versions(
    conn: &mut DbConnection,
    principal: &Principal,
    id: ArticleId,
) -> Result<Vec<VersionView>, ApiError> {
    kept(conn, principal, id)?;
    Ok(store::versions(conn, id)?
        .into_iter()
        .map(VersionView::from)
        .collect())
}

/// One version: approved ones (shown now or before) to every reader, so that an answer given
/// with it can be read back; drafts to the article's keepers.
pub fn version(
    conn: &mut DbConnection,
    principal: &Principal,
    id: ArticleId,
    version: i32,
) -> Result<VersionView, ApiError> {
    let article = store::find_article(conn, id)?.ok_or_else(not_found)?;
    let row = store::find_version(conn, id, version)?
        .ok_or_else(|| ApiError::not_found("no such version"))?;
    let public_record = matches!(row.state, VersionState::Approved | VersionState::Superseded);
    if public_record || keeps(principal, &article) {
        Ok(row.into())
    } else {
        Err(ApiError::not_found("no such version"))
    }
}

/// Which articles a list shows.
#[derive(Debug, Clone, Copy, Default, serde::Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ListState {
    /// Approved and valid today (the default; what call-takers see).
    #[default]
    Shown,
    /// Approved, but out of their validity today (expired, or not yet valid).
    Expired,
    /// With a draft newer than the version shown (or never approved).
    AwaitingApproval,
    /// Every article.
    All,
}

#[derive(Debug, Default, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ArticleQuery {
    /// `shown` (default) for everyone; the others for the articles' keepers (supervisors and
    /// administrators every article, department staff their department's).
    pub state: Option<ListState>,
    pub visibility: Option<Visibility>,
    pub category_id: Option<CategoryId>,
    pub owner_department_id: Option<DepartmentId>,
}

pub fn list(
    conn: &mut DbConnection,
    principal: &Principal,
    query: &ArticleQuery,
    page: PageRequest,
    today: NaiveDate,
) -> Result<Page<ArticleView>, ApiError> {
    let state = query.state.unwrap_or_default();
    let mut filter = ArticleFilter {
        visibility: query.visibility,
        category_id: query.category_id,
        owner_department_id: query.owner_department_id,
        ..Default::default()
    };
    match state {
        ListState::Shown => filter.shown_on = Some(today),
        ListState::Expired => filter.not_shown_on = Some(today),
        ListState::AwaitingApproval => filter.awaiting_approval = true,
        ListState::All => {}
    }
    if state != ListState::Shown {
        match principal.role {
            Role::Supervisor | Role::Admin => {}
            Role::DepartmentStaff | Role::DepartmentAdmin => {
                let own = principal.department_scope();
                if query.owner_department_id.is_some_and(|d| Some(d) != own) {
                    return Ok(Page {
                        items: Vec::new(),
                        next_cursor: None,
                    });
                }
                filter.owner_department_id = own;
            }
            _ => {
                return Err(ApiError::Forbidden {
                    code: ErrorCode::ForbiddenRole,
                    detail: "only the articles' keepers list articles that are not shown".into(),
                });
            }
        }
    }
    let rows = store::list(conn, &filter, page)?;
    let views = with_versions(conn, rows, today)?;
    Ok(Page::from_rows(views, page, |v| v.id.get(), |v| v))
}

/// The views of `rows`, in their order, each with its displayed version.
fn with_versions(
    conn: &mut DbConnection,
    rows: Vec<ArticleRow>,
    today: NaiveDate,
) -> Result<Vec<ArticleView>, ApiError> {
    let ids: Vec<ArticleId> = rows.iter().map(|r| r.id).collect();
    let mut versions: HashMap<ArticleId, VersionRow> = store::displayed_versions(conn, &ids)?
        .into_iter()
        .map(|row| (row.article_id, row))
        .collect();
    rows.into_iter()
        .map(|article| {
            let version = versions
                .remove(&article.id)
                .ok_or_else(|| ApiError::internal("an article's version is missing"))?;
            Ok(article_view(&article, version, today))
        })
        .collect()
}

/// A search's parameters.
#[derive(Debug, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Words to find (Chinese needs no spaces: any part of a word is found), at most 100
    /// characters and 8 words; every word must occur.
    #[param(min_length = 1, max_length = 100, example = "暖气")]
    pub q: String,
    pub category_id: Option<CategoryId>,
    pub owner_department_id: Option<DepartmentId>,
    /// Staff only: `internal` or `public` articles alone.
    pub visibility: Option<Visibility>,
    /// Results, 1 to 50 (default 10).
    #[param(minimum = 1, maximum = 50)]
    pub limit: Option<i64>,
    /// Results to skip, 0 to 500.
    #[param(minimum = 0, maximum = 500)]
    pub offset: Option<i64>,
}

/// One article found.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SearchHit {
    pub id: ArticleId,
    /// The approved version found (name it when answering a case with it).
    pub version: i32,
    /// HTML-escaped, the words found wrapped in `<mark>`.
    pub title: String,
    /// Up to two pieces of the body around the words found, HTML-escaped, words in `<mark>`,
    /// `…` where cut.
    pub fragments: Vec<String>,
    /// The article's keywords that hold a word searched for.
    pub matched_keywords: Vec<String>,
    /// Where the words were found: `title`, `keywords`, `body`.
    pub matched_in: Vec<&'static str>,
    pub visibility: Visibility,
    pub owner_department_id: Option<DepartmentId>,
    pub category_ids: Vec<CategoryId>,
    pub use_count: i64,
    pub published_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SearchResults {
    pub items: Vec<SearchHit>,
    /// Whether more results follow (raise `offset`).
    pub has_more: bool,
}

/// Who searches: staff see internal and public articles, the public FAQ public ones only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Staff,
    Public,
}

pub fn search(
    conn: &mut DbConnection,
    query: &SearchQuery,
    audience: Audience,
    today: NaiveDate,
) -> Result<SearchResults, ApiError> {
    let terms = parse_query(&query.q)
        .map_err(|detail| ApiError::bad_request(ErrorCode::InvalidQuery, detail))?;
    let limit = query.limit.unwrap_or(10);
    let offset = query.offset.unwrap_or(0);
    if !(1..=50).contains(&limit) || !(0..=500).contains(&offset) {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidQuery,
            "limit is 1 to 50 and offset 0 to 500",
        ));
    }
    let filter = ArticleFilter {
        shown_on: Some(today),
        visibility: match audience {
            Audience::Staff => query.visibility,
            Audience::Public => Some(Visibility::Public),
        },
        category_id: query.category_id,
        owner_department_id: query.owner_department_id,
        ..Default::default()
    };
    let mut ids = store::search(conn, &terms, &filter, limit + 1, offset)?;
    let has_more = ids.len() as i64 > limit;
    ids.truncate(limit as usize);
    let items = found(conn, &ids, &terms)?;
    Ok(SearchResults { items, has_more })
}

/// The hits of `ids` (in that order) with their highlights.
fn found(
    conn: &mut DbConnection,
    ids: &[ArticleId],
    terms: &[Term],
) -> Result<Vec<SearchHit>, ApiError> {
    let mut articles: HashMap<ArticleId, ArticleRow> = store::find_articles(conn, ids)?
        .into_iter()
        .map(|a| (a.id, a))
        .collect();
    let mut versions: HashMap<ArticleId, VersionRow> = store::shown_versions(conn, ids)?
        .into_iter()
        .map(|v| (v.article_id, v))
        .collect();
    let mut hits = Vec::with_capacity(ids.len());
    for id in ids {
        let (Some(article), Some(version)) = (articles.remove(id), versions.remove(id)) else {
            // Replaced between the two reads: left out rather than shown half.
            continue;
        };
        hits.push(hit(&article, version, terms));
    }
    Ok(hits)
}

fn hit(article: &ArticleRow, version: VersionRow, terms: &[Term]) -> SearchHit {
    let keywords = version.keyword_list();
    let matched_keywords: Vec<String> = keywords
        .iter()
        .filter(|k| rules::mentions(k, terms))
        .cloned()
        .collect();
    let title = rules::highlight_all(&version.title, terms);
    let fragments = rules::fragments(&version.body, terms, 2);
    let mut matched_in = Vec::new();
    if title.is_some() {
        matched_in.push("title");
    }
    if !matched_keywords.is_empty() {
        matched_in.push("keywords");
    }
    if !fragments.is_empty() {
        matched_in.push("body");
    }
    SearchHit {
        id: article.id,
        version: version.version,
        title: title.unwrap_or_else(|| rules::escape_html(&version.title)),
        fragments,
        matched_keywords,
        matched_in,
        visibility: version.visibility,
        owner_department_id: version.owner_department_id,
        category_ids: version.category_list(),
        use_count: article.use_count,
        published_at: article.published_at.map(|t| t.and_utc()),
    }
}

#[derive(Debug, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SuggestionQuery {
    /// What the call-taker has typed so far (title and description), up to 2,000 characters.
    #[param(
        min_length = 1,
        max_length = 2000,
        example = "家里暖气不热，室温只有十四度"
    )]
    pub text: String,
    /// The category chosen so far: its articles rank higher, and fill the list when the text
    /// finds none.
    pub category_id: Option<CategoryId>,
    /// Suggestions, 1 to 20 (default 5).
    #[param(minimum = 1, maximum = 20)]
    pub limit: Option<i64>,
}

/// Articles shown today whose title or keywords share the most with `text`; then, when a
/// category is given, its most used articles. Highlights mark the pairs of characters shared.
pub fn suggest(
    conn: &mut DbConnection,
    text: &str,
    category: Option<CategoryId>,
    limit: i64,
    today: NaiveDate,
) -> Result<Vec<SearchHit>, ApiError> {
    if !(1..=2000).contains(&text.chars().count()) || !(1..=20).contains(&limit) {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidQuery,
            "text is 1 to 2,000 characters and limit 1 to 20",
        ));
    }
    let filter = ArticleFilter {
        shown_on: Some(today),
        ..Default::default()
    };
    let tokens = rules::suggestion_tokens(text);
    let mut ids = store::suggest(conn, &tokens, category, &filter, limit)?;
    if let Some(category) = category
        && (ids.len() as i64) < limit
    {
        for id in store::most_used_in_category(conn, category, &filter, limit)? {
            if (ids.len() as i64) < limit && !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    // Highlight the words of the text that the article shares: its pairs of characters.
    let terms: Vec<Term> = text
        .chars()
        .collect::<Vec<_>>()
        .windows(2)
        .filter_map(|pair| parse_query(&pair.iter().collect::<String>()).ok())
        .filter_map(|mut t| (t.len() == 1 && t[0].chars().len() == 2).then(|| t.remove(0)))
        .take(rules::MAX_SUGGESTION_TOKENS)
        .collect();
    found(conn, &ids, &terms)
}

/// Suggestions for a registered case, from its category, title and the start of its text.
pub fn suggest_for_case(
    conn: &mut DbConnection,
    principal: &Principal,
    case: crate::domain::ids::CaseId,
    limit: i64,
    today: NaiveDate,
) -> Result<Vec<SearchHit>, ApiError> {
    let row = crate::service::cases::visible_case(conn, principal, case)?;
    let text: String = format!("{} {}", row.title, row.description)
        .chars()
        .take(300)
        .collect();
    suggest(conn, &text, row.category_id, limit, today)
}

/// Checks the article version named when answering a case: shown today and readable by the
/// caller; the version must be the one shown (what the caller read out).
pub fn check_answer_article(
    conn: &mut DbConnection,
    article: ArticleId,
    version: i32,
    today: NaiveDate,
) -> Result<VersionRow, ApiError> {
    let row = store::find_article(conn, article)?;
    let usable = row
        .as_ref()
        .is_some_and(|a| shown(a, today) && a.published_version == Some(version));
    if !usable {
        return Err(ApiError::field(
            "article_version",
            FieldErrorCode::NotFound,
            "no article shown today has this id and version",
        ));
    }
    stored_version(conn, article, version)
}

/// The public FAQ's view of an article: no internal note, no keepers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicArticle {
    pub id: ArticleId,
    pub version: i32,
    pub title: String,
    /// Markdown source.
    pub body: String,
    pub keywords: Vec<String>,
    /// The names of its categories.
    pub categories: Vec<String>,
    /// The department that answers for it; `null`: the hotline centre.
    pub department: Option<String>,
    pub valid_from: Option<NaiveDate>,
    pub valid_until: Option<NaiveDate>,
    pub published_at: Option<DateTime<Utc>>,
    /// Its files (forms, maps), each with a signed link valid for at least a day.
    pub files: Vec<PublicFile>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicFile {
    pub file_name: String,
    pub media_type: String,
    pub size_bytes: i64,
    /// `GET /api/v1/public/attachments/{id}?expires=…&signature=…`
    pub url: String,
}

/// A public, approved article valid today; 404 for anything else. `link` signs a file's
/// public link.
pub fn public_article(
    conn: &mut DbConnection,
    id: ArticleId,
    today: NaiveDate,
    link: impl Fn(AttachmentId) -> String,
) -> Result<PublicArticle, ApiError> {
    let article = store::find_article(conn, id)?
        .filter(|a| shown(a, today) && a.visibility == Some(Visibility::Public))
        .ok_or_else(not_found)?;
    let version = display_version(conn, &article)?;
    let mut categories = Vec::new();
    for category in version.category_list() {
        if let Some(row) = organisation::find_category(conn, category)? {
            categories.push(row.name);
        }
    }
    let department = match version.owner_department_id {
        Some(d) => organisation::find_department(conn, d)?.map(|d| d.name),
        None => None,
    };
    let files = crate::db::attachments::find_many(conn, &version.attachment_list())?
        .into_iter()
        .filter(|file| file.removed_at.is_none() && file.article_id == Some(article.id))
        .map(|file| PublicFile {
            url: link(file.id),
            file_name: file.file_name,
            media_type: file.media_type,
            size_bytes: file.size_bytes,
        })
        .collect();
    Ok(PublicArticle {
        files,
        id: article.id,
        version: version.version,
        keywords: version.keyword_list(),
        title: version.title,
        body: version.body,
        categories,
        department,
        valid_from: version.valid_from,
        valid_until: version.valid_until,
        published_at: article.published_at.map(|t| t.and_utc()),
    })
}

/// A public search hit: what [`SearchHit`] says, less the internal fields.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicSearchHit {
    pub id: ArticleId,
    pub version: i32,
    /// HTML-escaped, the words found in `<mark>`.
    pub title: String,
    pub fragments: Vec<String>,
    pub matched_keywords: Vec<String>,
    pub published_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicSearchResults {
    pub items: Vec<PublicSearchHit>,
    pub has_more: bool,
}

impl From<SearchResults> for PublicSearchResults {
    fn from(results: SearchResults) -> Self {
        PublicSearchResults {
            has_more: results.has_more,
            items: results
                .items
                .into_iter()
                .map(|hit| PublicSearchHit {
                    id: hit.id,
                    version: hit.version,
                    title: hit.title,
                    fragments: hit.fragments,
                    matched_keywords: hit.matched_keywords,
                    published_at: hit.published_at,
                })
                .collect(),
        }
    }
}

#[derive(Debug, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KnowledgeStatsQuery {
    /// First day (local date), included; default: 30 days before `to`.
    pub from: Option<NaiveDate>,
    /// Last day (local date), included; default: today.
    pub to: Option<NaiveDate>,
    /// Articles, 1 to 200 (default 50), the most used first.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// One article's direct answers in the period.
#[derive(Debug, Serialize, ToSchema)]
pub struct ArticleUse {
    pub article_id: ArticleId,
    /// The title of the version shown now (or of the newest, if none is).
    pub title: String,
    /// Cases answered on the call with it: dispatches saved.
    pub direct_answers: i64,
    /// Of those, the cases whose caller (same account or phone) complained in the same
    /// category within 7 days after: answers to check.
    pub followed_by_complaint: i64,
    /// `followed_by_complaint / direct_answers`.
    pub complaint_rate: f64,
    /// How many of its versions were used.
    pub versions_used: i32,
    pub last_used_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KnowledgeStats {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Over the articles listed.
    pub direct_answers: i64,
    /// Over the articles listed.
    pub followed_by_complaint: i64,
    pub articles: Vec<ArticleUse>,
}

pub fn stats(
    conn: &mut DbConnection,
    query: &KnowledgeStatsQuery,
    calendar: &crate::domain::calendar::WorkingCalendar,
    today: NaiveDate,
) -> Result<KnowledgeStats, ApiError> {
    let to = query.to.unwrap_or(today);
    let from = query.from.unwrap_or(to - chrono::Duration::days(29));
    let limit = query.limit.unwrap_or(50);
    if from > to || (to - from).num_days() > 3660 || !(1..=200).contains(&limit) {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidQuery,
            "from must not be after to, the period at most ten years, limit 1 to 200",
        ));
    }
    let start = calendar.start_of(from).naive_utc();
    let end = calendar
        .start_of(to + chrono::Duration::days(1))
        .naive_utc();
    let figures = store::use_figures(conn, start, end, limit)?;
    let ids: Vec<ArticleId> = figures.iter().map(|f| ArticleId(f.article_id)).collect();
    let mut titles: HashMap<ArticleId, String> = store::displayed_versions(conn, &ids)?
        .into_iter()
        .map(|version| (version.article_id, version.title))
        .collect();
    let articles: Vec<ArticleUse> = figures
        .into_iter()
        .map(|f| ArticleUse {
            article_id: ArticleId(f.article_id),
            title: titles.remove(&ArticleId(f.article_id)).unwrap_or_default(),
            direct_answers: f.answers,
            followed_by_complaint: f.complained,
            complaint_rate: if f.answers > 0 {
                f.complained as f64 / f.answers as f64
            } else {
                0.0
            },
            versions_used: f.versions_used,
            last_used_at: f.last_used_at.map(|t| t.and_utc()),
        })
        .collect();
    Ok(KnowledgeStats {
        from,
        to,
        direct_answers: articles.iter().map(|a| a.direct_answers).sum(),
        followed_by_complaint: articles.iter().map(|a| a.followed_by_complaint).sum(),
        articles,
    })
}

/// How long the public FAQ serves an answer from memory: anyone may ask without signing in, and
/// an approval reaches the public this much later at most.
pub const PUBLIC_TTL: std::time::Duration = std::time::Duration::from_secs(60);
/// Most answers kept; past it, the stale ones go, then (under a flood of distinct queries) all.
const PUBLIC_CACHE_ENTRIES: usize = 4096;

/// The public FAQ's recent answers (JSON bodies), by request. Per server and per application
/// state, like the public report's cache.
#[derive(Debug, Default)]
pub struct PublicCache {
    entries: std::sync::Mutex<HashMap<String, (std::time::Instant, bytes::Bytes)>>,
}

impl PublicCache {
    pub fn get(&self, key: &str) -> Option<bytes::Bytes> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|(made, _)| made.elapsed() < PUBLIC_TTL)
            .map(|(_, body)| body.clone())
    }

    pub fn put(&self, key: String, body: bytes::Bytes) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= PUBLIC_CACHE_ENTRIES {
            entries.retain(|_, (made, _)| made.elapsed() < PUBLIC_TTL);
            if entries.len() >= PUBLIC_CACHE_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, (std::time::Instant::now(), body));
    }
}
