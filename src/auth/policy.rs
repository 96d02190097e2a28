//! Who may do what: one table, one entry per operation of the API.
//!
//! Every operation names the roles allowed to call it and the row rule that narrows what those
//! roles see. A handler obtains its caller only as a [`Permit`] for its operation's marker type
//! (`Permit<op::ListAssignments>`): the extractor checks the role against this table before the
//! handler runs, and there is no other way to get a [`Principal`] in a handler. Forgetting the
//! check does not compile; naming another operation's marker fails every request in debug builds
//! (the permit checks that the route it guards is its own), which the role × operation matrix
//! test, generated from the OpenAPI document and this table, catches at once. Deny by default: an operation
//! missing here has no marker to guard it, and the OpenAPI test finds it without `x-roles`.

use std::future::Future;
use std::marker::PhantomData;
use std::ops::Deref;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::Method;
use actix_web::{FromRequest, HttpRequest, web};

use super::principal::{Credentials, Principal, verify_bearer};
use crate::db::DbConnection;
use crate::domain::role::Role;
use crate::error::{ApiError, ErrorCode};
use crate::startup::AppState;

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token needed (sign-in, registration, probes).
    Public,
    /// A valid token of one of these roles; any other role gets 403 `forbidden_role`.
    Roles(&'static [Role]),
}

/// Which rows an allowed caller reaches; rows outside answer 404, as if they did not exist.
/// Enforced by the services through [`Principal`]'s scopes; declared here so that the table (and
/// the OpenAPI document's `x-rows`) says what each operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    /// Shared reference data, or an operation whose roles see every row.
    All,
    /// Cases: the centre desks and admins every case; department roles the cases dispatched to
    /// their department; citizens their own; integration clients the cases they registered.
    Cases,
    /// The departments' work (assignments, deadlines, extensions, supervision): the centre desks
    /// and admins every row; department roles their own department's.
    DepartmentWork,
    /// Accounts: admins every one; department admins their own department's; everyone themselves.
    Users,
    /// The caller's own account.
    Own,
    /// Survey invitations and answers: the centre desks and admins all; analysts all, without
    /// text answers or who answered; department roles those of cases dispatched to them.
    Surveys,
    /// Attachments: those of the cases the caller reads ([`Rows::Cases`]), less, for department
    /// roles, a confidential case's files the centre did not make shareable; an upload not yet
    /// given to a case, its uploader's only.
    Attachments,
    /// Webhooks: admins every one; integration clients their own.
    Webhooks,
    /// Knowledge-base articles: those shown today (approved, valid) to every reader; drafts,
    /// history and articles not shown to their keepers (supervisors and administrators every
    /// article, department roles their department's).
    Knowledge,
    /// The case export: the rows of [`Rows::Cases`] for the centre and the departments, with
    /// the complainant as they see it; analysts every case, without description or complainant.
    CaseExport,
}

impl Rows {
    pub fn describe(self) -> &'static str {
        match self {
            Rows::All => "all rows",
            Rows::Cases => {
                "cases: centre desks and admins all; department roles the cases dispatched to their \
                 department; citizens their own; integration clients the cases they registered"
            }
            Rows::DepartmentWork => {
                "centre desks and admins all rows; department roles their own department's"
            }
            Rows::Users => {
                "admins every account; department admins their own department's; everyone themselves"
            }
            Rows::Own => "the caller's own account",
            Rows::Surveys => {
                "centre desks and admins all; analysts all, without text answers or who answered; \
                 department roles the surveys of cases dispatched to their department"
            }
            Rows::Attachments => {
                "the attachments of the cases the caller reads; department roles not a \
                 confidential case's unless made shareable; uploads without a case, their \
                 uploader's only"
            }
            Rows::Webhooks => "webhooks: admins every one; integration clients their own",
            Rows::Knowledge => {
                "articles shown today (approved, valid) to every reader; drafts, history and \
                 articles not shown to their keepers: supervisors and admins every article, \
                 department roles their department's"
            }
            Rows::CaseExport => {
                "centre desks and admins all cases, the complainant in full; department roles the \
                 cases dispatched to their department, the complainant as they see it; analysts \
                 all cases, without description or complainant"
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Rows::All => "all",
            Rows::Cases => "cases",
            Rows::DepartmentWork => "department_work",
            Rows::Users => "users",
            Rows::Own => "own",
            Rows::Surveys => "surveys",
            Rows::Attachments => "attachments",
            Rows::Webhooks => "webhooks",
            Rows::Knowledge => "knowledge",
            Rows::CaseExport => "case_export",
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// The OpenAPI `operationId` (the handler's name).
    pub id: &'static str,
    pub method: &'static str,
    /// The path as the OpenAPI document writes it, without the `/api/v1` scope's regexes.
    pub path: &'static str,
    pub access: Access,
    pub rows: Rows,
}

impl Entry {
    pub fn allows(&self, role: Role) -> bool {
        match self.access {
            Access::Public => true,
            Access::Roles(roles) => roles.contains(&role),
        }
    }

    /// The roles as listed in the OpenAPI document (`x-roles`); empty for a public operation.
    pub fn roles(&self) -> &'static [Role] {
        match self.access {
            Access::Public => &[],
            Access::Roles(roles) => roles,
        }
    }
}

/// An operation's marker type: made by [`policy!`], one per row of the table.
pub trait Operation: 'static {
    const ENTRY: Entry;
}

