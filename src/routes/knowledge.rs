//! The knowledge base (政策知识库): articles and their versions, approval, search, suggestions
//! while a case is typed, the use statistics, and the public FAQ.

use actix_web::http::header;
use actix_web::{HttpResponse, get, patch, post, web};
use chrono::NaiveDate;

use crate::auth::policy::{Permit, op};
use crate::domain::ids::{ArticleId, CaseId};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::pagination::{Page, PageParams};
use crate::rate_limit::WithinPublicLimit;
use crate::service::knowledge::{
    self as service, ArticleQuery, ArticleView, Audience, CreateArticle, KnowledgeStats,
    KnowledgeStatsQuery, PUBLIC_TTL, PublicArticle, PublicSearchResults, SearchHit, SearchQuery,
    SearchResults, SuggestionQuery, UpdateArticle, VersionView,
};
use crate::startup::AppState;

fn today(state: &AppState) -> NaiveDate {
    state.reference.calendar().local_date(chrono::Utc::now())
}

/// Articles, newest first. By default those shown today (approved and valid), which every
/// reader sees; `state=expired|awaiting_approval|all` lists the others to their keepers
/// (supervisors and administrators every article, department staff their department's).
#[utoipa::path(
    tag = "knowledge",
    security(("bearer" = [])),
    params(ArticleQuery, PageParams),
    responses(
        (status = 200, description = "One page of articles", body = Page<ArticleView>),
        (status = 400, description = "A malformed parameter"),
        (status = 403, description = "A state other than `shown` asked by a role that keeps no articles"),
    ),
)]
#[get("/knowledge/articles")]
pub async fn list_articles(
    state: web::Data<AppState>,
    principal: Permit<op::ListArticles>,
    query: web::Query<ArticleQuery>,
    page: web::Query<PageParams>,
) -> Result<HttpResponse, ApiError> {
    let (query, page, today) = (query.into_inner(), page.parse()?, today(&state));
    let articles = state
        .db
        .run(move |conn| service::list(conn, &principal, &query, page, today))
        .await?;
    Ok(HttpResponse::Ok().json(articles))
}

/// Draft a new article (its version 1). Department staff draft for their own department; the
/// centre (supervisors, administrators) for any department or for itself. Nobody sees it until
/// it is approved (`POST …/versions/1/approve`).
#[utoipa::path(
    tag = "knowledge",
    security(("bearer" = [])),
    request_body = CreateArticle,
    responses(
        (status = 201, description = "The draft", body = VersionView,
            headers(("Location" = String, description = "The new version"))),
        (status = 422, description = "Bad input: a category or department that does not exist, another department's article, dates out of order, files not the caller's"),
    ),
)]
#[post("/knowledge/articles")]
pub async fn create_article(
    state: web::Data<AppState>,
    principal: Permit<op::CreateArticle>,
    body: ApiJson<CreateArticle>,
) -> Result<HttpResponse, ApiError> {
    let ApiJson(input) = body;
    let draft = state
        .db
        .run(move |conn| service::create(conn, &principal, input))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!(
                "/api/v1/knowledge/articles/{}/versions/{}",
                draft.article_id, draft.version
            ),
        ))
        .json(draft))
}

/// An article: the version shown, with where it stands. Articles not shown today (never
/// approved, expired, not yet valid) only to their keepers.
#[utoipa::path(
    tag = "knowledge",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Article id")),
    responses(
        (status = 200, description = "The article", body = ArticleView),
        (status = 404, description = "No such article shown today, or not one the caller keeps"),
    ),
)]
#[get("/knowledge/articles/{id:\\d+}")]
pub async fn get_article(
    state: web::Data<AppState>,
    principal: Permit<op::GetArticle>,
    id: web::Path<ArticleId>,
) -> Result<HttpResponse, ApiError> {
    let (id, today) = (id.into_inner(), today(&state));
    let article = state
        .db
        .run(move |conn| service::get(conn, &principal, id, today))
        .await?;
    Ok(HttpResponse::Ok().json(article))
}

/// Edit an article: a new version (a draft) made from the newest with these changes; the
/// version shown stays until this one is approved. The history records who, when, which
/// fields and why (`change_note`).
#[utoipa::path(
    tag = "knowledge",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Article id")),
    request_body = UpdateArticle,
    responses(
        (status = 200, description = "The new draft", body = VersionView),
        (status = 404, description = "No such article, or not one the caller keeps"),
        (status = 409, description = "A newer version exists than `based_on` (`knowledge_version_conflict`)"),
        (status = 422, description = "Bad input, or an edit that changes nothing"),
    ),
)]
#[patch("/knowledge/articles/{id:\\d+}")]
pub async fn update_article(
    state: web::Data<AppState>,
    principal: Permit<op::UpdateArticle>,
    id: web::Path<ArticleId>,
    body: ApiJson<UpdateArticle>,
) -> Result<HttpResponse, ApiError> {
    let (id, ApiJson(input)) = (id.into_inner(), body);
    let draft = state
        .db
        .run(move |conn| service::update(conn, &principal, id, input))
        .await?;
    Ok(HttpResponse::Ok().json(draft))
}

