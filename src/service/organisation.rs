//! Departments, categories and integration clients: administered by admins, read by everyone
//! signed in (they are the directory front ends build their forms from).

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use validator::Validate;

use super::users::nullable;
use crate::auth::secrets;
use crate::db::models::*;
use crate::db::organisation::{CategoryFilter, DepartmentFilter};
use crate::db::{DbConnection, PageRequest, accounts, now, organisation, write_transaction};
use crate::domain::account::{parse_code, parse_name};
use crate::domain::ids::{CategoryId, ClientId, DepartmentId, UserId};
use crate::domain::organisation::{DepartmentKind, TreeNode, would_create_cycle};
use crate::domain::phone::PhoneNumber;
use crate::error::{ApiError, ErrorCode, FieldErrorCode, FieldErrors};
use crate::validation::{self, parsed};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DepartmentView {
    pub id: DepartmentId,
    #[schema(example = "CGJ")]
    pub code: String,
    #[schema(example = "市城市管理局")]
    pub name: String,
    pub parent_id: Option<DepartmentId>,
    pub kind: DepartmentKind,
    pub contact_person: Option<String>,
    pub contact_phone: Option<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl DepartmentView {
    pub fn from_row(row: Department) -> Self {
        Self {
            kind: row.kind,
            id: row.id,
            code: row.code,
            name: row.name,
            parent_id: row.parent_id,
            contact_person: row.contact_person,
            contact_phone: row.contact_phone,
            active: row.active,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        }
    }
}

/// A department with its sub-departments.
#[derive(Debug, Serialize, ToSchema)]
pub struct DepartmentNode {
    #[serde(flatten)]
    pub department: DepartmentView,
    #[schema(no_recursion)]
    pub children: Vec<DepartmentNode>,
}

impl From<TreeNode<DepartmentView>> for DepartmentNode {
    fn from(node: TreeNode<DepartmentView>) -> Self {
        Self {
            department: node.item,
            children: node.children.into_iter().map(Into::into).collect(),
        }
    }
}

/// A category with its sub-categories.
#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryNode {
    #[serde(flatten)]
    pub category: CategoryView,
    #[schema(no_recursion)]
    pub children: Vec<CategoryNode>,
}

impl From<TreeNode<CategoryView>> for CategoryNode {
    fn from(node: TreeNode<CategoryView>) -> Self {
        Self {
            category: node.item,
            children: node.children.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Debug, eserde::Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDepartment {
    /// Unique, human-readable: 1–32 of `A-Z a-z 0-9 . _ -`.
    #[schema(example = "CGJ", min_length = 1, max_length = 32)]
    #[validate(length(min = 1, max = 32), custom(function = "validation::code"))]
    pub code: String,
    #[schema(example = "市城市管理局", min_length = 1, max_length = 100)]
    #[validate(length(min = 1, max = 100), custom(function = "validation::name"))]
    pub name: String,
    #[serde(default)]
    pub parent_id: Option<DepartmentId>,
    pub kind: DepartmentKind,
    #[schema(max_length = 50)]
    #[validate(length(max = 50), custom(function = "validation::name"))]
    #[serde(default)]
    pub contact_person: Option<String>,
    #[schema(example = "010-12345678")]
    #[validate(custom(function = "validation::phone"))]
    #[serde(default)]
    pub contact_phone: Option<String>,
}

/// Changes to a department; `null` clears an optional field. Departments are deactivated
/// (`active: false`), never deleted.
#[derive(Debug, Default, eserde::Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDepartment {
    #[schema(min_length = 1, max_length = 100)]
    #[validate(length(min = 1, max = 100), custom(function = "validation::name"))]
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<DepartmentId>)]
    pub parent_id: Option<Option<DepartmentId>>,
    #[serde(default)]
    pub kind: Option<DepartmentKind>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 50)]
    #[validate(length(max = 50), custom(function = "validation::name"))]
    pub contact_person: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, example = "010-12345678")]
    #[validate(custom(function = "validation::phone"))]
    pub contact_phone: Option<Option<String>>,
    #[serde(default)]
    pub active: Option<bool>,
}

