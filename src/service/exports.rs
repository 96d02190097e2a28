//! Exporting cases (SPEC 6, issue 13): every case of a `GET /cases` filter, in id order, as CSV or
//! XLSX, for the centre, the departments and the analysts, each shown what SPEC 5.3 lets them see
//! (see `domain::export`).
//!
//! Nothing is built in memory. The cases are read a batch at a time (keyset pagination on the id,
//! a pooled connection taken per batch, so an export never holds one while the client is slow),
//! encoded into a writer that hands the bytes on in chunks (see `routes::exports`), and dropped.
//! CSV goes out as it is encoded. An XLSX file is a zip whose parts can only be written once every
//! row is known: the rows go to the sheets' temporary files (`rust_xlsxwriter`'s constant-memory
//! mode: one row in memory, unnamed files that vanish when closed, in `TMPDIR`), and the zip is
//! then compressed straight into the writer.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, Write};

use chrono::{NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use rust_xlsxwriter::{Format, Workbook, XlsxError};

use crate::auth::Principal;
use crate::db::cases::CaseFilter;
use crate::db::exports::{
    self as export_db, ExportCase, ExportCaseWithDetail, FinishedExport, NewPersonalDataExport,
};
use crate::db::{Db, DbConnection, now, write_transaction};
use crate::domain::case::{ContactWishes, Disclosure};
use crate::domain::export::{Audience, complainant_cells};
use crate::domain::ids::CaseId;
use crate::domain::role::Role;
use crate::error::{ApiError, ErrorCode};

/// The file formats, chosen by `Accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Xlsx,
}

impl ExportFormat {
    pub const CSV_TYPE: &str = "text/csv";
    pub const XLSX_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

    /// The `Content-Type` of the answer.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Xlsx => Self::XLSX_TYPE,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Xlsx => "xlsx",
        }
    }
}

/// Rows of one XLSX sheet, its header included: Excel's limit. Beyond it the export continues on
/// a new sheet, the header repeated.
pub const XLSX_MAX_SHEET_ROWS: u32 = 1_048_576;

/// Cases read per query. The rows of a batch are in memory at once: 1,000 cases with the longest
/// descriptions allowed (10,000 characters) stay near 30 MB; fewer would only add queries.
const BATCH: i64 = 1_000;

/// Exports running at once on one server. Each keeps a core busy for as long as it runs (seconds
/// for a million cases), so more would only slow the API and each other.
pub const MAX_RUNNING: usize = 4;

/// The exports running on this server, counted.
#[derive(Debug, Default)]
pub struct ExportSlots {
    running: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

/// A running export's place among [`MAX_RUNNING`]; given back when dropped.
#[derive(Debug)]
pub struct ExportSlot {
    running: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl ExportSlots {
    /// A place for one more export, if fewer than [`MAX_RUNNING`] run.
    pub fn try_start(&self) -> Option<ExportSlot> {
        use std::sync::atomic::Ordering;
        self.running
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_RUNNING).then_some(n + 1)
            })
            .ok()
            .map(|_| ExportSlot {
                running: self.running.clone(),
            })
    }
}