// The role sets the table is written in.
const EVERYONE: &[Role] = Role::ALL;
/// The call-centre desks: intake, dispatch, supervision.
const CENTRE_DESKS: &[Role] = &[Role::Operator, Role::Dispatcher, Role::Supervisor];
/// Who acts on cases after acceptance.
const DISPATCH_DESKS: &[Role] = &[Role::Dispatcher, Role::Supervisor];
const SUPERVISOR: &[Role] = &[Role::Supervisor];
const ADMIN: &[Role] = &[Role::Admin];
/// Who keeps webhooks: administrators for any client, a client for itself.
const WEBHOOK_KEEPERS: &[Role] = &[Role::Admin, Role::Integration];
/// Who reads cases: the centre, citizens (their own) and clients (theirs); departments the cases
/// dispatched to them. Analysts work on statistics, never on cases with personal data.
const CASE_READERS: &[Role] = &[
    Role::Operator,
    Role::Dispatcher,
    Role::Supervisor,
    Role::Admin,
    Role::Citizen,
    Role::Integration,
    Role::DepartmentStaff,
    Role::DepartmentAdmin,
];
/// Who registers cases: the intake desks, citizens and integration clients.
const REGISTRARS: &[Role] = &[
    Role::Operator,
    Role::Dispatcher,
    Role::Supervisor,
    Role::Citizen,
    Role::Integration,
];
/// Who reads the departments' work: the centre desks, admins and the department roles.
const WORK_READERS: &[Role] = &[
    Role::Operator,
    Role::Dispatcher,
    Role::Supervisor,
    Role::Admin,
    Role::DepartmentStaff,
    Role::DepartmentAdmin,
];
/// The departments' hands: sign, return, progress, reply.
const DEPARTMENT_ROLES: &[Role] = &[Role::DepartmentStaff, Role::DepartmentAdmin];
/// The head of a department's hotline desk: hands work over, asks for more time, explains.
const DEPARTMENT_ADMIN: &[Role] = &[Role::DepartmentAdmin];
/// Who writes notes on a case: the citizen on their own, the centre desks.
const NOTE_WRITERS: &[Role] = &[
    Role::Citizen,
    Role::Operator,
    Role::Dispatcher,
    Role::Supervisor,
];
const ACCOUNT_ADMINS: &[Role] = &[Role::Admin, Role::DepartmentAdmin];
/// Who reads statistics: analysts, the centre and admins (figures only, never personal data).
const STATS_READERS: &[Role] = &[
    Role::Analyst,
    Role::Operator,
    Role::Dispatcher,
    Role::Supervisor,
    Role::Admin,
];
/// … and the department table: department admins too, for their own department's row.
const STATS_TABLE_READERS: &[Role] = &[
    Role::Analyst,
    Role::Operator,
    Role::Dispatcher,
    Role::Supervisor,
    Role::Admin,
    Role::DepartmentAdmin,
];
/// Who reads survey templates: administrators (who manage them), the desks that issue surveys,
/// and analysts, who read the answers.
const TEMPLATE_READERS: &[Role] = &[
    Role::Admin,
    Role::Operator,
    Role::Dispatcher,
    Role::Supervisor,
    Role::Analyst,
];
/// Who reads survey invitations and answers (each within the `Surveys` row rule).
const SURVEY_READERS: &[Role] = &[
    Role::Operator,
    Role::Dispatcher,
    Role::Supervisor,
    Role::Admin,
    Role::Analyst,
    Role::DepartmentStaff,
    Role::DepartmentAdmin,
];
/// Who exports cases: who reads them (less citizens and clients, who read their own one by one),
/// and analysts, for whom the export is the only view of single cases, without personal data.
const CASE_EXPORTERS: &[Role] = &[
    Role::Operator,
    Role::Dispatcher,
    Role::Supervisor,
    Role::Admin,
    Role::DepartmentStaff,
    Role::DepartmentAdmin,
    Role::Analyst,
];
/// Who reads follow-up attempts across cases: the centre, admins, and analysts (without the
/// citizens' words).
const FOLLOW_UP_READERS: &[Role] = &[
    Role::Operator,
    Role::Dispatcher,
    Role::Supervisor,
    Role::Admin,
    Role::Analyst,
];

