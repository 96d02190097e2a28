//! The administrative commands of the binary: create an administrator, load the demo organisation
//! and demo cases, run the deadline sweep once, rebuild or check the statistics.
//! They run on a blocking thread with their own connection, through the same services as the API.

use crate::auth::password;
use crate::db::{Db, DbConnection, accounts, organisation as org_db};
use crate::domain::ids::{CaseId, DepartmentId, UserId};
use crate::domain::organisation::DepartmentKind;
use crate::domain::role::Role;
use crate::error::{ApiError, ErrorCode};
use crate::service::organisation::{
    self as org_service, CreateCategory, CreateDepartment, CreateIntegrationClient,
};
use crate::service::reference::ReferenceData;
use crate::service::supervision::{self, SweepReport};
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
        password::hash(password),
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
    ("0404", "供暖", Some("04"), Some("ZJJ")),
    ("05", "劳动保障", None, Some("RSJ")),
    ("0501", "拖欠工资", Some("05"), Some("RSJ")),
    ("0502", "社会保险", Some("05"), Some("RSJ")),
    ("06", "市场监管", None, Some("SCJGJ")),
    ("0601", "食品安全", Some("06"), Some("SCJGJ")),
    ("0602", "消费维权", Some("06"), Some("SCJGJ")),
    ("07", "政策咨询", None, None),
    ("0701", "户籍证件", Some("07"), None),
    ("0702", "教育入学", Some("07"), None),
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
            ErrorCode::DemoLoaded,
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
    let mut admin_id = UserId(0);
    let demo_hash = password::hash(DEMO_PASSWORD);
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
            demo_hash.clone(),
        )?;
        if *role == Role::Admin {
            admin_id = user.id;
        }
    }
    let supervisor = accounts::find_user_by_username(conn, "supervisor")?
        .ok_or_else(|| ApiError::internal("demo supervisor missing"))?;
    let articles = crate::seed::knowledge::load_demo_articles(
        conn,
        &crate::auth::Principal::acting_as(supervisor, Role::Supervisor),
        &category_ids,
        &department_ids,
        chrono::Utc::now().date_naive(),
    )?;
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
         {articles} knowledge-base articles, integration client {} with secret {} (shown once)",
        DEMO_CATEGORIES.len(),
        DEMO_USERS.len(),
        client.client.client_id,
        client.client_secret,
    ))
}

/// Where a demo case is taken to, through the same services the API uses.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum DemoStage {
    Registered,
    PendingDispatch,
    Rejected,
    Answered,
    Dispatched,
    Returned,
    InProgress,
    PendingReview,
    AwaitingFollowUp,
    /// Followed up: the citizen was satisfied.
    ClosedAfterFollowUp,
    /// Invited to a survey and answered it through the link, satisfied: the answer closed it.
    ClosedBySurvey,
    /// Followed up: the citizen was dissatisfied; the supervisor decides.
    AwaitingDecision,
    ClosedBySupervisor,
    Merged,
}

