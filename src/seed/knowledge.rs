//! Knowledge-base articles for the demo (a realistic set in Chinese: social insurance, household
//! registration, heating, water and power, transport, schools; `knowledge_articles.json`) and,
//! for the benchmark, `hotline seed --articles N`: variations of them, approved, with uses.

use std::collections::HashMap;

use chrono::{NaiveDate, TimeDelta};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Deserialize;

use crate::auth::Principal;
use crate::db::knowledge::{self as store, NewArticle, VersionRow};
use crate::db::{DbConnection, now, write_transaction};
use crate::domain::ids::{CategoryId, DepartmentId};
use crate::domain::knowledge::{VersionState, Visibility};
use crate::error::ApiError;
use crate::service::knowledge::{self as service, CreateArticle, LocalDay};

#[derive(Debug, Deserialize)]
struct DemoArticle {
    title: String,
    body: String,
    keywords: Vec<String>,
    /// A demo category code.
    category: Option<String>,
    /// A demo department code.
    department: Option<String>,
    visibility: Visibility,
    internal_note: Option<String>,
    valid_from: Option<NaiveDate>,
    valid_until: Option<NaiveDate>,
}

fn demo_articles() -> Vec<DemoArticle> {
    serde_json::from_str(include_str!("knowledge_articles.json"))
        .expect("knowledge_articles.json is a list of articles")
}

/// Drafts every demo article as `supervisor` and approves it: the knowledge base a new centre
/// starts from. `categories` and `departments` map the demo codes to ids.
pub(crate) fn load_demo_articles(
    conn: &mut DbConnection,
    supervisor: &Principal,
    categories: &HashMap<&str, CategoryId>,
    departments: &HashMap<&str, DepartmentId>,
    today: NaiveDate,
) -> Result<usize, ApiError> {
    let articles = demo_articles();
    for article in &articles {
        let draft = service::create(
            conn,
            supervisor,
            CreateArticle {
                title: article.title.clone(),
                body: article.body.clone(),
                keywords: article.keywords.clone(),
                category_ids: article
                    .category
                    .as_deref()
                    .and_then(|c| categories.get(c).copied())
                    .into_iter()
                    .collect(),
                owner_department_id: article
                    .department
                    .as_deref()
                    .and_then(|d| departments.get(d).copied()),
                visibility: article.visibility,
                valid_from: article.valid_from.map(LocalDay),
                valid_until: article.valid_until.map(LocalDay),
                internal_note: article.internal_note.clone(),
                attachment_ids: Vec::new(),
                change_note: Some("初始知识库".into()),
            },
        )?;
        service::approve(conn, supervisor, draft.article_id, draft.version, today)?;
    }
    Ok(articles.len())
}

/// Districts that vary the benchmark's articles (the same answer, a district's own office).
const DISTRICTS: &[&str] = &[
    "东城区",
    "西城区",
    "朝阳区",
    "海淀区",
    "丰台区",
    "石景山区",
    "门头沟区",
    "房山区",
    "通州区",
    "顺义区",
    "昌平区",
    "大兴区",
    "怀柔区",
    "平谷区",
    "密云区",
    "延庆区",
];

/// Adds `n` approved articles made from the demo set: each a demo article for one district and
/// year, with two sentences of other articles appended, some keywords left out, a use count and
/// an approval time in the last two years. For benchmarks; categories and departments by the
/// demo codes (left out when the demo organisation is not loaded).
pub fn seed_articles(conn: &mut DbConnection, n: u64, seed: u64) -> Result<u64, ApiError> {
    let articles = demo_articles();
    let mut rng = StdRng::seed_from_u64(seed ^ 0x6b6e_6f77);
    let categories: HashMap<String, CategoryId> = crate::db::organisation::all_categories(conn)?
        .into_iter()
        .map(|c| (c.code, c.id))
        .collect();
    let departments: HashMap<String, DepartmentId> =
        crate::db::organisation::all_departments(conn)?
            .into_iter()
            .map(|d| (d.code, d.id))
            .collect();
    let author = crate::db::accounts::find_user_by_username(conn, "supervisor")?
        .or(crate::db::accounts::find_user_by_username(conn, "admin")?)
        .map(|u| u.id)
        .ok_or_else(|| ApiError::internal("no supervisor or admin account to write articles as"))?;
    let sentences: Vec<String> = articles
        .iter()
        .flat_map(|a| {
            a.body
                .split_inclusive('。')
                .map(str::trim)
                .map(str::to_owned)
        })
        .filter(|s| s.chars().count() > 8 && !s.contains('\n'))
        .collect();
    let started = now();
    let mut made = 0u64;
    while made < n {
        let batch = (n - made).min(1000);
        write_transaction(conn, |conn| -> Result<(), ApiError> {
            for i in 0..batch {
                let k = made + i;
                let base = &articles[(k as usize) % articles.len()];
                let district = DISTRICTS[(k as usize / articles.len()) % DISTRICTS.len()];
                let year = 2020 + (k as usize / (articles.len() * DISTRICTS.len())) % 10;
                let mut body = format!("{district}{year}年：{}", base.body);
                for _ in 0..2 {
                    body.push('\n');
                    body.push_str(sentences.choose(&mut rng).map_or("", String::as_str));
                }
                let mut keywords = base.keywords.clone();
                keywords.shuffle(&mut rng);
                keywords.truncate(rng.gen_range(2..=keywords.len().max(2)));
                let approved_at =
                    started - TimeDelta::minutes(rng.gen_range(0..(2 * 365 * 24 * 60)));
                let article = store::insert_article(
                    conn,
                    &NewArticle {
                        owner_department_id: base
                            .department
                            .as_ref()
                            .and_then(|d| departments.get(d).copied()),
                        latest_version: 1,
                        use_count: rng.gen_range(0..400),
                        created_by_user_id: author,
                        created_at: approved_at,
                        updated_at: approved_at,
                    },
                )?;
                let version = VersionRow {
                    article_id: article.id,
                    version: 1,
                    title: format!("{district}{}（{year}年版）", base.title),
                    body,
                    keywords: keywords.join("\n"),
                    category_ids: base
                        .category
                        .as_ref()
                        .and_then(|c| categories.get(c))
                        .map(|c| c.get().to_string())
                        .unwrap_or_default(),
                    owner_department_id: article.owner_department_id,
                    visibility: base.visibility,
                    valid_from: None,
                    valid_until: base.valid_until,
                    internal_note: base.internal_note.clone(),
                    attachment_ids: String::new(),
                    state: VersionState::Draft,
                    changed: "title,body,keywords,category_ids,visibility".into(),
                    change_note: None,
                    created_by_user_id: author,
                    created_at: approved_at,
                    approved_by_user_id: None,
                    approved_at: None,
                };
                store::insert_version(conn, &version)?;
                store::publish(conn, &version, author, approved_at)?;
            }
            Ok(())
        })?;
        made += batch;
    }
    Ok(made)
}
