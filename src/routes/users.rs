//! User accounts.

use actix_web::{HttpResponse, get, patch, post, web};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::password;
use crate::auth::{Permit, op};
use crate::db::accounts::UserFilter;
use crate::domain::ids::{DepartmentId, UserId};
use crate::domain::role::Role;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::pagination::{Page, PageParams};
use crate::routes::search_text;
use crate::service::users::{
    self as users_service, CreateUser, PasswordWork, UpdateUser, UserView,
};
use crate::startup::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserListQuery {
    pub role: Option<Role>,
    pub department_id: Option<DepartmentId>,
    pub active: Option<bool>,
    /// Part of the username or display name.
    #[param(max_length = 100)]
    pub q: Option<String>,
    /// Rows per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(max_length = 64, pattern = "^[A-Za-z0-9_-]*$")]
    pub cursor: Option<String>,
}

/// List users.
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    params(UserListQuery),
    responses((status = 200, description = "One page of users", body = Page<UserView>)),
)]
#[get("/users")]
pub async fn list_users(
    state: web::Data<AppState>,
    principal: Permit<op::ListUsers>,
    query: web::Query<UserListQuery>,
) -> Result<web::Json<Page<UserView>>, ApiError> {
    let query = query.into_inner();
    let page = PageParams {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .parse()?;
    let filter = UserFilter {
        role: query.role,
        department_id: query.department_id,
        active: query.active,
        q: search_text(query.q)?,
    };
    let rows = state
        .db
        .run(move |conn| users_service::list_users(conn, &principal, filter, page))
        .await?;
    Ok(web::Json(Page::try_from_rows(
        rows,
        page,
        |u| u.id.get(),
        UserView::from_row,
    )?))
}

/// Create a user.
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    request_body = CreateUser,
    responses(
        (status = 201, description = "Created", body = UserView, headers(("Location" = String, description = "Where the new resource is read"))),
        (status = 409, description = "The username is taken"),
    ),
)]
#[post("/users")]
pub async fn create_user(
    state: web::Data<AppState>,
    _permit: Permit<op::CreateUser>,
    body: ApiJson<CreateUser>,
) -> Result<HttpResponse, ApiError> {
    let ApiJson(input) = body;
    let hash = password::hash_off_thread(input.password.clone()).await?;
    let user = state
        .db
        .run(move |conn| users_service::create_user(conn, input, hash))
        .await?;
    let location = format!("/api/v1/users/{}", user.id);
    Ok(crate::routes::created(location).json(UserView::from_row(user)?))
}

/// One user.
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "User id")),
    responses(
        (status = 200, description = "The user", body = UserView),
        (status = 404, description = "No such user, or not one the caller may see"),
    ),
)]
#[get("/users/{id:\\d+}")]
pub async fn get_user(
    state: web::Data<AppState>,
    principal: Permit<op::GetUser>,
    id: web::Path<UserId>,
) -> Result<web::Json<UserView>, ApiError> {
    let id = id.into_inner();
    let user = state
        .db
        .run(move |conn| users_service::get_user(conn, &principal, id))
        .await?;
    Ok(web::Json(UserView::from_row(user)?))
}

/// Change a user: admins everything; everyone else their own name, phone and password.
///
/// A new password or `active: false` ends the user's sessions at once.
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "User id")),
    request_body = UpdateUser,
    responses(
        (status = 200, description = "The changed user", body = UserView),
        (status = 404, description = "No such user, or not one the caller may see"),
        (status = 409, description = "An administrator tried to disable or demote themselves"),
    ),
)]
#[patch("/users/{id:\\d+}")]
pub async fn update_user(
    state: web::Data<AppState>,
    principal: Permit<op::UpdateUser>,
    id: web::Path<UserId>,
    body: ApiJson<UpdateUser>,
) -> Result<web::Json<UserView>, ApiError> {
    let (id, ApiJson(input)) = (id.into_inner(), body);
    // Password checks and hashing happen between two short uses of a connection, never inside one.
    let work = match input.password {
        Some(_) => {
            let reader = principal.clone();
            let user = state
                .db
                .run(move |conn| users_service::get_user(conn, &reader, id))
                .await?;
            PasswordWork::prepare(&user, &input).await?
        }
        None => PasswordWork::default(),
    };
    let user = state
        .db
        .run(move |conn| users_service::update_user(conn, &principal, id, input, work))
        .await?;
    Ok(web::Json(UserView::from_row(user)?))
}