/// Every version of an article, newest first, drafts included: its keepers only.
#[utoipa::path(
    tag = "knowledge",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Article id")),
    responses(
        (status = 200, description = "The history", body = Vec<VersionView>),
        (status = 404, description = "No such article, or not one the caller keeps"),
    ),
)]
#[get("/knowledge/articles/{id:\\d+}/versions")]
pub async fn list_article_versions(
    state: web::Data<AppState>,
    principal: Permit<op::ListArticleVersions>,
    id: web::Path<ArticleId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let versions = state
        .db
        .run(move |conn| service::versions(conn, &principal, id))
        .await?;
    Ok(HttpResponse::Ok().json(versions))
}

/// One version. Approved versions (shown now or before) to every reader, so that an answer
/// given with one can be read as it was; drafts to the article's keepers.
#[utoipa::path(
    tag = "knowledge",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "Article id"),
        ("version" = i32, Path, description = "Version number"),
    ),
    responses(
        (status = 200, description = "The version", body = VersionView),
        (status = 404, description = "No such version the caller may read"),
    ),
)]
#[get("/knowledge/articles/{id:\\d+}/versions/{version:\\d+}")]
pub async fn get_article_version(
    state: web::Data<AppState>,
    principal: Permit<op::GetArticleVersion>,
    path: web::Path<(ArticleId, i32)>,
) -> Result<HttpResponse, ApiError> {
    let (id, version) = path.into_inner();
    let view = state
        .db
        .run(move |conn| service::version(conn, &principal, id, version))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Approve a draft: it becomes the version shown (the one shown before is kept as
/// `superseded`). The owning department's admin, or a centre supervisor. Only the newest
/// version is approved: approving an older draft after a newer one exists is refused.
#[utoipa::path(
    tag = "knowledge",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "Article id"),
        ("version" = i32, Path, description = "Version number"),
    ),
    responses(
        (status = 200, description = "The article, showing this version", body = ArticleView),
        (status = 403, description = "A department admin approving another department's article"),
        (status = 404, description = "No such article or version the caller keeps"),
        (status = 409, description = "Not a draft (`knowledge_version_not_draft`), or a newer version exists (`knowledge_version_outdated`)"),
    ),
)]
#[post("/knowledge/articles/{id:\\d+}/versions/{version:\\d+}/approve")]
pub async fn approve_article_version(
    state: web::Data<AppState>,
    principal: Permit<op::ApproveArticleVersion>,
    path: web::Path<(ArticleId, i32)>,
) -> Result<HttpResponse, ApiError> {
    let ((id, version), today) = (path.into_inner(), today(&state));
    let article = state
        .db
        .run(move |conn| service::approve(conn, &principal, id, version, today))
        .await?;
    Ok(HttpResponse::Ok().json(article))
}

/// Search the articles shown today, internal and public: titles, keywords (what citizens say:
/// `暖气` finds the article on 供暖 that lists it) and bodies. Chinese needs no spaces: any
/// part of a word is found; several words must all occur. Articles with every word in the title
/// or keywords come first, then by how often they answered a case, then the most recently
/// approved.
#[utoipa::path(
    tag = "knowledge",
    security(("bearer" = [])),
    params(SearchQuery),
    responses(
        (status = 200, description = "The articles found", body = SearchResults),
        (status = 400, description = "An empty or too long query, or `limit`/`offset` out of range (`invalid_query`)"),
    ),
)]
#[get("/knowledge/search")]
pub async fn search_knowledge(
    state: web::Data<AppState>,
    _principal: Permit<op::SearchKnowledge>,
    query: web::Query<SearchQuery>,
) -> Result<HttpResponse, ApiError> {
    let (query, today) = (query.into_inner(), today(&state));
    let results = state
        .db
        .run(move |conn| service::search(conn, &query, Audience::Staff, today))
        .await?;
    Ok(HttpResponse::Ok().json(results))
}

/// Articles that may answer what a call-taker is typing before the case is registered: those
/// whose title or keywords share the most with the text, the chosen category's first; then that
/// category's most used articles.
#[utoipa::path(
    tag = "knowledge",
    security(("bearer" = [])),
    params(SuggestionQuery),
    responses(
        (status = 200, description = "Suggestions, best first", body = Vec<SearchHit>),
        (status = 400, description = "Text empty or too long, or `limit` out of range (`invalid_query`)"),
    ),
)]
#[get("/knowledge/suggestions")]
pub async fn suggest_articles(
    state: web::Data<AppState>,
    _principal: Permit<op::SuggestArticles>,
    query: web::Query<SuggestionQuery>,
) -> Result<HttpResponse, ApiError> {
    let (query, today) = (query.into_inner(), today(&state));
    let hits = state
        .db
        .run(move |conn| {
            service::suggest(
                conn,
                &query.text,
                query.category_id,
                query.limit.unwrap_or(5),
                today,
            )
        })
        .await?;
    Ok(HttpResponse::Ok().json(hits))
}

