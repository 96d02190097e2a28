//! Users, refresh tokens, the sign-in throttle and integration clients.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::models::*;
use super::schema::{integration_clients, login_throttle, refresh_tokens, users};
use super::{DbConnection, MultiBackend, PageRequest, like_pattern};
use crate::domain::ids::{ClientId, DepartmentId, UserId};
use crate::domain::role::Role;

/// The account behind a token, as stored now.
#[derive(Debug, Clone)]
pub enum Account {
    User(User),
    Client(IntegrationClient),
}

/// What the token check needs to know about a principal, read on every authenticated request.
#[derive(Debug, Clone)]
pub struct Standing {
    pub active: bool,
    pub role: Role,
    pub department_id: Option<DepartmentId>,
    /// Only tokens of this session epoch are honoured (users; clients have none).
    pub session_epoch: Option<i64>,
    /// The whole row, so that handlers about the caller need not read it again.
    pub account: Account,
}

pub fn user_standing(conn: &mut DbConnection, id: UserId) -> QueryResult<Option<Standing>> {
    find_user(conn, id)?
        .map(|user| {
            Ok(Standing {
                active: user.active,
                role: user.role,
                department_id: user.department_id,
                session_epoch: Some(user.session_epoch),
                account: Account::User(user),
            })
        })
        .transpose()
}

pub fn client_standing(conn: &mut DbConnection, id: ClientId) -> QueryResult<Option<Standing>> {
    Ok(find_client(conn, id)?.map(|client| Standing {
        active: client.active,
        role: Role::Integration,
        department_id: None,
        session_epoch: None,
        account: Account::Client(client),
    }))
}

pub fn find_user(conn: &mut DbConnection, id: UserId) -> QueryResult<Option<User>> {
    users::table
        .find(id)
        .select(users::all_columns)
        .get_result(conn)
        .optional()
}

pub fn find_user_by_username(conn: &mut DbConnection, username: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(users::username.eq(username))
        .select(users::all_columns)
        .get_result(conn)
        .optional()
}

pub fn insert_user(conn: &mut DbConnection, user: NewUser) -> QueryResult<User> {
    diesel::insert_into(users::table)
        .values(user)
        .returning(users::all_columns)
        .get_result(conn)
}

pub fn update_user(conn: &mut DbConnection, id: UserId, changes: UserChanges) -> QueryResult<User> {
    diesel::update(users::table.find(id))
        .set(changes)
        .returning(users::all_columns)
        .get_result(conn)
}

#[derive(Debug, Default)]
pub struct UserFilter {
    pub role: Option<Role>,
    pub department_id: Option<DepartmentId>,
    pub active: Option<bool>,
    /// Substring of the username or display name.
    pub q: Option<String>,
}

pub fn list_users(
    conn: &mut DbConnection,
    filter: &UserFilter,
    page: PageRequest,
) -> QueryResult<Vec<User>> {
    let mut query = users::table
        .select(users::all_columns)
        .into_boxed::<MultiBackend>();
    if let Some(role) = filter.role {
        query = query.filter(users::role.eq(role));
    }
    if let Some(department_id) = filter.department_id {
        query = query.filter(users::department_id.eq(department_id));
    }
    if let Some(active) = filter.active {
        query = query.filter(users::active.eq(active));
    }
    if let Some(q) = &filter.q {
        let pattern = like_pattern(q);
        query = query.filter(
            users::username
                .like(pattern.clone())
                .escape('\\')
                .or(users::display_name.like(pattern).escape('\\')),
        );
    }
    if let Some(after) = page.after {
        query = query.filter(users::id.gt(after));
    }
    query
        .order(users::id.asc())
        .limit(page.fetch_limit())
        .load(conn)
}

pub fn insert_refresh_token(conn: &mut DbConnection, token: NewRefreshToken) -> QueryResult<()> {
    diesel::insert_into(refresh_tokens::table)
        .values(token)
        .execute(conn)?;
    Ok(())
}

pub fn find_refresh_token(
    conn: &mut DbConnection,
    token_hash: &str,
) -> QueryResult<Option<RefreshToken>> {
    refresh_tokens::table
        .filter(refresh_tokens::token_hash.eq(token_hash))
        .select(refresh_tokens::all_columns)
        .get_result(conn)
        .optional()
}

/// Marks a token as used, only if it was still live; false means someone used it already.
pub fn rotate_refresh_token(
    conn: &mut DbConnection,
    id: i64,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let changed = diesel::update(
        refresh_tokens::table
            .find(id)
            .filter(refresh_tokens::rotated_at.is_null())
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::rotated_at.eq(now))
    .execute(conn)?;
    Ok(changed == 1)
}

