//! The signed-in principal, made from the bearer token and the account as it is now, with the row
//! scopes the services apply. Handlers get one only through [`super::policy::Permit`], which
//! checks the caller's role against the policy table first. Deny unless allowed.

use actix_web::http::header;
use actix_web::{HttpRequest, web};

use crate::db::accounts::{self, Account};
use crate::domain::ids::{ClientId, DepartmentId, UserId};
use crate::domain::role::Role;
use crate::error::{ApiError, ErrorCode};
use crate::startup::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrincipalKind {
    User { id: UserId },
    Client { id: ClientId },
}

/// Who is calling, as the database says now (not merely as the token said when it was issued).
#[derive(Debug, Clone)]
// A private field, not `#[non_exhaustive]`: that would still let the rest of the crate make one.
#[allow(clippy::manual_non_exhaustive)]
pub struct Principal {
    pub kind: PrincipalKind,
    pub role: Role,
    pub department_id: Option<DepartmentId>,
    /// The caller's row as read for this request (`None` only in unit tests).
    pub account: Option<Account>,
    /// Made only here (from a verified token, or for the command line's named accounts).
    _sealed: (),
}

impl Principal {
    /// The command line acting as a named user (demo data), with no token to verify.
    pub(crate) fn acting_as(user: crate::db::models::User, role: Role) -> Principal {
        Principal {
            kind: PrincipalKind::User { id: user.id },
            role,
            department_id: user.department_id,
            account: Some(Account::User(user)),
            _sealed: (),
        }
    }

    /// An integration client that proved itself with its id and secret in the request itself
    /// (the Open311 `api_key`), checked by `service::auth::authenticate_client`.
    pub(crate) fn client_by_secret(client: crate::db::models::IntegrationClient) -> Principal {
        Principal {
            kind: PrincipalKind::Client { id: client.id },
            role: Role::Integration,
            department_id: None,
            account: Some(Account::Client(client)),
            _sealed: (),
        }
    }

    #[cfg(test)]
    pub(crate) fn for_test(
        kind: PrincipalKind,
        role: Role,
        department_id: Option<DepartmentId>,
    ) -> Self {
        Principal {
            kind,
            role,
            department_id,
            account: None,
            _sealed: (),
        }
    }

    pub fn user_id(&self) -> Option<UserId> {
        match self.kind {
            PrincipalKind::User { id } => Some(id),
            PrincipalKind::Client { .. } => None,
        }
    }

    pub fn client_id(&self) -> Option<ClientId> {
        match self.kind {
            PrincipalKind::Client { id } => Some(id),
            PrincipalKind::User { .. } => None,
        }
    }

    /// The department whose rows a department user is confined to; `None` for everyone else.
    pub fn department_scope(&self) -> Option<DepartmentId> {
        if self.role.is_department_role() {
            self.department_id
        } else {
            None
        }
    }

    /// Whether the caller may see a row of the departments' work that belongs to `department`:
    /// the centre desks and admins every row, department users their own department's, no one
    /// else any (assignments, deadlines, extension requests, supervision records).
    pub fn sees_department_row(&self, department: Option<DepartmentId>) -> bool {
        match self.role {
            Role::Operator | Role::Dispatcher | Role::Supervisor | Role::Admin => true,
            Role::DepartmentStaff | Role::DepartmentAdmin => {
                department.is_some() && self.department_scope() == department
            }
            Role::Analyst | Role::Citizen | Role::Integration => false,
        }
    }

    /// Narrows a list's department filter to the rows the caller may see: department users get
    /// their own department whatever they asked for (`None` when they asked for another one:
    /// there is nothing to list), everyone else what they asked for.
    pub fn department_filter(
        &self,
        requested: Option<DepartmentId>,
    ) -> Result<Option<Option<DepartmentId>>, ApiError> {
        if !self.role.is_department_role() {
            return Ok(Some(requested));
        }
        let own = self
            .department_id
            .ok_or_else(|| ApiError::internal("department user without department"))?;
        Ok(requested.is_none_or(|d| d == own).then_some(Some(own)))
    }

    pub fn is_self(&self, user_id: UserId) -> bool {
        self.user_id() == Some(user_id)
    }
}

fn unauthorized(code: ErrorCode, detail: &'static str) -> ApiError {
    ApiError::Unauthorized {
        code,
        detail: detail.into(),
    }
}

fn bearer_token(req: &HttpRequest) -> Result<String, ApiError> {
    let value = req.headers().get(header::AUTHORIZATION).ok_or_else(|| {
        unauthorized(
            ErrorCode::MissingToken,
            "sign in and send the access token as 'Authorization: Bearer …'",
        )
    })?;
    let value = value.to_str().map_err(|_| {
        unauthorized(
            ErrorCode::InvalidToken,
            "the Authorization header is malformed",
        )
    })?;
    let (scheme, token) = value.split_once(' ').ok_or_else(|| {
        unauthorized(
            ErrorCode::InvalidToken,
            "the Authorization header is malformed",
        )
    })?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() || token.len() > 4096 {
        return Err(unauthorized(
            ErrorCode::InvalidToken,
            "the Authorization header must carry a Bearer token",
        ));
    }
    Ok(token.trim().to_owned())
}