impl Drop for ExportSlot {
    fn drop(&mut self) {
        self.running
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// One export, authorised and ready to run.
pub struct Export {
    viewer: Role,
    audience: Audience,
    /// `None`: no case can match (a department asking for another department's cases).
    filter: Option<CaseFilter>,
    format: ExportFormat,
    tz: Tz,
    sheet_rows: u32,
    departments: HashMap<i64, String>,
    categories: HashMap<i64, String>,
    /// The export's row in the log of exports of personal data, for what reaches it.
    log: Option<i64>,
}

impl Export {
    pub fn format(&self) -> ExportFormat {
        self.format
    }
}

/// What an export request asks for.
pub struct ExportRequest {
    pub filter: CaseFilter,
    /// The filters as given, for the log (a JSON object).
    pub filters_json: String,
    pub format: ExportFormat,
    pub tz: Tz,
    /// Rows per XLSX sheet, at most [`XLSX_MAX_SHEET_ROWS`].
    pub sheet_rows: u32,
}

/// Checks who may export what, narrows the filter to the caller's rows (departments: the cases
/// dispatched to them, as `GET /cases`), and, when the export can carry personal data in full,
/// records it in the log before a byte is sent.
pub fn prepare(
    conn: &mut DbConnection,
    principal: &Principal,
    request: ExportRequest,
) -> Result<Export, ApiError> {
    let Some(audience) = Audience::of(principal.role) else {
        return Err(ApiError::Forbidden {
            code: ErrorCode::ForbiddenRole,
            detail: "citizens and integration clients do not export cases".into(),
        });
    };
    let mut filter = request.filter;
    let filter = match audience {
        Audience::Department => {
            principal
                .department_filter(filter.department_id)?
                .map(|department| {
                    filter.department_id = department;
                    filter
                })
        }
        Audience::Centre | Audience::Analyst => Some(filter),
    };
    let departments = crate::db::organisation::all_departments(conn)?
        .into_iter()
        .map(|d| (d.id.get(), d.name))
        .collect();
    let categories = crate::db::organisation::all_categories(conn)?
        .into_iter()
        .map(|c| (c.id.get(), c.name))
        .collect();
    // One entry per export, not one read per exported case as `GET /cases/{id}` records: a full
    // export is a million cases, whose million log rows would hold SQLite's one write lock for
    // seconds and bury the per-case log. The entry keeps the filters and the range of case ids
    // sent (see the migration `personal_data_exports`). Departments see some complainants in
    // full (those who allowed contact), as through the API, whose reads are recorded too.
    let log = match (audience.sees_case_detail(), principal.user_id()) {
        (true, Some(user_id)) => Some(write_transaction(conn, |conn| {
            export_db::start_export(
                conn,
                NewPersonalDataExport {
                    user_id,
                    role: principal.role,
                    format: request.format.as_str(),
                    filters: request.filters_json,
                    started_at: now(),
                },
            )
        })?),
        (true, None) => return Err(ApiError::internal("a case reader without an account")),
        (false, _) => None,
    };
    Ok(Export {
        viewer: principal.role,
        audience,
        filter,
        format: request.format,
        tz: request.tz,
        sheet_rows: request.sheet_rows.clamp(2, XLSX_MAX_SHEET_ROWS),
        departments,
        categories,
        log,
    })
}

/// One page of the log of exports of personal data (administrators), oldest first.
pub fn personal_data_exports(
    conn: &mut DbConnection,
    user_id: Option<crate::domain::ids::UserId>,
    case_id: Option<CaseId>,
    page: crate::db::PageRequest,
) -> Result<Vec<export_db::PersonalDataExport>, ApiError> {
    Ok(export_db::list_exports(conn, user_id, case_id, page)?)
}

/// What an export sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct Outcome {
    pub rows: i64,
    pub rows_with_personal_data: i64,
    pub first: Option<CaseId>,
    pub last: Option<CaseId>,
}

/// Writes the export into `out` (blocking: run it on a thread of its own) and closes its entry in
/// the log with what was sent. An error means the file is incomplete; `out` is then dropped
/// without its end, which the caller must make visible to the client.
pub fn run<W: Write + Send>(db: &Db, export: &Export, out: W) -> Result<Outcome, ApiError> {
    let mut outcome = Outcome::default();
    let written = match export.format {
        ExportFormat::Csv => match CsvEncoder::new(out) {
            Ok(encoder) => write_rows(db, export, encoder, &mut outcome),
            Err(e) => Err(failed(e)),
        },
        ExportFormat::Xlsx => match XlsxEncoder::new(out, export) {
            Ok(encoder) => write_rows(db, export, encoder, &mut outcome),
            Err(e) => Err(e),
        },
    };
    if let Some(log) = export.log {
        let finished = FinishedExport {
            finished_at: Some(now()),
            completed: written.is_ok(),
            rows_exported: Some(outcome.rows),
            rows_with_personal_data: Some(outcome.rows_with_personal_data),
            first_case_id: outcome.first,
            last_case_id: outcome.last,
        };
        db.with_connection(|conn| {
            write_transaction(conn, |conn| {
                Ok::<_, ApiError>(export_db::finish_export(conn, log, finished)?)
            })
        })?;
    }
    written.map(|()| outcome)
}

/// One batch of cases, as read.
enum Batch {
    WithDetail(Vec<ExportCaseWithDetail>),
    Facts(Vec<ExportCase>),
}

/// Encodes the export's cases while a second thread reads the next batch: reading and encoding
/// each take a good part of the time, and the machine has a core for each.
fn write_rows<E: Encoder>(
    db: &Db,
    export: &Export,
    mut encoder: E,
    outcome: &mut Outcome,
) -> Result<(), ApiError> {
    encoder.header(export.audience.columns()).map_err(failed)?;
    let Some(filter) = &export.filter else {
        return encoder.finish().map_err(failed);
    };
    // One batch waiting beside the one read and the one encoded: three at most in memory.
    let (sender, batches) = std::sync::mpsc::sync_channel(1);
    std::thread::scope(|scope| {
        let reader = std::thread::Builder::new()
            .name("case-export-db".into())
            .spawn_scoped(scope, || read_batches(db, export, filter, sender))
            .map_err(|e| ApiError::internal(format!("cannot start an export thread: {e}")))?;
        let encoded = encode_batches(export, &mut encoder, batches, outcome);
        let read = reader
            .join()
            .map_err(|_| ApiError::internal("the export's reader panicked"))?;
        // A reader that failed ended the batches early: the file must not be finished then.
        read?;
        encoded
    })?;
    encoder.finish().map_err(failed)
}

/// Reads the cases a batch at a time into `batches` until none is left, or until the encoder
/// stops taking them (its error is the one reported).
fn read_batches(
    db: &Db,
    export: &Export,
    filter: &CaseFilter,
    batches: std::sync::mpsc::SyncSender<Batch>,
) -> Result<(), ApiError> {
    let mut after = None;
    loop {
        let (batch, fetched) = if export.audience.sees_case_detail() {
            let batch = db.with_connection(|conn| {
                Ok(export_db::cases_with_detail_after(
                    conn, filter, after, BATCH,
                )?)
            })?;
            after = batch.last().map(|row| row.case.id).or(after);
            let fetched = batch.len();
            (Batch::WithDetail(batch), fetched)
        } else {
            let batch =
                db.with_connection(|conn| Ok(export_db::cases_after(conn, filter, after, BATCH)?))?;
            after = batch.last().map(|case| case.id).or(after);
            let fetched = batch.len();
            (Batch::Facts(batch), fetched)
        };
        if batches.send(batch).is_err() || (fetched as i64) < BATCH {
            return Ok(());
        }
    }
}

/// Encodes every batch received; returning drops `batches`, which stops the reader.
fn encode_batches<E: Encoder>(
    export: &Export,
    encoder: &mut E,
    batches: std::sync::mpsc::Receiver<Batch>,
    outcome: &mut Outcome,
) -> Result<(), ApiError> {
    for batch in batches {
        match batch {
            Batch::WithDetail(rows) => {
                for row in &rows {
                    let shown = export.row_with_detail(row);
                    if shown.personal_data_in_full {
                        outcome.rows_with_personal_data += 1;
                    }
                    encoder.row(&shown.row).map_err(failed)?;
                    outcome.note(row.case.id);
                }
            }
            Batch::Facts(cases) => {
                for case in &cases {
                    encoder.row(&export.row(case, None)).map_err(failed)?;
                    outcome.note(case.id);
                }
            }
        }
    }
    Ok(())
}

impl Outcome {
    fn note(&mut self, id: CaseId) {
        self.rows += 1;
        self.first.get_or_insert(id);
        self.last = Some(id);
    }
}

fn failed(error: io::Error) -> ApiError {
    ApiError::internal(format!("writing the export: {error}"))
}

/// One row, as the encoders write it. Times are the centre's local time.
pub struct Row<'a> {
    case_no: &'a str,
    status: &'static str,
    kind: &'static str,
    channel: &'static str,
    urgency: &'static str,
    category: &'a str,
    district: &'a str,
    title: Cow<'a, str>,
    address: Cow<'a, str>,
    registered_at: NaiveDateTime,
    accepted_at: Option<NaiveDateTime>,
    closed_at: Option<NaiveDateTime>,
    closure: &'static str,
    lead_department: &'a str,
    reply_due_at: Option<NaiveDateTime>,
    redo_count: i32,
    detail: Option<Detail<'a>>,
}

