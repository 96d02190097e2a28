//! User accounts: administrators manage them; every user sees and edits their own profile.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::auth::{Principal, password};
use crate::db::accounts::{self, UserFilter};
use crate::db::models::{NewUser, User, UserChanges};
use crate::db::{DbConnection, PageRequest, now, organisation, write_transaction};
use crate::domain::account::{NewPassword, Username, parse_name};
use crate::domain::ids::{DepartmentId, UserId};
use crate::domain::phone::PhoneNumber;
use crate::domain::role::Role;
use crate::error::{ApiError, ErrorCode, FieldErrorCode, FieldErrors};
use crate::validation::{self, parsed};

/// A user as the API shows it. Never carries the password hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// The department of department roles.
    pub department_id: Option<DepartmentId>,
    pub phone: Option<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl UserView {
    pub fn from_row(user: User) -> Result<Self, ApiError> {
        Ok(Self {
            role: user.role,
            id: user.id,
            username: user.username,
            display_name: user.display_name,
            department_id: user.department_id,
            phone: user.phone,
            active: user.active,
            created_at: user.created_at.and_utc(),
            updated_at: user.updated_at.and_utc(),
        })
    }
}

/// Distinguishes a field left out (`None`) from a field set to `null` (`Some(None)`).
pub fn nullable<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(eserde::Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// 3–64 of `a-z 0-9 . _ -`; stored lower-case.
    #[schema(example = "li.na", min_length = 3, max_length = 64)]
    #[validate(length(min = 3, max = 64), custom(function = "validation::username"))]
    pub username: String,
    #[schema(example = "李娜", min_length = 1, max_length = 50)]
    #[validate(length(min = 1, max = 50), custom(function = "validation::name"))]
    pub display_name: String,
    pub role: Role,
    /// Required for `department_staff` and `department_admin`, absent for every other role.
    #[serde(default)]
    pub department_id: Option<DepartmentId>,
    /// Mainland mobile or landline with area code; stored normalised.
    #[schema(example = "13812345678")]
    #[validate(custom(function = "validation::phone"))]
    #[serde(default)]
    pub phone: Option<String>,
    /// At least 10 characters, not the username.
    #[schema(min_length = 10, max_length = 128, format = Password)]
    #[validate(length(min = 10, max = 128))]
    pub password: String,
}

/// Changes to a user. Administrators may change everything; users themselves only their display
/// name, phone and password (the latter with `current_password`).
#[derive(eserde::Deserialize, Validate, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    #[schema(min_length = 1, max_length = 50)]
    #[validate(length(min = 1, max = 50), custom(function = "validation::name"))]
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, example = "13812345678")]
    #[validate(custom(function = "validation::phone"))]
    pub phone: Option<Option<String>>,
    #[schema(min_length = 10, max_length = 128, format = Password)]
    #[validate(length(min = 10, max = 128))]
    #[serde(default)]
    pub password: Option<String>,
    /// Needed when users change their own password.
    #[schema(format = Password)]
    #[serde(default)]
    pub current_password: Option<String>,
    /// Administrators only.
    #[serde(default)]
    pub role: Option<Role>,
    /// Administrators only.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<DepartmentId>)]
    pub department_id: Option<Option<DepartmentId>>,
    /// Administrators only. A disabled user's tokens stop working at once.
    #[serde(default)]
    pub active: Option<bool>,
}

impl std::fmt::Debug for CreateUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateUser")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for UpdateUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UpdateUser { .. }")
    }
}

/// Checks the role/department pairing and that the department exists and is active.
fn check_department(
    conn: &mut DbConnection,
    errors: &mut FieldErrors,
    role: Role,
    department_id: Option<DepartmentId>,
) -> Result<(), ApiError> {
    match (role.is_department_role(), department_id) {
        (true, None) => errors.add(
            "department_id",
            FieldErrorCode::Required,
            "department roles need a department",
        ),
        (false, Some(_)) => errors.add(
            "department_id",
            FieldErrorCode::NotAllowed,
            "only department roles belong to a department",
        ),
        (true, Some(id)) => {
            if !organisation::find_department(conn, id)?.is_some_and(|d| d.active) {
                errors.add(
                    "department_id",
                    FieldErrorCode::NotFound,
                    "no active department with this id",
                );
            }
        }
        (false, None) => {}
    }
    Ok(())
}

