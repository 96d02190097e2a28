//! What the seed generates: Chinese titles and descriptions per category, complainants, the spread
//! over departments, districts, channels, kinds and a year of dates, and for each case a history
//! made only of the moves the API itself makes (register, accept, reject, answer, dispatch, sign,
//! reply, review, follow up, survey, the supervisor's decision and redo, close by a supervisor),
//! with the rows and timeline events those moves write.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{NaiveDateTime, TimeDelta};

use super::write::{Batch, OrganisationRows, Ts};
use crate::db::assignments::{NewAssignment, NewDeadline};
use crate::db::cases::{ComplainantRow, NewCase, NewCaseEvent};
use crate::db::follow_up::NewFollowUpCall;
use crate::db::surveys::{NewSurvey, TemplateRow};
use crate::domain::calendar::WorkingCalendar;
use crate::domain::case::{CaseStatus, Channel, Closure};
use crate::domain::dispatch::{
    AssignmentRole, AssignmentState, DeadlineKind, DeadlineState, DispatchMode,
};
use crate::domain::follow_up::{
    CallOutcome, DecisionReason, Evaluation, FollowUpChannel, Resolved, Satisfaction, Verdict,
    verdict,
};
use crate::domain::ids::{
    AssignmentId, CaseId, CategoryId, DeadlineId, DepartmentId, FollowUpCallId, SurveyId,
    SurveyTemplateId, UserId,
};
use crate::domain::place::address_key;
use crate::domain::role::Role;
use crate::domain::sla::{CaseKind, Period, Urgency};
use crate::domain::survey::{
    self, Meaning, Measure, Question, QuestionKind, RawAnswer, SurveyChannel,
};
use crate::error::ApiError;
use crate::service::assignments::Reply;
use crate::service::dispatch::{period_text, redo_details};
use crate::service::follow_up::{call_details, close_decision_details};
use crate::service::reference::PolicyVersion;
use crate::service::surveys::{answered_details, issued_details, phone_survey_row};

/// What each category's cases say. `{addr}` is replaced by an address, `{n}` by a small number.
struct Topic {
    /// Category code of the demo organisation.
    code: &'static str,
    weight: u32,
    /// Titles, each with the description it goes with.
    items: &'static [(&'static str, &'static str)],
    /// What the citizen asks for.
    asks: &'static [&'static str],
    /// What the department replied.
    results: &'static [&'static str],
}

