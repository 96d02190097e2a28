//! `hotline seed --cases N`: bulk-generates realistic cases for trying the API and for the large-data
//! benchmark. Chinese titles and descriptions per category, spread over departments, districts,
//! channels, kinds and a year of dates, with consistent rows for each case's status: case number
//! (continuing the per-day counters), complainant, timeline, and for dispatched cases the round-1
//! lead assignment with its sign and reply deadlines.
//!
//! Speed comes from large transactions, multi-row INSERTs of a fixed size (one prepared statement
//! reused for every full chunk), ids assigned here rather than read back, and a second thread that
//! generates the next batch (timestamps already in their SQLite text) while one is written. On
//! SQLite each batch's cases enter the FTS5 keyword index in one bulk insert in place of the
//! row-by-row trigger, with room for the whole batch in FTS5's in-memory index (one segment per
//! batch). About 25,000 cases/s on SQLite at 1,000,000 cases on the 2-core development machine
//! (writing is all but the whole time: the rows with their eighteen indexes, the WAL and its
//! checkpoints, the keyword index). It is meant for an empty or test database: run it while no
//! server is registering cases.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{Datelike, NaiveDateTime, TimeDelta, Timelike};
use diesel::connection::SimpleConnection;
use diesel::expression::AsExpression;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::{BigInt, Text, Timestamp};
use diesel::sqlite::Sqlite;

use crate::db::schema::{
    assignments, case_counters, case_events, cases, categories, complainants, deadlines,
    departments, users,
};
use crate::db::{Db, DbConnection, now, write_transaction};
use crate::error::ApiError;

/// Rows per multi-row INSERT. The widest table (assignments, 36 columns) stays below SQLite's
/// limit of 32,766 bound values per statement.
const CHUNK: usize = 256;
/// Cases per transaction. 50,000 was 5 % faster at 1,000,000 cases but took 1 GB of memory
/// (two batches live at once: one written, the next generated); 20,000 keeps it near 0.4 GB.
const BATCH: usize = 20_000;

#[derive(Debug, Clone)]
pub struct SeedOptions {
    pub cases: u64,
    /// Seed of the random generator: the same seed on an empty database gives the same data.
    pub seed: u64,
    /// Draw a progress bar on stderr (hidden anyway when stderr is not a terminal).
    pub progress: bool,
}

#[derive(Debug)]
pub struct SeedReport {
    pub cases: u64,
    pub elapsed: Duration,
    pub demo_loaded: bool,
}