/// What only case readers get: the description and the complainant as they may see them.
struct Detail<'a> {
    description: Cow<'a, str>,
    name: Option<Cow<'a, str>>,
    phone: Option<Cow<'a, str>>,
}

struct Shown<'a> {
    row: Row<'a>,
    personal_data_in_full: bool,
}

impl Export {
    fn local(&self, utc: NaiveDateTime) -> NaiveDateTime {
        self.tz.from_utc_datetime(&utc).naive_local()
    }

    fn row<'a>(&'a self, case: &'a ExportCase, detail: Option<Detail<'a>>) -> Row<'a> {
        let name = |names: &'a HashMap<i64, String>, id: Option<i64>| {
            id.and_then(|id| names.get(&id)).map_or("", String::as_str)
        };
        Row {
            case_no: &case.case_no,
            status: case.status.as_str(),
            kind: case.kind.as_str(),
            channel: case.channel.as_str(),
            urgency: case.urgency.as_str(),
            category: name(&self.categories, case.category_id.map(|c| c.get())),
            district: name(&self.departments, case.district_id.map(|d| d.get())),
            title: case.title.as_text(),
            address: case
                .address
                .as_ref()
                .map_or(Cow::Borrowed(""), |a| a.as_text()),
            registered_at: self.local(case.created_at.0),
            accepted_at: case.accepted_at.map(|t| self.local(t.0)),
            closed_at: case.closed_at.map(|t| self.local(t.0)),
            closure: case.closure.map_or("", |c| c.as_str()),
            lead_department: name(&self.departments, case.lead_department_id.map(|d| d.get())),
            reply_due_at: case.reply_due_at.map(|t| self.local(t.0)),
            redo_count: case.redo_count,
            detail,
        }
    }

    fn row_with_detail<'a>(&'a self, row: &'a ExportCaseWithDetail) -> Shown<'a> {
        let (name, phone, full) = match &row.complainant {
            Some(c) => {
                let wishes = ContactWishes {
                    contact_allowed: c.contact_allowed,
                    confidential: c.confidential,
                };
                let (name, phone, shown) =
                    complainant_cells(self.viewer, c.name.as_deref(), c.phone.as_deref(), wishes);
                let full = shown == Disclosure::Full && (name.is_some() || phone.is_some());
                (name, phone, full)
            }
            None => (None, None, false),
        };
        Shown {
            row: self.row(
                &row.case,
                Some(Detail {
                    description: row.description.as_text(),
                    name,
                    phone,
                }),
            ),
            personal_data_in_full: full,
        }
    }
}

