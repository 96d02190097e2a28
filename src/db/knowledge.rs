//! Knowledge-base rows: articles, their versions, the categories and the search index of the
//! approved versions, and the cases answered with them.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};

use super::DbConnection;
use super::schema::{
    knowledge_article_categories, knowledge_articles, knowledge_uses, knowledge_versions,
};
use crate::domain::ids::{ArticleId, CaseId, CategoryId, DepartmentId, UserId};
use crate::domain::knowledge::{Term, VersionState, Visibility};

#[derive(Debug, Clone, Queryable)]
pub struct ArticleRow {
    pub id: ArticleId,
    pub owner_department_id: Option<DepartmentId>,
    pub latest_version: i32,
    pub published_version: Option<i32>,
    pub visibility: Option<Visibility>,
    pub valid_from: Option<NaiveDate>,
    pub valid_until: Option<NaiveDate>,
    pub use_count: i64,
    pub created_by_user_id: UserId,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub published_at: Option<NaiveDateTime>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = knowledge_articles, treat_none_as_default_value = false)]
pub struct NewArticle {
    pub owner_department_id: Option<DepartmentId>,
    pub latest_version: i32,
    pub use_count: i64,
    pub created_by_user_id: UserId,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = knowledge_versions, treat_none_as_default_value = false)]
pub struct VersionRow {
    pub article_id: ArticleId,
    pub version: i32,
    pub title: String,
    pub body: String,
    /// One per line.
    pub keywords: String,
    /// Comma-separated.
    pub category_ids: String,
    pub owner_department_id: Option<DepartmentId>,
    pub visibility: Visibility,
    pub valid_from: Option<NaiveDate>,
    pub valid_until: Option<NaiveDate>,
    pub internal_note: Option<String>,
    /// Comma-separated.
    pub attachment_ids: String,
    pub state: VersionState,
    /// Comma-separated field names.
    pub changed: String,
    pub change_note: Option<String>,
    pub created_by_user_id: UserId,
    pub created_at: NaiveDateTime,
    pub approved_by_user_id: Option<UserId>,
    pub approved_at: Option<NaiveDateTime>,
}

impl VersionRow {
    pub fn keyword_list(&self) -> Vec<String> {
        self.keywords
            .lines()
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
            .collect()
    }

    pub fn category_list(&self) -> Vec<CategoryId> {
        ids(&self.category_ids).map(CategoryId).collect()
    }

    pub fn attachment_list(&self) -> Vec<crate::domain::ids::AttachmentId> {
        ids(&self.attachment_ids)
            .map(crate::domain::ids::AttachmentId)
            .collect()
    }
}

fn ids(list: &str) -> impl Iterator<Item = i64> + '_ {
    list.split(',').filter_map(|id| id.trim().parse().ok())
}