fn check_parent_department(
    conn: &mut DbConnection,
    errors: &mut FieldErrors,
    parent: Option<DepartmentId>,
) -> Result<(), ApiError> {
    if let Some(parent) = parent
        && organisation::find_department(conn, parent)?.is_none()
    {
        errors.add(
            "parent_id",
            FieldErrorCode::NotFound,
            "no department with this id",
        );
    }
    Ok(())
}

pub fn create_department(
    conn: &mut DbConnection,
    input: CreateDepartment,
) -> Result<Department, ApiError> {
    write_transaction(conn, |conn| {
        let code = parsed(parse_code(&input.code))?;
        let name = parsed(parse_name(&input.name, 100))?;
        let contact_person = input
            .contact_person
            .as_deref()
            .map(|p| parsed(parse_name(p, 50)))
            .transpose()?;
        let contact_phone = input
            .contact_phone
            .as_deref()
            .map(|p| parsed(PhoneNumber::parse(p)))
            .transpose()?;
        let mut errors = FieldErrors::default();
        check_parent_department(conn, &mut errors, input.parent_id)?;
        errors.finish()?;
        let now = now();
        organisation::insert_department(
            conn,
            NewDepartment {
                code,
                name,
                parent_id: input.parent_id,
                kind: input.kind,
                contact_person,
                contact_phone: contact_phone.map(|p| p.to_string()),
                active: true,
                created_at: now,
                updated_at: now,
            },
        )
        .map_err(duplicate_code)
    })
}

fn duplicate_code(error: diesel::result::Error) -> ApiError {
    if crate::db::is_unique_violation(&error) {
        ApiError::conflict(
            ErrorCode::CodeTaken,
            "another record already uses this code",
        )
    } else {
        error.into()
    }
}

pub fn update_department(
    conn: &mut DbConnection,
    id: DepartmentId,
    input: UpdateDepartment,
) -> Result<Department, ApiError> {
    write_transaction(conn, |conn| -> Result<_, ApiError> {
        organisation::find_department(conn, id)?
            .ok_or_else(|| ApiError::not_found("no such department"))?;
        let mut errors = FieldErrors::default();
        let mut changes = DepartmentChanges {
            name: input
                .name
                .as_deref()
                .map(|n| parsed(parse_name(n, 100)))
                .transpose()?,
            kind: input.kind,
            active: input.active,
            updated_at: Some(now()),
            ..Default::default()
        };
        if let Some(person) = &input.contact_person {
            changes.contact_person = person
                .as_deref()
                .map(|p| parsed(parse_name(p, 50)))
                .transpose()
                .map(Some)?;
        }
        if let Some(phone) = &input.contact_phone {
            changes.contact_phone = phone
                .as_deref()
                .map(|p| parsed(PhoneNumber::parse(p)).map(|p| p.to_string()))
                .transpose()
                .map(Some)?;
        }
        if let Some(parent) = input.parent_id {
            check_parent_department(conn, &mut errors, parent)?;
            if let Some(parent) = parent
                && would_create_cycle(&organisation::department_parents(conn)?, id, parent)
            {
                errors.add(
                    "parent_id",
                    FieldErrorCode::Cycle,
                    "a department cannot sit under itself or its own sub-department",
                );
            }
            changes.parent_id = Some(parent);
        }
        errors.finish()?;
        organisation::update_department(conn, id, changes).map_err(ApiError::from)
    })
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CategoryView {
    pub id: CategoryId,
    #[schema(example = "010203")]
    pub code: String,
    #[schema(example = "占道经营")]
    pub name: String,
    pub parent_id: Option<CategoryId>,
    /// The department suggested when dispatching cases of this category.
    pub default_department_id: Option<DepartmentId>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl CategoryView {
    pub fn from_row(row: Category) -> Self {
        Self {
            id: row.id,
            code: row.code,
            name: row.name,
            parent_id: row.parent_id,
            default_department_id: row.default_department_id,
            active: row.active,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        }
    }
}

#[derive(Debug, eserde::Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCategory {
    #[schema(example = "010203", min_length = 1, max_length = 32)]
    #[validate(length(min = 1, max = 32), custom(function = "validation::code"))]
    pub code: String,
    #[schema(example = "占道经营", min_length = 1, max_length = 100)]
    #[validate(length(min = 1, max = 100), custom(function = "validation::name"))]
    pub name: String,
    #[serde(default)]
    pub parent_id: Option<CategoryId>,
    #[serde(default)]
    pub default_department_id: Option<DepartmentId>,
}

/// Changes to a category. Inactive categories stay valid on old cases.
#[derive(Debug, Default, eserde::Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCategory {
    #[schema(min_length = 1, max_length = 100)]
    #[validate(length(min = 1, max = 100), custom(function = "validation::name"))]
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<CategoryId>)]
    pub parent_id: Option<Option<CategoryId>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<DepartmentId>)]
    pub default_department_id: Option<Option<DepartmentId>>,
    #[serde(default)]
    pub active: Option<bool>,
}

