//! Sign-in, refresh-token rotation, sign-out, client credentials and citizen registration.

use chrono::{DateTime, Duration, NaiveDateTime, Utc};

use crate::auth::principal::subject;
use crate::auth::tokens::TokenKeys;
use crate::auth::{PrincipalKind, secrets};
use crate::db::models::{LoginThrottle, NewRefreshToken, NewUser, User};
use crate::db::{DbConnection, accounts, now, write_transaction};
use crate::domain::account::{LockoutPolicy, NewPassword, ThrottleState, parse_name};
use crate::domain::phone::PhoneNumber;
use crate::domain::role::Role;
use crate::error::{ApiError, ErrorCode, FieldErrorCode};
use crate::validation::parsed;

/// Tokens handed out at sign-in and refresh.
pub struct IssuedTokens {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: Option<String>,
    pub refresh_expires_in: Option<i64>,
    pub role: Role,
}

fn invalid_credentials() -> ApiError {
    ApiError::Unauthorized {
        code: ErrorCode::InvalidCredentials,
        detail: "the username or password is wrong".into(),
    }
}

/// The key a sign-in name is stored and throttled under: a phone number in any common spelling
/// becomes its normalised form (citizens sign in with their phone), anything else is lower-cased.
pub fn login_key(raw: &str) -> String {
    match PhoneNumber::parse(raw) {
        Ok(phone) => phone.as_str().to_owned(),
        Err(_) => raw.trim().to_lowercase(),
    }
}

fn throttle_state(row: &LoginThrottle) -> ThrottleState {
    ThrottleState {
        failures: row.failures,
        window_started_at: row.window_started_at.and_utc(),
        locked_until: row.locked_until.map(|t| t.and_utc()),
    }
}

fn naive(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc()
}

/// A sign-in whose password is still to be checked: what was read before hashing.
pub struct PendingLogin {
    key: String,
    user: Option<User>,
}

impl PendingLogin {
    /// The stored hash to check the password against; `None` for an unknown account (the check
    /// then runs against a decoy, so that it takes as long).
    pub fn password_hash(&self) -> Option<String> {
        self.user.as_ref().map(|u| u.password_hash.clone())
    }
}

/// The first half of a sign-in: refuses a locked name (429 whether or not the account exists) and
/// reads the account. The password is checked between the halves, holding no connection.
pub fn begin_login(
    conn: &mut DbConnection,
    policy: &LockoutPolicy,
    username: &str,
    password_attempt: &str,
) -> Result<PendingLogin, ApiError> {
    let key = login_key(username);
    if key.len() > 128 || password_attempt.len() > 1024 {
        return Err(invalid_credentials());
    }
    let throttle = accounts::throttle_state(conn, &key)?;
    if let Some(retry_after) =
        policy.locked_for(throttle.as_ref().map(throttle_state).as_ref(), Utc::now())
    {
        return Err(ApiError::TooManyRequests {
            retry_after_secs: retry_after as u64,
        });
    }
    let user = accounts::find_user_by_username(conn, &key)?;
    Ok(PendingLogin { key, user })
}

/// The second half of a sign-in, once the password was checked. The answer is the same for an
/// unknown account, a wrong password and a disabled account.
pub fn finish_login(
    conn: &mut DbConnection,
    keys: &TokenKeys,
    policy: &LockoutPolicy,
    refresh_ttl: Duration,
    pending: PendingLogin,
    password_matches: bool,
) -> Result<IssuedTokens, ApiError> {
    let PendingLogin { key, user } = pending;
    // The outcome is decided inside the transaction; a failure's throttle row commits regardless.
    write_transaction(
        conn,
        |conn| -> Result<Result<IssuedTokens, ApiError>, ApiError> {
            // Read again inside the transaction: the password may have changed, the account been
            // disabled or the name locked while the password was being checked.
            accounts::lock_sign_ins(conn, &key)?;
            let throttle = accounts::throttle_state(conn, &key)?;
            if let Some(retry_after) =
                policy.locked_for(throttle.as_ref().map(throttle_state).as_ref(), Utc::now())
            {
                return Ok(Err(ApiError::TooManyRequests {
                    retry_after_secs: retry_after as u64,
                }));
            }
            let current = match &user {
                Some(user) => accounts::find_user(conn, user.id)?,
                None => None,
            };
            let unchanged = |checked: &User, now: &User| {
                now.active
                    && now.session_epoch == checked.session_epoch
                    && now.password_hash == checked.password_hash
            };
            match (user.as_ref(), current) {
                (Some(checked), Some(user)) if password_matches && unchanged(checked, &user) => {
                    accounts::clear_throttle(conn, &key)?;
                    let family = uuid::Uuid::new_v4().to_string();
                    Ok(Ok(issue_tokens(conn, keys, &user, family, refresh_ttl)?))
                }
                _ => {
                    let now = Utc::now();
                    let next =
                        policy.after_failure(throttle.as_ref().map(throttle_state).as_ref(), now);
                    accounts::save_throttle(
                        conn,
                        &LoginThrottle {
                            username: key.clone(),
                            failures: next.failures,
                            window_started_at: naive(next.window_started_at),
                            locked_until: next.locked_until.map(naive),
                        },
                    )?;
                    Ok(Err(invalid_credentials()))
                }
            }
        },
    )?
}