impl SeedReport {
    pub fn rate(&self) -> f64 {
        self.cases as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

#[derive(Insertable)]
#[diesel(table_name = cases, treat_none_as_default_value = false)]
struct CaseInsert {
    id: i64,
    case_no: String,
    channel: &'static str,
    kind: &'static str,
    urgency: &'static str,
    category_id: Option<i64>,
    title: String,
    description: String,
    address: Option<String>,
    district_id: Option<i64>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    occurred_at: Option<Ts>,
    status: &'static str,
    closure: Option<&'static str>,
    resolution: Option<String>,
    citizen_id: Option<i64>,
    registered_by: Option<i64>,
    source_client: Option<i64>,
    external_ref: Option<String>,
    version: i32,
    created_at: Ts,
    updated_at: Ts,
    accepted_at: Option<Ts>,
    closed_at: Option<Ts>,
    current_round: i32,
    lead_department_id: Option<i64>,
    reply_due_at: Option<Ts>,
    merged_into: Option<i64>,
    redo_count: i32,
    dispatched_at: Option<Ts>,
    reviewed_at: Option<Ts>,
}

#[derive(Insertable)]
#[diesel(table_name = complainants, treat_none_as_default_value = false)]
struct ComplainantInsert {
    case_id: i64,
    name: Option<String>,
    phone: Option<String>,
    contact_address: Option<String>,
    contact_allowed: bool,
    confidential: bool,
    anonymous: bool,
}

#[derive(Insertable)]
#[diesel(table_name = case_events, treat_none_as_default_value = false)]
struct EventInsert {
    id: i64,
    case_id: i64,
    occurred_at: Ts,
    actor_user_id: Option<i64>,
    actor_client_id: Option<i64>,
    actor_role: &'static str,
    action: &'static str,
    status_before: Option<&'static str>,
    status_after: Option<&'static str>,
    details: String,
}

#[derive(Insertable)]
#[diesel(table_name = assignments, treat_none_as_default_value = false)]
struct AssignmentInsert {
    id: i64,
    case_id: i64,
    department_id: i64,
    round: i32,
    role: &'static str,
    mode: &'static str,
    assigned: bool,
    instructions: Option<String>,
    state: &'static str,
    dispatched_by: Option<i64>,
    dispatched_at: Ts,
    sign_due_at: Ts,
    reply_due_at: Ts,
    handler_id: Option<i64>,
    signed_by: Option<i64>,
    signed_at: Option<Ts>,
    returned_by: Option<i64>,
    returned_at: Option<Ts>,
    return_reason: Option<String>,
    ruling: Option<String>,
    ruling_note: Option<String>,
    ruled_at: Option<Ts>,
    reply: Option<String>,
    replied_by: Option<i64>,
    replied_at: Option<Ts>,
    review_decision: Option<&'static str>,
    review_note: Option<String>,
    reviewed_at: Option<Ts>,
    version: i32,
    updated_at: Ts,
}

#[derive(Insertable)]
#[diesel(table_name = deadlines, treat_none_as_default_value = false)]
struct DeadlineInsert {
    id: i64,
    kind: &'static str,
    case_id: i64,
    assignment_id: Option<i64>,
    department_id: Option<i64>,
    starts_at: Ts,
    due_at: Ts,
    policy_version: Option<i32>,
    period: &'static str,
    beyond_calendar: bool,
    state: &'static str,
    met_at: Option<Ts>,
    created_at: Ts,
    updated_at: Ts,
}

/// A timestamp with its SQLite text made when the row is generated (on the generator thread): the
/// writer then binds borrowed text, where Diesel would format every value with chrono's `%F %T%.f`
/// while holding the write lock (a tenth of the seed's time).
#[derive(AsExpression, Debug, Clone, Copy)]
#[diesel(sql_type = Timestamp)]
struct Ts {
    at: NaiveDateTime,
    text: [u8; 40],
    len: u8,
}

impl Ts {
    fn new(at: NaiveDateTime) -> Self {
        let mut ts = Ts {
            at,
            text: [0; 40],
            len: 0,
        };
        let (year, nanos) = (at.year(), at.and_utc().timestamp_subsec_nanos());
        if (1000..=9999).contains(&year) && nanos < 1_000_000_000 {
            // Exactly what chrono writes for `%F %T%.f`: the fraction in the fewest of 3, 6 or 9
            // digits that hold it, or none.
            let fraction = match nanos {
                0 => None,
                n if n % 1_000_000 == 0 => Some((b'.', n / 1_000_000, 3)),
                n if n % 1_000 == 0 => Some((b'.', n / 1_000, 6)),
                n => Some((b'.', n, 9)),
            };
            let fields = [
                (None, year as u32, 4),
                (Some(b'-'), at.month(), 2),
                (Some(b'-'), at.day(), 2),
                (Some(b' '), at.hour(), 2),
                (Some(b':'), at.minute(), 2),
                (Some(b':'), at.second(), 2),
            ];
            let fraction = fraction.map(|(dot, value, digits)| (Some(dot), value, digits));
            for (separator, value, digits) in fields.into_iter().chain(fraction) {
                if let Some(separator) = separator {
                    ts.text[usize::from(ts.len)] = separator;
                    ts.len += 1;
                }
                for place in (0..digits).rev() {
                    ts.text[usize::from(ts.len)] = b'0' + (value / 10u32.pow(place) % 10) as u8;
                    ts.len += 1;
                }
            }
        } else {
            use std::io::Write;
            let mut out = &mut ts.text[..];
            write!(out, "{}", at.format("%F %T%.f")).expect("a timestamp fits in 40 bytes");
            ts.len = (40 - out.len()) as u8;
        }
        ts
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.text[..usize::from(self.len)]).expect("ASCII")
    }
}

impl ToSql<Timestamp, Sqlite> for Ts {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.text());
        Ok(IsNull::No)
    }
}

impl ToSql<Timestamp, Pg> for Ts {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        ToSql::<Timestamp, Pg>::to_sql(&self.at, out)
    }
}

/// One transaction's worth of rows.
#[derive(Default)]
struct Batch {
    cases: Vec<CaseInsert>,
    complainants: Vec<ComplainantInsert>,
    events: Vec<EventInsert>,
    assignments: Vec<AssignmentInsert>,
    deadlines: Vec<DeadlineInsert>,
    /// Per-day counters reached in this batch (`YYYYMMDD` → last value).
    counters: HashMap<String, i64>,
}

