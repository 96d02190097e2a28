//! Departments, categories and integration clients.

use actix_web::{HttpResponse, get, patch, post, web};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::{Permit, op};
use crate::db::organisation::{CategoryFilter, DepartmentFilter};
use crate::domain::ids::{CategoryId, ClientId, DepartmentId};
use crate::domain::organisation::{DepartmentKind, build_forest};

use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::pagination::{Page, PageParams};
use crate::routes::search_text;
use crate::service::organisation::{self as org_service, *};
use crate::startup::AppState;

/// Every signed-in role may read the directory (front ends build their forms from it).

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DepartmentListQuery {
    pub parent_id: Option<DepartmentId>,
    pub kind: Option<DepartmentKind>,
    pub active: Option<bool>,
    /// Part of the name or code.
    #[param(max_length = 100)]
    pub q: Option<String>,
    /// Rows per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(max_length = 64, pattern = "^[A-Za-z0-9_-]*$")]
    pub cursor: Option<String>,
}

/// List departments.
#[utoipa::path(
    tag = "departments",
    security(("bearer" = [])),
    params(DepartmentListQuery),
    responses((status = 200, description = "One page of departments", body = Page<DepartmentView>)),
)]
#[get("/departments")]
pub async fn list_departments(
    state: web::Data<AppState>,
    _permit: Permit<op::ListDepartments>,
    query: web::Query<DepartmentListQuery>,
) -> Result<web::Json<Page<DepartmentView>>, ApiError> {
    let query = query.into_inner();
    let page = PageParams {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .parse()?;
    let filter = DepartmentFilter {
        parent_id: query.parent_id,
        kind: query.kind,
        active: query.active,
        q: search_text(query.q)?,
    };
    let rows = state
        .db
        .run(move |conn| org_service::list_departments(conn, &filter, page))
        .await?;
    Ok(web::Json(Page::from_rows(
        rows,
        page,
        |d| d.id.get(),
        DepartmentView::from_row,
    )))
}

/// The whole department tree, inactive departments included.
#[utoipa::path(
    tag = "departments",
    security(("bearer" = [])),
    responses((status = 200, description = "Root departments with their sub-departments", body = Vec<DepartmentNode>)),
)]
#[get("/departments/tree")]
pub async fn department_tree(
    state: web::Data<AppState>,
    _permit: Permit<op::DepartmentTree>,
) -> Result<web::Json<Vec<DepartmentNode>>, ApiError> {
    let rows = state.db.run(org_service::all_departments).await?;
    let views = rows.into_iter().map(DepartmentView::from_row).collect();
    Ok(web::Json(
        build_forest(views, |d| d.id, |d| d.parent_id)
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

/// Create a department.
#[utoipa::path(
    tag = "departments",
    security(("bearer" = [])),
    request_body = CreateDepartment,
    responses(
        (status = 201, description = "Created", body = DepartmentView, headers(("Location" = String, description = "Where the new resource is read"))),
        (status = 409, description = "The code is taken"),
    ),
)]
#[post("/departments")]
pub async fn create_department(
    state: web::Data<AppState>,
    _permit: Permit<op::CreateDepartment>,
    body: ApiJson<CreateDepartment>,
) -> Result<HttpResponse, ApiError> {
    let ApiJson(input) = body;
    let row = state
        .db
        .run(move |conn| org_service::create_department(conn, input))
        .await?;
    let location = format!("/api/v1/departments/{}", row.id);
    Ok(crate::routes::created(location).json(DepartmentView::from_row(row)))
}

/// One department.
#[utoipa::path(
    tag = "departments",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Department id")),
    responses(
        (status = 200, description = "The department", body = DepartmentView),
        (status = 404, description = "No such department"),
    ),
)]
#[get("/departments/{id:\\d+}")]
pub async fn get_department(
    state: web::Data<AppState>,
    _permit: Permit<op::GetDepartment>,
    id: web::Path<DepartmentId>,
) -> Result<web::Json<DepartmentView>, ApiError> {
    let id = id.into_inner();
    let row = state
        .db
        .run(move |conn| org_service::get_department(conn, id))
        .await?;
    Ok(web::Json(DepartmentView::from_row(row)))
}