/// The centre's desks and administrators: they share and link files.
const CENTRE_AND_ADMIN: &[Role] = &[
    Role::Operator,
    Role::Dispatcher,
    Role::Supervisor,
    Role::Admin,
];

/// Who reads the knowledge base's articles shown today: the centre's desks and the departments'
/// staff, and administrators.
const KNOWLEDGE_READERS: &[Role] = &[
    Role::Operator,
    Role::Dispatcher,
    Role::Supervisor,
    Role::Admin,
    Role::DepartmentStaff,
    Role::DepartmentAdmin,
];
/// Who drafts articles: centre editors (supervisors, administrators) and the departments'
/// staff (their own department's); call-takers read only approved versions.
const KNOWLEDGE_EDITORS: &[Role] = &[
    Role::Supervisor,
    Role::Admin,
    Role::DepartmentStaff,
    Role::DepartmentAdmin,
];
/// Who approves a version: a centre supervisor, or the owning department's admin.
const KNOWLEDGE_APPROVERS: &[Role] = &[Role::Supervisor, Role::DepartmentAdmin];

macro_rules! policy {
    ($($op:ident = $id:literal, $method:ident $path:literal, $access:expr, $rows:ident;)+) => {
        /// The operations' marker types, one per row of [`TABLE`].
        pub mod op {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[doc = concat!("`", stringify!($method), " ", $path, "`")]
                #[derive(Debug)]
                pub struct $op;
                impl Operation for $op {
                    const ENTRY: Entry = Entry {
                        id: $id,
                        method: stringify!($method),
                        path: $path,
                        access: $access,
                        rows: Rows::$rows,
                    };
                }
            )+
        }

        /// Every operation of the API.
        pub const TABLE: &[Entry] = &[$(<op::$op as Operation>::ENTRY),+];
    };
}

use Access::{Public, Roles};

