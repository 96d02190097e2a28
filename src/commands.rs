//! The administrative commands of the binary: create an administrator, load the demo organisation.
//! They run on a blocking thread with their own connection, through the same services as the API.

use crate::db::{Db, DbConnection, accounts, organisation as org_db};
use crate::domain::organisation::DepartmentKind;
use crate::domain::role::Role;
use crate::error::ApiError;
use crate::service::organisation::{
    self as org_service, CreateCategory, CreateDepartment, CreateIntegrationClient,
};
use crate::service::users::{self as users_service, CreateUser};

/// Creates an administrator account.
pub fn create_admin(db: &Db, username: &str, password: &str) -> Result<String, String> {
    let mut conn = db.get().map_err(|e| e.to_string())?;
    let user = users_service::create_user(
        &mut conn,
        CreateUser {
            username: username.to_owned(),
            display_name: username.to_owned(),
            role: Role::Admin,
            department_id: None,
            phone: None,
            password: password.to_owned(),
        },
    )
    .map_err(describe)?;
    Ok(format!(
        "created administrator '{}' (id {})",
        user.username, user.id
    ))
}

/// Renders an error of the services for a terminal, with the field problems spelt out.
pub(crate) fn describe(error: ApiError) -> String {
    let problem = error.problem();
    let mut text = problem.detail;
    for field in problem.errors {
        text.push_str(&format!("; {}: {}", field.field, field.message));
    }
    text
}

/// The password every demo account shares; documented in the README. Demo data is for trying the
/// API out, never for production.
pub const DEMO_PASSWORD: &str = "hotline-demo-2026";

/// Departments of the demo city: (code, name, kind, parent code).
const DEMO_DEPARTMENTS: &[(&str, &str, DepartmentKind, Option<&str>)] = &[
    ("CGJ", "市城市管理局", DepartmentKind::Bureau, None),
    ("ZJJ", "市住房和城乡建设局", DepartmentKind::Bureau, None),
    ("STHJJ", "市生态环境局", DepartmentKind::Bureau, None),
    ("SCJGJ", "市市场监督管理局", DepartmentKind::Bureau, None),
    ("JTJ", "市交通运输局", DepartmentKind::Bureau, None),
    (
        "RSJ",
        "市人力资源和社会保障局",
        DepartmentKind::Bureau,
        None,
    ),
    ("DC", "东城区人民政府", DepartmentKind::District, None),
    (
        "DC-DHM",
        "东华门街道办事处",
        DepartmentKind::Street,
        Some("DC"),
    ),
    (
        "DC-JS",
        "景山街道办事处",
        DepartmentKind::Street,
        Some("DC"),
    ),
    ("XC", "西城区人民政府", DepartmentKind::District, None),
    (
        "XC-XCA",
        "西长安街街道办事处",
        DepartmentKind::Street,
        Some("XC"),
    ),
    (
        "XC-YT",
        "月坛街道办事处",
        DepartmentKind::Street,
        Some("XC"),
    ),
    ("WATER", "市自来水集团", DepartmentKind::Utility, None),
    ("POWER", "国网市供电公司", DepartmentKind::Utility, None),
    ("GAS", "市燃气集团", DepartmentKind::Utility, None),
];

/// Categories: (code, name, parent code, default department code).
const DEMO_CATEGORIES: &[(&str, &str, Option<&str>, Option<&str>)] = &[
    ("01", "城市管理", None, Some("CGJ")),
    ("0101", "市容环境", Some("01"), Some("CGJ")),
    ("010101", "占道经营", Some("0101"), Some("CGJ")),
    ("010102", "乱堆乱放", Some("0101"), Some("CGJ")),
    ("0102", "违法建设", Some("01"), Some("CGJ")),
    ("0103", "噪声扰民", Some("01"), Some("STHJJ")),
    ("02", "住房保障", None, Some("ZJJ")),
    ("0201", "物业管理", Some("02"), Some("ZJJ")),
    ("0202", "房屋质量", Some("02"), Some("ZJJ")),
    ("03", "交通出行", None, Some("JTJ")),
    ("0301", "公交服务", Some("03"), Some("JTJ")),
    ("0302", "道路设施", Some("03"), Some("JTJ")),
    ("04", "公用事业", None, None),
    ("0401", "供水", Some("04"), Some("WATER")),
    ("0402", "供电", Some("04"), Some("POWER")),
    ("0403", "供气", Some("04"), Some("GAS")),
    ("05", "劳动保障", None, Some("RSJ")),
    ("0501", "拖欠工资", Some("05"), Some("RSJ")),
    ("0502", "社会保险", Some("05"), Some("RSJ")),
    ("06", "市场监管", None, Some("SCJGJ")),
    ("0601", "食品安全", Some("06"), Some("SCJGJ")),
    ("0602", "消费维权", Some("06"), Some("SCJGJ")),
    ("07", "政策咨询", None, None),
];