/// Creates a user; `password_hash` is `input.password`, hashed by the caller off the connection.
pub fn create_user(
    conn: &mut DbConnection,
    input: CreateUser,
    password_hash: String,
) -> Result<User, ApiError> {
    let username = parsed(Username::parse(&input.username))?;
    let display_name = parsed(parse_name(&input.display_name, 50))?;
    let phone = input
        .phone
        .as_deref()
        .map(|p| parsed(PhoneNumber::parse(p)))
        .transpose()?;
    let mut errors = FieldErrors::default();
    // The one rule across fields: the password is not the username.
    let new_password = errors.check(
        "password",
        NewPassword::parse(&input.password, &input.username),
    );
    if input.role == Role::Integration {
        errors.add(
            "role",
            FieldErrorCode::NotAllowed,
            "integration clients are managed under /integration-clients",
        );
    }
    check_department(conn, &mut errors, input.role, input.department_id)?;
    errors.finish()?;
    if new_password.is_none() {
        return Err(ApiError::internal("validated password missing"));
    }
    write_transaction(conn, |conn| {
        if accounts::find_user_by_username(conn, username.as_str())?.is_some() {
            return Err(ApiError::conflict(
                ErrorCode::UsernameTaken,
                "a user with this username already exists",
            ));
        }
        let now = now();
        accounts::insert_user(
            conn,
            NewUser {
                username: username.into_string(),
                display_name,
                role: input.role,
                department_id: input.department_id,
                phone: phone.map(|p| p.as_str().to_owned()),
                password_hash,
                active: true,
                password_changed_at: now,
                created_at: now,
                updated_at: now,
            },
        )
        .map_err(ApiError::from)
    })
}

/// Whether `actor` may see `user`: administrators all, department admins their own department's
/// staff, everyone themselves. Anything else is answered as if the user did not exist.
pub fn may_view(actor: &Principal, user: &User) -> bool {
    actor.role == Role::Admin
        || actor.is_self(user.id)
        || (actor.role == Role::DepartmentAdmin
            && actor.department_id.is_some()
            && user.department_id == actor.department_id)
}

pub fn get_user(conn: &mut DbConnection, actor: &Principal, id: UserId) -> Result<User, ApiError> {
    accounts::find_user(conn, id)?
        .filter(|user| may_view(actor, user))
        .ok_or_else(|| ApiError::not_found("no such user"))
}

pub fn list_users(
    conn: &mut DbConnection,
    actor: &Principal,
    mut filter: UserFilter,
    page: PageRequest,
) -> Result<Vec<User>, ApiError> {
    match actor.role {
        Role::Admin => {}
        Role::DepartmentAdmin => {
            let own = actor
                .department_id
                .ok_or_else(|| ApiError::internal("department admin without department"))?;
            if filter.department_id.is_some_and(|d| d != own) {
                return Ok(Vec::new());
            }
            filter.department_id = Some(own);
        }
        _ => {
            return Err(ApiError::Forbidden {
                code: ErrorCode::ForbiddenRole,
                detail: "only administrators list users".into(),
            });
        }
    }
    Ok(accounts::list_users(conn, &filter, page)?)
}

/// The password work of a user change, done by the caller off the connection before the change:
/// whether `current_password` matched the hash the user had, and the new password's hash.
#[derive(Debug, Default)]
pub struct PasswordWork {
    /// The stored hash `current_matches` was checked against: the change is refused if the
    /// password changed meanwhile.
    pub checked_against: Option<String>,
    pub current_matches: bool,
    pub new_hash: Option<String>,
}

impl PasswordWork {
    /// Checks and hashes what `input` asks of `user` (nothing when it sets no password).
    pub async fn prepare(user: &User, input: &UpdateUser) -> Result<Self, ApiError> {
        let Some(new_password) = input.password.clone() else {
            return Ok(Self::default());
        };
        let current_matches = match input.current_password.clone() {
            Some(current) => {
                password::verify_off_thread(current, Some(user.password_hash.clone())).await?
            }
            None => false,
        };
        Ok(Self {
            checked_against: Some(user.password_hash.clone()),
            current_matches,
            new_hash: Some(password::hash_off_thread(new_password).await?),
        })
    }
}