// Method, path (as in the OpenAPI document), who, which rows.
policy! {
    Healthz = "healthz", GET "/healthz", Public, All;
    Readyz = "readyz", GET "/readyz", Public, All;

    Login = "login", POST "/api/v1/auth/login", Public, All;
    Refresh = "refresh", POST "/api/v1/auth/refresh", Public, All;
    Logout = "logout", POST "/api/v1/auth/logout", Public, All;
    Token = "token", POST "/api/v1/auth/token", Public, All;
    Me = "me", GET "/api/v1/auth/me", Roles(EVERYONE), Own;
    RegisterCitizen = "register_citizen", POST "/api/v1/citizens/register", Public, All;

    ListUsers = "list_users", GET "/api/v1/users", Roles(ACCOUNT_ADMINS), Users;
    CreateUser = "create_user", POST "/api/v1/users", Roles(ADMIN), All;
    GetUser = "get_user", GET "/api/v1/users/{id}", Roles(EVERYONE), Users;
    UpdateUser = "update_user", PATCH "/api/v1/users/{id}", Roles(EVERYONE), Users;

    DepartmentTree = "department_tree", GET "/api/v1/departments/tree", Roles(EVERYONE), All;
    ListDepartments = "list_departments", GET "/api/v1/departments", Roles(EVERYONE), All;
    CreateDepartment = "create_department", POST "/api/v1/departments", Roles(ADMIN), All;
    GetDepartment = "get_department", GET "/api/v1/departments/{id}", Roles(EVERYONE), All;
    UpdateDepartment = "update_department", PATCH "/api/v1/departments/{id}", Roles(ADMIN), All;
    CategoryTree = "category_tree", GET "/api/v1/categories/tree", Roles(EVERYONE), All;
    ListCategories = "list_categories", GET "/api/v1/categories", Roles(EVERYONE), All;
    CreateCategory = "create_category", POST "/api/v1/categories", Roles(ADMIN), All;
    GetCategory = "get_category", GET "/api/v1/categories/{id}", Roles(EVERYONE), All;
    UpdateCategory = "update_category", PATCH "/api/v1/categories/{id}", Roles(ADMIN), All;
    ListClients = "list_clients", GET "/api/v1/integration-clients", Roles(ADMIN), All;
    CreateClient = "create_client", POST "/api/v1/integration-clients", Roles(ADMIN), All;
    UpdateClient = "update_client", PATCH "/api/v1/integration-clients/{id}", Roles(ADMIN), All;

    WorkingDays = "working_days", GET "/api/v1/calendar/working-days", Roles(EVERYONE), All;
    Hours = "hours", GET "/api/v1/calendar/hours", Roles(EVERYONE), All;
    WorkingTime = "working_time", GET "/api/v1/calendar/working-time", Roles(EVERYONE), All;
    GetYear = "get_year", GET "/api/v1/calendar/{year}", Roles(EVERYONE), All;
    PutYear = "put_year", PUT "/api/v1/calendar/{year}", Roles(ADMIN), All;
    GetPolicy = "get_policy", GET "/api/v1/sla-policies", Roles(EVERYONE), All;
    PutPolicy = "put_policy", PUT "/api/v1/sla-policies", Roles(ADMIN), All;

    ListCases = "list_cases", GET "/api/v1/cases", Roles(CASE_READERS), Cases;
    Register = "register", POST "/api/v1/cases", Roles(REGISTRARS), Cases;
    UpdateCase = "update_case", PATCH "/api/v1/cases/{id}", Roles(CENTRE_DESKS), Cases;
    GetCase = "get_case", GET "/api/v1/cases/{id}", Roles(CASE_READERS), Cases;
    GetCaseByNumber = "get_case_by_number", GET "/api/v1/cases/by-number/{case_no}", Roles(CASE_READERS), Cases;
    Timeline = "timeline", GET "/api/v1/cases/{id}/timeline", Roles(CASE_READERS), Cases;
    Accept = "accept", POST "/api/v1/cases/{id}/accept", Roles(CENTRE_DESKS), Cases;
    Reject = "reject", POST "/api/v1/cases/{id}/reject", Roles(CENTRE_DESKS), Cases;
    Answer = "answer", POST "/api/v1/cases/{id}/answer", Roles(CENTRE_DESKS), Cases;
    PersonalDataReads = "personal_data_reads", GET "/api/v1/personal-data-reads", Roles(ADMIN), All;
    PersonalDataExports = "personal_data_exports", GET "/api/v1/personal-data-exports", Roles(ADMIN), All;
    Dispatch = "dispatch", POST "/api/v1/cases/{id}/dispatch", Roles(DISPATCH_DESKS), Cases;
    Review = "review", POST "/api/v1/cases/{id}/review", Roles(DISPATCH_DESKS), Cases;
    Redo = "redo", POST "/api/v1/cases/{id}/redo", Roles(SUPERVISOR), Cases;
    Merge = "merge", POST "/api/v1/cases/{id}/merge", Roles(CENTRE_DESKS), Cases;
    Similar = "similar", GET "/api/v1/cases/{id}/similar", Roles(CENTRE_DESKS), Cases;
    Close = "close", POST "/api/v1/cases/{id}/close", Roles(SUPERVISOR), Cases;
    Reopen = "reopen", POST "/api/v1/cases/{id}/reopen", Roles(SUPERVISOR), Cases;
    AddNote = "add_note", POST "/api/v1/cases/{id}/notes", Roles(NOTE_WRITERS), Cases;

    ListAssignments = "list_assignments", GET "/api/v1/assignments", Roles(WORK_READERS), DepartmentWork;
    GetAssignment = "get_assignment", GET "/api/v1/assignments/{id}", Roles(WORK_READERS), DepartmentWork;
    Sign = "sign", POST "/api/v1/assignments/{id}/sign", Roles(DEPARTMENT_ROLES), DepartmentWork;
    ReturnAssignment = "return_assignment", POST "/api/v1/assignments/{id}/return", Roles(DEPARTMENT_ROLES), DepartmentWork;
    ReturnRuling = "return_ruling", POST "/api/v1/assignments/{id}/return-ruling", Roles(DISPATCH_DESKS), DepartmentWork;
    Handover = "handover", POST "/api/v1/assignments/{id}/handover", Roles(DEPARTMENT_ADMIN), DepartmentWork;
    Progress = "progress", POST "/api/v1/assignments/{id}/progress", Roles(DEPARTMENT_ROLES), DepartmentWork;
    Reply = "reply", POST "/api/v1/assignments/{id}/reply", Roles(DEPARTMENT_ROLES), DepartmentWork;
    ListDeadlines = "list_deadlines", GET "/api/v1/deadlines", Roles(WORK_READERS), DepartmentWork;
    GetDeadline = "get_deadline", GET "/api/v1/deadlines/{id}", Roles(WORK_READERS), DepartmentWork;

    RequestExtension = "request_extension", POST "/api/v1/deadlines/{id}/extensions", Roles(DEPARTMENT_ADMIN), DepartmentWork;
    ListExtensions = "list_extensions", GET "/api/v1/extensions", Roles(WORK_READERS), DepartmentWork;
    GetExtension = "get_extension", GET "/api/v1/extensions/{id}", Roles(WORK_READERS), DepartmentWork;
    DecideExtension = "decide_extension", POST "/api/v1/extensions/{id}/decision", Roles(SUPERVISOR), DepartmentWork;

    CreateSupervision = "create_supervision", POST "/api/v1/supervisions", Roles(SUPERVISOR), DepartmentWork;
    ListSupervisions = "list_supervisions", GET "/api/v1/supervisions", Roles(WORK_READERS), DepartmentWork;
    GetSupervision = "get_supervision", GET "/api/v1/supervisions/{id}", Roles(WORK_READERS), DepartmentWork;
    Explain = "explain", POST "/api/v1/supervisions/{id}/explanation", Roles(DEPARTMENT_ADMIN), DepartmentWork;

    RecordFollowUpCall = "record_follow_up_call", POST "/api/v1/cases/{id}/follow-up-calls", Roles(CENTRE_DESKS), Cases;
    CaseFollowUpCalls = "case_follow_up_calls", GET "/api/v1/cases/{id}/follow-up-calls", Roles(WORK_READERS), Cases;
    ListFollowUpCalls = "list_follow_up_calls", GET "/api/v1/follow-up-calls", Roles(FOLLOW_UP_READERS), All;
    FollowUpQueue = "follow_up_queue", GET "/api/v1/follow-up-queue", Roles(CENTRE_DESKS), All;
    FollowUpDecision = "follow_up_decision", POST "/api/v1/cases/{id}/follow-up-decision", Roles(SUPERVISOR), Cases;
    ListSurveyTemplates = "list_survey_templates", GET "/api/v1/survey-templates", Roles(TEMPLATE_READERS), All;
    CreateSurveyTemplate = "create_survey_template", POST "/api/v1/survey-templates", Roles(ADMIN), All;
    GetSurveyTemplate = "get_survey_template", GET "/api/v1/survey-templates/{id}", Roles(TEMPLATE_READERS), All;
    IssueSurvey = "issue_survey", POST "/api/v1/cases/{id}/surveys", Roles(CENTRE_DESKS), Cases;
    ListSurveys = "list_surveys", GET "/api/v1/surveys", Roles(SURVEY_READERS), Surveys;
    GetSurvey = "get_survey", GET "/api/v1/surveys/{id}", Roles(SURVEY_READERS), Surveys;
    PublicSurvey = "public_survey", GET "/api/v1/public/surveys/{token}", Public, All;
    AnswerSurvey = "answer_survey", POST "/api/v1/public/surveys/{token}/responses", Public, All;

    StatsDepartments = "stats_departments", GET "/api/v1/stats/departments", Roles(STATS_TABLE_READERS), DepartmentWork;
    StatsTrends = "stats_trends", GET "/api/v1/stats/trends", Roles(STATS_READERS), All;
    GetStatsWeights = "get_stats_weights", GET "/api/v1/stats/weights", Roles(STATS_TABLE_READERS), All;
    PutStatsWeights = "put_stats_weights", PUT "/api/v1/stats/weights", Roles(ADMIN), All;
    ExportCases = "export_cases", GET "/api/v1/exports/cases", Roles(CASE_EXPORTERS), CaseExport;
    StatsHotspots = "stats_hotspots", GET "/api/v1/stats/hotspots", Roles(STATS_READERS), All;
    PublicReport = "public_report", GET "/api/v1/public/reports", Public, All;

    UploadCaseAttachments = "upload_case_attachments", POST "/api/v1/cases/{id}/attachments", Roles(CASE_READERS), Attachments;
    ListCaseAttachments = "list_case_attachments", GET "/api/v1/cases/{id}/attachments", Roles(CASE_READERS), Attachments;
    UploadAttachments = "upload_attachments", POST "/api/v1/attachments", Roles(REGISTRARS), Attachments;
    GetAttachment = "get_attachment", GET "/api/v1/attachments/{id}", Roles(CASE_READERS), Attachments;
    AttachmentThumbnail = "attachment_thumbnail", GET "/api/v1/attachments/{id}/thumbnail", Roles(CASE_READERS), Attachments;
    UpdateAttachment = "update_attachment", PATCH "/api/v1/attachments/{id}", Roles(CENTRE_AND_ADMIN), Attachments;
    RemoveAttachment = "remove_attachment", DELETE "/api/v1/attachments/{id}", Roles(ADMIN), Attachments;
    CreateAttachmentLink = "create_attachment_link", POST "/api/v1/attachments/{id}/links", Roles(CENTRE_AND_ADMIN), Attachments;
    PublicAttachment = "public_attachment", GET "/api/v1/public/attachments/{id}", Public, All;

    ListWebhooks = "list_webhooks", GET "/api/v1/webhooks", Roles(WEBHOOK_KEEPERS), Webhooks;
    CreateWebhook = "create_webhook", POST "/api/v1/webhooks", Roles(WEBHOOK_KEEPERS), Webhooks;
    UpdateWebhook = "update_webhook", PATCH "/api/v1/webhooks/{id}", Roles(WEBHOOK_KEEPERS), Webhooks;
    DeleteWebhook = "delete_webhook", DELETE "/api/v1/webhooks/{id}", Roles(WEBHOOK_KEEPERS), Webhooks;
    ListWebhookDeliveries = "list_webhook_deliveries", GET "/api/v1/webhooks/{id}/deliveries", Roles(WEBHOOK_KEEPERS), Webhooks;
    ReplayWebhookDelivery = "replay_webhook_delivery", POST "/api/v1/webhooks/{id}/deliveries/{delivery_id}/replay", Roles(WEBHOOK_KEEPERS), Webhooks;

    ListArticles = "list_articles", GET "/api/v1/knowledge/articles", Roles(KNOWLEDGE_READERS), Knowledge;
    CreateArticle = "create_article", POST "/api/v1/knowledge/articles", Roles(KNOWLEDGE_EDITORS), Knowledge;
    GetArticle = "get_article", GET "/api/v1/knowledge/articles/{id}", Roles(KNOWLEDGE_READERS), Knowledge;
    UpdateArticle = "update_article", PATCH "/api/v1/knowledge/articles/{id}", Roles(KNOWLEDGE_EDITORS), Knowledge;
    ListArticleVersions = "list_article_versions", GET "/api/v1/knowledge/articles/{id}/versions", Roles(KNOWLEDGE_EDITORS), Knowledge;
    GetArticleVersion = "get_article_version", GET "/api/v1/knowledge/articles/{id}/versions/{version}", Roles(KNOWLEDGE_READERS), Knowledge;
    ApproveArticleVersion = "approve_article_version", POST "/api/v1/knowledge/articles/{id}/versions/{version}/approve", Roles(KNOWLEDGE_APPROVERS), Knowledge;
    SearchKnowledge = "search_knowledge", GET "/api/v1/knowledge/search", Roles(KNOWLEDGE_READERS), Knowledge;
    SuggestArticles = "suggest_articles", GET "/api/v1/knowledge/suggestions", Roles(CENTRE_DESKS), Knowledge;
    CaseSuggestedArticles = "case_suggested_articles", GET "/api/v1/cases/{id}/suggested-articles", Roles(CENTRE_DESKS), Cases;
    StatsKnowledge = "stats_knowledge", GET "/api/v1/stats/knowledge", Roles(STATS_READERS), All;
    PublicKnowledgeSearch = "public_knowledge_search", GET "/api/v1/public/knowledge/search", Public, All;
    PublicKnowledgeArticle = "public_knowledge_article", GET "/api/v1/public/knowledge/articles/{id}", Public, All;

    // Open311 GeoReport v2: public documents without personal data; a POST proves its
    // integration client with `api_key` in the form.
    Open311Discovery = "open311_discovery", GET "/open311/v2/discovery.{format}", Public, All;
    Open311Services = "open311_services", GET "/open311/v2/services.{format}", Public, All;
    Open311ServiceDefinition = "open311_service_definition", GET "/open311/v2/services/{service_code}.{format}", Public, All;
    Open311Requests = "open311_requests", GET "/open311/v2/requests.{format}", Public, All;
    Open311CreateRequest = "open311_create_request", POST "/open311/v2/requests.{format}", Public, All;
    Open311Request = "open311_request", GET "/open311/v2/requests/{service_request_id}.{format}", Public, All;
    Open311Token = "open311_token", GET "/open311/v2/tokens/{token}.{format}", Public, All;
}