/// A list of ids as the version rows store them.
pub fn id_list(ids: impl IntoIterator<Item = i64>) -> String {
    ids.into_iter()
        .map(|id| id.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

pub fn insert_article(conn: &mut DbConnection, row: &NewArticle) -> QueryResult<ArticleRow> {
    diesel::insert_into(knowledge_articles::table)
        .values(row)
        .returning(knowledge_articles::all_columns)
        .get_result(conn)
}

pub fn insert_version(conn: &mut DbConnection, row: &VersionRow) -> QueryResult<usize> {
    diesel::insert_into(knowledge_versions::table)
        .values(row)
        .execute(conn)
}

pub fn find_article(conn: &mut DbConnection, id: ArticleId) -> QueryResult<Option<ArticleRow>> {
    knowledge_articles::table
        .find(id)
        .select(knowledge_articles::all_columns)
        .get_result(conn)
        .optional()
}

pub fn find_version(
    conn: &mut DbConnection,
    id: ArticleId,
    version: i32,
) -> QueryResult<Option<VersionRow>> {
    knowledge_versions::table
        .find((id, version))
        .select(knowledge_versions::all_columns)
        .get_result(conn)
        .optional()
}

/// Every version of an article, newest first.
pub fn versions(conn: &mut DbConnection, id: ArticleId) -> QueryResult<Vec<VersionRow>> {
    knowledge_versions::table
        .filter(knowledge_versions::article_id.eq(id))
        .order(knowledge_versions::version.desc())
        .select(knowledge_versions::all_columns)
        .load(conn)
}

/// The approved (shown) versions of `ids`.
pub fn shown_versions(conn: &mut DbConnection, ids: &[ArticleId]) -> QueryResult<Vec<VersionRow>> {
    knowledge_versions::table
        .filter(knowledge_versions::article_id.eq_any(ids))
        .filter(knowledge_versions::state.eq(VersionState::Approved))
        .select(knowledge_versions::all_columns)
        .load(conn)
}

/// The version each of `ids` displays: the approved one, or the newest while none is approved.
pub fn displayed_versions(
    conn: &mut DbConnection,
    ids: &[ArticleId],
) -> QueryResult<Vec<VersionRow>> {
    use knowledge_articles::dsl as a;
    use knowledge_versions::dsl as v;
    v::knowledge_versions
        .inner_join(
            a::knowledge_articles.on(a::id.eq(v::article_id).and(
                v::version
                    .nullable()
                    .eq(a::published_version)
                    .or(a::published_version
                        .is_null()
                        .and(v::version.eq(a::latest_version))),
            )),
        )
        .filter(v::article_id.eq_any(ids))
        .select(knowledge_versions::all_columns)
        .load(conn)
}

/// Moves the article's newest version from `expected` to `expected + 1`; false when another
/// edit got there first.
pub fn claim_next_version(
    conn: &mut DbConnection,
    id: ArticleId,
    expected: i32,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    let changed = diesel::update(
        knowledge_articles::table
            .find(id)
            .filter(knowledge_articles::latest_version.eq(expected)),
    )
    .set((
        knowledge_articles::latest_version.eq(expected + 1),
        knowledge_articles::updated_at.eq(at),
    ))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Makes `version` (a draft, the newest) the one shown: the one shown before is superseded, older
/// drafts discarded, the article's filter columns and categories copied from it, the search
/// index replaced. False when the draft was approved or overtaken meanwhile.
pub fn publish(
    conn: &mut DbConnection,
    version: &VersionRow,
    by: UserId,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    use knowledge_versions::dsl as v;
    let id = version.article_id;
    let approved = diesel::update(
        v::knowledge_versions
            .find((id, version.version))
            .filter(v::state.eq(VersionState::Draft)),
    )
    .set((
        v::state.eq(VersionState::Approved),
        v::approved_by_user_id.eq(by),
        v::approved_at.eq(at),
    ))
    .execute(conn)?;
    let newest = diesel::update(
        knowledge_articles::table
            .find(id)
            .filter(knowledge_articles::latest_version.eq(version.version)),
    )
    .set((
        knowledge_articles::published_version.eq(version.version),
        knowledge_articles::owner_department_id.eq(version.owner_department_id),
        knowledge_articles::visibility.eq(version.visibility),
        knowledge_articles::valid_from.eq(version.valid_from),
        knowledge_articles::valid_until.eq(version.valid_until),
        knowledge_articles::published_at.eq(at),
        knowledge_articles::updated_at.eq(at),
    ))
    .execute(conn)?;
    if approved != 1 || newest != 1 {
        return Ok(false);
    }
    diesel::update(
        v::knowledge_versions
            .filter(v::article_id.eq(id))
            .filter(v::version.ne(version.version))
            .filter(v::state.eq(VersionState::Approved)),
    )
    .set(v::state.eq(VersionState::Superseded))
    .execute(conn)?;
    diesel::update(
        v::knowledge_versions
            .filter(v::article_id.eq(id))
            .filter(v::state.eq(VersionState::Draft)),
    )
    .set(v::state.eq(VersionState::Discarded))
    .execute(conn)?;
    diesel::delete(
        knowledge_article_categories::table.filter(knowledge_article_categories::article_id.eq(id)),
    )
    .execute(conn)?;
    let links: Vec<_> = version
        .category_list()
        .into_iter()
        .map(|category| {
            (
                knowledge_article_categories::category_id.eq(category),
                knowledge_article_categories::article_id.eq(id),
            )
        })
        .collect();
    if !links.is_empty() {
        super::insert_many!(conn, knowledge_article_categories::table, links);
    }
    index(conn, id, version)?;
    Ok(true)
}

/// Puts the version's text in the search index in place of what the article had there.
pub fn index(conn: &mut DbConnection, id: ArticleId, version: &VersionRow) -> QueryResult<()> {
    use crate::domain::knowledge::index_text;
    let title = index_text(&version.title);
    let keywords = index_text(&version.keywords);
    let body = index_text(&version.body);
    match conn {
        DbConnection::Sqlite(_) => {
            diesel::sql_query("DELETE FROM knowledge_fts WHERE rowid = ?")
                .bind::<BigInt, _>(id.get())
                .execute(conn)?;
            diesel::sql_query(
                "INSERT INTO knowledge_fts (rowid, title, keywords, body) VALUES (?, ?, ?, ?)",
            )
            .bind::<BigInt, _>(id.get())
            .bind::<Text, _>(title)
            .bind::<Text, _>(keywords)
            .bind::<Text, _>(body)
            .execute(conn)?;
        }
        DbConnection::Postgres(_) => {
            diesel::sql_query(
                "UPDATE knowledge_articles SET \
                 head_vector = setweight(to_tsvector('simple', $1), 'A') \
                    || setweight(to_tsvector('simple', $2), 'B'), \
                 body_vector = to_tsvector('simple', $3) WHERE id = $4",
            )
            .bind::<Text, _>(title)
            .bind::<Text, _>(keywords)
            .bind::<Text, _>(body)
            .bind::<BigInt, _>(id.get())
            .execute(conn)?;
        }
    }
    Ok(())
}

/// Which articles a list or a search covers.
#[derive(Debug, Clone, Default)]
pub struct ArticleFilter {
    /// Only articles shown on this day: approved, valid that day (both ends included).
    pub shown_on: Option<NaiveDate>,
    /// Only approved articles that are not valid on this day (expired or not yet valid).
    pub not_shown_on: Option<NaiveDate>,
    /// Only articles with a version newer than the one shown (or none shown yet).
    pub awaiting_approval: bool,
    pub visibility: Option<Visibility>,
    pub category_id: Option<CategoryId>,
    pub owner_department_id: Option<DepartmentId>,
    /// Only the centre's own articles (no owning department).
    pub centre_owned: bool,
}

/// Filters in SQL text for the raw search statements: `a` is the article; binds in order.
fn filter_sql(
    filter: &ArticleFilter,
    placeholder: &mut dyn FnMut() -> String,
) -> (String, Vec<Bind>) {
    let mut sql = String::new();
    let mut binds = Vec::new();
    if let Some(day) = filter.shown_on {
        let (p1, p2) = (placeholder(), placeholder());
        sql.push_str(&format!(
            " AND a.published_version IS NOT NULL \
              AND (a.valid_from IS NULL OR a.valid_from <= {p1}) \
              AND (a.valid_until IS NULL OR a.valid_until >= {p2})"
        ));
        binds.push(Bind::Date(day));
        binds.push(Bind::Date(day));
    }
    if let Some(visibility) = filter.visibility {
        sql.push_str(&format!(" AND a.visibility = {}", placeholder()));
        binds.push(Bind::Text(visibility.as_str().to_owned()));
    }
    if let Some(department) = filter.owner_department_id {
        sql.push_str(&format!(" AND a.owner_department_id = {}", placeholder()));
        binds.push(Bind::Int(department.get()));
    }
    if let Some(category) = filter.category_id {
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM knowledge_article_categories c \
               WHERE c.category_id = {} AND c.article_id = a.id)",
            placeholder()
        ));
        binds.push(Bind::Int(category.get()));
    }
    (sql, binds)
}