/// Demo cases: (stage, kind, channel, category code, title, description, address, complainant
/// name and phone, contact allowed, confidential).
#[allow(clippy::type_complexity)]
const DEMO_CASES: &[(
    DemoStage,
    crate::domain::sla::CaseKind,
    crate::domain::case::Channel,
    &str,
    &str,
    &str,
    &str,
    (&str, &str, bool, bool),
)] = {
    use crate::domain::case::Channel::*;
    use crate::domain::sla::CaseKind::*;
    use DemoStage::*;
    &[
        (
            Registered,
            Complaint,
            Phone,
            "0103",
            "夜间施工噪音扰民",
            "小区旁工地每天晚上十一点后仍在施工，噪音很大，影响休息。",
            "东城区景山街道某小区3号楼",
            ("王女士", "13911112222", true, false),
        ),
        (
            PendingDispatch,
            Help,
            Wechat,
            "0302",
            "路口红绿灯故障",
            "十字路口东西向红绿灯不亮已两天，车辆通行混乱，存在安全隐患。",
            "东城区东华门大街与南池子大街路口",
            ("刘先生", "13722223333", true, false),
        ),
        (
            Rejected,
            Complaint,
            Phone,
            "07",
            "邻里借款纠纷",
            "邻居借钱两年不还，希望政府帮忙追讨。",
            "西城区某小区",
            ("赵先生", "13633334444", true, false),
        ),
        (
            Answered,
            Consultation,
            Phone,
            "0502",
            "社保卡补办咨询",
            "社保卡丢失，想了解如何补办、需要带哪些材料。",
            "",
            ("孙女士", "13544445555", true, false),
        ),
        (
            Dispatched,
            Complaint,
            App,
            "010101",
            "小区门口占道经营",
            "每天傍晚有流动摊贩在小区北门占道经营，影响居民通行。",
            "东城区东华门街道某小区北门",
            ("张先生", "13812345678", false, false),
        ),
        (
            Returned,
            Complaint,
            Web,
            "0201",
            "物业不作为",
            "小区电梯经常故障，物业维修不及时。",
            "东城区景山街道某小区",
            ("周女士", "13955556666", true, false),
        ),
        (
            InProgress,
            Complaint,
            Phone,
            "010102",
            "道路两侧乱堆建筑垃圾",
            "沿街商户装修后把建筑垃圾堆在人行道上，已经一周没有清运。",
            "东城区东华门街道某路段",
            ("吴先生", "13466667777", true, false),
        ),
        (
            PendingReview,
            Suggestion,
            Email,
            "0101",
            "建议增设垃圾分类投放点",
            "小区只有一个垃圾分类投放点，距离较远，建议增设。",
            "东城区景山街道某小区",
            ("郑女士", "13377778888", true, false),
        ),
        (
            AwaitingFollowUp,
            Report,
            Phone,
            "0102",
            "举报违法搭建",
            "一楼住户在公共绿地上违法搭建彩钢板房。",
            "东城区东华门街道某小区5号楼",
            ("匿名", "13288889999", false, true),
        ),
        (
            ClosedAfterFollowUp,
            Complaint,
            Phone,
            "010101",
            "菜市场门口垃圾堆积",
            "菜市场门口垃圾堆积多日无人清运，气味很大。",
            "东城区东华门街道某菜市场",
            ("孙女士", "13566667777", true, false),
        ),
        (
            ClosedBySurvey,
            Complaint,
            Wechat,
            "010101",
            "夜市摊位占用消防通道",
            "夜市摊贩把摊位摆到小区消防通道上，消防车无法通行。",
            "东城区景山街道某小区东门",
            ("冯女士", "13677778888", true, false),
        ),
        (
            AwaitingDecision,
            Complaint,
            Phone,
            "0102",
            "楼道堆放杂物未清理",
            "楼道长期堆放杂物，存在消防隐患，物业一直不处理。",
            "东城区景山街道某小区7号楼",
            ("周先生", "13455556666", true, false),
        ),
        (
            ClosedBySupervisor,
            Complaint,
            Letter,
            "010101",
            "要求取缔全部早市",
            "希望取缔周边所有早市摊位。",
            "东城区某早市",
            ("钱先生", "13199990000", true, false),
        ),
        (
            Merged,
            Complaint,
            Phone,
            "010101",
            "小区北门又有人摆摊",
            "小区北门傍晚又有流动摊贩摆摊，和上次反映的是同一个问题。",
            "东城区东华门街道某小区北门",
            ("张先生", "13812345678", false, false),
        ),
    ]
};

/// Loads demo cases in every stage of the lifecycle (after [`load_demo`]), so that every list and
/// every view has something to show. Refuses when cases exist already.
pub fn load_demo_cases(db: &Db, tz: chrono_tz::Tz) -> Result<String, String> {
    let mut conn = db.get().map_err(|e| e.to_string())?;
    load_demo_cases_on(&mut conn, tz).map_err(describe)
}

fn demo_principal(
    conn: &mut DbConnection,
    username: &str,
) -> Result<crate::auth::Principal, ApiError> {
    let user = accounts::find_user_by_username(conn, username)?
        .ok_or_else(|| ApiError::internal(format!("demo user {username} missing")))?;
    let role = user.role;
    Ok(crate::auth::Principal::acting_as(user, role))
}

