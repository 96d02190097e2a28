//! Sign-in and tokens (OAuth 2 field names), and citizen self-registration.

use actix_web::http::header;
use actix_web::{HttpResponse, get, post, web};
use serde::Serialize;
use utoipa::ToSchema;
use validator::Validate;

use crate::auth::password;
use crate::auth::{Permit, op};
use crate::db::accounts::Account;
use crate::domain::ids::DepartmentId;
use crate::domain::role::Role;
use crate::error::{ApiError, ErrorCode};
use crate::extract::{ApiJson, JsonOrForm};
use crate::metrics::Refusal;
use crate::rate_limit::WithinPublicLimit;
use crate::service::auth::{self as auth_service, IssuedTokens, Registration};
use crate::service::organisation::IntegrationClientView;
use crate::service::users::UserView;
use crate::startup::AppState;
use crate::validation;

#[derive(eserde::Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Username, or for citizens their phone number.
    #[schema(example = "admin", max_length = 128)]
    pub username: String,
    #[schema(example = "hotline-demo-admin", format = Password, max_length = 1024)]
    pub password: String,
}

#[derive(eserde::Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// OAuth 2 client-credentials grant, as JSON or as a form.
#[derive(eserde::Deserialize, Validate, ToSchema)]
pub struct ClientTokenRequest {
    /// Must be `client_credentials`.
    #[schema(example = "client_credentials", pattern = "^client_credentials$")]
    pub grant_type: String,
    pub client_id: String,
    #[schema(format = Password)]
    pub client_secret: String,
}

#[derive(eserde::Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterCitizenRequest {
    /// Mainland mobile number; it becomes the sign-in name.
    #[schema(example = "13812345678")]
    #[validate(custom(function = "validation::phone"))]
    pub phone: String,
    /// At least 10 characters.
    #[schema(format = Password, min_length = 10, max_length = 128)]
    #[validate(length(min = 10, max = 128))]
    pub password: String,
    /// How the centre addresses the citizen; defaults to the masked phone number.
    #[schema(example = "王先生", max_length = 50)]
    #[validate(length(max = 50), custom(function = "validation::name"))]
    #[serde(default)]
    pub display_name: Option<String>,
}

/// Issued tokens, with the field names OAuth 2 clients expect.
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    #[schema(example = 900)]
    pub expires_in: i64,
    /// Opaque, single-use: exchange it at `/auth/refresh` for new tokens. Absent for clients.
    pub refresh_token: Option<String>,
    /// Seconds until the refresh token expires.
    pub refresh_token_expires_in: Option<i64>,
    pub role: Role,
}

impl From<IssuedTokens> for TokenResponse {
    fn from(t: IssuedTokens) -> Self {
        Self {
            access_token: t.access_token,
            token_type: "Bearer",
            expires_in: t.expires_in,
            refresh_token: t.refresh_token,
            refresh_token_expires_in: t.refresh_expires_in,
            role: t.role,
        }
    }
}

/// Token answers must not be cached by browsers or proxies (RFC 6749 §5.1).
fn token_response(tokens: IssuedTokens) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(TokenResponse::from(tokens))
}

/// Sign in with username (citizens: phone number) and password.
///
/// The answer does not reveal whether the account exists. Repeated failures for one username
/// lock it for a while (429 with `Retry-After`). Public, and rate-limited per client address
/// (`HOTLINE_PUBLIC_RATE_LIMIT` requests a minute).
#[utoipa::path(
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenResponse),
        (status = 401, description = "Wrong username or password, or the account is disabled"),
        (status = 429, description = "Too many failed sign-ins for this username, or too many requests from this address; retry after `Retry-After` seconds"),
    ),
)]
#[post("/auth/login")]
pub async fn login(
    _limit: WithinPublicLimit,
    state: web::Data<AppState>,
    body: ApiJson<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let ApiJson(request) = body;
    let LoginRequest { username, password } = request;
    let app = state.clone();
    let attempt = password.clone();
    let pending = state
        .db
        .run(move |conn| auth_service::begin_login(conn, &app.lockout, &username, &attempt))
        .await
        .inspect_err(|error| count_lockout(&state, error))?;
    // Checked holding no connection: see `auth::password`.
    let matches = password::verify_off_thread(password, pending.password_hash()).await?;
    let app = state.clone();
    let tokens = state
        .db
        .run(move |conn| {
            auth_service::finish_login(
                conn,
                &app.tokens,
                &app.lockout,
                app.refresh_ttl(),
                pending,
                matches,
            )
        })
        .await
        .inspect_err(|error| count_lockout(&state, error))?;
    Ok(token_response(tokens))
}

/// A 429 of the sign-in service is the username's lockout (the per-address limit refused
/// before, in the extractor, and counts itself).
fn count_lockout(state: &AppState, error: &ApiError) {
    if matches!(error, ApiError::TooManyRequests { .. }) {
        state.metrics.refusals(Refusal::SignInLockout).inc();
    }
}