fn check_category_links(
    conn: &mut DbConnection,
    errors: &mut FieldErrors,
    parent: Option<CategoryId>,
    department: Option<DepartmentId>,
) -> Result<(), ApiError> {
    if let Some(parent) = parent
        && organisation::find_category(conn, parent)?.is_none()
    {
        errors.add(
            "parent_id",
            FieldErrorCode::NotFound,
            "no category with this id",
        );
    }
    if let Some(department) = department
        && !organisation::find_department(conn, department)?.is_some_and(|d| d.active)
    {
        errors.add(
            "default_department_id",
            FieldErrorCode::NotFound,
            "no active department with this id",
        );
    }
    Ok(())
}

pub fn create_category(
    conn: &mut DbConnection,
    input: CreateCategory,
) -> Result<Category, ApiError> {
    write_transaction(conn, |conn| {
        let code = parsed(parse_code(&input.code))?;
        let name = parsed(parse_name(&input.name, 100))?;
        let mut errors = FieldErrors::default();
        check_category_links(
            conn,
            &mut errors,
            input.parent_id,
            input.default_department_id,
        )?;
        errors.finish()?;
        let now = now();
        organisation::insert_category(
            conn,
            NewCategory {
                code,
                name,
                parent_id: input.parent_id,
                default_department_id: input.default_department_id,
                active: true,
                created_at: now,
                updated_at: now,
            },
        )
        .map_err(duplicate_code)
    })
}