const TOPICS: &[Topic] = &[
    Topic {
        code: "010101",
        weight: 14,
        items: &[
            (
                "小区门口占道经营",
                "每天傍晚有流动摊贩在{addr}门口占道经营，人行道被堵死，行人只能走机动车道，存在安全隐患。",
            ),
            (
                "早点摊占道经营堵塞道路",
                "{addr}附近的早点摊长期占道经营，摊位摆到了马路中间，早高峰经常堵车。",
            ),
            (
                "商户占道经营屡禁不止",
                "{addr}旁边几家商户把货架摆到人行道上占道经营，已经持续{n}个多月，多次劝说无果。",
            ),
            (
                "夜市烧烤占道经营",
                "{addr}路口晚上聚集了十几个烧烤摊占道经营，油烟很大，垃圾满地。",
            ),
        ],
        asks: &[
            "希望城管部门加强巡查，依法取缔。",
            "请有关部门尽快处理，恢复道路通行。",
            "希望规范设置便民摊点，不要影响通行。",
        ],
        results: &[
            "执法人员到场核实，已责令摊贩撤离并加强该路段巡查。",
            "已对占道商户下达整改通知书，商户已将货架移回店内。",
        ],
    },
    Topic {
        code: "010102",
        weight: 6,
        items: &[
            (
                "楼道乱堆乱放杂物",
                "{addr}楼道里堆满了纸箱和旧家具，消防通道被堵，存在火灾隐患。",
            ),
            (
                "小区绿地乱堆建筑垃圾",
                "{addr}有人把装修产生的建筑垃圾乱堆在绿地上，已经放了{n}周没人清理。",
            ),
            (
                "路边乱堆乱放废品",
                "{addr}路边有废品收购点乱堆乱放，气味难闻，还招来很多老鼠。",
            ),
        ],
        asks: &["希望尽快清理。", "请相关部门督促物业清理并加强管理。"],
        results: &["已协调物业和街道清运杂物，并张贴告示禁止乱堆乱放。"],
    },
    Topic {
        code: "0102",
        weight: 5,
        items: &[
            (
                "顶楼违法建设",
                "{addr}顶楼住户正在搭建彩钢房，属于违法建设，施工噪音很大，也影响楼体安全。",
            ),
            (
                "小区内私搭乱建",
                "{addr}有住户在公共绿地上私搭乱建，圈占了约{n}十平方米。",
            ),
        ],
        asks: &["希望依法查处并拆除违法建设。", "请尽快制止施工。"],
        results: &["经现场核查属违法建设，已下达限期拆除决定书，当事人已自行拆除。"],
    },
    Topic {
        code: "0103",
        weight: 12,
        items: &[
            (
                "夜间施工噪音扰民",
                "{addr}附近工地每天晚上十点以后还在施工，噪音扰民严重，老人孩子无法休息。",
            ),
            (
                "广场舞噪音扰民",
                "{addr}广场每天晚上有人跳广场舞，音响声音很大，噪音扰民持续到晚上十点。",
            ),
            (
                "商铺音响噪音扰民",
                "{addr}一家商铺门口大功率音响循环播放促销广告，噪音扰民，已经持续{n}天。",
            ),
            (
                "楼上装修噪音扰民",
                "{addr}有住户周末一早就开始装修电钻作业，噪音扰民，沟通无果。",
            ),
        ],
        asks: &[
            "希望有关部门查处夜间违规施工。",
            "请协调控制音量和时间。",
            "希望尽快解决噪音问题。",
        ],
        results: &[
            "已约谈施工单位，夜间停止高噪声作业，未取得夜间施工许可不得施工。",
            "已与活动组织者沟通，音量已调低并提前至晚上九点结束。",
        ],
    },
    Topic {
        code: "0201",
        weight: 11,
        items: &[
            (
                "物业纠纷：物业不作为",
                "{addr}物业公司长期不履行职责，垃圾不及时清运，楼道灯坏了{n}周没人修，业主与物业纠纷不断。",
            ),
            (
                "物业乱收停车费",
                "{addr}物业擅自上调停车费，也没有公示收费依据，业主多次询问没有答复。",
            ),
            (
                "物业纠纷：电梯长期故障",
                "{addr}的电梯经常故障停运，物业纠纷已持续很久，老人上下楼非常困难。",
            ),
        ],
        asks: &[
            "希望住建部门督促物业整改。",
            "请相关部门调查物业收费是否合规。",
            "希望尽快解决。",
        ],
        results: &[
            "已约谈物业公司负责人，责令限期整改，并将纳入物业服务企业信用考核。",
            "经核查物业收费未备案，已责令停止收取并退还多收费用。",
        ],
    },
    Topic {
        code: "0202",
        weight: 4,
        items: &[
            (
                "新房墙体开裂",
                "{addr}新交付的房子墙体出现多处裂缝，开发商一直推诿不予维修。",
            ),
            (
                "房屋漏水开发商不维修",
                "{addr}顶层住户家里下雨就漏水，已经找开发商{n}次，至今没有维修。",
            ),
        ],
        asks: &["希望督促开发商履行保修责任。"],
        results: &["已协调开发商进场检测并制定维修方案，维修工作已完成。"],
    },
    Topic {
        code: "0301",
        weight: 5,
        items: &[
            (
                "公交车间隔时间过长",
                "{addr}站早高峰公交车要等四十多分钟，车上非常拥挤，希望加密班次。",
            ),
            (
                "公交司机服务态度差",
                "乘坐公交车时司机态度恶劣，到站不停车，乘客在{addr}站无法下车。",
            ),
            (
                "建议增设公交线路",
                "{addr}附近新建了几个小区，居民出行很不方便，建议增设一条公交线路。",
            ),
        ],
        asks: &["希望交通部门研究解决。", "请核实并给予答复。"],
        results: &["已调整该线路早高峰发车间隔，并对相关驾驶员进行了批评教育。"],
    },
    Topic {
        code: "0302",
        weight: 12,
        items: &[
            (
                "道路积水严重",
                "{addr}一下雨就道路积水，积水深度超过二十厘米，车辆和行人都无法通行。",
            ),
            (
                "雨后道路积水无法通行",
                "{addr}路段排水不畅，雨后道路积水好几天不退，附近居民出行困难。",
            ),
            (
                "路面井盖缺失",
                "{addr}人行道上的井盖缺失，晚上看不清，已经有行人摔伤。",
            ),
            (
                "路灯不亮",
                "{addr}一带的路灯已经{n}个晚上不亮了，夜间出行很不安全。",
            ),
            ("道路坑洼不平", "{addr}路面坑洼不平，电动车经过容易摔倒。"),
        ],
        asks: &[
            "希望尽快处理。",
            "请尽快修复，消除安全隐患。",
            "希望有关部门尽快维修。",
        ],
        results: &[
            "已安排养护单位疏通雨水管线，并将该点位纳入汛期重点巡查。",
            "已安排养护单位完成维修。",
        ],
    },
    Topic {
        code: "0401",
        weight: 9,
        items: &[
            (
                "小区供水停水未通知",
                "{addr}从今天早上开始供水停水，事先没有任何通知，居民生活受到很大影响。",
            ),
            (
                "供水停水已超过一天",
                "{addr}已经供水停水超过{n}十个小时，打电话问也说不清什么时候恢复。",
            ),
            (
                "自来水水质发黄",
                "{addr}家里的自来水水质发黄，有异味，不敢饮用。",
            ),
            (
                "水压低高层用不上水",
                "{addr}高层住户水压太低，每天晚上用不上水。",
            ),
        ],
        asks: &["希望尽快恢复供水并说明原因。", "请尽快派人检查处理。"],
        results: &[
            "因市政管网抢修临时停水，已于当日恢复供水，今后停水将提前公告。",
            "已对二次供水设施进行清洗消毒，水质检测合格。",
        ],
    },
    Topic {
        code: "0402",
        weight: 5,
        items: &[
            (
                "频繁停电",
                "{addr}这个月已经停电{n}次，每次都没有通知，家里电器都坏了。",
            ),
            (
                "小区停电无人处理",
                "{addr}晚上突然停电，打电话报修一直没有人来处理。",
            ),
        ],
        asks: &["希望查明原因，保障正常供电。"],
        results: &["已更换故障变压器，供电恢复正常。"],
    },
    Topic {
        code: "0403",
        weight: 3,
        items: &[
            ("燃气表故障", "{addr}燃气表显示异常，充值后仍无法用气。"),
            (
                "闻到燃气异味",
                "{addr}楼道里能闻到明显的燃气异味，担心漏气。",
            ),
        ],
        asks: &["希望尽快派人检查。"],
        results: &["燃气公司已上门检修，更换了故障表具，经检测无泄漏。"],
    },
    Topic {
        code: "0501",
        weight: 6,
        items: &[
            (
                "公司拖欠工资",
                "我在{addr}附近一家公司工作，公司已经拖欠工资{n}个月，老板一直拖着不给。",
            ),
            (
                "工地拖欠农民工工资",
                "{addr}的建筑工地拖欠农民工工资，涉及二十多名工人。",
            ),
        ],
        asks: &["希望劳动监察部门帮助追讨工资。"],
        results: &["劳动保障监察大队已立案调查，用人单位已足额支付拖欠工资。"],
    },
    Topic {
        code: "0502",
        weight: 4,
        items: &[
            (
                "社保缴费基数咨询",
                "想咨询灵活就业人员社保缴费基数怎么确定，在哪里可以办理。",
            ),
            (
                "单位未缴纳社会保险",
                "{addr}的单位入职{n}个月一直没有给员工缴纳社会保险。",
            ),
        ],
        asks: &["希望给予答复。", "请依法督促处理。"],
        results: &["已告知办理流程；经核查单位已为其补缴社会保险。"],
    },
    Topic {
        code: "0601",
        weight: 4,
        items: &[
            (
                "餐馆卫生条件差",
                "{addr}一家餐馆后厨卫生条件很差，吃完后全家都拉肚子。",
            ),
            (
                "超市销售过期食品",
                "在{addr}的超市买到过期食品，商家拒绝退换。",
            ),
        ],
        asks: &["希望市场监管部门检查处理。"],
        results: &["已对该商户进行检查，责令整改并依法予以处罚。"],
    },
    Topic {
        code: "0602",
        weight: 4,
        items: &[
            (
                "预付卡商家跑路",
                "{addr}一家健身房办了预付卡，现在突然关门，还剩{n}千元没有消费。",
            ),
            (
                "商品质量问题商家拒绝退货",
                "购买的商品存在质量问题，商家在{addr}的门店拒绝退货。",
            ),
        ],
        asks: &["希望帮助维权退款。"],
        results: &["经调解，商家同意退还剩余款项。"],
    },
    Topic {
        code: "07",
        weight: 6,
        items: &[
            (
                "咨询居住证办理流程",
                "想咨询一下在{addr}附近办理居住证需要哪些材料，在哪里办理。",
            ),
            (
                "咨询新生儿落户政策",
                "孩子刚出生，想咨询新生儿落户需要准备什么材料。",
            ),
            ("咨询公积金提取条件", "想咨询租房提取公积金的条件和流程。"),
            (
                "咨询老年人优待政策",
                "家里老人{n}十多岁，想咨询本市有哪些老年人优待政策。",
            ),
        ],
        asks: &["请给予解答。"],
        results: &["已向市民解释相关政策和办理流程。"],
    },
];

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林",
    "何", "郭", "马", "罗", "梁", "宋", "郑", "谢", "韩", "唐", "冯", "于", "董", "萧", "程", "曹",
    "袁", "邓", "许", "傅", "沈", "曾", "彭", "吕", "欧阳", "司马",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀英", "霞", "平", "刚", "桂英", "建华", "建国", "志强", "海燕", "晓东", "文", "红梅",
    "子涵", "浩然", "雨桐", "欣怡", "宇航",
];
const ROADS: &[&str] = &[
    "建国路",
    "朝阳门内大街",
    "东四北大街",
    "西直门外大街",
    "复兴门内大街",
    "金宝街",
    "南锣鼓巷",
    "广渠门内大街",
    "月坛北街",
    "阜成门外大街",
    "和平里中街",
    "安定门外大街",
    "宣武门西大街",
];
const PLACES: &[&str] = &[
    "幸福家园小区",
    "阳光花园",
    "锦绣里小区",
    "和平里社区",
    "华润大厦",
    "育才小学",
    "人民医院",
    "农贸市场",
    "地铁站",
    "老旧小区",
    "新华书店",
    "文化广场",
    "第三中学",
    "公交站",
];
/// Case channels and their weights (most requests still come by phone).
const CHANNELS: &[(&str, u32)] = &[
    ("phone", 60),
    ("wechat", 12),
    ("app", 10),
    ("web", 8),
    ("email", 3),
    ("letter", 2),
    ("walk_in", 2),
    ("social_media", 3),
];
const KINDS: &[(&str, u32)] = &[
    ("complaint", 55),
    ("help", 20),
    ("report", 10),
    ("suggestion", 8),
    ("consultation", 5),
    ("praise", 2),
];