/// The entry of an OpenAPI operation, by method and path.
pub fn entry(method: &str, path: &str) -> Option<&'static Entry> {
    TABLE
        .iter()
        .find(|e| e.method.eq_ignore_ascii_case(method) && e.path == path)
}

/// Whether actix's match pattern (`/api/v1/cases/{id:\d+}`) is the table's path
/// (`/api/v1/cases/{id}`): the same text once each segment's regex is dropped.
fn same_route(pattern: &str, path: &str) -> bool {
    let mut declared = path.chars();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c == ':' {
            // Skip the regex up to the closing brace of this `{name:regex}`, nesting included.
            let mut depth = 1;
            for c in chars.by_ref() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
            }
            if declared.next() != Some('}') {
                return false;
            }
            continue;
        }
        if declared.next() != Some(c) {
            return false;
        }
    }
    declared.next().is_none()
}

fn forbidden(role: Role) -> ApiError {
    ApiError::Forbidden {
        code: ErrorCode::ForbiddenRole,
        detail: format!("the role {role} may not do this").into(),
    }
}

/// The route a permit is asked for must be its operation's own: a handler guarded by another
/// operation's marker would apply that operation's roles. A programming error that the matrix test
/// finds on its first request, so only debug builds (the tests) pay for looking the route up.
fn check_route<O: Operation>(req: &HttpRequest) -> Result<(), ApiError> {
    if !cfg!(debug_assertions) {
        return Ok(());
    }
    let entry = O::ENTRY;
    let route_matches = req
        .match_pattern()
        .is_some_and(|p| same_route(&p, entry.path))
        && req.method() == Method::from_bytes(entry.method.as_bytes()).unwrap_or(Method::GET);
    if route_matches {
        Ok(())
    } else {
        Err(ApiError::internal(format!(
            "the handler of {} {} is guarded by the policy entry of {}",
            req.method(),
            req.match_pattern().unwrap_or_default(),
            entry.id
        )))
    }
}