trait Encoder {
    fn header(&mut self, columns: &[&str]) -> io::Result<()>;
    fn row(&mut self, row: &Row<'_>) -> io::Result<()>;
    /// Writes what is left and the end of the file.
    fn finish(self) -> io::Result<()>;
}

/// `2026-11-21 09:30:00`: what Excel reads as a date and time in every locale.
fn format_time(t: NaiveDateTime, out: &mut [u8; 19]) -> &str {
    use chrono::{Datelike, Timelike};
    let two = |out: &mut [u8], at: usize, n: u32| {
        out[at] = b'0' + (n / 10 % 10) as u8;
        out[at + 1] = b'0' + (n % 10) as u8;
    };
    let year = t.year().clamp(0, 9999) as u32;
    two(out, 0, year / 100);
    two(out, 2, year % 100);
    out[4] = b'-';
    two(out, 5, t.month());
    out[7] = b'-';
    two(out, 8, t.day());
    out[10] = b' ';
    two(out, 11, t.hour());
    out[13] = b':';
    two(out, 14, t.minute());
    out[16] = b':';
    two(out, 17, t.second());
    // Only ASCII digits and separators were written.
    std::str::from_utf8(out).unwrap_or_default()
}

/// CSV in UTF-8 with a byte-order mark, which Excel needs to read UTF-8 (on a Chinese Windows
/// desktop it would otherwise take the file for GBK).
struct CsvEncoder<W: Write> {
    csv: csv::Writer<W>,
}

impl<W: Write> CsvEncoder<W> {
    /// Starts the file with its byte-order mark.
    fn new(mut out: W) -> io::Result<Self> {
        out.write_all("\u{feff}".as_bytes())?;
        Ok(Self {
            csv: csv::WriterBuilder::new()
                // Excel's own line ending; and the buffer the writer fills before each hand-off.
                .terminator(csv::Terminator::CRLF)
                .buffer_capacity(64 * 1024)
                .from_writer(out),
        })
    }