fn pick<T: Copy>(rng: &mut fastrand::Rng, items: &[T]) -> T {
    items[rng.usize(..items.len())]
}

fn pick_weighted(rng: &mut fastrand::Rng, items: &[(&'static str, u32)]) -> &'static str {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut roll = rng.u32(..total);
    for (item, weight) in items {
        if roll < *weight {
            return item;
        }
        roll -= weight;
    }
    items[items.len() - 1].0
}

fn minutes(rng: &mut fastrand::Rng, low: i64, high: i64) -> TimeDelta {
    TimeDelta::seconds(rng.i64(low * 60..high * 60))
}

/// The status a case of this age has reached: old cases are mostly closed, new ones open.
fn status_for_age(rng: &mut fastrand::Rng, age: TimeDelta) -> &'static str {
    let table: &[(&'static str, u32)] = if age > TimeDelta::days(20) {
        &[
            ("closed", 86),
            ("rejected", 6),
            ("awaiting_follow_up", 2),
            ("pending_review", 1),
            ("in_progress", 4),
            ("dispatched", 1),
        ]
    } else if age > TimeDelta::days(3) {
        &[
            ("closed", 40),
            ("rejected", 6),
            ("awaiting_follow_up", 12),
            ("pending_review", 10),
            ("in_progress", 22),
            ("dispatched", 6),
            ("pending_dispatch", 2),
            ("registered", 2),
        ]
    } else {
        &[
            ("closed", 7),
            ("rejected", 5),
            ("awaiting_follow_up", 3),
            ("pending_review", 5),
            ("in_progress", 25),
            ("dispatched", 25),
            ("pending_dispatch", 15),
            ("registered", 15),
        ]
    };
    pick_weighted(rng, table)
}

fn fill(template: &str, address: &str, n: u32) -> String {
    let mut text = String::with_capacity(template.len() + address.len() + 8);
    let mut rest = template;
    while let Some(at) = rest.find('{') {
        text.push_str(&rest[..at]);
        let after = &rest[at..];
        if let Some(tail) = after.strip_prefix("{addr}") {
            text.push_str(address);
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("{n}") {
            text.push_str(&n.to_string());
            rest = tail;
        } else {
            text.push('{');
            rest = &after[1..];
        }
    }
    text.push_str(rest);
    text
}

/// What the generator needs of the organisation.
pub(super) struct Organisation {
    topics: Vec<(usize, CategoryId, Option<DepartmentId>)>,
    topic_weight_total: u32,
    districts: Vec<District>,
    /// Active departments: a category's default department that is retired takes no dispatch.
    active: std::collections::HashSet<DepartmentId>,
    operator: UserId,
    dispatcher: UserId,
    supervisor: UserId,
    /// A department user per department (staff before admins), who signs and replies. The cases
    /// of a department without one stay with the centre: nobody there can sign for them.
    handlers: HashMap<DepartmentId, (UserId, Role)>,
}

struct District {
    id: DepartmentId,
    name: String,
    streets: Vec<(DepartmentId, String)>,
}

impl Organisation {
    pub(super) fn new(rows: OrganisationRows) -> Result<Self, String> {
        let OrganisationRows {
            departments,
            categories,
            users,
        } = rows;
        let districts: Vec<District> = departments
            .iter()
            .filter(|(_, _, kind, _)| kind == "district")
            .map(|(id, name, _, _)| District {
                id: *id,
                name: name.trim_end_matches("人民政府").to_owned(),
                streets: departments
                    .iter()
                    .filter(|(_, _, kind, parent)| kind == "street" && *parent == Some(*id))
                    .map(|(id, name, _, _)| (*id, name.trim_end_matches("办事处").to_owned()))
                    .collect(),
            })
            .collect();
        if districts.is_empty() {
            return Err("no active district department to place cases in".into());
        }
        let topics: Vec<(usize, CategoryId, Option<DepartmentId>)> = TOPICS
            .iter()
            .enumerate()
            .filter_map(|(index, topic)| {
                categories
                    .iter()
                    .find(|(_, code, _)| code == topic.code)
                    .map(|(id, _, department)| (index, *id, *department))
            })
            .collect();
        if topics.is_empty() {
            return Err(
                "none of the demo categories exists (or is active): load the demo organisation first"
                    .into(),
            );
        }
        let by_role = |role: Role| {
            users
                .iter()
                .find(|(_, r, _)| r == role.as_str())
                .map(|(id, _, _)| *id)
                .ok_or_else(|| format!("the seed acts as a {}: create one first", role.as_str()))
        };
        let mut handlers = HashMap::new();
        for role in [Role::DepartmentStaff, Role::DepartmentAdmin] {
            for (id, r, department) in &users {
                if let (Some(department), true) = (department, r == role.as_str()) {
                    handlers.entry(*department).or_insert((*id, role));
                }
            }
        }
        Ok(Organisation {
            topic_weight_total: topics.iter().map(|t| TOPICS[t.0].weight).sum(),
            topics,
            districts,
            active: departments.iter().map(|(id, _, _, _)| *id).collect(),
            operator: by_role(Role::Operator)?,
            dispatcher: by_role(Role::Dispatcher)?,
            supervisor: by_role(Role::Supervisor)?,
            handlers,
        })
    }
}

/// The SLA policy and calendar the dispatches and reviews count their clocks with.
pub(super) struct Clocks {
    pub calendar: Arc<WorkingCalendar>,
    pub policy: Arc<PolicyVersion>,
}

/// What the seeded surveys ask and answer: the default template, and for each evaluation the
/// answers a citizen gives, checked and stored as the product checks and stores them.
pub(super) struct Surveys {
    /// None: no default template, so no invitations.
    template: Option<SurveyTemplateId>,
    /// The stored answers (JSON) giving each evaluation; empty when the default template does not
    /// carry both measures (its answers close nothing: the seed's invitations then go unanswered).
    answers: Vec<(Evaluation, String)>,
    validity_days: i64,
    /// Tokens are random (a generator seeded by the operating system, not by `--seed`) and kept
    /// by nobody: only their digests are written, as the product stores them.
    tokens: rand::rngs::StdRng,
}

impl Surveys {
    pub(super) fn new(template: Option<TemplateRow>, validity_days: i64) -> Result<Self, ApiError> {
        use rand::SeedableRng;
        let tokens = rand::rngs::StdRng::from_rng(rand::rngs::OsRng)
            .map_err(|e| ApiError::internal(format!("no random source for survey tokens: {e}")))?;
        let Some(template) = template else {
            return Ok(Surveys {
                template: None,
                answers: Vec::new(),
                validity_days,
                tokens,
            });
        };
        let questions: Vec<Question> = serde_json::from_str(&template.questions)
            .map_err(|e| ApiError::internal(format!("default survey template unreadable: {e}")))?;
        let mut answers = Vec::new();
        for resolved in Resolved::ALL {
            for satisfaction in Satisfaction::ALL {
                let evaluation = Evaluation {
                    resolved: *resolved,
                    satisfaction: *satisfaction,
                };
                match answers_giving(&questions, evaluation) {
                    Some(json) => answers.push((evaluation, json)),
                    None => {
                        answers.clear();
                        break;
                    }
                }
            }
        }
        Ok(Surveys {
            template: Some(template.id),
            answers,
            validity_days,
            tokens,
        })
    }

    /// Whether an answered survey can stand as the follow-up result.
    fn answerable(&self) -> bool {
        !self.answers.is_empty()
    }

    fn answers(&self, evaluation: Evaluation) -> String {
        self.answers
            .iter()
            .find(|(e, _)| *e == evaluation)
            .map(|(_, json)| json.clone())
            .expect("answers for every evaluation")
    }

    /// The digest of a new random token, which is thrown away.
    fn token_digest(&mut self) -> String {
        use base64::Engine;
        use rand::RngCore;
        let mut bytes = [0u8; 32];
        self.tokens.fill_bytes(&mut bytes);
        let mut text = [0u8; 44];
        let len = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode_slice(bytes, &mut text)
            .expect("32 bytes fit in 44 characters");
        crate::auth::secrets::digest(std::str::from_utf8(&text[..len]).expect("base64 is ASCII"))
    }
}

/// The answers to `questions` a citizen gives with `evaluation` (the options carrying it, the
/// first option or the best rating on other required questions), as the product checks and
/// stores them; None when the template's answers would not give exactly that evaluation.
fn answers_giving(questions: &[Question], evaluation: Evaluation) -> Option<String> {
    let option = |q: &Question, meaning: Option<Meaning>| {
        q.options
            .iter()
            .find(|o| meaning.is_some() && o.maps_to == meaning)
            .map(|o| serde_json::Value::from(o.value.as_str()))
    };
    let raw: Vec<RawAnswer> = questions
        .iter()
        .filter_map(|q| {
            let value = match q.carries {
                Some(Measure::Resolved) => option(q, Meaning::parse(evaluation.resolved.as_str()))?,
                Some(Measure::Satisfaction) => {
                    option(q, Meaning::parse(evaluation.satisfaction.as_str()))?
                }
                None if !q.required => return None,
                None => match q.kind {
                    QuestionKind::Rating => survey::MAX_RATING.into(),
                    QuestionKind::Choice => q.options.first()?.value.as_str().into(),
                    QuestionKind::Text => "满意".into(),
                },
            };
            Some(RawAnswer {
                question: q.key.clone(),
                value,
            })
        })
        .collect();
    let checked = survey::check_answers(questions, &raw).ok()?;
    (checked.evaluation() == Some(evaluation))
        .then(|| serde_json::to_string(&checked.answers).ok())
        .flatten()
}

/// A seeded case's timeline as it is written, move by move: each move's event, and the case's
/// status, version and time after it.
struct Timeline {
    case_id: CaseId,
    next_event: i64,
    status: CaseStatus,
    version: i32,
    updated_at: NaiveDateTime,
}

impl Timeline {
    fn event(
        &mut self,
        batch: &mut Batch,
        at: NaiveDateTime,
        (actor, role): (Option<UserId>, Role),
        action: &str,
        after: CaseStatus,
        details: serde_json::Value,
    ) {
        batch.events.push((
            self.next_event,
            NewCaseEvent {
                case_id: self.case_id,
                occurred_at: Ts::new(at),
                actor_user_id: actor,
                actor_client_id: None,
                actor_role: role.as_str().to_owned(),
                action: action.to_owned(),
                status_before: (self.version > 0).then(|| self.status.as_str().to_owned()),
                status_after: Some(after.as_str().to_owned()),
                details: details.to_string(),
            },
        ));
        self.next_event += 1;
        // A move that keeps the status (a follow-up attempt, a survey issued or answered) leaves
        // the case as it is, as the product's `event_keeping_status` does.
        if !matches!(
            action,
            "follow_up_attempt" | "survey_issued" | "survey_answered"
        ) {
            self.status = after;
            self.version += 1;
            self.updated_at = at;
        }
    }
}

/// The case's fields its moves set, as the last move leaves them.
#[derive(Default)]
struct CaseEnd {
    closure: Option<Closure>,
    resolution: Option<String>,
    closed: Option<NaiveDateTime>,
    reviewed: Option<NaiveDateTime>,
    reply_due: Option<NaiveDateTime>,
    dispatched: Option<NaiveDateTime>,
    round: i32,
    redo_count: i32,
}

/// What every dispatch round of a case shares.
#[derive(Clone, Copy)]
struct RoundCase {
    id: CaseId,
    /// The lead department, and its user who signs and replies (none: nobody works it).
    lead: DepartmentId,
    handler: Option<(UserId, Role)>,
    sign: Period,
    reply: Period,
    /// What the department's reply says was done.
    result: &'static str,
}

/// Where a dispatch round starts and how far it goes.
#[derive(Clone, Copy)]
struct RoundStart {
    round: i32,
    at: NaiveDateTime,
    /// Who dispatched it: the dispatcher, or the supervisor's redo.
    by: (UserId, Role),
    /// `dispatched`, `in_progress`, `pending_review`, `awaiting_follow_up` or `closed`.
    planned: &'static str,
    /// Whether a dissatisfied citizen may have the case redone.
    may_redo: bool,
}

pub(super) struct Generator {
    pub rng: fastrand::Rng,
    pub org: Organisation,
    pub clocks: Clocks,
    pub tz: chrono_tz::Tz,
    pub counters: HashMap<String, i64>,
    pub next_case: i64,
    pub next_event: i64,
    pub next_assignment: i64,
    pub next_deadline: i64,
    pub next_call: i64,
    pub next_survey: i64,
    pub surveys: Surveys,
    pub start: NaiveDateTime,
    pub span_seconds: i64,
    pub total: u64,
    pub now: NaiveDateTime,
}

/// A clock as the product starts it (`running`), stopped at `end` the way the product stops it.
enum ClockEnd {
    Running,
    /// Signed or replied at this time: met when on time, missed when late.
    Done(NaiveDateTime),
    /// Ended by a close.
    Cancelled(NaiveDateTime),
}

/// Appends a clock that a dispatch or review started, ended as `end` says.
#[allow(clippy::too_many_arguments)]
fn deadline(
    batch: &mut Batch,
    (next_id, policy_version): (&mut i64, i32),
    kind: DeadlineKind,
    case_id: CaseId,
    assignment: Option<(i64, DepartmentId)>,
    starts_at: NaiveDateTime,
    due: &crate::domain::calendar::Due,
    period: String,
    end: ClockEnd,
) -> DeadlineId {
    let due_at = due.at.naive_utc();
    let (state, met_at, updated_at) = match end {
        ClockEnd::Running => (DeadlineState::Running, None, starts_at),
        ClockEnd::Done(at) if at <= due_at => (DeadlineState::Met, Some(at), at),
        ClockEnd::Done(at) => (DeadlineState::Missed, Some(at), at),
        ClockEnd::Cancelled(at) => (DeadlineState::Cancelled, None, at),
    };
    batch.deadlines.push((
        *next_id,
        NewDeadline {
            kind,
            case_id,
            assignment_id: assignment.map(|(id, _)| AssignmentId(id)),
            department_id: assignment.map(|(_, department)| department),
            starts_at: Ts::new(starts_at),
            due_at: Ts::new(due_at),
            policy_version: Some(policy_version),
            period,
            beyond_calendar: !due.calendar_complete,
            state,
            met_at: met_at.map(Ts::new),
            created_at: Ts::new(starts_at),
            updated_at: Ts::new(updated_at),
        },
    ));
    *next_id += 1;
    DeadlineId(*next_id - 1)
}

/// One follow-up attempt of a seeded case, and what the product's rule makes of it.
struct Attempt {
    at: NaiveDateTime,
    channel: FollowUpChannel,
    outcome: CallOutcome,
    evaluation: Option<Evaluation>,
    verdict: Verdict,
}

/// The supervisor's decision after a dissatisfied citizen.
#[derive(Debug, Clone, Copy)]
enum Decision {
    /// Closed with a reason (and its note).
    Close(NaiveDateTime, DecisionReason, &'static str),
    /// 重办: a new round to the same departments, with the note saying why.
    Redo(NaiveDateTime, &'static str),
}

/// How a followed-up citizen is surveyed, besides the calls.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum SurveyPlan {
    #[default]
    None,
    /// Invited after the approval, never answered (the link is open, or expired).
    Unanswered,
    /// Invited after the approval and answered through the link: the answer is the follow-up
    /// result, in place of the last (reached) call.
    ByLink,
    /// The last (reached) call is recorded as a phone survey.
    Phone,
}

/// The follow-up of an approved case: its attempts, and after a dissatisfied citizen the
/// supervisor's closing decision (time, reason, note); and the survey besides.
#[derive(Default)]
struct FollowUpPlan {
    attempts: Vec<Attempt>,
    decision: Option<Decision>,
    survey: SurveyPlan,
}

const CITIZEN_WORDS: &[&str] = &[
    "已经处理好了，谢谢。",
    "问题基本解决了，希望以后多巡查。",
    "处理得很及时，满意。",
    "还有一点没弄完，但态度不错。",
];
const DISSATISFIED_WORDS: &[&str] = &["问题还是没有解决。", "只是来看了一下，没有实际处理。"];

/// Plans the follow-up of a case approved at `approved_at`. A closing case ends it by
/// `ends_at` (a realistic mix: most citizens satisfied or basically satisfied, some refusing,
/// some unreachable on three days, some dissatisfied and closed by the supervisor or, when
/// `may_redo`, sometimes redone; without `may_redo`, a redone round, satisfied or basically
/// satisfied); an open one
/// has had up to two unanswered attempts by `now`. Each attempt's effect is the product's rule
/// (`domain::follow_up::verdict`), so a plan that the rule would end differently is cut there.
///
/// With `surveys` (None: no template to ask), some citizens are invited to a survey too: some
/// never answer it, and when a reached call ends the follow-up, it is sometimes an answer
/// through the link instead (only if the template's answers carry the result, `Some(true)`) or
/// recorded as a phone survey.
fn plan_follow_up(
    rng: &mut fastrand::Rng,
    calendar: &WorkingCalendar,
    approved_at: NaiveDateTime,
    ends_at: Option<NaiveDateTime>,
    now: NaiveDateTime,
    surveys: Option<bool>,
    may_redo: bool,
) -> FollowUpPlan {
    let mut planned: Vec<(NaiveDateTime, CallOutcome, Option<Evaluation>)> = Vec::new();
    let hours = |n: i64| TimeDelta::hours(n);
    let reached = |resolved, satisfaction| {
        Some(Evaluation {
            resolved,
            satisfaction,
        })
    };
    let mut decision = None;
    match ends_at {
        None => {
            for day in 0..rng.i64(0..3) {
                planned.push((
                    approved_at + TimeDelta::days(day) + hours(1) + minutes(rng, 0, 300),
                    CallOutcome::NoAnswer,
                    None,
                ));
            }
        }
        Some(end) => {
            // A redone round ends with a satisfied or basically satisfied citizen (the last rolls
            // are the refusals, the unreachable and the dissatisfied).
            let roll = rng.u32(..if may_redo { 100 } else { 88 });
            if rng.u32(..5) == 0 && roll < 95 {
                // A first call nobody answered, a little after the approval.
                planned.push((
                    approved_at + minutes(rng, 10, 60),
                    CallOutcome::NoAnswer,
                    None,
                ));
            }
            match roll {
                0..62 => {
                    let resolved = if rng.u32(..10) == 0 {
                        Resolved::Partly
                    } else {
                        Resolved::Yes
                    };
                    planned.push((
                        end,
                        CallOutcome::Reached,
                        reached(resolved, Satisfaction::Satisfied),
                    ));
                }
                62..88 => {
                    let resolved = match rng.u32(..10) {
                        0..6 => Resolved::Yes,
                        6..9 => Resolved::Partly,
                        _ => Resolved::No,
                    };
                    planned.push((
                        end,
                        CallOutcome::Reached,
                        reached(resolved, Satisfaction::BasicallySatisfied),
                    ));
                }
                88..91 => planned.push((end, CallOutcome::Refused, None)),
                91..95 => {
                    // Three days in a row, a day apart: three different local days.
                    for day in 0..3 {
                        let outcome = if rng.u32(..4) == 0 {
                            CallOutcome::WrongNumber
                        } else {
                            CallOutcome::NoAnswer
                        };
                        planned.push((
                            approved_at + TimeDelta::days(day) + hours(2),
                            outcome,
                            None,
                        ));
                    }
                }
                _ => {
                    let resolved = if rng.bool() {
                        Resolved::No
                    } else {
                        Resolved::Partly
                    };
                    planned.push((
                        end,
                        CallOutcome::Reached,
                        reached(resolved, Satisfaction::Dissatisfied),
                    ));
                    let reason = match rng.u32(..100) {
                        0..40 => (
                            DecisionReason::BeyondPolicy,
                            "诉求超出政策规定范围，已向市民解释。",
                        ),
                        40..75 => (
                            DecisionReason::UnreasonableDemand,
                            "诉求不合理，已做好解释工作。",
                        ),
                        _ => (
                            DecisionReason::ResolvedPerDepartment,
                            "经核实承办单位已按规定处理到位。",
                        ),
                    };
                    let at = (end + minutes(rng, 30, 8 * 60)).min(now);
                    decision = Some(if may_redo && rng.bool() {
                        Decision::Redo(at, "市民反映问题仍未解决，责成重新办理。")
                    } else {
                        Decision::Close(at, reason.0, reason.1)
                    });
                }
            }
        }
    }
    let mut plan = FollowUpPlan::default();
    let mut unreached = std::collections::BTreeSet::new();
    for (at, outcome, evaluation) in planned {
        if at > now {
            break;
        }
        let day = calendar.local_date(at.and_utc());
        let Ok(verdict) = verdict(outcome, evaluation, &unreached, day) else {
            break;
        };
        if evaluation.is_none() && verdict == Verdict::TryAgain {
            unreached.insert(day);
        }
        let channel = if rng.u32(..10) == 0 {
            FollowUpChannel::Sms
        } else {
            FollowUpChannel::Phone
        };
        plan.attempts.push(Attempt {
            at,
            channel,
            outcome,
            evaluation,
            verdict,
        });
        if verdict != Verdict::TryAgain {
            if verdict == Verdict::AwaitSupervisor {
                plan.decision = decision;
            }
            break;
        }
    }
    let reached = plan
        .attempts
        .last()
        .is_some_and(|a| a.outcome == CallOutcome::Reached);
    plan.survey = match (surveys, rng.u32(..100)) {
        (Some(true), 0..10) if reached => SurveyPlan::ByLink,
        (Some(true), 10..20) if reached => SurveyPlan::Phone,
        (Some(_), 20..28) => SurveyPlan::Unanswered,
        _ => SurveyPlan::None,
    };
    if plan.survey == SurveyPlan::Phone
        && let Some(last) = plan.attempts.last_mut()
    {
        last.channel = FollowUpChannel::Phone;
    }
    plan
}

impl Generator {
    /// Appends dispatch round `start.round` of a case (its assignment to the lead department, the
    /// assignment's sign and reply clocks, and as far as `start.planned` goes: signed, replied,
    /// approved with a follow-up clock, followed up and closed, or closed by the supervisor when
    /// nobody there works it). Returns when the supervisor had the case redone after a
    /// dissatisfied citizen: the next round starts then.
    fn round(
        &mut self,
        batch: &mut Batch,
        timeline: &mut Timeline,
        end: &mut CaseEnd,
        case: &RoundCase,
        start: RoundStart,
    ) -> Option<NaiveDateTime> {
        let rng = &mut self.rng;
        let now = self.now;
        let clamp = |t: NaiveDateTime| t.min(now);
        let RoundCase {
            id,
            lead,
            handler,
            sign,
            reply,
            result,
        } = *case;
        let (operator, supervisor) = (self.org.operator, self.org.supervisor);
        let operating = (Some(operator), Role::Operator);
        let supervising = (Some(supervisor), Role::Supervisor);
        // A citizen answering through the link they were sent, not signed in.
        let citizen = (None, Role::Citizen);
        let dispatching = (Some(start.by.0), start.by.1);
        // The dispatch desk reviews every round, whoever dispatched it.
        let reviewing = (Some(self.org.dispatcher), Role::Dispatcher);
        let (planned, dispatched_at) = (start.planned, start.at);
        // Each step a little after the one before, never in the future.
        let signed_at = clamp(dispatched_at + minutes(rng, 30, 20 * 60));
        let replied_at = clamp(signed_at + minutes(rng, 12 * 60, 4 * 24 * 60));
        let reviewed_at = clamp(replied_at + minutes(rng, 30, 8 * 60));
        let closed_at = clamp(reviewed_at + minutes(rng, 4 * 60, 2 * 24 * 60));
        end.round = start.round;
        end.dispatched = Some(dispatched_at);
        let mut redo = None;
        let assignment_id = self.next_assignment;
        self.next_assignment += 1;
        let calendar = Arc::clone(&self.clocks.calendar);
        let sign_due = sign.due_from(&calendar, dispatched_at.and_utc());
        let reply_due_at = reply.due_from(&calendar, dispatched_at.and_utc());
        end.reply_due = Some(reply_due_at.at.naive_utc());
        timeline.event(
            batch,
            dispatched_at,
            dispatching,
            "dispatched",
            CaseStatus::Dispatched,
            serde_json::json!({
                "round": start.round,
                "mode": DispatchMode::Direct.as_str(),
                "assigned": false,
                "departments": [{
                    "assignment_id": assignment_id,
                    "department_id": lead,
                    "role": AssignmentRole::Lead.as_str(),
                }],
                "lead_department_id": lead,
                "reply_due_at": reply_due_at.at,
                "instructions": null,
            }),
        );
        // Only a user of the lead department signs and replies; without one the case
        // stays dispatched, or the supervisor closes it.
        let worked = handler.filter(|_| planned != "dispatched");
        let signed = worked.map(|user| (user, signed_at));
        let replied = worked
            .filter(|_| planned != "in_progress")
            .map(|user| (user, replied_at));
        let approved = replied.is_some() && planned != "pending_review";
        let closing = planned == "closed";
        let reply_text = replied.map(|_| Reply {
            investigation: "承办人员到现场核实了反映的情况。".into(),
            actions: result.into(),
            result: "问题已解决".into(),
            contacted_citizen: true,
        });
        let department_move =
            |action: &str, (before, after): (AssignmentState, AssignmentState)| {
                let mut details = serde_json::json!({
                    "assignment_id": assignment_id,
                    "department_id": lead,
                    "state_before": before.as_str(),
                    "state_after": after.as_str(),
                });
                if let (Some(reply), "assignment_replied") = (&reply_text, action) {
                    details["reply"] = serde_json::to_value(reply).expect("a reply is JSON");
                }
                details
            };
        let mut assignment_state = AssignmentState::PendingSign;
        let mut assignment_version = 1;
        let mut assignment_updated = dispatched_at;
        if let Some((user, at)) = signed {
            let details = department_move(
                "assignment_signed",
                (assignment_state, AssignmentState::InProgress),
            );
            timeline.event(
                batch,
                at,
                (Some(user.0), user.1),
                "assignment_signed",
                CaseStatus::InProgress,
                details,
            );
            assignment_state = AssignmentState::InProgress;
            (assignment_version, assignment_updated) = (assignment_version + 1, at);
        }
        if let Some((user, at)) = replied {
            let details = department_move(
                "assignment_replied",
                (assignment_state, AssignmentState::Replied),
            );
            timeline.event(
                batch,
                at,
                (Some(user.0), user.1),
                "assignment_replied",
                CaseStatus::PendingReview,
                details,
            );
            assignment_state = AssignmentState::Replied;
            (assignment_version, assignment_updated) = (assignment_version + 1, at);
        }
        let mut follow_up = None;
        if approved {
            let days = self.clocks.policy.policy.follow_up_working_days;
            let due = calendar.add_working_days(reviewed_at.and_utc(), days);
            timeline.event(
                batch,
                reviewed_at,
                reviewing,
                "review_approved",
                CaseStatus::AwaitingFollowUp,
                serde_json::json!({ "round": start.round, "follow_up_due_at": due.at, "note": null }),
            );
            end.reviewed = Some(reviewed_at);
            assignment_state = AssignmentState::Completed;
            (assignment_version, assignment_updated) = (assignment_version + 1, reviewed_at);
            follow_up = Some((due, format!("{days} working_days")));
        }
        // Approved cases are followed up by the rules; cases that never reached approval (no
        // one in the department to reply) are closed by the supervisor: open work cancelled,
        // clocks stopped.
        let plan = approved.then(|| {
            plan_follow_up(
                rng,
                &calendar,
                reviewed_at,
                closing.then_some(closed_at),
                self.now,
                self.surveys.template.map(|_| self.surveys.answerable()),
                start.may_redo,
            )
        });
        let survey_plan = plan.as_ref().map_or(SurveyPlan::None, |plan| plan.survey);
        // An invitation, issued a few minutes after the approval (before any call).
        let mut invitation = None;
        if let (SurveyPlan::Unanswered | SurveyPlan::ByLink, Some(template)) =
            (survey_plan, self.surveys.template)
        {
            let issued = clamp(reviewed_at + minutes(rng, 1, 10));
            let expires =
                survey::expires_at(issued.and_utc(), self.surveys.validity_days).naive_utc();
            let survey_id = SurveyId(self.next_survey);
            self.next_survey += 1;
            timeline.event(
                batch,
                issued,
                operating,
                "survey_issued",
                CaseStatus::AwaitingFollowUp,
                issued_details(survey_id, template, expires.and_utc()),
            );
            invitation = Some((
                survey_id,
                NewSurvey {
                    case_id: id,
                    template_id: template,
                    token_hash: Some(self.surveys.token_digest()),
                    issued_by: Some(operator),
                    issued_at: Ts::new(issued),
                    expires_at: Ts::new(expires),
                    answered_at: None,
                    answered_by: None,
                    answers: None,
                    resolved: None,
                    satisfaction: None,
                    channel: SurveyChannel::Link,
                    follow_up_call_id: None,
                },
            ));
        }
        let mut calls = Vec::new();
        let mut follow_up_end = ClockEnd::Running;
        let attempts = plan.as_ref().map_or(&[][..], |plan| &plan.attempts[..]);
        for (index, attempt) in attempts.iter().enumerate() {
            let last = index + 1 == attempts.len();
            let evaluation = attempt.evaluation.filter(|_| last);
            let (action, after) = match attempt.verdict {
                Verdict::TryAgain => ("follow_up_attempt", CaseStatus::AwaitingFollowUp),
                Verdict::AwaitSupervisor => ("awaiting_decision", CaseStatus::AwaitingDecision),
                _ => ("closed_after_follow_up", CaseStatus::Closed),
            };
            if let Some(ends) = attempt.verdict.closure() {
                end.closure = Some(ends);
                end.closed = Some(attempt.at);
            }
            if attempt.verdict != Verdict::TryAgain {
                follow_up_end = ClockEnd::Done(attempt.at);
            }
            // The citizen answers the invitation instead of the last call: the answer is the
            // result, applied as a reached call's would be (`apply_evaluation`).
            if let (SurveyPlan::ByLink, Some(evaluation), Some((survey_id, survey))) =
                (survey_plan, evaluation, invitation.as_mut())
            {
                survey.answered_at = Some(Ts::new(attempt.at));
                survey.answers = Some(self.surveys.answers(evaluation));
                survey.resolved = Some(evaluation.resolved);
                survey.satisfaction = Some(evaluation.satisfaction);
                let details = answered_details(
                    *survey_id,
                    survey.template_id,
                    None,
                    (survey.resolved, survey.satisfaction),
                    false,
                );
                timeline.event(
                    batch,
                    attempt.at,
                    citizen,
                    "survey_answered",
                    CaseStatus::AwaitingFollowUp,
                    details.clone(),
                );
                timeline.event(batch, attempt.at, citizen, action, after, details);
                continue;
            }
            let call = NewFollowUpCall {
                case_id: id,
                // The clock's id is known once it is written, below.
                deadline_id: DeadlineId(0),
                evaluated_case_id: id,
                round: start.round,
                department_id: Some(lead),
                channel: attempt.channel,
                outcome: attempt.outcome,
                resolved: attempt.evaluation.map(|e| e.resolved),
                satisfaction: attempt.evaluation.map(|e| e.satisfaction),
                citizen_words: attempt.evaluation.map(|e| {
                    let words = match e.satisfaction {
                        Satisfaction::Dissatisfied => DISSATISFIED_WORDS,
                        _ => CITIZEN_WORDS,
                    };
                    pick(rng, words).to_owned()
                }),
                effect: attempt.verdict.effect(),
                called_by: operator,
                called_at: Ts::new(attempt.at),
                recorded_at: Ts::new(attempt.at),
            };
            let call_id = FollowUpCallId(self.next_call);
            let details = call_details(call_id, &call);
            // The reached call recorded as a phone survey: stored with it, on the timeline
            // before the call's effect, as the product records it.
            if let (SurveyPlan::Phone, Some(evaluation), Some(template)) =
                (survey_plan, evaluation, self.surveys.template)
            {
                let survey_id = SurveyId(self.next_survey);
                self.next_survey += 1;
                let survey = phone_survey_row(
                    (call_id, &call),
                    template,
                    self.surveys.answers(evaluation),
                    (Some(evaluation.resolved), Some(evaluation.satisfaction)),
                );
                timeline.event(
                    batch,
                    attempt.at,
                    operating,
                    "survey_answered",
                    CaseStatus::AwaitingFollowUp,
                    answered_details(
                        survey_id,
                        template,
                        Some(call_id),
                        (survey.resolved, survey.satisfaction),
                        false,
                    ),
                );
                batch.surveys.push((survey_id.get(), survey));
            }
            timeline.event(batch, attempt.at, operating, action, after, details);
            calls.push((self.next_call, call));
            self.next_call += 1;
        }
        if let Some((survey_id, survey)) = invitation {
            batch.surveys.push((survey_id.get(), survey));
        }
        match plan.as_ref().and_then(|plan| plan.decision) {
            Some(Decision::Close(at, reason, note)) => {
                end.closure = Some(reason.closure());
                end.closed = Some(at);
                end.resolution = Some(note.to_owned());
                timeline.event(
                    batch,
                    at,
                    supervising,
                    "follow_up_decision",
                    CaseStatus::Closed,
                    close_decision_details(reason, Some(note)),
                );
            }
            Some(Decision::Redo(at, note)) => {
                // The round's assignment stays completed and its clocks stopped; the next
                // round is dispatched at once by the same decision.
                timeline.event(
                    batch,
                    at,
                    supervising,
                    "redo",
                    CaseStatus::PendingDispatch,
                    redo_details(Some(note), start.round),
                );
                redo = Some(at);
            }
            None => {}
        }
        let close_at = dispatched_at.max(clamp(dispatched_at + TimeDelta::days(5)));
        let closed_by_supervisor = (closing && !approved).then_some(close_at);
        if let Some(at) = closed_by_supervisor {
            end.closure = Some(Closure::Resolved);
            end.closed = Some(at);
            end.resolution = Some(result.to_owned());
            timeline.event(
                batch,
                at,
                supervising,
                "closed",
                CaseStatus::Closed,
                serde_json::json!({ "reason": result, "closure": Closure::Resolved.as_str() }),
            );
            if assignment_state.is_open() || assignment_state == AssignmentState::Replied {
                assignment_state = AssignmentState::Cancelled;
                (assignment_version, assignment_updated) = (assignment_version + 1, at);
            }
        }
        let stopped = |done: Option<NaiveDateTime>| match (done, closed_by_supervisor) {
            (Some(at), _) => ClockEnd::Done(at),
            (None, Some(at)) => ClockEnd::Cancelled(at),
            (None, None) => ClockEnd::Running,
        };
        let (sign_end, reply_end) = (stopped(signed.map(|s| s.1)), stopped(replied.map(|r| r.1)));
        deadline(
            batch,
            (&mut self.next_deadline, self.clocks.policy.version),
            DeadlineKind::Sign,
            id,
            Some((assignment_id, lead)),
            dispatched_at,
            &sign_due,
            period_text(&sign),
            sign_end,
        );
        deadline(
            batch,
            (&mut self.next_deadline, self.clocks.policy.version),
            DeadlineKind::Reply,
            id,
            Some((assignment_id, lead)),
            dispatched_at,
            &reply_due_at,
            period_text(&reply),
            reply_end,
        );
        if let Some((due, period)) = follow_up {
            let clock = deadline(
                batch,
                (&mut self.next_deadline, self.clocks.policy.version),
                DeadlineKind::FollowUp,
                id,
                None,
                reviewed_at,
                &due,
                period,
                follow_up_end,
            );
            for (_, call) in &mut calls {
                call.deadline_id = clock;
            }
            batch.follow_up_calls.append(&mut calls);
        }
        let worker =
            |done: Option<((UserId, Role), NaiveDateTime)>| done.map(|((user, _), _)| user);
        batch.assignments.push((
            assignment_id,
            NewAssignment {
                case_id: id,
                department_id: lead,
                round: start.round,
                role: AssignmentRole::Lead,
                mode: DispatchMode::Direct,
                assigned: false,
                instructions: None,
                state: assignment_state,
                dispatched_by: Some(start.by.0),
                dispatched_at: Ts::new(dispatched_at),
                sign_due_at: Ts::new(sign_due.at.naive_utc()),
                reply_due_at: Ts::new(reply_due_at.at.naive_utc()),
                handler_id: worker(signed),
                signed_by: worker(signed),
                signed_at: signed.map(|(_, at)| Ts::new(at)),
                returned_by: None,
                returned_at: None,
                return_reason: None,
                ruling: None,
                ruling_note: None,
                ruled_at: None,
                reply: reply_text
                    .as_ref()
                    .map(|reply| serde_json::to_string(reply).expect("a reply is JSON")),
                replied_by: worker(replied),
                replied_at: replied.map(|(_, at)| Ts::new(at)),
                review_decision: approved.then(|| "approved".to_owned()),
                review_note: None,
                reviewed_at: approved.then(|| Ts::new(reviewed_at)),
                version: assignment_version,
                updated_at: Ts::new(assignment_updated),
            },
        ));
        redo
    }

    /// Appends the rows of case number `index` (of `total`) to `batch`.
    pub(super) fn case(&mut self, index: u64, batch: &mut Batch) {
        let rng = &mut self.rng;
        let org = &self.org;
        // Cases come in time order, so that ids and case numbers grow with the registration time.
        let step = self.span_seconds as f64 / self.total as f64;
        let offset = ((index as f64 + rng.f64()) * step) as i64;
        let created_at = self.start
            + TimeDelta::seconds(offset)
            + TimeDelta::microseconds(rng.i64(0..1_000_000));
        let local_day = created_at
            .and_utc()
            .with_timezone(&self.tz)
            .format("%Y%m%d")
            .to_string();
        let sequence = {
            let counter = self.counters.entry(local_day.clone()).or_insert(0);
            *counter += 1;
            *counter
        };
        batch.counters.insert(local_day.clone(), sequence);
        let id = CaseId(self.next_case);
        self.next_case += 1;

        let mut roll = rng.u32(..org.topic_weight_total);
        let mut chosen = &org.topics[0];
        for entry in &org.topics {
            let weight = TOPICS[entry.0].weight;
            if roll < weight {
                chosen = entry;
                break;
            }
            roll -= weight;
        }
        let (topic_index, category_id, default_department) = *chosen;
        let topic = &TOPICS[topic_index];
        let district = &org.districts[rng.usize(..org.districts.len())];
        let district_id = district.id;
        let street = (!district.streets.is_empty())
            .then(|| &district.streets[rng.usize(..district.streets.len())]);
        let mut address = String::with_capacity(64);
        address.push_str(&district.name);
        if let Some((_, street_name)) = street {
            address.push_str(street_name);
        }
        address.push_str(pick(rng, ROADS));
        address.push_str(&rng.u32(1..300).to_string());
        address.push('号');
        address.push_str(pick(rng, PLACES));
        let n = rng.u32(2..10);
        let (title, detail) = pick(rng, topic.items);
        let title = title.to_owned();
        let mut description = fill(detail, &address, n);
        description.push_str(pick(rng, topic.asks));
        let channel = pick_weighted(rng, CHANNELS);
        let kind = if topic.code == "07" {
            "consultation"
        } else {
            pick_weighted(rng, KINDS)
        };
        let urgency = match rng.u32(..100) {
            0..5 => "urgent",
            5..10 => "complex",
            _ => "normal",
        };
        let planned = status_for_age(rng, self.now - created_at);
        // A consultation may be answered during the call; other closed cases went all the way.
        let answered_directly = planned == "closed" && kind == "consultation" && rng.bool();
        let dispatched = matches!(
            planned,
            "dispatched" | "in_progress" | "pending_review" | "awaiting_follow_up"
        ) || (planned == "closed" && !answered_directly);
        let lead = match (default_department, street, rng.u32(..100)) {
            (Some(department), _, 0..70) if org.active.contains(&department) => department,
            (_, Some((street_id, _)), 0..85) => *street_id,
            _ => district.id,
        };
        let handler = org.handlers.get(&lead).copied();

        // The timeline, each step a little after the one before, never in the future.
        let clamp = |t: NaiveDateTime| t.min(self.now);
        let accepted_at = clamp(created_at + minutes(rng, 2, 90));
        let dispatched_at = clamp(accepted_at + minutes(rng, 10, 240));
        let result = pick(rng, topic.results);

        let (operator, dispatcher, supervisor) = (org.operator, org.dispatcher, org.supervisor);
        // One move at a time: its timeline event, the case's new status, version and time.
        let mut timeline = Timeline {
            case_id: id,
            next_event: self.next_event,
            status: CaseStatus::Registered,
            version: 0,
            updated_at: created_at,
        };
        let operating = (Some(operator), Role::Operator);
        timeline.event(
            batch,
            created_at,
            operating,
            "registered",
            CaseStatus::Registered,
            serde_json::json!({ "channel": channel }),
        );
        let mut end = CaseEnd::default();
        let mut accepted = None;
        match planned {
            "registered" => {}
            "rejected" => {
                let reason = "不属于本热线受理范围";
                let redirect_to = "请通过人民法院诉讼途径解决";
                end.resolution = Some(format!("{reason}\n{redirect_to}"));
                end.closed = Some(accepted_at);
                timeline.event(
                    batch,
                    accepted_at,
                    operating,
                    "rejected",
                    CaseStatus::Rejected,
                    serde_json::json!({ "reason": reason, "redirect_to": redirect_to }),
                );
            }
            _ if answered_directly => {
                let answer = result.to_owned();
                end.closure = Some(Closure::AnsweredDirectly);
                end.closed = Some(accepted_at);
                timeline.event(
                    batch,
                    accepted_at,
                    operating,
                    "answered_directly",
                    CaseStatus::Closed,
                    serde_json::json!({ "answer": answer }),
                );
                end.resolution = Some(answer);
            }
            _ => {
                accepted = Some(accepted_at);
                timeline.event(
                    batch,
                    accepted_at,
                    operating,
                    "accepted",
                    CaseStatus::PendingDispatch,
                    serde_json::json!({}),
                );
            }
        }

        if dispatched {
            let rule = CaseKind::parse(kind)
                .zip(Urgency::parse(urgency))
                .and_then(|(kind, urgency)| self.clocks.policy.policy.rule(kind, urgency))
                .expect("the policy has a rule for every kind and urgency");
            let case = RoundCase {
                id,
                lead,
                handler,
                sign: rule.sign,
                reply: rule.reply,
                result,
            };
            let mut start = RoundStart {
                round: 1,
                at: dispatched_at,
                by: (dispatcher, Role::Dispatcher),
                planned,
                may_redo: true,
            };
            while let Some(redone_at) = self.round(batch, &mut timeline, &mut end, &case, start) {
                // 重办: a new round to the same lead department, dispatched by the supervisor's
                // decision, which then goes as far as a first round of its age would.
                let planned = match status_for_age(&mut self.rng, self.now - redone_at) {
                    "registered" | "pending_dispatch" => "dispatched",
                    "rejected" => "closed",
                    other => other,
                };
                end.redo_count += 1;
                start = RoundStart {
                    round: start.round + 1,
                    at: redone_at,
                    by: (supervisor, Role::Supervisor),
                    planned,
                    may_redo: false,
                };
            }
        }

        self.next_event = timeline.next_event;
        let rng = &mut self.rng;
        let anonymous = rng.u32(..100) < 3;
        let name = (!anonymous).then(|| {
            let mut name = String::with_capacity(12);
            name.push_str(pick(rng, SURNAMES));
            name.push_str(pick(rng, GIVEN));
            name
        });
        let phone = (!anonymous).then(|| {
            let mut phone = String::with_capacity(11);
            phone.push('1');
            phone.push(char::from(b'3' + rng.u8(..7)));
            for _ in 0..9 {
                phone.push(char::from(b'0' + rng.u8(..10)));
            }
            phone
        });
        batch.complainants.push(ComplainantRow {
            case_id: id,
            name,
            phone,
            contact_address: (!anonymous && rng.u32(..3) == 0).then(|| address.clone()),
            contact_allowed: rng.u32(..100) < 85,
            confidential: rng.u32(..100) < 5,
            anonymous,
        });

        let (latitude, longitude) = if rng.bool() {
            (
                Some(39.90 + rng.f64() * 0.1 - 0.05),
                Some(116.40 + rng.f64() * 0.1 - 0.05),
            )
        } else {
            (None, None)
        };
        batch.cases.push((
            id.get(),
            NewCase {
                case_no: format!("{local_day}-{sequence:06}"),
                channel: Channel::parse(channel).expect("a channel of CHANNELS"),
                kind: CaseKind::parse(kind).expect("a kind of KINDS"),
                urgency: Urgency::parse(urgency).expect("an urgency name"),
                category_id: Some(category_id),
                title,
                description,
                address_key: Some(address_key(&address)),
                address: Some(address),
                district_id: Some(district_id),
                latitude,
                longitude,
                occurred_at: rng
                    .bool()
                    .then(|| Ts::new(created_at - minutes(rng, 10, 48 * 60))),
                status: timeline.status,
                closure: end.closure,
                resolution: end.resolution,
                citizen_id: None,
                registered_by: Some(operator),
                source_client: None,
                external_ref: None,
                version: timeline.version,
                created_at: Ts::new(created_at),
                updated_at: Ts::new(timeline.updated_at),
                accepted_at: accepted.map(Ts::new),
                closed_at: end.closed.map(Ts::new),
                current_round: end.round,
                // A close keeps the lead and the reply time the citizen was told.
                lead_department_id: dispatched.then_some(lead),
                reply_due_at: end.reply_due.map(Ts::new),
                merged_into: None,
                redo_count: end.redo_count,
                dispatched_at: end.dispatched.map(Ts::new),
                reviewed_at: end.reviewed.map(Ts::new),
            },
        ));
    }
}