#[derive(Clone)]
enum Bind {
    Int(i64),
    Text(String),
    Date(NaiveDate),
}

fn bind_all<'a>(
    mut query: diesel::query_builder::BoxedSqlQuery<
        'a,
        super::MultiBackend,
        diesel::query_builder::SqlQuery,
    >,
    binds: Vec<Bind>,
) -> diesel::query_builder::BoxedSqlQuery<'a, super::MultiBackend, diesel::query_builder::SqlQuery>
{
    for bind in binds {
        query = match bind {
            Bind::Int(value) => query.bind::<BigInt, _>(value),
            Bind::Text(value) => query.bind::<Text, _>(value),
            Bind::Date(value) => query.bind::<diesel::sql_types::Date, _>(value),
        };
    }
    query
}

/// Placeholders as each backend writes them.
fn placeholders(conn: &DbConnection) -> Box<dyn FnMut() -> String> {
    match conn {
        DbConnection::Sqlite(_) => Box::new(|| "?".to_owned()),
        DbConnection::Postgres(_) => {
            let mut n = 0;
            Box::new(move || {
                n += 1;
                format!("${n}")
            })
        }
    }
}

/// A term as an FTS5 query: the phrase of its tokens, or a prefix.
fn fts5_term(term: &Term) -> String {
    let (tokens, prefix) = term.tokens();
    if prefix {
        format!("{}*", tokens[0])
    } else {
        format!("\"{}\"", tokens.join(" "))
    }
}