impl Batch {
    /// Empties the batch but keeps its vectors' room for the next one.
    fn clear(&mut self) {
        self.cases.clear();
        self.complainants.clear();
        self.events.clear();
        self.assignments.clear();
        self.deadlines.clear();
        self.counters.clear();
    }
}

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

/// What the generator needs of the organisation.
struct Organisation {
    topics: Vec<(usize, i64, Option<i64>)>,
    topic_weight_total: u32,
    districts: Vec<District>,
    operator: Option<i64>,
    dispatcher: Option<i64>,
    /// A department user per department, who signs and replies.
    staff: HashMap<i64, i64>,
}

struct District {
    id: i64,
    name: String,
    streets: Vec<(i64, String)>,
}

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

struct Generator {
    rng: fastrand::Rng,
    org: Organisation,
    tz: chrono_tz::Tz,
    counters: HashMap<String, i64>,
    next_case: i64,
    next_event: i64,
    next_assignment: i64,
    next_deadline: i64,
    start: NaiveDateTime,
    span_seconds: i64,
    total: u64,
    now: NaiveDateTime,
}

impl Generator {
    /// Appends the rows of case number `index` (of `total`) to `batch`.
    fn case(&mut self, index: u64, batch: &mut Batch) {
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
        let id = self.next_case;
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
        let status = status_for_age(rng, self.now - created_at);
        // A consultation may be answered during the call; other closed cases went all the way.
        let answered_directly = status == "closed" && kind == "consultation" && rng.bool();
        let dispatched = matches!(
            status,
            "dispatched" | "in_progress" | "pending_review" | "awaiting_follow_up"
        ) || (status == "closed" && !answered_directly);
        let lead = match (default_department, street, rng.u32(..100)) {
            (Some(department), _, 0..70) => department,
            (_, Some((street_id, _)), 0..85) => *street_id,
            _ => district.id,
        };

        // The timeline, each step a little after the one before, never in the future.
        let clamp = |t: NaiveDateTime| t.min(self.now);
        let accepted_at = clamp(created_at + minutes(rng, 2, 90));
        let dispatched_at = clamp(accepted_at + minutes(rng, 10, 240));
        let signed_at = clamp(dispatched_at + minutes(rng, 30, 20 * 60));
        let replied_at = clamp(signed_at + minutes(rng, 12 * 60, 4 * 24 * 60));
        let reviewed_at = clamp(replied_at + minutes(rng, 30, 8 * 60));
        let closed_at = clamp(reviewed_at + minutes(rng, 4 * 60, 2 * 24 * 60));
        let sign_due = dispatched_at + TimeDelta::days(1);
        let reply_due = dispatched_at + TimeDelta::days(5);

        let operator = org.operator;
        let mut version = 1;
        let mut event = |batch: &mut Batch,
                         at: NaiveDateTime,
                         actor: Option<i64>,
                         role: &'static str,
                         action: &'static str,
                         before: Option<&'static str>,
                         after: &'static str,
                         details: String| {
            batch.events.push(EventInsert {
                id: self.next_event,
                case_id: id,
                occurred_at: Ts::new(at),
                actor_user_id: actor,
                actor_client_id: None,
                actor_role: role,
                action,
                status_before: before,
                status_after: Some(after),
                details,
            });
            self.next_event += 1;
        };
        event(
            batch,
            created_at,
            operator,
            "operator",
            "registered",
            None,
            "registered",
            format!(r#"{{"channel":"{channel}"}}"#),
        );
        let mut updated_at = created_at;
        let mut closure = None;
        let mut resolution = None;
        let mut closed = None;
        let mut accepted = None;
        match status {
            "registered" => {}
            "rejected" => {
                let reason = "不属于本热线受理范围";
                let redirect = "请通过人民法院诉讼途径解决";
                resolution = Some(format!("{reason}\n{redirect}"));
                closed = Some(accepted_at);
                updated_at = accepted_at;
                version += 1;
                event(
                    batch,
                    accepted_at,
                    operator,
                    "operator",
                    "rejected",
                    Some("registered"),
                    "rejected",
                    format!(r#"{{"reason":"{reason}","redirect_to":"{redirect}"}}"#),
                );
            }
            _ if answered_directly => {
                let answer = pick(rng, topic.results).to_string();
                closure = Some("answered_directly");
                closed = Some(accepted_at);
                updated_at = accepted_at;
                version += 1;
                event(
                    batch,
                    accepted_at,
                    operator,
                    "operator",
                    "answered_directly",
                    Some("registered"),
                    "closed",
                    serde_json::json!({ "answer": answer }).to_string(),
                );
                resolution = Some(answer);
            }
            _ => {
                accepted = Some(accepted_at);
                updated_at = accepted_at;
                version += 1;
                event(
                    batch,
                    accepted_at,
                    operator,
                    "operator",
                    "accepted",
                    Some("registered"),
                    "pending_dispatch",
                    "{}".into(),
                );
            }
        }

        let mut assignment_state = None;
        if dispatched {
            let staff = org.staff.get(&lead).copied();
            let assignment_id = self.next_assignment;
            self.next_assignment += 1;
            version += 1;
            updated_at = dispatched_at;
            event(
                batch,
                dispatched_at,
                org.dispatcher,
                "dispatcher",
                "dispatched",
                Some("pending_dispatch"),
                "dispatched",
                format!(
                    r#"{{"round":1,"mode":"direct","lead_department_id":{lead},"assignment_ids":[{assignment_id}]}}"#
                ),
            );
            let signed = status != "dispatched";
            let replied = signed && status != "in_progress";
            let reviewed = replied && status != "pending_review";
            let finished = reviewed && status == "closed";
            if signed {
                version += 1;
                updated_at = signed_at;
                event(
                    batch,
                    signed_at,
                    staff,
                    "department_staff",
                    "assignment_signed",
                    Some("dispatched"),
                    "in_progress",
                    format!(r#"{{"assignment_id":{assignment_id}}}"#),
                );
            }
            let result = pick(rng, topic.results);
            if replied {
                version += 1;
                updated_at = replied_at;
                event(
                    batch,
                    replied_at,
                    staff,
                    "department_staff",
                    "assignment_replied",
                    Some("in_progress"),
                    "pending_review",
                    format!(r#"{{"assignment_id":{assignment_id}}}"#),
                );
            }
            if reviewed {
                version += 1;
                updated_at = reviewed_at;
                event(
                    batch,
                    reviewed_at,
                    org.dispatcher,
                    "dispatcher",
                    "review_approved",
                    Some("pending_review"),
                    "awaiting_follow_up",
                    format!(r#"{{"assignment_id":{assignment_id}}}"#),
                );
            }
            if finished {
                version += 1;
                updated_at = closed_at;
                closure = Some("resolved");
                closed = Some(closed_at);
                resolution = Some(result.to_string());
                event(
                    batch,
                    closed_at,
                    operator,
                    "operator",
                    "follow_up_recorded",
                    Some("awaiting_follow_up"),
                    "closed",
                    r#"{"outcome":"reached","resolved":"yes","satisfaction":"satisfied"}"#.into(),
                );
            }
            let state = match status {
                "dispatched" => "pending_sign",
                "in_progress" => "in_progress",
                "pending_review" => "replied",
                _ => "completed",
            };
            assignment_state = Some(state);
            batch.assignments.push(AssignmentInsert {
                id: assignment_id,
                case_id: id,
                department_id: lead,
                round: 1,
                role: "lead",
                mode: "direct",
                assigned: false,
                instructions: None,
                state,
                dispatched_by: org.dispatcher,
                dispatched_at: Ts::new(dispatched_at),
                sign_due_at: Ts::new(sign_due),
                reply_due_at: Ts::new(reply_due),
                handler_id: staff.filter(|_| signed),
                signed_by: staff.filter(|_| signed),
                signed_at: signed.then(|| Ts::new(signed_at)),
                returned_by: None,
                returned_at: None,
                return_reason: None,
                ruling: None,
                ruling_note: None,
                ruled_at: None,
                reply: replied.then(|| {
                    serde_json::json!({
                        "investigation": "承办人员到现场核实了反映的情况。",
                        "actions": result,
                        "result": "问题已解决",
                        "contacted_citizen": true,
                    })
                    .to_string()
                }),
                replied_by: staff.filter(|_| replied),
                replied_at: replied.then(|| Ts::new(replied_at)),
                review_decision: reviewed.then_some("approved"),
                review_note: None,
                reviewed_at: reviewed.then(|| Ts::new(reviewed_at)),
                version: 1 + i32::from(signed) + i32::from(replied) + i32::from(reviewed),
                updated_at: Ts::new(updated_at),
            });
            for (kind, due, period, met_at) in [
                (
                    "sign",
                    sign_due,
                    "1 working_days",
                    signed.then_some(signed_at),
                ),
                (
                    "reply",
                    reply_due,
                    "5 working_days",
                    replied.then_some(replied_at),
                ),
            ] {
                batch.deadlines.push(DeadlineInsert {
                    id: self.next_deadline,
                    kind,
                    case_id: id,
                    assignment_id: Some(assignment_id),
                    department_id: Some(lead),
                    starts_at: Ts::new(dispatched_at),
                    due_at: Ts::new(due),
                    policy_version: None,
                    period,
                    beyond_calendar: false,
                    state: if met_at.is_some() { "met" } else { "running" },
                    met_at: met_at.map(Ts::new),
                    created_at: Ts::new(dispatched_at),
                    updated_at: Ts::new(met_at.unwrap_or(dispatched_at)),
                });
                self.next_deadline += 1;
            }
        }
        let _ = assignment_state;

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
        batch.complainants.push(ComplainantInsert {
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
        batch.cases.push(CaseInsert {
            id,
            case_no: format!("{local_day}-{sequence:06}"),
            channel,
            kind,
            urgency,
            category_id: Some(category_id),
            title,
            description,
            address: Some(address),
            district_id: Some(district.id),
            latitude,
            longitude,
            occurred_at: rng
                .bool()
                .then(|| Ts::new(created_at - minutes(rng, 10, 48 * 60))),
            status,
            closure,
            resolution,
            citizen_id: None,
            registered_by: operator,
            source_client: None,
            external_ref: None,
            version,
            created_at: Ts::new(created_at),
            updated_at: Ts::new(updated_at),
            accepted_at: accepted.or(dispatched.then_some(accepted_at)).map(Ts::new),
            closed_at: closed.map(Ts::new),
            current_round: i32::from(dispatched),
            lead_department_id: dispatched.then_some(lead),
            reply_due_at: dispatched.then(|| Ts::new(reply_due)),
            merged_into: None,
            redo_count: 0,
            dispatched_at: dispatched.then(|| Ts::new(dispatched_at)),
            reviewed_at: matches!(status, "awaiting_follow_up" | "closed")
                .then_some(reviewed_at)
                .filter(|_| dispatched)
                .map(Ts::new),
        });
    }
}

/// Inserts `rows` into `table` in chunks of [`CHUNK`] rows: every full chunk reuses one prepared
/// statement; the rest goes in one statement of its own.
macro_rules! insert_rows {
    ($conn:expr, $table:expr, $rows:expr) => {{
        let rows = $rows;
        let mut chunks = rows.chunks_exact(CHUNK);
        for chunk in &mut chunks {
            let chunk: &[_; CHUNK] = chunk.try_into().expect("chunks_exact gives full chunks");
            diesel::insert_into($table).values(chunk).execute($conn)?;
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            diesel::insert_into($table).values(rest).execute($conn)?;
        }
    }};
}

/// The keyword index's insert trigger on SQLite (its name and its `CREATE TRIGGER` statement as
/// the schema has it), which the seed replaces by one bulk insert per batch.
struct FtsTrigger {
    name: String,
    sql: String,
}

fn write_batch(
    conn: &mut DbConnection,
    batch: &Batch,
    fts: Option<&FtsTrigger>,
) -> Result<(), ApiError> {
    write_transaction(conn, |conn| {
        macro_rules! write {
            ($c:expr, $greatest:literal) => {{
                insert_rows!($c, cases::table, &batch.cases);
                insert_rows!($c, complainants::table, &batch.complainants);
                insert_rows!($c, case_events::table, &batch.events);
                insert_rows!($c, assignments::table, &batch.assignments);
                insert_rows!($c, deadlines::table, &batch.deadlines);
                for (day, last) in &batch.counters {
                    diesel::sql_query(concat!(
                        "INSERT INTO case_counters (day, last_value) VALUES ($1, $2) \
                         ON CONFLICT (day) DO UPDATE SET last_value = ",
                        $greatest,
                        "(case_counters.last_value, excluded.last_value)"
                    ))
                    .bind::<Text, _>(day)
                    .bind::<BigInt, _>(last)
                    .execute($c)?;
                }
            }};
        }
        match conn {
            DbConnection::Sqlite(c) => {
                // Indexing the batch's cases in one statement costs half of what the trigger's
                // row-by-row inserts do. The trigger is dropped and recreated in this same
                // transaction, so no other connection ever sees it missing or a case unindexed.
                if let Some(fts) = fts {
                    c.batch_execute(&format!("DROP TRIGGER \"{}\"", fts.name))?;
                }
                write!(c, "max");
                if let (Some(fts), Some(first), Some(last)) =
                    (fts, batch.cases.first(), batch.cases.last())
                {
                    diesel::sql_query(
                        "INSERT INTO cases_fts (rowid, title, description) \
                         SELECT id, title, description FROM cases WHERE id BETWEEN $1 AND $2",
                    )
                    .bind::<BigInt, _>(first.id)
                    .bind::<BigInt, _>(last.id)
                    .execute(c)?;
                    c.batch_execute(&fts.sql)?;
                }
            }
            DbConnection::Postgres(c) => write!(c, "GREATEST"),
        }
        Ok(())
    })
}

/// Finds the keyword index's insert trigger, if the schema has the index.
fn fts_trigger(conn: &mut DbConnection) -> Result<Option<FtsTrigger>, ApiError> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Text)]
        sql: String,
    }
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT name, sql FROM sqlite_master \
         WHERE type = 'trigger' AND name = 'cases_fts_after_insert' AND tbl_name = 'cases'",
    )
    .load(conn)?;
    Ok(rows.into_iter().next().map(|row| FtsTrigger {
        name: row.name,
        sql: row.sql,
    }))
}

/// FTS5 flushes its in-memory index into a new segment whenever it passes `hashsize` (1 MiB by
/// default), and merges segments as they pile up. With room for a whole batch, each batch becomes
/// one segment. The setting is stored in the database: [`restore_fts_hashsize`] puts it back.
const SEED_FTS_HASHSIZE: i64 = 512 << 20;

/// Sets the keyword index's `hashsize` for the seed; returns the stored value it replaces.
fn raise_fts_hashsize(conn: &mut DbConnection) -> Result<Option<String>, ApiError> {
    #[derive(QueryableByName)]
    struct Value {
        #[diesel(sql_type = Text)]
        v: String,
    }
    write_transaction(conn, |conn| {
        let before: Option<Value> = diesel::sql_query(
            "SELECT CAST(v AS TEXT) AS v FROM cases_fts_config WHERE k = 'hashsize'",
        )
        .get_result(conn)
        .optional()?;
        diesel::sql_query("INSERT INTO cases_fts (cases_fts, rank) VALUES ('hashsize', $1)")
            .bind::<BigInt, _>(SEED_FTS_HASHSIZE)
            .execute(conn)?;
        Ok(before.map(|value| value.v))
    })
}

fn restore_fts_hashsize(conn: &mut DbConnection, before: Option<&str>) -> Result<(), ApiError> {
    write_transaction(conn, |conn| {
        // Setting a value tells every connection to reload the configuration; without a stored
        // value FTS5 uses its default, so the row written for that is removed again.
        diesel::sql_query("INSERT INTO cases_fts (cases_fts, rank) VALUES ('hashsize', $1)")
            .bind::<Text, _>(before.unwrap_or("1048576"))
            .execute(conn)?;
        if before.is_none() {
            diesel::sql_query("DELETE FROM cases_fts_config WHERE k = 'hashsize'").execute(conn)?;
        }
        Ok(())
    })
}

fn max_id(conn: &mut DbConnection, table: &str) -> Result<i64, ApiError> {
    #[derive(QueryableByName)]
    struct Max {
        #[diesel(sql_type = BigInt)]
        value: i64,
    }
    let row: Max = diesel::sql_query(format!("SELECT COALESCE(MAX(id), 0) AS value FROM {table}"))
        .get_result(conn)?;
    Ok(row.value)
}

fn load_organisation(conn: &mut DbConnection) -> Result<Organisation, ApiError> {
    let all_departments: Vec<(i64, String, String, Option<i64>)> = departments::table
        .select((
            departments::id,
            departments::name,
            departments::kind,
            departments::parent_id,
        ))
        .filter(departments::active.eq(true))
        .order(departments::id)
        .load(conn)?;
    let districts: Vec<District> = all_departments
        .iter()
        .filter(|(_, _, kind, _)| kind == "district")
        .map(|(id, name, _, _)| District {
            id: *id,
            name: name.trim_end_matches("人民政府").to_owned(),
            streets: all_departments
                .iter()
                .filter(|(_, _, kind, parent)| kind == "street" && *parent == Some(*id))
                .map(|(id, name, _, _)| (*id, name.trim_end_matches("办事处").to_owned()))
                .collect(),
        })
        .collect();
    if districts.is_empty() {
        return Err(ApiError::internal(
            "no active district department to place cases in",
        ));
    }
    let all_categories: Vec<(i64, String, Option<i64>)> = categories::table
        .select((
            categories::id,
            categories::code,
            categories::default_department_id,
        ))
        .load(conn)?;
    let topics: Vec<(usize, i64, Option<i64>)> = TOPICS
        .iter()
        .enumerate()
        .filter_map(|(index, topic)| {
            all_categories
                .iter()
                .find(|(_, code, _)| code == topic.code)
                .map(|(id, _, department)| (index, *id, *department))
        })
        .collect();
    if topics.is_empty() {
        return Err(ApiError::internal(
            "none of the demo categories exists: load the demo organisation first",
        ));
    }
    let people: Vec<(i64, String, String, Option<i64>)> = users::table
        .select((
            users::id,
            users::username,
            users::role,
            users::department_id,
        ))
        .order(users::id)
        .load(conn)?;
    let by_role = |role: &str| {
        people
            .iter()
            .find(|(_, _, r, _)| r == role)
            .map(|(id, _, _, _)| *id)
    };
    let mut staff = HashMap::new();
    for (id, _, role, department) in &people {
        if let (Some(department), "department_staff") = (department, role.as_str()) {
            staff.entry(*department).or_insert(*id);
        }
    }
    Ok(Organisation {
        topic_weight_total: topics.iter().map(|t| TOPICS[t.0].weight).sum(),
        topics,
        districts,
        operator: by_role("operator"),
        dispatcher: by_role("dispatcher"),
        staff,
    })
}

/// Generates `options.cases` cases; loads the demo organisation first when it is missing.
pub fn seed(db: Db, tz: chrono_tz::Tz, options: &SeedOptions) -> Result<SeedReport, String> {
    let mut conn = db.into_sole_connection().map_err(|e| e.to_string())?;
    let started = Instant::now();
    let demo_loaded = crate::db::accounts::find_user_by_username(&mut conn, "dispatcher")
        .map_err(|e| crate::commands::describe(e.into()))?
        .is_none();
    if demo_loaded {
        crate::commands::load_demo_on(&mut conn).map_err(crate::commands::describe)?;
    }
    seed_on(&mut conn, tz, options)
        .map(|cases| SeedReport {
            cases,
            elapsed: started.elapsed(),
            demo_loaded,
        })
        .map_err(crate::commands::describe)
}

/// With the database to itself, the seed writes through a rollback journal instead of the WAL:
/// pages appended to the file need no journal at all, where the WAL writes every page twice (into
/// the log, then back into the file). Still safe against a crash of the process (the hot journal
/// rolls the unfinished batch back). While any other connection has the file open, SQLite refuses
/// to leave WAL mode; the seed then stays in it.
fn leave_wal(conn: &mut DbConnection) -> bool {
    #[derive(QueryableByName)]
    struct Mode {
        #[diesel(sql_type = Text)]
        journal_mode: String,
    }
    let switched = conn
        .batch_execute("PRAGMA busy_timeout = 1000;")
        .and_then(|()| diesel::sql_query("PRAGMA journal_mode = DELETE").get_result::<Mode>(conn))
        .is_ok_and(|mode| mode.journal_mode.eq_ignore_ascii_case("delete"));
    let _ = conn.batch_execute("PRAGMA busy_timeout = 10000;");
    if !switched {
        log::info!("seed: the database is in use; seeding through the WAL");
    }
    switched
}

fn seed_on(
    conn: &mut DbConnection,
    tz: chrono_tz::Tz,
    options: &SeedOptions,
) -> Result<u64, ApiError> {
    let org = load_organisation(conn)?;
    let counters: HashMap<String, i64> = case_counters::table
        .select((case_counters::day, case_counters::last_value))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .collect();
    let is_sqlite = matches!(conn, DbConnection::Sqlite(_));
    if is_sqlite {
        // Only this connection, only while seeding: a crash midway loses at most the data being
        // generated, a bigger page cache keeps the indexes in memory, and the generated rows
        // refer only to rows that exist (foreign keys unchecked while they go in).
        conn.batch_execute(
            "PRAGMA synchronous = OFF; PRAGMA cache_size = -262144; PRAGMA foreign_keys = OFF;",
        )?;
    }
    let left_wal = is_sqlite && leave_wal(conn);
    let fts = if is_sqlite { fts_trigger(conn)? } else { None };
    let hashsize_before = match &fts {
        Some(_) => Some(raise_fts_hashsize(conn)?),
        None => None,
    };
    let now = now();
    let span = TimeDelta::days(365);
    let mut generator = Generator {
        rng: fastrand::Rng::with_seed(options.seed),
        org,
        tz,
        counters,
        next_case: max_id(conn, "cases")? + 1,
        next_event: max_id(conn, "case_events")? + 1,
        next_assignment: max_id(conn, "assignments")? + 1,
        next_deadline: max_id(conn, "deadlines")? + 1,
        start: now - span,
        span_seconds: span.num_seconds() - 60,
        total: options.cases.max(1),
        now,
    };
    let bar = if options.progress {
        indicatif::ProgressBar::new(options.cases)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {elapsed_precise} [{wide_bar}] {human_pos}/{human_len} cases ({per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    // The next batch is generated on a second thread while this one writes the current one;
    // written batches go back to be emptied there (freeing their strings off the writing thread)
    // and refilled.
    let (to_writer, batches) = std::sync::mpsc::sync_channel::<Batch>(1);
    let (to_generator, spare) = std::sync::mpsc::channel::<Batch>();
    let total = options.cases;
    let mut done = 0u64;
    let (mut waiting, mut writing) = (Duration::ZERO, Duration::ZERO);
    let (generating, outcome) = std::thread::scope(|scope| {
        let generator = scope.spawn(move || {
            let mut generating = Duration::ZERO;
            let mut start = 0u64;
            while start < total {
                let size = (total - start).min(BATCH as u64);
                let mut batch = spare.try_recv().unwrap_or_default();
                batch.clear();
                let clock = Instant::now();
                for index in start..start + size {
                    generator.case(index, &mut batch);
                }
                generating += clock.elapsed();
                if to_writer.send(batch).is_err() {
                    break; // the writer stopped on an error
                }
                start += size;
            }
            generating
        });
        let outcome = (|| {
            let batches = batches;
            loop {
                let clock = Instant::now();
                let Ok(batch) = batches.recv() else {
                    return Ok::<(), ApiError>(());
                };
                waiting += clock.elapsed();
                let clock = Instant::now();
                write_batch(conn, &batch, fts.as_ref())?;
                writing += clock.elapsed();
                done += batch.cases.len() as u64;
                bar.set_position(done);
                let _ = to_generator.send(batch);
            }
        })();
        let generating = generator.join().expect("the generator does not panic");
        (generating, outcome)
    });
    bar.finish_and_clear();
    log::info!(
        "seed: {:.1} s generating rows (alongside), {:.1} s writing them, {:.1} s waiting for them",
        generating.as_secs_f64(),
        writing.as_secs_f64(),
        waiting.as_secs_f64(),
    );
    if is_sqlite {
        conn.batch_execute("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")?;
    }
    if let Some(before) = &hashsize_before {
        restore_fts_hashsize(conn, before.as_deref())?;
    }
    if left_wal {
        conn.batch_execute("PRAGMA journal_mode = WAL;")?;
    }
    outcome?;
    match conn {
        DbConnection::Postgres(_) => {
            // Ids were given explicitly: move the identity sequences past them.
            for table in ["cases", "case_events", "assignments", "deadlines"] {
                conn.batch_execute(&format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                     GREATEST((SELECT MAX(id) FROM {table}), 1))"
                ))?;
            }
            conn.batch_execute("ANALYZE")?;
        }
        DbConnection::Sqlite(_) => {
            conn.batch_execute("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA optimize;")?;
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_text_is_what_diesel_would_bind() {
        let mut rng = fastrand::Rng::with_seed(7);
        let base = chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        for round in 0..20_000 {
            let mut at = base + TimeDelta::seconds(rng.i64(-400 * 86_400..400 * 86_400));
            at += match round % 5 {
                0 => TimeDelta::zero(),
                1 => TimeDelta::milliseconds(rng.i64(0..1000)),
                2 => TimeDelta::microseconds(rng.i64(0..1_000_000)),
                3 => TimeDelta::nanoseconds(rng.i64(0..1_000_000_000)),
                _ => TimeDelta::microseconds(rng.i64(0..1000) * 1000),
            };
            assert_eq!(Ts::new(at).text(), at.format("%F %T%.f").to_string());
        }
        let far = chrono::NaiveDate::from_ymd_opt(12345, 6, 7)
            .unwrap()
            .and_hms_opt(1, 2, 3)
            .unwrap();
        assert_eq!(Ts::new(far).text(), far.format("%F %T%.f").to_string());
    }
}