    /// Free text from citizens, made inert for spreadsheets: a cell that starts with `=`, `+`,
    /// `-`, `@`, a tab or a carriage return is a formula to Excel (CSV injection), so it is
    /// prefixed with an apostrophe, which Excel does not show.
    fn text(&mut self, text: &str) -> io::Result<()> {
        if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            let mut inert = String::with_capacity(text.len() + 1);
            inert.push('\'');
            inert.push_str(text);
            self.csv.write_field(inert)
        } else {
            self.csv.write_field(text)
        }
        .map_err(io::Error::from)
    }

    fn time(&mut self, t: Option<NaiveDateTime>) -> io::Result<()> {
        let mut buf = [0u8; 19];
        match t {
            Some(t) => self.csv.write_field(format_time(t, &mut buf)),
            None => self.csv.write_field(""),
        }
        .map_err(io::Error::from)
    }

    fn field(&mut self, value: &str) -> io::Result<()> {
        self.csv.write_field(value).map_err(io::Error::from)
    }
}

impl<W: Write> Encoder for CsvEncoder<W> {
    fn header(&mut self, columns: &[&str]) -> io::Result<()> {
        self.csv.write_record(columns).map_err(io::Error::from)
    }

    fn row(&mut self, row: &Row<'_>) -> io::Result<()> {
        self.field(row.case_no)?;
        self.field(row.status)?;
        self.field(row.kind)?;
        self.field(row.channel)?;
        self.field(row.urgency)?;
        self.text(row.category)?;
        self.text(row.district)?;
        self.text(&row.title)?;
        self.text(&row.address)?;
        self.time(Some(row.registered_at))?;
        self.time(row.accepted_at)?;
        self.time(row.closed_at)?;
        self.field(row.closure)?;
        self.text(row.lead_department)?;
        self.time(row.reply_due_at)?;
        let mut count = [0u8; 12];
        let mut cursor = io::Cursor::new(&mut count[..]);
        write!(cursor, "{}", row.redo_count)?;
        let len = cursor.position() as usize;
        self.csv
            .write_field(&count[..len])
            .map_err(io::Error::from)?;
        if let Some(detail) = &row.detail {
            self.text(&detail.description)?;
            self.text(detail.name.as_deref().unwrap_or(""))?;
            self.text(detail.phone.as_deref().unwrap_or(""))?;
        }
        self.csv
            .write_record(None::<&[u8]>)
            .map_err(io::Error::from)
    }