/// A term as a PostgreSQL `tsquery` (`to_tsquery('simple', …)`): tokens are letters only.
fn tsquery_term(term: &Term) -> String {
    let (tokens, prefix) = term.tokens();
    if prefix {
        format!("{}:*", tokens[0])
    } else {
        tokens.join(" <-> ")
    }
}

/// Which articles a search tier takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tier {
    /// Every term in the title or the keywords.
    Head,
    /// Every term somewhere, not all in the title or keywords.
    BodyOnly,
}

/// Articles holding every term (in the title, keywords or body) among `filter`: those with every
/// term in the title or keywords first, then by uses, then the most recently approved; `limit`
/// of them after skipping `offset`.
///
/// Each tier is its own query ordered by the rank index, so that a common word is answered by
/// walking the articles in rank order until enough match, and a rare one from the text index;
/// the second tier runs only when the first cannot fill the page.
pub fn search(
    conn: &mut DbConnection,
    terms: &[Term],
    filter: &ArticleFilter,
    limit: i64,
    offset: i64,
) -> QueryResult<Vec<ArticleId>> {
    let wanted = offset + limit;
    let mut ids = search_tier(conn, terms, filter, Tier::Head, wanted)?;
    if (ids.len() as i64) < wanted {
        let more = wanted - ids.len() as i64;
        ids.extend(search_tier(conn, terms, filter, Tier::BodyOnly, more)?);
    }
    Ok(ids
        .into_iter()
        .skip(offset as usize)
        .map(ArticleId)
        .collect())
}