/// Change a department; deactivate with `active: false` (never deleted).
#[utoipa::path(
    tag = "departments",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Department id")),
    request_body = UpdateDepartment,
    responses(
        (status = 200, description = "The changed department", body = DepartmentView),
        (status = 404, description = "No such department"),
    ),
)]
#[patch("/departments/{id:\\d+}")]
pub async fn update_department(
    state: web::Data<AppState>,
    _permit: Permit<op::UpdateDepartment>,
    id: web::Path<DepartmentId>,
    body: ApiJson<UpdateDepartment>,
) -> Result<web::Json<DepartmentView>, ApiError> {
    let (id, ApiJson(input)) = (id.into_inner(), body);
    let row = state
        .db
        .run(move |conn| org_service::update_department(conn, id, input))
        .await?;
    Ok(web::Json(DepartmentView::from_row(row)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CategoryListQuery {
    pub parent_id: Option<CategoryId>,
    pub default_department_id: Option<DepartmentId>,
    pub active: Option<bool>,
    /// Part of the name or code.
    #[param(max_length = 100)]
    pub q: Option<String>,
    /// Rows per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(max_length = 64, pattern = "^[A-Za-z0-9_-]*$")]
    pub cursor: Option<String>,
}

/// List categories.
#[utoipa::path(
    tag = "categories",
    security(("bearer" = [])),
    params(CategoryListQuery),
    responses((status = 200, description = "One page of categories", body = Page<CategoryView>)),
)]
#[get("/categories")]
pub async fn list_categories(
    state: web::Data<AppState>,
    _permit: Permit<op::ListCategories>,
    query: web::Query<CategoryListQuery>,
) -> Result<web::Json<Page<CategoryView>>, ApiError> {
    let query = query.into_inner();
    let page = PageParams {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .parse()?;
    let filter = CategoryFilter {
        parent_id: query.parent_id,
        default_department_id: query.default_department_id,
        active: query.active,
        q: search_text(query.q)?,
    };
    let rows = state
        .db
        .run(move |conn| org_service::list_categories(conn, &filter, page))
        .await?;
    Ok(web::Json(Page::from_rows(
        rows,
        page,
        |c| c.id.get(),
        CategoryView::from_row,
    )))
}

/// The whole category tree, inactive categories included.
#[utoipa::path(
    tag = "categories",
    security(("bearer" = [])),
    responses((status = 200, description = "Root categories with their sub-categories", body = Vec<CategoryNode>)),
)]
#[get("/categories/tree")]
pub async fn category_tree(
    state: web::Data<AppState>,
    _permit: Permit<op::CategoryTree>,
) -> Result<web::Json<Vec<CategoryNode>>, ApiError> {
    let rows = state.db.run(org_service::all_categories).await?;
    let views = rows.into_iter().map(CategoryView::from_row).collect();
    Ok(web::Json(
        build_forest(views, |c| c.id, |c| c.parent_id)
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

/// Create a category.
#[utoipa::path(
    tag = "categories",
    security(("bearer" = [])),
    request_body = CreateCategory,
    responses(
        (status = 201, description = "Created", body = CategoryView, headers(("Location" = String, description = "Where the new resource is read"))),
        (status = 409, description = "The code is taken"),
    ),
)]
#[post("/categories")]
pub async fn create_category(
    state: web::Data<AppState>,
    _permit: Permit<op::CreateCategory>,
    body: ApiJson<CreateCategory>,
) -> Result<HttpResponse, ApiError> {
    let ApiJson(input) = body;
    let row = state
        .db
        .run(move |conn| org_service::create_category(conn, input))
        .await?;
    let location = format!("/api/v1/categories/{}", row.id);
    Ok(crate::routes::created(location).json(CategoryView::from_row(row)))
}

/// One category.
#[utoipa::path(
    tag = "categories",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Category id")),
    responses(
        (status = 200, description = "The category", body = CategoryView),
        (status = 404, description = "No such category"),
    ),
)]
#[get("/categories/{id:\\d+}")]
pub async fn get_category(
    state: web::Data<AppState>,
    _permit: Permit<op::GetCategory>,
    id: web::Path<CategoryId>,
) -> Result<web::Json<CategoryView>, ApiError> {
    let id = id.into_inner();
    let row = state
        .db
        .run(move |conn| org_service::get_category(conn, id))
        .await?;
    Ok(web::Json(CategoryView::from_row(row)))
}

