//! Rows as Diesel reads and writes them. Times are UTC `NaiveDateTime` (see `schema.rs`).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::domain::ids::{CategoryId, ClientId, DepartmentId, UserId};
use crate::domain::organisation::DepartmentKind;
use crate::domain::role::Role;

use super::schema::*;

#[derive(Debug, Clone, Queryable, Identifiable)]
#[diesel(table_name = departments)]
pub struct Department {
    pub id: DepartmentId,
    pub code: String,
    pub name: String,
    pub parent_id: Option<DepartmentId>,
    pub kind: DepartmentKind,
    pub contact_person: Option<String>,
    pub contact_phone: Option<String>,
    pub active: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = departments, treat_none_as_default_value = false)]
pub struct NewDepartment {
    pub code: String,
    pub name: String,
    pub parent_id: Option<DepartmentId>,
    pub kind: DepartmentKind,
    pub contact_person: Option<String>,
    pub contact_phone: Option<String>,
    pub active: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = departments)]
pub struct DepartmentChanges {
    pub name: Option<String>,
    pub parent_id: Option<Option<DepartmentId>>,
    pub kind: Option<DepartmentKind>,
    pub contact_person: Option<Option<String>>,
    pub contact_phone: Option<Option<String>>,
    pub active: Option<bool>,
    pub updated_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Identifiable)]
#[diesel(table_name = categories)]
pub struct Category {
    pub id: CategoryId,
    pub code: String,
    pub name: String,
    pub parent_id: Option<CategoryId>,
    pub default_department_id: Option<DepartmentId>,
    pub active: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = categories, treat_none_as_default_value = false)]
pub struct NewCategory {
    pub code: String,
    pub name: String,
    pub parent_id: Option<CategoryId>,
    pub default_department_id: Option<DepartmentId>,
    pub active: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = categories)]
pub struct CategoryChanges {
    pub name: Option<String>,
    pub parent_id: Option<Option<CategoryId>>,
    pub default_department_id: Option<Option<DepartmentId>>,
    pub active: Option<bool>,
    pub updated_at: Option<NaiveDateTime>,
}

#[derive(Clone, Queryable, Identifiable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub department_id: Option<DepartmentId>,
    pub phone: Option<String>,
    pub password_hash: String,
    pub active: bool,
    pub password_changed_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Access tokens naming another epoch are no longer honoured (see [`crate::auth::tokens`]).
    pub session_epoch: i64,
}

/// Leaves the hash and the phone out, so a user row can be logged or panicked over safely.
impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

#[derive(Insertable)]
#[diesel(table_name = users, treat_none_as_default_value = false)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub department_id: Option<DepartmentId>,
    pub phone: Option<String>,
    pub password_hash: String,
    pub active: bool,
    pub password_changed_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Default, AsChangeset)]
#[diesel(table_name = users)]
pub struct UserChanges {
    pub display_name: Option<String>,
    pub role: Option<Role>,
    pub department_id: Option<Option<DepartmentId>>,
    pub phone: Option<Option<String>>,
    pub password_hash: Option<String>,
    pub active: Option<bool>,
    pub password_changed_at: Option<NaiveDateTime>,
    pub updated_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshToken {
    pub id: i64,
    pub user_id: UserId,
    pub family: String,
    pub token_hash: String,
    pub issued_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub rotated_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
    /// The account's session epoch when issued: the token is dead once the account moved on.
    pub session_epoch: i64,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = refresh_tokens, treat_none_as_default_value = false)]
pub struct NewRefreshToken {
    pub user_id: UserId,
    pub family: String,
    pub token_hash: String,
    pub issued_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub session_epoch: i64,
}

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = login_throttle, treat_none_as_default_value = false)]
pub struct LoginThrottle {
    pub username: String,
    pub failures: i32,
    pub window_started_at: NaiveDateTime,
    pub locked_until: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Identifiable)]
#[diesel(table_name = integration_clients)]
pub struct IntegrationClient {
    pub id: ClientId,
    pub client_id: String,
    pub name: String,
    pub secret_hash: String,
    pub active: bool,
    pub created_by: UserId,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// Its webhooks hear of every case, not only those it registered.
    pub all_cases: bool,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = integration_clients, treat_none_as_default_value = false)]
pub struct NewIntegrationClient {
    pub client_id: String,
    pub name: String,
    pub secret_hash: String,
    pub active: bool,
    pub created_by: UserId,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = integration_clients)]
pub struct IntegrationClientChanges {
    pub name: Option<String>,
    pub active: Option<bool>,
    pub all_cases: Option<bool>,
    pub updated_at: Option<NaiveDateTime>,
}