    fn finish(mut self) -> io::Result<()> {
        self.csv.flush()?;
        let mut out = self
            .csv
            .into_inner()
            .map_err(|e| io::Error::other(e.to_string()))?;
        out.flush()
    }
}

/// XLSX through `rust_xlsxwriter` in constant-memory mode; a sheet that is full continues on the
/// next, the header repeated.
struct XlsxEncoder<W: Write + Send> {
    workbook: Workbook,
    out: W,
    sheet: usize,
    /// The next row of the current sheet.
    next_row: u32,
    sheet_rows: u32,
    columns: Vec<&'static str>,
    header: Format,
    time: Format,
}

/// The zip's compression level. Compressing is most of an XLSX export's time: at level 1 (the
/// fastest) 100,000 cases took 2.3–2.6 s and 26 MB, at the default 6 3.5–4.1 s and 17 MB (a busy
/// machine; `bench/export.sh`).
const XLSX_ZIP_LEVEL: u8 = 1;

/// Columns holding times, by their position in `domain::export::COLUMNS`.
const TIME_COLUMNS: [u16; 4] = [9, 10, 11, 14];

/// Days from Excel's epoch (1899-12-30, in its 1900 date system) to 1970-01-01.
const EXCEL_UNIX_EPOCH_DAYS: f64 = 25_569.0;

/// The most characters Excel holds in a cell.
const XLSX_MAX_TEXT: usize = 32_767;