pub fn update_user(
    conn: &mut DbConnection,
    actor: &Principal,
    id: UserId,
    input: UpdateUser,
    work: PasswordWork,
) -> Result<User, ApiError> {
    let user = get_user(conn, actor, id)?;
    let is_admin = actor.role == Role::Admin;
    let is_self = actor.is_self(id);
    if !is_admin && !is_self {
        return Err(ApiError::Forbidden {
            code: ErrorCode::ForbiddenRole,
            detail: "only administrators change other users".into(),
        });
    }
    if !is_admin
        && (input.role.is_some() || input.department_id.is_some() || input.active.is_some())
    {
        return Err(ApiError::Forbidden {
            code: ErrorCode::ForbiddenField,
            detail: "only administrators change roles, departments and the active flag".into(),
        });
    }
    if is_self
        && is_admin
        && (input.active == Some(false) || input.role.is_some_and(|r| r != Role::Admin))
    {
        return Err(ApiError::conflict(
            ErrorCode::CannotLockOutSelf,
            "administrators cannot disable or demote themselves",
        ));
    }

    let mut errors = FieldErrors::default();
    let mut changes = UserChanges {
        display_name: input
            .display_name
            .as_deref()
            .map(|n| parsed(parse_name(n, 50)))
            .transpose()?,
        ..Default::default()
    };
    if let Some(phone) = &input.phone {
        changes.phone = phone
            .as_deref()
            .map(|raw| parsed(PhoneNumber::parse(raw)).map(|p| p.as_str().to_owned()))
            .transpose()
            .map(Some)?;
    }
    let new_password = input
        .password
        .as_deref()
        .and_then(|p| errors.check("password", NewPassword::parse(p, &user.username)));
    if new_password.is_some() && is_self {
        let current_ok = work.current_matches
            && work.checked_against.as_deref() == Some(user.password_hash.as_str());
        if !current_ok {
            errors.add(
                "current_password",
                FieldErrorCode::Mismatch,
                "give your current password to set a new one",
            );
        }
    }
    let role = match input.role {
        Some(Role::Integration) => {
            errors.add(
                "role",
                FieldErrorCode::NotAllowed,
                "integration clients are managed under /integration-clients",
            );
            None
        }
        other => other,
    };
    if role.is_some() || input.department_id.is_some() {
        let final_role = role.unwrap_or(user.role);
        let final_department = input.department_id.unwrap_or(user.department_id);
        check_department(conn, &mut errors, final_role, final_department)?;
    }
    errors.finish()?;

    let now = now();
    changes.role = role;
    changes.department_id = input.department_id;
    changes.active = input.active;
    changes.updated_at = Some(now);
    let ends_sessions = new_password.is_some() || input.active == Some(false);
    if new_password.is_some() {
        changes.password_hash = Some(
            work.new_hash
                .ok_or_else(|| ApiError::internal("the new password was not hashed"))?,
        );
        changes.password_changed_at = Some(now);
    }
    write_transaction(conn, |conn| {
        let updated = accounts::update_user(conn, id, changes)?;
        if ends_sessions {
            accounts::revoke_user_tokens(conn, id, now)?;
        }
        Ok(updated)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::PrincipalKind;

    fn user(id: i64, department_id: Option<i64>) -> User {
        let t = chrono::NaiveDateTime::default();
        User {
            id: UserId(id),
            username: "u".into(),
            display_name: "u".into(),
            role: Role::DepartmentStaff,
            department_id: department_id.map(DepartmentId),
            phone: None,
            password_hash: String::new(),
            active: true,
            password_changed_at: t,
            created_at: t,
            updated_at: t,
            session_epoch: 0,
        }
    }

    #[test]
    fn visibility_follows_role_and_department() {
        let dept_admin = Principal::for_test(
            PrincipalKind::User { id: UserId(1) },
            Role::DepartmentAdmin,
            Some(DepartmentId(7)),
        );
        assert!(may_view(&dept_admin, &user(2, Some(7))));
        assert!(!may_view(&dept_admin, &user(3, Some(8))));
        let operator =
            Principal::for_test(PrincipalKind::User { id: UserId(4) }, Role::Operator, None);
        assert!(may_view(&operator, &user(4, None)));
        assert!(!may_view(&operator, &user(5, None)));
    }
}