fn roles_of<O: Operation>() -> Result<&'static [Role], ApiError> {
    match O::ENTRY.access {
        Access::Roles(roles) => Ok(roles),
        Access::Public => Err(ApiError::internal(format!(
            "{} is public: its handler takes no permit",
            O::ENTRY.id
        ))),
    }
}

/// The caller of operation `O`, allowed by the table: the only way a handler gets a
/// [`Principal`]. Dereferences to it, for the services and their row scopes.
#[derive(Debug, Clone)]
pub struct Permit<O: Operation> {
    principal: Principal,
    operation: PhantomData<fn() -> O>,
}

impl<O: Operation> Permit<O> {
    fn grant(principal: Principal) -> Result<Self, ApiError> {
        if roles_of::<O>()?.contains(&principal.role) {
            Ok(Self {
                principal,
                operation: PhantomData,
            })
        } else {
            Err(forbidden(principal.role))
        }
    }

    pub fn into_principal(self) -> Principal {
        self.principal
    }
}

impl<O: Operation> Deref for Permit<O> {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.principal
    }
}

/// The bearer token of a caller of `O`, verified against the keys and the role it names, but not
/// yet against the account: for the hottest handlers, which resolve it with
/// [`PendingPermit::resolve`] inside their own blocking task (one hand-off to the pool, not two).
/// Take it before the body, so that a forbidden caller learns nothing about its input.
#[derive(Debug, Clone, Copy)]
pub struct PendingPermit<O: Operation> {
    credentials: Credentials,
    operation: PhantomData<fn() -> O>,
}

