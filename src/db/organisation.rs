//! Departments and categories.

use std::collections::HashMap;

use diesel::prelude::*;

use crate::domain::ids::{CategoryId, DepartmentId};
use crate::domain::organisation::DepartmentKind;

use super::models::*;
use super::schema::{categories, departments};
use super::{DbConnection, MultiBackend, PageRequest, like_pattern};

pub fn insert_department(conn: &mut DbConnection, row: NewDepartment) -> QueryResult<Department> {
    diesel::insert_into(departments::table)
        .values(row)
        .returning(departments::all_columns)
        .get_result(conn)
}

pub fn find_department(
    conn: &mut DbConnection,
    id: DepartmentId,
) -> QueryResult<Option<Department>> {
    departments::table
        .find(id)
        .select(departments::all_columns)
        .get_result(conn)
        .optional()
}

pub fn update_department(
    conn: &mut DbConnection,
    id: DepartmentId,
    changes: DepartmentChanges,
) -> QueryResult<Department> {
    diesel::update(departments::table.find(id))
        .set(changes)
        .returning(departments::all_columns)
        .get_result(conn)
}

pub fn all_departments(conn: &mut DbConnection) -> QueryResult<Vec<Department>> {
    departments::table
        .select(departments::all_columns)
        .order(departments::id.asc())
        .load(conn)
}

pub fn department_parents(
    conn: &mut DbConnection,
) -> QueryResult<HashMap<DepartmentId, Option<DepartmentId>>> {
    let rows: Vec<(DepartmentId, Option<DepartmentId>)> = departments::table
        .select((departments::id, departments::parent_id))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

#[derive(Debug, Default)]
pub struct DepartmentFilter {
    pub parent_id: Option<DepartmentId>,
    pub kind: Option<DepartmentKind>,
    pub active: Option<bool>,
    pub q: Option<String>,
}

pub fn list_departments(
    conn: &mut DbConnection,
    filter: &DepartmentFilter,
    page: PageRequest,
) -> QueryResult<Vec<Department>> {
    let mut query = departments::table
        .select(departments::all_columns)
        .into_boxed::<MultiBackend>();
    if let Some(parent_id) = filter.parent_id {
        query = query.filter(departments::parent_id.eq(parent_id));
    }
    if let Some(kind) = &filter.kind {
        query = query.filter(departments::kind.eq(*kind));
    }
    if let Some(active) = filter.active {
        query = query.filter(departments::active.eq(active));
    }
    if let Some(q) = &filter.q {
        let pattern = like_pattern(q);
        query = query.filter(
            departments::name
                .like(pattern.clone())
                .escape('\\')
                .or(departments::code.like(pattern).escape('\\')),
        );
    }
    if let Some(after) = page.after {
        query = query.filter(departments::id.gt(after));
    }
    query
        .order(departments::id.asc())
        .limit(page.fetch_limit())
        .load(conn)
}

pub fn insert_category(conn: &mut DbConnection, row: NewCategory) -> QueryResult<Category> {
    diesel::insert_into(categories::table)
        .values(row)
        .returning(categories::all_columns)
        .get_result(conn)
}

pub fn find_category(conn: &mut DbConnection, id: CategoryId) -> QueryResult<Option<Category>> {
    categories::table
        .find(id)
        .select(categories::all_columns)
        .get_result(conn)
        .optional()
}

pub fn update_category(
    conn: &mut DbConnection,
    id: CategoryId,
    changes: CategoryChanges,
) -> QueryResult<Category> {
    diesel::update(categories::table.find(id))
        .set(changes)
        .returning(categories::all_columns)
        .get_result(conn)
}

pub fn all_categories(conn: &mut DbConnection) -> QueryResult<Vec<Category>> {
    categories::table
        .select(categories::all_columns)
        .order(categories::id.asc())
        .load(conn)
}

pub fn category_parents(
    conn: &mut DbConnection,
) -> QueryResult<HashMap<CategoryId, Option<CategoryId>>> {
    let rows: Vec<(CategoryId, Option<CategoryId>)> = categories::table
        .select((categories::id, categories::parent_id))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

#[derive(Debug, Default)]
pub struct CategoryFilter {
    pub parent_id: Option<CategoryId>,
    pub default_department_id: Option<DepartmentId>,
    pub active: Option<bool>,
    pub q: Option<String>,
}

pub fn list_categories(
    conn: &mut DbConnection,
    filter: &CategoryFilter,
    page: PageRequest,
) -> QueryResult<Vec<Category>> {
    let mut query = categories::table
        .select(categories::all_columns)
        .into_boxed::<MultiBackend>();
    if let Some(parent_id) = filter.parent_id {
        query = query.filter(categories::parent_id.eq(parent_id));
    }
    if let Some(department) = filter.default_department_id {
        query = query.filter(categories::default_department_id.eq(department));
    }
    if let Some(active) = filter.active {
        query = query.filter(categories::active.eq(active));
    }
    if let Some(q) = &filter.q {
        let pattern = like_pattern(q);
        query = query.filter(
            categories::name
                .like(pattern.clone())
                .escape('\\')
                .or(categories::code.like(pattern).escape('\\')),
        );
    }
    if let Some(after) = page.after {
        query = query.filter(categories::id.gt(after));
    }
    query
        .order(categories::id.asc())
        .limit(page.fetch_limit())
        .load(conn)
}