/// A verified bearer token, not yet checked against the account: the cheap half of
/// [`Principal`]. Hot handlers take this and call [`Credentials::resolve`] inside their own
/// blocking task, so that the account is still re-read on every request but without a second
/// hand-off to the blocking pool.
#[derive(Debug, Clone, Copy)]
pub struct Credentials {
    kind: PrincipalKind,
    session_epoch: i64,
    /// The role the token names; the account's role as it is now decides ([`Self::resolve`]).
    role: Role,
}

/// Who is calling, for middleware that keeps records per caller (not a permit to do anything).
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub user_id: Option<UserId>,
    pub role: Role,
}

impl Credentials {
    /// `user:<id>` or `client:<id>`, as in the token.
    pub fn subject(&self) -> String {
        subject(self.kind)
    }

    pub(super) fn role(&self) -> Role {
        self.role
    }

    /// Checks the account as the database says now (a revoked token gets 401).
    pub fn caller(self, conn: &mut crate::db::DbConnection) -> Result<Caller, ApiError> {
        let principal = self.resolve(conn)?;
        Ok(Caller {
            user_id: principal.user_id(),
            role: principal.role,
        })
    }

    /// Re-reads the account and turns the token into the principal as the database says now.
    pub(super) fn resolve(self, conn: &mut crate::db::DbConnection) -> Result<Principal, ApiError> {
        let current = match self.kind {
            PrincipalKind::User { id } => accounts::user_standing(conn, id),
            PrincipalKind::Client { id } => accounts::client_standing(conn, id),
        }?;
        let revoked = || {
            unauthorized(
                ErrorCode::TokenRevoked,
                "the account is disabled or its sessions were ended",
            )
        };
        let standing = current.ok_or_else(revoked)?;
        // A password change, a reset or disabling ends the sessions issued before it.
        if !standing.active
            || standing
                .session_epoch
                .is_some_and(|epoch| self.session_epoch != epoch)
        {
            return Err(revoked());
        }
        Ok(Principal {
            kind: self.kind,
            role: standing.role,
            department_id: standing.department_id,
            account: Some(standing.account),
            _sealed: (),
        })
    }
}

pub(super) fn verify_bearer(req: &HttpRequest) -> Result<Credentials, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::internal("application state missing"))?;
    let claims = state
        .tokens
        .verify(&bearer_token(req)?)
        .map_err(|e| ApiError::Unauthorized {
            code: e.code(),
            detail: e.to_string().into(),
        })?;
    let kind = parse_subject(&claims.sub).ok_or(unauthorized(
        ErrorCode::InvalidToken,
        "the token's subject is malformed",
    ))?;
    Ok(Credentials {
        kind,
        session_epoch: claims.sv,
        role: claims.role,
    })
}

/// The credentials of a request whose bearer token is valid (checked against the keys only; call
/// [`Credentials::resolve`] to check the account), for middleware that keeps records per caller.
pub fn credentials(req: &HttpRequest) -> Option<Credentials> {
    verify_bearer(req).ok()
}

fn parse_subject(sub: &str) -> Option<PrincipalKind> {
    let (kind, id) = sub.split_once(':')?;
    let id: i64 = id.parse().ok()?;
    match kind {
        "user" => Some(PrincipalKind::User { id: UserId(id) }),
        "client" => Some(PrincipalKind::Client { id: ClientId(id) }),
        _ => None,
    }
}

pub fn subject(kind: PrincipalKind) -> String {
    match kind {
        PrincipalKind::User { id } => format!("user:{id}"),
        PrincipalKind::Client { id } => format!("client:{id}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_round_trip() {
        for kind in [
            PrincipalKind::User { id: UserId(5) },
            PrincipalKind::Client { id: ClientId(9) },
        ] {
            assert_eq!(parse_subject(&subject(kind)), Some(kind));
        }
        assert_eq!(parse_subject("admin:1"), None);
        assert_eq!(parse_subject("user:x"), None);
    }

    #[test]
    fn department_scope_applies_to_department_roles_only() {
        let staff = Principal::for_test(
            PrincipalKind::User { id: UserId(1) },
            Role::DepartmentStaff,
            Some(DepartmentId(4)),
        );
        assert_eq!(staff.department_scope(), Some(DepartmentId(4)));
        let dispatcher = Principal {
            role: Role::Dispatcher,
            department_id: None,
            ..staff.clone()
        };
        assert_eq!(dispatcher.department_scope(), None);
        // Lists: a department user's filter is always their own department; asking for another
        // finds nothing. Others filter as they ask.
        assert_eq!(
            staff.department_filter(None).unwrap(),
            Some(Some(DepartmentId(4)))
        );
        assert_eq!(
            staff.department_filter(Some(DepartmentId(4))).unwrap(),
            Some(Some(DepartmentId(4)))
        );
        assert_eq!(
            staff.department_filter(Some(DepartmentId(5))).unwrap(),
            None
        );
        assert_eq!(
            dispatcher.department_filter(Some(DepartmentId(5))).unwrap(),
            Some(Some(DepartmentId(5)))
        );
        assert_eq!(dispatcher.department_filter(None).unwrap(), Some(None));
        // Rows of the departments' work.
        assert!(staff.sees_department_row(Some(DepartmentId(4))));
        assert!(!staff.sees_department_row(Some(DepartmentId(5))));
        assert!(!staff.sees_department_row(None));
        assert!(dispatcher.sees_department_row(Some(DepartmentId(5))));
        let analyst = Principal {
            role: Role::Analyst,
            ..dispatcher.clone()
        };
        assert!(!analyst.sees_department_row(Some(DepartmentId(5))));
    }
}