impl<O: Operation> PendingPermit<O> {
    /// Re-reads the account and grants the permit if its role (as the database says now) is allowed.
    pub fn resolve(self, conn: &mut DbConnection) -> Result<Permit<O>, ApiError> {
        Permit::grant(self.credentials.resolve(conn)?)
    }
}

/// Checks the token, the route and the role the token names: a caller whose token names a
/// forbidden role is refused before anything else is read, its body included.
fn pending<O: Operation>(req: &HttpRequest) -> Result<PendingPermit<O>, ApiError> {
    check_route::<O>(req)?;
    let credentials = verify_bearer(req)?;
    if !roles_of::<O>()?.contains(&credentials.role()) {
        return Err(forbidden(credentials.role()));
    }
    Ok(PendingPermit {
        credentials,
        operation: PhantomData,
    })
}

impl<O: Operation> FromRequest for PendingPermit<O> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(pending::<O>(req))
    }
}

impl<O: Operation> FromRequest for Permit<O> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let pending = pending::<O>(req);
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal("application state missing"))?;
            let pending = pending?;
            state.db.run(move |conn| pending.resolve(conn)).await
        })
    }
}

/// The caller of a public operation `O`, when it sent a bearer token. Public operations take no
/// permit; a survey answer still records the signed-in citizen. A token that is sent must be valid
/// (401 otherwise, as anywhere); every role may send one, the operation being public.
#[derive(Debug, Clone, Copy)]
pub struct PublicCaller<O: Operation> {
    credentials: Option<Credentials>,
    operation: PhantomData<fn() -> O>,
}