/// Change a category; deactivate with `active: false`.
#[utoipa::path(
    tag = "categories",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Category id")),
    request_body = UpdateCategory,
    responses(
        (status = 200, description = "The changed category", body = CategoryView),
        (status = 404, description = "No such category"),
    ),
)]
#[patch("/categories/{id:\\d+}")]
pub async fn update_category(
    state: web::Data<AppState>,
    _permit: Permit<op::UpdateCategory>,
    id: web::Path<CategoryId>,
    body: ApiJson<UpdateCategory>,
) -> Result<web::Json<CategoryView>, ApiError> {
    let (id, ApiJson(input)) = (id.into_inner(), body);
    let row = state
        .db
        .run(move |conn| org_service::update_category(conn, id, input))
        .await?;
    Ok(web::Json(CategoryView::from_row(row)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ClientListQuery {
    pub active: Option<bool>,
    /// Rows per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(max_length = 64, pattern = "^[A-Za-z0-9_-]*$")]
    pub cursor: Option<String>,
}

/// List integration clients (never their secrets).
#[utoipa::path(
    tag = "integration clients",
    security(("bearer" = [])),
    params(ClientListQuery),
    responses((status = 200, description = "One page of clients", body = Page<IntegrationClientView>)),
)]
#[get("/integration-clients")]
pub async fn list_clients(
    state: web::Data<AppState>,
    _permit: Permit<op::ListClients>,
    query: web::Query<ClientListQuery>,
) -> Result<web::Json<Page<IntegrationClientView>>, ApiError> {
    let query = query.into_inner();
    let page = PageParams {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .parse()?;
    let rows = state
        .db
        .run(move |conn| org_service::list_clients(conn, query.active, page))
        .await?;
    Ok(web::Json(Page::from_rows(
        rows,
        page,
        |c| c.id.get(),
        IntegrationClientView::from_row,
    )))
}

/// Register an integration client. The answer carries `client_secret`, shown this once.
#[utoipa::path(
    tag = "integration clients",
    security(("bearer" = [])),
    request_body = CreateIntegrationClient,
    responses((status = 201, description = "Created, with its secret", body = CreatedIntegrationClient)),
)]
#[post("/integration-clients")]
pub async fn create_client(
    state: web::Data<AppState>,
    principal: Permit<op::CreateClient>,
    body: ApiJson<CreateIntegrationClient>,
) -> Result<HttpResponse, ApiError> {
    let created_by = principal
        .user_id()
        .ok_or_else(|| ApiError::internal("admin without user id"))?;
    let ApiJson(input) = body;
    let created = state
        .db
        .run(move |conn| org_service::create_client(conn, created_by, input))
        .await?;
    Ok(HttpResponse::Created()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(created))
}

/// Rename or disable an integration client; a disabled client's tokens stop working at once.
#[utoipa::path(
    tag = "integration clients",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Integration client id")),
    request_body = UpdateIntegrationClient,
    responses(
        (status = 200, description = "The changed client", body = IntegrationClientView),
        (status = 404, description = "No such client"),
    ),
)]
#[patch("/integration-clients/{id:\\d+}")]
pub async fn update_client(
    state: web::Data<AppState>,
    _permit: Permit<op::UpdateClient>,
    id: web::Path<ClientId>,
    body: ApiJson<UpdateIntegrationClient>,
) -> Result<web::Json<IntegrationClientView>, ApiError> {
    let (id, ApiJson(input)) = (id.into_inner(), body);
    let row = state
        .db
        .run(move |conn| org_service::update_client(conn, id, input))
        .await?;
    Ok(web::Json(IntegrationClientView::from_row(row)))
}