/// An access token for `user` in its current session epoch, and a new refresh token of `family`.
fn issue_tokens(
    conn: &mut DbConnection,
    keys: &TokenKeys,
    user: &User,
    family: String,
    refresh_ttl: Duration,
) -> Result<IssuedTokens, ApiError> {
    let role = user.role;
    let refresh = issue_refresh(conn, user, family, refresh_ttl)?;
    Ok(IssuedTokens {
        access_token: keys.issue(
            subject(PrincipalKind::User { id: user.id }),
            role,
            user.department_id,
            user.session_epoch,
        ),
        expires_in: keys.access_ttl_secs(),
        refresh_token: Some(refresh),
        refresh_expires_in: Some(refresh_ttl.num_seconds()),
        role,
    })
}

fn issue_refresh(
    conn: &mut DbConnection,
    user: &User,
    family: String,
    ttl: Duration,
) -> Result<String, ApiError> {
    let token = secrets::random_token();
    let issued_at = now();
    accounts::insert_refresh_token(
        conn,
        NewRefreshToken {
            user_id: user.id,
            family,
            token_hash: secrets::digest(&token),
            issued_at,
            expires_at: issued_at + ttl,
            session_epoch: user.session_epoch,
        },
    )?;
    Ok(token)
}

fn invalid_refresh(code: ErrorCode, detail: &'static str) -> ApiError {
    ApiError::Unauthorized {
        code,
        detail: detail.into(),
    }
}

/// Exchanges a live refresh token for new tokens. A token presented a second time means it was
/// stolen or replayed: its whole family is revoked and the caller must sign in again.
pub fn refresh(
    conn: &mut DbConnection,
    keys: &TokenKeys,
    refresh_ttl: Duration,
    presented: &str,
) -> Result<IssuedTokens, ApiError> {
    let hash = secrets::digest(presented);
    // The outcome (tokens, or the reason for refusal) is decided inside the transaction, but a
    // family revocation must commit even though the caller gets an error.
    write_transaction(
        conn,
        |conn| -> Result<Result<IssuedTokens, ApiError>, ApiError> {
            let Some(token) = accounts::find_refresh_token(conn, &hash)? else {
                return Ok(Err(invalid_refresh(
                    ErrorCode::InvalidRefreshToken,
                    "the refresh token is not valid",
                )));
            };
            let now = now();
            if token.revoked_at.is_some() {
                return Ok(Err(invalid_refresh(
                    ErrorCode::RefreshTokenRevoked,
                    "the refresh token was revoked; sign in again",
                )));
            }
            if token.rotated_at.is_some() || !accounts::rotate_refresh_token(conn, token.id, now)? {
                accounts::revoke_family(conn, &token.family, now)?;
                log::warn!(
                    "refresh token reuse detected for user {}: session family revoked",
                    token.user_id
                );
                return Ok(Err(invalid_refresh(
                    ErrorCode::RefreshTokenReused,
                    "the refresh token was already used; every session of this sign-in is ended",
                )));
            }
            if token.expires_at <= now {
                return Ok(Err(invalid_refresh(
                    ErrorCode::RefreshTokenExpired,
                    "the refresh token has expired; sign in again",
                )));
            }
            // Disabled, or sessions ended (a password change) since this token was issued.
            let user = accounts::find_user(conn, token.user_id)?
                .filter(|u| u.active && u.session_epoch == token.session_epoch);
            let Some(user) = user else {
                accounts::revoke_family(conn, &token.family, now)?;
                return Ok(Err(invalid_refresh(
                    ErrorCode::RefreshTokenRevoked,
                    "the account is disabled or its sessions were ended; sign in again",
                )));
            };
            let family = token.family.clone();
            Ok(Ok(issue_tokens(conn, keys, &user, family, refresh_ttl)?))
        },
    )?
}