/// Articles that may answer a registered case (its category, title and text), as
/// `GET /knowledge/suggestions` finds them; answer with one through `POST /cases/{id}/answer`.
#[utoipa::path(
    tag = "knowledge",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Case id")),
    responses(
        (status = 200, description = "Suggestions, best first (at most 5)", body = Vec<SearchHit>),
        (status = 404, description = "No such case"),
    ),
)]
#[get("/cases/{id:\\d+}/suggested-articles")]
pub async fn case_suggested_articles(
    state: web::Data<AppState>,
    principal: Permit<op::CaseSuggestedArticles>,
    id: web::Path<CaseId>,
) -> Result<HttpResponse, ApiError> {
    let (id, today) = (id.into_inner(), today(&state));
    let hits = state
        .db
        .run(move |conn| service::suggest_for_case(conn, &principal, id, 5, today))
        .await?;
    Ok(HttpResponse::Ok().json(hits))
}

/// Which articles answer the most cases on the call (dispatches saved), and which answers were
/// followed within 7 days by a complaint from the same caller (same account or phone) in the
/// same category: the answers to check. Figures only.
#[utoipa::path(
    tag = "statistics",
    security(("bearer" = [])),
    params(KnowledgeStatsQuery),
    responses(
        (status = 200, description = "Per article, most answers first", body = KnowledgeStats),
        (status = 400, description = "A malformed or out-of-range parameter (`invalid_query`)"),
    ),
)]
#[get("/stats/knowledge")]
pub async fn stats_knowledge(
    state: web::Data<AppState>,
    _principal: Permit<op::StatsKnowledge>,
    query: web::Query<KnowledgeStatsQuery>,
) -> Result<HttpResponse, ApiError> {
    let (query, today) = (query.into_inner(), today(&state));
    let calendar = state.reference.calendar();
    let stats = state
        .db
        .run(move |conn| service::stats(conn, &query, &calendar, today))
        .await?;
    Ok(HttpResponse::Ok().json(stats))
}

fn cached_json(body: bytes::Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((
            header::CACHE_CONTROL,
            format!("public, max-age={}", PUBLIC_TTL.as_secs()),
        ))
        .body(body)
}

/// The public FAQ: search the public articles shown today, without signing in. As
/// `GET /knowledge/search`, without internal articles or fields. Rate-limited per client
/// address; answers are made at most once a minute per query and may be cached as long.
#[utoipa::path(
    tag = "knowledge",
    params(SearchQuery),
    responses(
        (status = 200, description = "The articles found", body = PublicSearchResults,
            headers(("Cache-Control" = String, description = "`public, max-age=60`"))),
        (status = 400, description = "An empty or too long query, or `limit`/`offset` out of range (`invalid_query`)"),
        (status = 429, description = "Too many requests from this address; see `Retry-After`"),
    ),
)]
#[get("/public/knowledge/search")]
pub async fn public_knowledge_search(
    _limit: WithinPublicLimit,
    state: web::Data<AppState>,
    query: web::Query<SearchQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut query = query.into_inner();
    query.visibility = None;
    query.owner_department_id = None;
    let key = format!(
        "search\0{}\0{:?}\0{:?}\0{:?}",
        query.q, query.category_id, query.limit, query.offset
    );
    if let Some(body) = state.knowledge_cache.get(&key) {
        return Ok(cached_json(body));
    }
    let today = today(&state);
    let results = state
        .db
        .run(move |conn| service::search(conn, &query, Audience::Public, today))
        .await?;
    let body = bytes::Bytes::from(
        serde_json::to_vec(&PublicSearchResults::from(results))
            .map_err(|e| ApiError::internal(e.to_string()))?,
    );
    state.knowledge_cache.put(key, body.clone());
    Ok(cached_json(body))
}

/// The public FAQ: one public article shown today, without signing in. No internal note.
/// Rate-limited per client address; cached for a minute.
#[utoipa::path(
    tag = "knowledge",
    params(("id" = i64, Path, description = "Article id")),
    responses(
        (status = 200, description = "The article", body = PublicArticle,
            headers(("Cache-Control" = String, description = "`public, max-age=60`"))),
        (status = 404, description = "No public article shown today has this id"),
        (status = 429, description = "Too many requests from this address; see `Retry-After`"),
    ),
)]
#[get("/public/knowledge/articles/{id:\\d+}")]
pub async fn public_knowledge_article(
    _limit: WithinPublicLimit,
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    id: web::Path<ArticleId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let key = format!("article\0{id}");
    if let Some(body) = state.knowledge_cache.get(&key) {
        return Ok(cached_json(body));
    }
    let today = today(&state);
    let link = super::public_file_links(&state, &req);
    let article = state
        .db
        .run(move |conn| service::public_article(conn, id, today, link))
        .await?;
    let body = bytes::Bytes::from(
        serde_json::to_vec(&article).map_err(|e| ApiError::internal(e.to_string()))?,
    );
    state.knowledge_cache.put(key, body.clone());
    Ok(cached_json(body))
}