fn xlsx_error(error: XlsxError) -> io::Error {
    match error {
        XlsxError::IoError(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

impl<W: Write + Send> XlsxEncoder<W> {
    fn new(out: W, export: &Export) -> Result<Self, ApiError> {
        let mut workbook = Workbook::new();
        workbook.set_zip_compression_level(XLSX_ZIP_LEVEL);
        Ok(Self {
            workbook,
            out,
            sheet: 0,
            next_row: 0,
            sheet_rows: export.sheet_rows,
            columns: export.audience.columns().to_vec(),
            header: Format::new().set_bold(),
            time: Format::new().set_num_format("yyyy-mm-dd hh:mm:ss"),
        })
    }

    /// Starts the next sheet (`cases`, `cases 2`, …) with the header row.
    fn start_sheet(&mut self) -> Result<(), XlsxError> {
        let number = self.workbook.worksheets().len() + 1;
        let sheet = self.workbook.add_worksheet_with_constant_memory()?;
        sheet.set_name(if number == 1 {
            "cases".to_owned()
        } else {
            format!("cases {number}")
        })?;
        sheet.set_freeze_panes(1, 0)?;
        for (col, name) in self.columns.iter().enumerate() {
            let col = col as u16;
            let width = match *name {
                "title" | "address" => 40.0,
                "description" => 60.0,
                _ => 18.0,
            };
            sheet.set_column_width(col, width)?;
            if TIME_COLUMNS.contains(&col) {
                // Cells written without a format of their own take their column's.
                sheet.set_column_format(col, &self.time)?;
            }
            sheet.write_string_with_format(0, col, *name, &self.header)?;
        }
        self.sheet = number - 1;
        self.next_row = 1;
        Ok(())
    }

    fn write_row(&mut self, row: &Row<'_>) -> Result<(), XlsxError> {
        if self.next_row >= self.sheet_rows {
            self.start_sheet()?;
        }
        let r = self.next_row;
        let sheet = self.workbook.worksheet_from_index(self.sheet)?;
        let text = |sheet: &mut rust_xlsxwriter::Worksheet, col: u16, value: &str| {
            if value.is_empty() {
                return Ok(());
            }
            let value = if value.len() > XLSX_MAX_TEXT {
                // Longer than any text the API accepts; cut rather than fail the export.
                value.chars().take(XLSX_MAX_TEXT).collect::<String>()
            } else {
                value.to_owned()
            };
            sheet.write_string(r, col, value).map(|_| ())
        };
        let time =
            |sheet: &mut rust_xlsxwriter::Worksheet, col: u16, t: Option<NaiveDateTime>| match t {
                Some(t) => sheet.write_number(r, col, excel_time(t)).map(|_| ()),
                None => Ok(()),
            };
        text(sheet, 0, row.case_no)?;
        text(sheet, 1, row.status)?;
        text(sheet, 2, row.kind)?;
        text(sheet, 3, row.channel)?;
        text(sheet, 4, row.urgency)?;
        text(sheet, 5, row.category)?;
        text(sheet, 6, row.district)?;
        text(sheet, 7, &row.title)?;
        text(sheet, 8, &row.address)?;
        time(sheet, 9, Some(row.registered_at))?;
        time(sheet, 10, row.accepted_at)?;
        time(sheet, 11, row.closed_at)?;
        text(sheet, 12, row.closure)?;
        text(sheet, 13, row.lead_department)?;
        time(sheet, 14, row.reply_due_at)?;
        sheet.write_number(r, 15, row.redo_count)?;
        if let Some(detail) = &row.detail {
            text(sheet, 16, &detail.description)?;
            text(sheet, 17, detail.name.as_deref().unwrap_or(""))?;
            text(sheet, 18, detail.phone.as_deref().unwrap_or(""))?;
        }
        self.next_row += 1;
        Ok(())
    }
}

/// A local time as Excel's serial number: days since its epoch, the time of day as the fraction.
fn excel_time(t: NaiveDateTime) -> f64 {
    let seconds = t.and_utc().timestamp() as f64;
    EXCEL_UNIX_EPOCH_DAYS + seconds / 86_400.0
}

impl<W: Write + Send> Encoder for XlsxEncoder<W> {
    fn header(&mut self, _columns: &[&str]) -> io::Result<()> {
        self.start_sheet().map_err(xlsx_error)
    }

    fn row(&mut self, row: &Row<'_>) -> io::Result<()> {
        self.write_row(row).map_err(xlsx_error)
    }

    fn finish(mut self) -> io::Result<()> {
        self.workbook
            .save_to_writer(&mut self.out)
            .map_err(xlsx_error)?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_exports_run_at_once_and_each_gives_its_place_back() {
        let slots = ExportSlots::default();
        let running: Vec<ExportSlot> = (0..MAX_RUNNING)
            .map(|_| slots.try_start().expect("a free place"))
            .collect();
        assert!(slots.try_start().is_none(), "all places taken");
        drop(running);
        assert!(slots.try_start().is_some(), "places given back");
    }

    #[test]
    fn times_are_written_as_excel_reads_them() {
        let t = NaiveDateTime::parse_from_str("2026-11-21 09:05:07", "%Y-%m-%d %H:%M:%S").unwrap();
        let mut buf = [0u8; 19];
        assert_eq!(format_time(t, &mut buf), "2026-11-21 09:05:07");
        // 2026-11-21 is day 46,347 of Excel's calendar; 09:05:07 is 32,707 s into it.
        let serial = excel_time(t);
        assert_eq!(serial.floor(), 46_347.0);
        assert!((serial.fract() - 32_707.0 / 86_400.0).abs() < 1e-9);
    }

    #[test]
    fn csv_cells_that_excel_would_run_as_formulas_are_made_inert() {
        let mut encoder = CsvEncoder::new(Vec::new()).unwrap();
        for value in ["=1+1", "+86", "-2", "@SUM(A1)", "normal", "张三"] {
            encoder.text(value).unwrap();
        }
        encoder.csv.write_record(None::<&[u8]>).unwrap();
        let out = String::from_utf8(encoder.csv.into_inner().unwrap()).unwrap();
        assert_eq!(out, "\u{feff}'=1+1,'+86,'-2,'@SUM(A1),normal,张三\r\n");
    }
}