/// Ends the sign-in the refresh token belongs to. Unknown tokens are accepted silently, so the
/// answer reveals nothing.
pub fn logout(conn: &mut DbConnection, presented: &str) -> Result<(), ApiError> {
    let hash = secrets::digest(presented);
    write_transaction(conn, |conn| {
        if let Some(token) = accounts::find_refresh_token(conn, &hash)? {
            accounts::revoke_family(conn, &token.family, now())?;
        }
        Ok(())
    })
}

/// The active integration client with this id and secret; `None` for a wrong pair or a
/// disabled client, which callers refuse alike.
pub fn authenticate_client(
    conn: &mut DbConnection,
    client_id: &str,
    client_secret: &str,
) -> Result<Option<crate::db::models::IntegrationClient>, ApiError> {
    if client_id.len() > 64 || client_secret.len() > 256 {
        return Ok(None);
    }
    Ok(accounts::find_client_by_client_id(conn, client_id)?
        .filter(|client| client.active && client.secret_hash == secrets::digest(client_secret)))
}

/// OAuth 2 client-credentials grant for integration clients.
pub fn client_token(
    conn: &mut DbConnection,
    keys: &TokenKeys,
    client_id: &str,
    client_secret: &str,
) -> Result<IssuedTokens, ApiError> {
    let client = authenticate_client(conn, client_id, client_secret)?.ok_or_else(|| {
        ApiError::Unauthorized {
            code: ErrorCode::InvalidClient,
            detail: "the client id or secret is wrong".into(),
        }
    })?;
    Ok(IssuedTokens {
        access_token: keys.issue(
            subject(PrincipalKind::Client { id: client.id }),
            Role::Integration,
            None,
            0,
        ),
        expires_in: keys.access_ttl_secs(),
        refresh_token: None,
        refresh_expires_in: None,
        role: Role::Integration,
    })
}

/// A citizen's registration whose fields are valid; the password is still to be hashed.
pub struct Registration {
    phone: PhoneNumber,
    display_name: Option<String>,
    password: NewPassword,
}

impl Registration {
    /// Parses the fields the request's rules validated, and checks the one rule across them
    /// (the password is not the phone number), before any hashing is spent on it.
    pub fn parse(
        phone: &str,
        password_raw: &str,
        display_name: Option<&str>,
    ) -> Result<Self, ApiError> {
        let phone = parsed(PhoneNumber::parse(phone))?;
        let display_name = display_name
            .map(|n| parsed(parse_name(n, 50)))
            .transpose()?;
        let password = NewPassword::parse(password_raw, phone.as_str())
            .map_err(|message| ApiError::field("password", FieldErrorCode::Invalid, message))?;
        Ok(Self {
            phone,
            display_name,
            password,
        })
    }

    pub fn password(&self) -> String {
        self.password.expose().to_owned()
    }
}

/// Citizen self-registration: the normalised phone number is the sign-in name. `password_hash` is
/// the registration's password, hashed.
pub fn register_citizen(
    conn: &mut DbConnection,
    registration: Registration,
    password_hash: String,
) -> Result<User, ApiError> {
    let Registration {
        phone,
        display_name,
        ..
    } = registration;
    write_transaction(conn, |conn| {
        if accounts::find_user_by_username(conn, phone.as_str())?.is_some() {
            return Err(ApiError::conflict(
                ErrorCode::AlreadyRegistered,
                "this phone number is already registered; sign in",
            ));
        }
        let now = now();
        accounts::insert_user(
            conn,
            NewUser {
                username: phone.as_str().to_owned(),
                display_name: display_name.unwrap_or_else(|| phone.masked()),
                role: Role::Citizen,
                department_id: None,
                phone: Some(phone.as_str().to_owned()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_in_any_spelling_share_one_login_key() {
        assert_eq!(login_key("+86 138-1234-5678"), "13812345678");
        assert_eq!(login_key(" Admin "), "admin");
    }
}