fn search_tier(
    conn: &mut DbConnection,
    terms: &[Term],
    filter: &ArticleFilter,
    tier: Tier,
    limit: i64,
) -> QueryResult<Vec<i64>> {
    const ORDER: &str = "ORDER BY a.use_count DESC, a.published_at DESC, a.id DESC";
    let mut next = placeholders(conn);
    let (sql, mut binds) = match conn {
        DbConnection::Sqlite(_) => {
            let all = terms
                .iter()
                .map(fts5_term)
                .collect::<Vec<_>>()
                .join(" AND ");
            let head = format!("{{title keywords}} : ({all})");
            // CROSS JOIN keeps the text index the outer loop: its matches, then each article by
            // its id (the planner may otherwise walk the articles and probe the index per row).
            let (matching, mut binds, rest) = match tier {
                Tier::Head => (head, Vec::new(), String::new()),
                Tier::BodyOnly => (
                    all,
                    vec![Bind::Text(head)],
                    " AND a.id NOT IN (SELECT rowid FROM knowledge_fts WHERE knowledge_fts MATCH ?)"
                        .to_owned(),
                ),
            };
            let (filters, filter_binds) = filter_sql(filter, &mut *next);
            let sql = format!(
                "SELECT a.id AS id FROM knowledge_fts CROSS JOIN knowledge_articles a \
                   ON a.id = knowledge_fts.rowid \
                 WHERE knowledge_fts MATCH ?{rest}{filters} {ORDER} LIMIT ?"
            );
            binds.insert(0, Bind::Text(matching));
            binds.extend(filter_binds);
            (sql, binds)
        }
        DbConnection::Postgres(_) => {
            let mut binds = Vec::new();
            let mut head = Vec::new();
            let mut anywhere = Vec::new();
            for term in terms {
                let q = tsquery_term(term);
                let p = next();
                head.push(format!("a.head_vector @@ to_tsquery('simple', {p})"));
                binds.push(Bind::Text(q.clone()));
                if tier == Tier::BodyOnly {
                    let (p1, p2) = (next(), next());
                    anywhere.push(format!(
                        "(a.head_vector @@ to_tsquery('simple', {p1}) \
                          OR a.body_vector @@ to_tsquery('simple', {p2}))"
                    ));
                    binds.extend([Bind::Text(q.clone()), Bind::Text(q)]);
                }
            }
            let matching = match tier {
                Tier::Head => head.join(" AND "),
                Tier::BodyOnly => format!(
                    "{} AND NOT ({})",
                    anywhere.join(" AND "),
                    head.join(" AND ")
                ),
            };
            let (filters, filter_binds) = filter_sql(filter, &mut *next);
            let p_limit = next();
            binds.extend(filter_binds);
            binds.push(Bind::Int(limit));
            // First the best-ranked articles only: a common word fills the page there. Left to
            // itself the planner walks the rank index for any word it expects often, and a word
            // whose every match is filtered out (expired) then costs a walk of every article.
            let walk = format!(
                "SELECT a.id AS id FROM (SELECT * FROM knowledge_articles a \
                   WHERE a.published_version IS NOT NULL {ORDER} LIMIT {RANK_WALK}) a \
                 WHERE {matching}{filters} {ORDER} LIMIT {p_limit}"
            );
            let found = load_ids(conn, walk, binds.clone())?;
            if found.len() as i64 == limit {
                return Ok(found);
            }
            // Otherwise every match, from the text index, then ranked.
            let sql = format!(
                "WITH m AS MATERIALIZED (SELECT a.id, a.use_count, a.published_at \
                   FROM knowledge_articles a WHERE {matching}{filters}) \
                 SELECT m.id AS id FROM m \
                 ORDER BY m.use_count DESC, m.published_at DESC, m.id DESC LIMIT {p_limit}"
            );
            return load_ids(conn, sql, binds);
        }
    };
    binds.push(Bind::Int(limit));
    load_ids(conn, sql, binds)
}

/// How many of the best-ranked articles a PostgreSQL search looks through before it asks the
/// text index for every match.
const RANK_WALK: i64 = 500;

fn load_ids(conn: &mut DbConnection, sql: String, binds: Vec<Bind>) -> QueryResult<Vec<i64>> {
    let rows: Vec<Suggested> = bind_all(diesel::sql_query(sql).into_boxed(), binds).load(conn)?;
    Ok(rows.into_iter().map(|row| row.id).collect())
}