/// Exchange a refresh token for new tokens (the refresh token rotates).
///
/// Presenting an already used refresh token revokes every token of that sign-in. Public.
#[utoipa::path(
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens", body = TokenResponse),
        (status = 401, description = "Unknown, expired, revoked or reused refresh token"),
    ),
)]
#[post("/auth/refresh")]
pub async fn refresh(
    state: web::Data<AppState>,
    body: ApiJson<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let ApiJson(request) = body;
    let app = state.clone();
    let tokens = state
        .db
        .run(move |conn| {
            auth_service::refresh(conn, &app.tokens, app.refresh_ttl(), &request.refresh_token)
        })
        .await?;
    Ok(token_response(tokens))
}

/// Sign out: revokes the refresh token and every token rotated from the same sign-in. Public;
/// answers 204 for unknown tokens too.
#[utoipa::path(
    tag = "auth",
    request_body = RefreshRequest,
    responses((status = 204, description = "Signed out")),
)]
#[post("/auth/logout")]
pub async fn logout(
    state: web::Data<AppState>,
    body: ApiJson<RefreshRequest>,
) -> Result<HttpResponse, ApiError> {
    let ApiJson(request) = body;
    state
        .db
        .run(move |conn| auth_service::logout(conn, &request.refresh_token))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// OAuth 2 client-credentials grant for integration clients (JSON or form body). Public, and
/// rate-limited per client address.
#[utoipa::path(
    tag = "auth",
    request_body(content(
        (ClientTokenRequest = "application/json"),
        (ClientTokenRequest = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "An access token for the client", body = TokenResponse),
        (status = 401, description = "Unknown client, wrong secret or disabled client"),
        (status = 429, description = "Too many requests from this address; retry after `Retry-After` seconds"),
    ),
)]
#[post("/auth/token")]
pub async fn token(
    _limit: WithinPublicLimit,
    state: web::Data<AppState>,
    body: JsonOrForm<ClientTokenRequest>,
) -> Result<HttpResponse, ApiError> {
    let JsonOrForm(request) = body;
    if request.grant_type != "client_credentials" {
        return Err(ApiError::bad_request(
            ErrorCode::UnsupportedGrantType,
            "only grant_type=client_credentials is supported",
        ));
    }
    let app = state.clone();
    let tokens = state
        .db
        .run(move |conn| {
            auth_service::client_token(
                conn,
                &app.tokens,
                &request.client_id,
                &request.client_secret,
            )
        })
        .await?;
    Ok(token_response(tokens))
}

/// Who the token belongs to.
#[derive(Serialize, ToSchema)]
pub struct Me {
    /// `user` or `integration_client`.
    #[schema(example = "user")]
    pub kind: &'static str,
    pub role: Role,
    pub department_id: Option<DepartmentId>,
    /// Present for users.
    pub user: Option<UserView>,
    /// Present for integration clients.
    pub client: Option<IntegrationClientView>,
}

/// The signed-in user or client.
#[utoipa::path(
    tag = "auth",
    security(("bearer" = [])),
    responses((status = 200, description = "The caller", body = Me)),
)]
#[get("/auth/me")]
pub async fn me(permit: Permit<op::Me>) -> Result<web::Json<Me>, ApiError> {
    // The extractor has just read the caller's row; no second query.
    let principal = permit.into_principal();
    let account = principal
        .account
        .ok_or_else(|| ApiError::internal("principal without account"))?;
    Ok(web::Json(match account {
        Account::User(user) => Me {
            kind: "user",
            role: principal.role,
            department_id: principal.department_id,
            user: Some(UserView::from_row(user)?),
            client: None,
        },
        Account::Client(client) => Me {
            kind: "integration_client",
            role: principal.role,
            department_id: None,
            user: None,
            client: Some(IntegrationClientView::from_row(client)),
        },
    }))
}

/// Citizen self-registration with phone number and password. Public, and rate-limited per client
/// address.
#[utoipa::path(
    tag = "auth",
    request_body = RegisterCitizenRequest,
    responses(
        (status = 201, description = "Registered; sign in with the phone number", body = UserView, headers(("Location" = String, description = "Where the new resource is read"))),
        (status = 409, description = "The phone number is already registered"),
        (status = 429, description = "Too many requests from this address; retry after `Retry-After` seconds"),
    ),
)]
#[post("/citizens/register")]
pub async fn register_citizen(
    _limit: WithinPublicLimit,
    state: web::Data<AppState>,
    body: ApiJson<RegisterCitizenRequest>,
) -> Result<HttpResponse, ApiError> {
    let ApiJson(request) = body;
    let registration = Registration::parse(
        &request.phone,
        &request.password,
        request.display_name.as_deref(),
    )?;
    let hash = password::hash_off_thread(registration.password()).await?;
    let user = state
        .db
        .run(move |conn| auth_service::register_citizen(conn, registration, hash))
        .await?;
    let location = format!("/api/v1/users/{}", user.id);
    Ok(crate::routes::created(location).json(UserView::from_row(user)?))
}