pub fn update_category(
    conn: &mut DbConnection,
    id: CategoryId,
    input: UpdateCategory,
) -> Result<Category, ApiError> {
    write_transaction(conn, |conn| -> Result<_, ApiError> {
        organisation::find_category(conn, id)?
            .ok_or_else(|| ApiError::not_found("no such category"))?;
        let name = input
            .name
            .as_deref()
            .map(|n| parsed(parse_name(n, 100)))
            .transpose()?;
        let mut errors = FieldErrors::default();
        check_category_links(
            conn,
            &mut errors,
            input.parent_id.flatten(),
            input.default_department_id.flatten(),
        )?;
        if let Some(Some(parent)) = input.parent_id
            && would_create_cycle(&organisation::category_parents(conn)?, id, parent)
        {
            errors.add(
                "parent_id",
                FieldErrorCode::Cycle,
                "a category cannot sit under itself or its own sub-category",
            );
        }
        errors.finish()?;
        organisation::update_category(
            conn,
            id,
            CategoryChanges {
                name,
                parent_id: input.parent_id,
                default_department_id: input.default_department_id,
                active: input.active,
                updated_at: Some(now()),
            },
        )
        .map_err(ApiError::from)
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationClientView {
    pub id: ClientId,
    /// The id the client presents at `POST /auth/token`.
    #[schema(example = "cli_3f9a1c0b7d2e4f56")]
    pub client_id: String,
    pub name: String,
    pub active: bool,
    /// Whether its webhooks hear of every case (a city data platform), not only of the cases
    /// it registered.
    pub all_cases: bool,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl IntegrationClientView {
    pub fn from_row(row: IntegrationClient) -> Self {
        Self {
            id: row.id,
            client_id: row.client_id,
            name: row.name,
            active: row.active,
            all_cases: row.all_cases,
            created_by: row.created_by,
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        }
    }
}

/// The answer to creating a client: the only time the secret is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedIntegrationClient {
    #[serde(flatten)]
    pub client: IntegrationClientView,
    /// Store it now: only its digest is kept, it cannot be shown again.
    pub client_secret: String,
}

#[derive(Debug, eserde::Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIntegrationClient {
    #[schema(example = "微信小程序后端", min_length = 1, max_length = 100)]
    #[validate(length(min = 1, max = 100), custom(function = "validation::name"))]
    pub name: String,
}

#[derive(Debug, Default, eserde::Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateIntegrationClient {
    #[schema(min_length = 1, max_length = 100)]
    #[validate(length(min = 1, max = 100), custom(function = "validation::name"))]
    #[serde(default)]
    pub name: Option<String>,
    /// A disabled client's tokens stop working at once.
    #[serde(default)]
    pub active: Option<bool>,
    /// Let the client's webhooks hear of every case, not only of the cases it registered.
    #[serde(default)]
    pub all_cases: Option<bool>,
}

pub fn create_client(
    conn: &mut DbConnection,
    created_by: UserId,
    input: CreateIntegrationClient,
) -> Result<CreatedIntegrationClient, ApiError> {
    let name = parsed(parse_name(&input.name, 100))?;
    let secret = secrets::random_token();
    let client_id = format!("cli_{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
    let now = now();
    let row = write_transaction(conn, |conn| {
        accounts::insert_client(
            conn,
            NewIntegrationClient {
                client_id,
                name,
                secret_hash: secrets::digest(&secret),
                active: true,
                created_by,
                created_at: now,
                updated_at: now,
            },
        )
    })?;
    Ok(CreatedIntegrationClient {
        client: IntegrationClientView::from_row(row),
        client_secret: secret,
    })
}

pub fn update_client(
    conn: &mut DbConnection,
    id: ClientId,
    input: UpdateIntegrationClient,
) -> Result<IntegrationClient, ApiError> {
    let name = input
        .name
        .as_deref()
        .map(|n| parsed(parse_name(n, 100)))
        .transpose()?;
    write_transaction(conn, |conn| -> Result<_, ApiError> {
        accounts::find_client(conn, id)?
            .ok_or_else(|| ApiError::not_found("no such integration client"))?;
        accounts::update_client(
            conn,
            id,
            IntegrationClientChanges {
                name,
                active: input.active,
                all_cases: input.all_cases,
                updated_at: Some(now()),
            },
        )
        .map_err(ApiError::from)
    })
}

// Reads of the directory, for the routes (which never reach into the storage layer themselves).

pub fn list_departments(
    conn: &mut DbConnection,
    filter: &DepartmentFilter,
    page: PageRequest,
) -> Result<Vec<Department>, ApiError> {
    Ok(organisation::list_departments(conn, filter, page)?)
}

pub fn all_departments(conn: &mut DbConnection) -> Result<Vec<Department>, ApiError> {
    Ok(organisation::all_departments(conn)?)
}

pub fn get_department(conn: &mut DbConnection, id: DepartmentId) -> Result<Department, ApiError> {
    organisation::find_department(conn, id)?
        .ok_or_else(|| ApiError::not_found("no such department"))
}

pub fn list_categories(
    conn: &mut DbConnection,
    filter: &CategoryFilter,
    page: PageRequest,
) -> Result<Vec<Category>, ApiError> {
    Ok(organisation::list_categories(conn, filter, page)?)
}

pub fn all_categories(conn: &mut DbConnection) -> Result<Vec<Category>, ApiError> {
    Ok(organisation::all_categories(conn)?)
}

pub fn get_category(conn: &mut DbConnection, id: CategoryId) -> Result<Category, ApiError> {
    organisation::find_category(conn, id)?.ok_or_else(|| ApiError::not_found("no such category"))
}

pub fn list_clients(
    conn: &mut DbConnection,
    active: Option<bool>,
    page: PageRequest,
) -> Result<Vec<IntegrationClient>, ApiError> {
    Ok(accounts::list_clients(conn, active, page)?)
}