#[derive(Debug, QueryableByName)]
struct Suggested {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Articles whose title or keywords share pairs of characters with a text being typed, best
/// first (BM25 on SQLite, `ts_rank` on PostgreSQL), those of `category` before others of equal
/// rank; at most `limit`.
pub fn suggest(
    conn: &mut DbConnection,
    tokens: &[String],
    category: Option<CategoryId>,
    filter: &ArticleFilter,
    limit: i64,
) -> QueryResult<Vec<ArticleId>> {
    if tokens.is_empty() {
        return Ok(Vec::new());
    }
    let mut next = placeholders(conn);
    let category_id = category.map_or(-1, CategoryId::get);
    let (sql, mut binds) = match conn {
        DbConnection::Sqlite(_) => {
            let query = format!("{{title keywords}} : ({})", tokens.join(" OR "));
            let (filters, filter_binds) = filter_sql(filter, &mut *next);
            let sql = format!(
                "SELECT a.id AS id FROM knowledge_fts JOIN knowledge_articles a ON a.id = knowledge_fts.rowid \
                 WHERE knowledge_fts MATCH ?{filters} \
                 ORDER BY bm25(knowledge_fts, 2.0, 1.0, 0.0) * CASE WHEN EXISTS ( \
                     SELECT 1 FROM knowledge_article_categories c \
                     WHERE c.category_id = ? AND c.article_id = a.id) THEN 1.5 ELSE 1.0 END, \
                   a.use_count DESC, a.id DESC \
                 LIMIT ?"
            );
            let mut binds = vec![Bind::Text(query)];
            binds.extend(filter_binds);
            binds.push(Bind::Int(category_id));
            (sql, binds)
        }
        DbConnection::Postgres(_) => {
            let query = tokens.join(" | ");
            let (p_query, p_rank) = (next(), next());
            let (filters, filter_binds) = filter_sql(filter, &mut *next);
            let (p_category, p_limit) = (next(), next());
            let sql = format!(
                "SELECT a.id AS id FROM knowledge_articles a \
                 WHERE a.head_vector @@ to_tsquery('simple', {p_query}){filters} \
                 ORDER BY ts_rank(a.head_vector, to_tsquery('simple', {p_rank})) * CASE WHEN EXISTS ( \
                     SELECT 1 FROM knowledge_article_categories c \
                     WHERE c.category_id = {p_category} AND c.article_id = a.id) THEN 1.5 ELSE 1.0 END DESC, \
                   a.use_count DESC, a.id DESC \
                 LIMIT {p_limit}"
            );
            let mut binds = vec![Bind::Text(query.clone()), Bind::Text(query)];
            binds.extend(filter_binds);
            binds.push(Bind::Int(category_id));
            (sql, binds)
        }
    };
    binds.push(Bind::Int(limit));
    let rows: Vec<Suggested> = bind_all(diesel::sql_query(sql).into_boxed(), binds).load(conn)?;
    Ok(rows.into_iter().map(|row| ArticleId(row.id)).collect())
}

/// Articles of a category shown today, the most used first: suggestions when the text gives none.
pub fn most_used_in_category(
    conn: &mut DbConnection,
    category: CategoryId,
    filter: &ArticleFilter,
    limit: i64,
) -> QueryResult<Vec<ArticleId>> {
    let filter = ArticleFilter {
        category_id: Some(category),
        ..filter.clone()
    };
    let mut next = placeholders(conn);
    let (filters, mut binds) = filter_sql(&filter, &mut *next);
    let sql = format!(
        "SELECT a.id AS id FROM knowledge_articles a WHERE 1 = 1{filters} \
         ORDER BY a.use_count DESC, a.id DESC LIMIT {}",
        next()
    );
    binds.push(Bind::Int(limit));
    let rows: Vec<Suggested> = bind_all(diesel::sql_query(sql).into_boxed(), binds).load(conn)?;
    Ok(rows.into_iter().map(|row| ArticleId(row.id)).collect())
}

/// Articles newest first, keyset-paginated on the id.
pub fn list(
    conn: &mut DbConnection,
    filter: &ArticleFilter,
    page: super::PageRequest,
) -> QueryResult<Vec<ArticleRow>> {
    use knowledge_articles::dsl as a;
    let mut query = a::knowledge_articles
        .select(a::knowledge_articles::all_columns())
        .into_boxed::<super::MultiBackend>();
    if let Some(day) = filter.shown_on {
        query = query
            .filter(a::published_version.is_not_null())
            .filter(a::valid_from.is_null().or(a::valid_from.le(day)))
            .filter(a::valid_until.is_null().or(a::valid_until.ge(day)));
    }
    if let Some(day) = filter.not_shown_on {
        query = query
            .filter(a::published_version.is_not_null())
            .filter(a::valid_from.gt(day).or(a::valid_until.lt(day)));
    }
    if filter.awaiting_approval {
        query = query.filter(
            a::published_version
                .is_null()
                .or(a::published_version.lt(a::latest_version.nullable())),
        );
    }
    if let Some(visibility) = filter.visibility {
        query = query.filter(a::visibility.eq(visibility));
    }
    if let Some(department) = filter.owner_department_id {
        query = query.filter(a::owner_department_id.eq(department));
    }
    if filter.centre_owned {
        query = query.filter(a::owner_department_id.is_null());
    }
    if let Some(category) = filter.category_id {
        query = query.filter(
            a::id.eq_any(
                knowledge_article_categories::table
                    .filter(knowledge_article_categories::category_id.eq(category))
                    .select(knowledge_article_categories::article_id),
            ),
        );
    }
    if let Some(after) = page.after {
        query = query.filter(a::id.lt(after));
    }
    query
        .order(a::id.desc())
        .limit(page.fetch_limit())
        .load(conn)
}

pub fn find_articles(conn: &mut DbConnection, ids: &[ArticleId]) -> QueryResult<Vec<ArticleRow>> {
    knowledge_articles::table
        .filter(knowledge_articles::id.eq_any(ids))
        .select(knowledge_articles::all_columns)
        .load(conn)
}

/// Records that `case` was answered with the article's `version`, and counts the use.
pub fn record_use(
    conn: &mut DbConnection,
    case: CaseId,
    article: ArticleId,
    version: i32,
    by: Option<UserId>,
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(knowledge_uses::table)
        .values((
            knowledge_uses::case_id.eq(case),
            knowledge_uses::article_id.eq(article),
            knowledge_uses::version.eq(version),
            knowledge_uses::used_by_user_id.eq(by),
            knowledge_uses::used_at.eq(at),
        ))
        .execute(conn)?;
    diesel::update(knowledge_articles::table.find(article))
        .set(knowledge_articles::use_count.eq(knowledge_articles::use_count + 1))
        .execute(conn)?;
    Ok(())
}

/// One article's direct answers in a period.
#[derive(Debug, QueryableByName)]
pub struct UseFigures {
    #[diesel(sql_type = BigInt)]
    pub article_id: i64,
    #[diesel(sql_type = BigInt)]
    pub answers: i64,
    /// Answers after which the same caller (account or phone) complained in the case's category
    /// within seven days.
    #[diesel(sql_type = BigInt)]
    pub complained: i64,
    #[diesel(sql_type = Nullable<diesel::sql_types::Timestamp>)]
    pub last_used_at: Option<NaiveDateTime>,
    #[diesel(sql_type = Integer)]
    pub versions_used: i32,
}

/// Per article: the cases answered with it from `from` to before `to`, and how many of those the
/// same caller followed with a complaint in the same category within seven days. Most answers
/// first.
pub fn use_figures(
    conn: &mut DbConnection,
    from: NaiveDateTime,
    to: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<UseFigures>> {
    let week_later = match conn {
        DbConnection::Sqlite(_) => "datetime(u.used_at, '+7 days')",
        DbConnection::Postgres(_) => "u.used_at + INTERVAL '7 days'",
    };
    let mut next = placeholders(conn);
    let (p_from, p_to, p_limit) = (next(), next(), next());
    let sql = format!(
        "SELECT u.article_id AS article_id, COUNT(*) AS answers, \
           SUM(CASE WHEN EXISTS ( \
             SELECT 1 FROM cases later \
             LEFT JOIN complainants lp ON lp.case_id = later.id \
             WHERE later.kind = 'complaint' \
               AND later.category_id = answered.category_id \
               AND later.created_at > u.used_at AND later.created_at <= {week_later} \
               AND later.id <> answered.id \
               AND ((answered.citizen_id IS NOT NULL AND later.citizen_id = answered.citizen_id) \
                 OR (ap.phone IS NOT NULL AND lp.phone = ap.phone)) \
           ) THEN 1 ELSE 0 END) AS complained, \
           MAX(u.used_at) AS last_used_at, \
           CAST(COUNT(DISTINCT u.version) AS INTEGER) AS versions_used \
         FROM knowledge_uses u \
         JOIN cases answered ON answered.id = u.case_id \
         LEFT JOIN complainants ap ON ap.case_id = answered.id \
         WHERE u.used_at >= {p_from} AND u.used_at < {p_to} \
         GROUP BY u.article_id \
         ORDER BY answers DESC, u.article_id \
         LIMIT {p_limit}"
    );
    diesel::sql_query(sql)
        .into_boxed()
        .bind::<diesel::sql_types::Timestamp, _>(from)
        .bind::<diesel::sql_types::Timestamp, _>(to)
        .bind::<BigInt, _>(limit)
        .load(conn)
}