fn load_demo_cases_on(conn: &mut DbConnection, tz: chrono_tz::Tz) -> Result<String, ApiError> {
    use crate::domain::follow_up::{CallOutcome, FollowUpChannel, Resolved, Satisfaction};
    use crate::domain::survey::RawAnswer;
    use crate::service::assignments::{self, AssignmentMove, Reply};
    use crate::service::case_closing::{self, CloseCase, MergeCase};
    use crate::service::dispatch::{
        self, DispatchCase, DispatchTargetInput, ReviewCase, ReviewDecision,
    };
    use crate::service::follow_up::{self, RecordCall};
    use crate::service::intake::{self, ComplainantInput, IntakeDecision, RegisterCase};
    use crate::service::surveys;

    let listed = crate::db::cases::list_cases(
        conn,
        &Default::default(),
        crate::db::PageRequest {
            after: None,
            limit: 1,
        },
    )?;
    if !listed.is_empty() {
        return Err(ApiError::conflict(
            ErrorCode::DemoCasesLoaded,
            "cases exist already; demo cases are added only to an empty database",
        ));
    }
    let reference = crate::service::reference::ReferenceData::load(conn, tz)?;
    let operator = demo_principal(conn, "operator")?;
    let dispatcher = demo_principal(conn, "dispatcher")?;
    let supervisor = demo_principal(conn, "supervisor")?;
    let cgj_staff = demo_principal(conn, "cgj.staff")?;
    let dc_staff = demo_principal(conn, "dc.staff")?;
    let departments = org_db::all_departments(conn)?;
    let department = |code: &str| departments.iter().find(|d| d.code == code).map(|d| d.id);
    let categories = org_db::all_categories(conn)?;
    let (cgj, dc) = (department("CGJ"), department("DC"));

    let mut first_of_matter: Option<CaseId> = None;
    for (stage, kind, channel, category, title, description, address, complainant) in DEMO_CASES {
        let (name, phone, contact_allowed, confidential) = *complainant;
        let case = intake::register(
            conn,
            &operator,
            RegisterCase {
                channel: Some(*channel),
                kind: *kind,
                urgency: None,
                category_id: categories
                    .iter()
                    .find(|c| c.code == *category)
                    .map(|c| c.id),
                title: (*title).into(),
                description: (*description).into(),
                address: (!address.is_empty()).then(|| (*address).into()),
                district_id: dc,
                latitude: None,
                longitude: None,
                occurred_at: None,
                complainant: Some(ComplainantInput {
                    name: Some(name.into()),
                    phone: Some(phone.into()),
                    contact_address: None,
                    contact_allowed: Some(contact_allowed),
                    confidential: Some(confidential),
                    anonymous: Some(false),
                }),
                external_ref: None,
                attachment_ids: None,
            },
            None,
            chrono::Duration::zero(),
            tz,
            crate::service::attachments::Limits::NONE,
        )?
        .case;
        let id = case.id;
        let decision = match stage {
            DemoStage::Registered => continue,
            DemoStage::Rejected => IntakeDecision::Reject {
                reason: "属于民事纠纷，不在热线受理范围".into(),
                redirect_to: "请通过人民调解委员会或向人民法院起诉解决".into(),
            },
            DemoStage::Answered => IntakeDecision::Answer {
                answer: "携带本人身份证到任一社保经办网点即可补办，也可在手机App上申请。".into(),
                article: None,
            },
            _ => IntakeDecision::Accept,
        };
        intake::decide(conn, &operator, id, decision, None)?;
        match stage {
            DemoStage::Merged => {
                if let Some(into_case_id) = first_of_matter {
                    case_closing::merge(
                        conn,
                        &operator,
                        id,
                        MergeCase {
                            into_case_id,
                            reason: Some("同一市民重复反映同一事项".into()),
                        },
                        None,
                    )?;
                }
                continue;
            }
            s if *s < DemoStage::Dispatched => continue,
            _ => {}
        }
        if *stage == DemoStage::Dispatched {
            first_of_matter = Some(id);
        }
        let joint = *stage == DemoStage::InProgress;
        let mut targets = vec![DispatchTargetInput {
            department_id: cgj.unwrap_or(DepartmentId(0)),
            role: Some(crate::domain::dispatch::AssignmentRole::Lead),
        }];
        if joint {
            targets.push(DispatchTargetInput {
                department_id: dc.unwrap_or(DepartmentId(0)),
                role: None,
            });
        }
        dispatch::dispatch(
            conn,
            &reference,
            &dispatcher,
            id,
            DispatchCase {
                departments: targets,
                instructions: Some("请按时限核实处理并答复市民。".into()),
                assigned: None,
                reply_due_at: None,
            },
            None,
        )?;
        if *stage == DemoStage::Dispatched {
            continue;
        }
        if *stage == DemoStage::ClosedBySupervisor {
            case_closing::close(
                conn,
                &supervisor,
                id,
                CloseCase {
                    reason: "诉求超出政策规定范围，已向市民解释。".into(),
                    closure: None,
                },
                None,
            )?;
            continue;
        }
        let assignments = crate::db::assignments::case_assignments(conn, id)?;
        let lead = assignments[0].id;
        if *stage == DemoStage::Returned {
            assignments::act_on_assignment(
                conn,
                &cgj_staff,
                lead,
                AssignmentMove::Return {
                    reason: "电梯维保属于住建部门职责，不属于本局。".into(),
                },
                None,
            )?;
            continue;
        }
        assignments::act_on_assignment(conn, &cgj_staff, lead, AssignmentMove::Sign, None)?;
        if let Some(assisting) = assignments.get(1) {
            assignments::act_on_assignment(
                conn,
                &dc_staff,
                assisting.id,
                AssignmentMove::Sign,
                None,
            )?;
        }
        assignments::act_on_assignment(
            conn,
            &cgj_staff,
            lead,
            AssignmentMove::Progress {
                note: "已到现场核实，正在协调清运。".into(),
            },
            None,
        )?;
        if *stage == DemoStage::InProgress {
            continue;
        }
        assignments::act_on_assignment(
            conn,
            &cgj_staff,
            lead,
            AssignmentMove::Reply(Reply {
                investigation: "经现场核查，反映情况属实。".into(),
                actions: "已责令当事人整改，并安排执法队员每日巡查。".into(),
                result: "已解决".into(),
                contacted_citizen: true,
            }),
            None,
        )?;
        if *stage == DemoStage::PendingReview {
            continue;
        }
        dispatch::review(
            conn,
            &reference,
            &dispatcher,
            id,
            ReviewCase {
                decision: ReviewDecision::Approve,
                assignment_id: None,
                note: None,
            },
            None,
        )?;
        // Survey invitations: one left open (its token is not kept), one answered through its
        // link, which closes the case as a reached call would.
        let settings = surveys::SurveySettings {
            public_base_url: String::new(),
            validity_days: crate::domain::survey::VALIDITY_DAYS,
        };
        match stage {
            DemoStage::AwaitingFollowUp => {
                surveys::issue(conn, &settings, &operator, id, None)?;
                continue;
            }
            DemoStage::ClosedBySurvey => {
                let invitation = surveys::issue(conn, &settings, &operator, id, None)?;
                let answers = [
                    ("resolved", "yes"),
                    ("satisfaction", "satisfied"),
                    ("comment", "摊位已经清走了，谢谢。"),
                ]
                .map(|(question, value)| RawAnswer {
                    question: question.into(),
                    value: value.into(),
                });
                surveys::answer(conn, &invitation.token, None, answers.into())?;
                continue;
            }
            _ => {}
        }
        let (resolved, satisfaction) = match stage {
            DemoStage::ClosedAfterFollowUp => (Resolved::Yes, Satisfaction::Satisfied),
            DemoStage::AwaitingDecision => (Resolved::No, Satisfaction::Dissatisfied),
            _ => continue,
        };
        follow_up::record_call(
            conn,
            &reference,
            &operator,
            id,
            RecordCall {
                channel: FollowUpChannel::Phone,
                outcome: CallOutcome::Reached,
                resolved: Some(resolved),
                satisfaction: Some(satisfaction),
                citizen_words: Some(
                    match satisfaction {
                        Satisfaction::Satisfied => "已经处理好了，谢谢。",
                        _ => "问题还是没有解决。",
                    }
                    .into(),
                ),
                called_at: None,
                survey: None,
            },
        )?;
    }
    Ok(format!(
        "demo cases loaded: {} cases, one or more in every stage of the lifecycle",
        DEMO_CASES.len()
    ))
}

/// `hotline sweep`: the deadline sweep once, for cron (the server also runs it by itself).
pub fn sweep(db: &Db, tz: chrono_tz::Tz) -> Result<SweepReport, String> {
    let reference = db
        .with_connection(|conn| ReferenceData::load(conn, tz))
        .map_err(describe)?;
    supervision::sweep(db, &reference.calendar(), crate::db::now()).map_err(describe)
}

/// `hotline stats rebuild`.
pub fn stats_rebuild(
    db: &Db,
    tz: chrono_tz::Tz,
) -> Result<crate::service::stats::RebuildReport, String> {
    db.with_connection(|conn| {
        let reference = ReferenceData::load(conn, tz)?;
        crate::service::stats::rebuild(conn, &reference.calendar())
    })
    .map_err(describe)
}

/// `hotline stats check`.
pub fn stats_check(
    db: &Db,
    tz: chrono_tz::Tz,
) -> Result<crate::service::stats::CheckReport, String> {
    db.with_connection(|conn| {
        let reference = ReferenceData::load(conn, tz)?;
        crate::service::stats::check(conn, &reference.calendar())
    })
    .map_err(describe)
}