impl<O: Operation> PublicCaller<O> {
    /// Re-reads the account of a caller who sent a token (a revoked token gets 401).
    pub fn resolve(self, conn: &mut DbConnection) -> Result<Option<Principal>, ApiError> {
        self.credentials.map(|c| c.resolve(conn)).transpose()
    }
}

fn public_caller<O: Operation>(req: &HttpRequest) -> Result<PublicCaller<O>, ApiError> {
    check_route::<O>(req)?;
    if O::ENTRY.access != Access::Public {
        return Err(ApiError::internal(format!(
            "{} is not public: its handler takes a permit",
            O::ENTRY.id
        )));
    }
    let credentials = if req
        .headers()
        .contains_key(actix_web::http::header::AUTHORIZATION)
    {
        Some(verify_bearer(req)?)
    } else {
        None
    };
    Ok(PublicCaller {
        credentials,
        operation: PhantomData,
    })
}

impl<O: Operation> FromRequest for PublicCaller<O> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(public_caller::<O>(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_ids_and_routes_are_unique() {
        for (i, a) in TABLE.iter().enumerate() {
            for b in &TABLE[i + 1..] {
                assert_ne!(a.id, b.id, "operation id listed twice");
                assert!(
                    !(a.method == b.method && a.path == b.path),
                    "{} {} listed twice",
                    a.method,
                    a.path
                );
            }
        }
    }

    #[test]
    fn routes_compare_without_their_regexes() {
        assert!(same_route("/api/v1/cases/{id:\\d+}", "/api/v1/cases/{id}"));
        assert!(same_route(
            "/api/v1/cases/{id:\\d+}/notes",
            "/api/v1/cases/{id}/notes"
        ));
        assert!(same_route("/api/v1/x/{n:[0-9]{1,4}}/y", "/api/v1/x/{n}/y"));
        assert!(same_route("/api/v1/cases", "/api/v1/cases"));
        assert!(!same_route("/api/v1/cases", "/api/v1/cases/{id}"));
        assert!(!same_route("/api/v1/cases/{id:\\d+}", "/api/v1/cases"));
        assert!(!same_route(
            "/api/v1/cases/{id:\\d+}/accept",
            "/api/v1/cases/{id}/reject"
        ));
    }

    #[test]
    fn public_operations_are_the_ones_before_sign_in() {
        let public: Vec<&str> = TABLE
            .iter()
            .filter(|e| e.access == Access::Public)
            .map(|e| e.id)
            .collect();
        assert_eq!(
            public,
            [
                "healthz",
                "readyz",
                "login",
                "refresh",
                "logout",
                "token",
                "register_citizen",
                "public_survey",
                "answer_survey",
                "public_report",
                "public_attachment",
                "public_knowledge_search",
                "public_knowledge_article",
                "open311_discovery",
                "open311_services",
                "open311_service_definition",
                "open311_requests",
                "open311_create_request",
                "open311_request",
                "open311_token"
            ]
        );
    }

    #[test]
    fn analysts_never_reach_cases_and_departments_never_decide_for_the_centre() {
        for entry in TABLE {
            if entry.rows == Rows::Cases {
                assert!(!entry.allows(Role::Analyst) || entry.access == Access::Public);
            }
        }
        let centre_only = ["accept", "reject", "answer", "dispatch", "review", "close"];
        for entry in TABLE.iter().filter(|e| centre_only.contains(&e.id)) {
            assert!(!entry.allows(Role::DepartmentStaff), "{}", entry.id);
            assert!(!entry.allows(Role::DepartmentAdmin), "{}", entry.id);
            assert!(!entry.allows(Role::Citizen), "{}", entry.id);
        }
    }
}