pub fn revoke_family(
    conn: &mut DbConnection,
    family: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::family.eq(family))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(now))
    .execute(conn)
}

/// Ends every session of a user: refresh tokens are revoked and the account moves to a new
/// session epoch, which every access token issued before names wrongly (a counter, so that a token
/// issued in the same clock tick as the change is refused too).
pub fn revoke_user_tokens(
    conn: &mut DbConnection,
    user_id: UserId,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(users::table.find(user_id))
        .set(users::session_epoch.eq(users::session_epoch + 1))
        .execute(conn)?;
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::user_id.eq(user_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(now))
    .execute(conn)
}

/// Makes sign-in attempts for `username` wait for each other until this transaction ends, so
/// that each reads the throttle as the one before left it: on PostgreSQL (read committed) two
/// failures at once, on two servers or two threads, would otherwise both count from the same
/// state and one would be lost — and a name meant to lock after five failures could be tried
/// many more times in parallel. A transaction-scoped advisory lock on the name's hash, because
/// the row may not exist yet and `FOR UPDATE` cannot lock what is missing (a shared hash only
/// makes two names wait for each other). SQLite writes one transaction at a time already.
pub fn lock_sign_ins(conn: &mut DbConnection, username: &str) -> QueryResult<()> {
    /// The first key of the lock: this lock's own space among advisory locks.
    const SIGN_IN_LOCKS: i32 = 0x5349_474e; // "SIGN"
    if let DbConnection::Postgres(pg) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind::<diesel::sql_types::Integer, _>(SIGN_IN_LOCKS)
            .bind::<diesel::sql_types::Text, _>(username)
            .execute(pg)?;
    }
    Ok(())
}

pub fn throttle_state(
    conn: &mut DbConnection,
    username: &str,
) -> QueryResult<Option<LoginThrottle>> {
    login_throttle::table
        .find(username)
        .select(login_throttle::all_columns)
        .get_result(conn)
        .optional()
}

pub fn save_throttle(conn: &mut DbConnection, row: &LoginThrottle) -> QueryResult<()> {
    // Upsert is spelt per backend: the multi-backend connection does not carry ON CONFLICT.
    macro_rules! upsert {
        ($conn:expr) => {
            diesel::insert_into(login_throttle::table)
                .values(row.clone())
                .on_conflict(login_throttle::username)
                .do_update()
                .set((
                    login_throttle::failures.eq(row.failures),
                    login_throttle::window_started_at.eq(row.window_started_at),
                    login_throttle::locked_until.eq(row.locked_until),
                ))
                .execute($conn)
        };
    }
    match conn {
        DbConnection::Postgres(pg) => upsert!(pg)?,
        DbConnection::Sqlite(sqlite) => upsert!(sqlite)?,
    };
    Ok(())
}

pub fn clear_throttle(conn: &mut DbConnection, username: &str) -> QueryResult<()> {
    diesel::delete(login_throttle::table.find(username)).execute(conn)?;
    Ok(())
}

pub fn insert_client(
    conn: &mut DbConnection,
    client: NewIntegrationClient,
) -> QueryResult<IntegrationClient> {
    diesel::insert_into(integration_clients::table)
        .values(client)
        .returning(integration_clients::all_columns)
        .get_result(conn)
}

pub fn find_client(
    conn: &mut DbConnection,
    id: ClientId,
) -> QueryResult<Option<IntegrationClient>> {
    integration_clients::table
        .find(id)
        .select(integration_clients::all_columns)
        .get_result(conn)
        .optional()
}

pub fn find_client_by_client_id(
    conn: &mut DbConnection,
    client_id: &str,
) -> QueryResult<Option<IntegrationClient>> {
    integration_clients::table
        .filter(integration_clients::client_id.eq(client_id))
        .select(integration_clients::all_columns)
        .get_result(conn)
        .optional()
}

pub fn update_client(
    conn: &mut DbConnection,
    id: ClientId,
    changes: IntegrationClientChanges,
) -> QueryResult<IntegrationClient> {
    diesel::update(integration_clients::table.find(id))
        .set(changes)
        .returning(integration_clients::all_columns)
        .get_result(conn)
}

pub fn list_clients(
    conn: &mut DbConnection,
    active: Option<bool>,
    page: PageRequest,
) -> QueryResult<Vec<IntegrationClient>> {
    let mut query = integration_clients::table
        .select(integration_clients::all_columns)
        .into_boxed::<MultiBackend>();
    if let Some(active) = active {
        query = query.filter(integration_clients::active.eq(active));
    }
    if let Some(after) = page.after {
        query = query.filter(integration_clients::id.gt(after));
    }
    query
        .order(integration_clients::id.asc())
        .limit(page.fetch_limit())
        .load(conn)
}