/// A demo account: (username, display name, role, department code, phone).
type DemoUser = (
    &'static str,
    &'static str,
    Role,
    Option<&'static str>,
    Option<&'static str>,
);

const DEMO_USERS: &[DemoUser] = &[
    ("admin", "系统管理员", Role::Admin, None, None),
    ("operator", "接线员 王芳", Role::Operator, None, None),
    ("dispatcher", "派单员 李强", Role::Dispatcher, None, None),
    ("supervisor", "督办员 赵敏", Role::Supervisor, None, None),
    (
        "cgj.staff",
        "城管局承办人 陈刚",
        Role::DepartmentStaff,
        Some("CGJ"),
        Some("010-65123456"),
    ),
    (
        "cgj.admin",
        "城管局热线负责人 刘洋",
        Role::DepartmentAdmin,
        Some("CGJ"),
        Some("010-65123400"),
    ),
    (
        "dc.staff",
        "东城区承办人 孙丽",
        Role::DepartmentStaff,
        Some("DC"),
        None,
    ),
    ("analyst", "数据分析员 周杰", Role::Analyst, None, None),
    (
        "13800138000",
        "张先生",
        Role::Citizen,
        None,
        Some("13800138000"),
    ),
];

/// Loads the demo organisation. Refuses when it is already there, so it never duplicates.
pub fn load_demo(db: &Db) -> Result<String, String> {
    let mut conn = db.get().map_err(|e| e.to_string())?;
    load_demo_on(&mut conn).map_err(describe)
}

pub(crate) fn load_demo_on(conn: &mut DbConnection) -> Result<String, ApiError> {
    if accounts::find_user_by_username(conn, "admin")?.is_some() {
        return Err(ApiError::conflict(
            "demo_loaded",
            "the demo organisation is already loaded (user 'admin' exists)",
        ));
    }
    let mut department_ids = std::collections::HashMap::new();
    for (code, name, kind, parent) in DEMO_DEPARTMENTS {
        let row = org_service::create_department(
            conn,
            CreateDepartment {
                code: (*code).into(),
                name: (*name).into(),
                parent_id: parent.map(|p| department_ids[p]),
                kind: *kind,
                contact_person: None,
                contact_phone: None,
            },
        )?;
        department_ids.insert(*code, row.id);
    }
    let mut category_ids = std::collections::HashMap::new();
    for (code, name, parent, department) in DEMO_CATEGORIES {
        let row = org_service::create_category(
            conn,
            CreateCategory {
                code: (*code).into(),
                name: (*name).into(),
                parent_id: parent.map(|p| category_ids[p]),
                default_department_id: department.map(|d| department_ids[d]),
            },
        )?;
        category_ids.insert(*code, row.id);
    }
    let mut admin_id = 0;
    for (username, display_name, role, department, phone) in DEMO_USERS {
        let user = users_service::create_user(
            conn,
            CreateUser {
                username: (*username).into(),
                display_name: (*display_name).into(),
                role: *role,
                department_id: department.map(|d| department_ids[d]),
                phone: phone.map(Into::into),
                password: DEMO_PASSWORD.into(),
            },
        )?;
        if *role == Role::Admin {
            admin_id = user.id;
        }
    }
    let client = org_service::create_client(
        conn,
        admin_id,
        CreateIntegrationClient {
            name: "微信小程序后端（演示）".into(),
        },
    )?;
    let departments = org_db::all_departments(conn)?.len();
    Ok(format!(
        "demo organisation loaded: {departments} departments, {} categories, {} users (password '{DEMO_PASSWORD}'), \
         integration client {} with secret {} (shown once)",
        DEMO_CATEGORIES.len(),
        DEMO_USERS.len(),
        client.client.client_id,
        client.client_secret,
    ))
}
