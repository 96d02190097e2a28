//! `/exports/cases`: the cases of a `GET /cases` filter as a CSV or XLSX file, streamed.

use std::io::{self, Write};

use actix_web::http::header::{self, HeaderMap};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, get, web};
use tokio::sync::mpsc;

use crate::auth::{Permit, op};
use crate::error::{ApiError, ErrorCode};
use crate::routes::cases::CaseFilterQuery;
use crate::service::exports::{ExportFormat, ExportRequest};
use crate::startup::AppState;

/// Cases as a CSV or XLSX file.
///
/// Every case matching the filters of `GET /cases` (without `limit` and `cursor`: no pages), in id
/// order, the complainant as SPEC 5.3 lets the caller see it.
///
/// **Format** by `Accept`: `text/csv` (UTF-8 with a byte-order mark, so that Excel opens the
/// Chinese text correctly; CRLF line ends) or
/// `application/vnd.openxmlformats-officedocument.spreadsheetml.sheet` (XLSX; past Excel's
/// 1,048,576 rows a sheet the rows continue on the next sheet, `cases 2`, …, the header repeated).
/// No `Accept`, `*/*` or `text/*` give CSV; any other type alone is 406.
///
/// **Columns**: `case_no, status, kind, channel, urgency, category, district, title, address,
/// registered_at, accepted_at, closed_at, closure, lead_department, reply_due_at, redo_count`,
/// then, except for analysts, `description, complainant_name, complainant_phone`. Codes as in the
/// API; names of categories and departments; times in the centre's local time
/// (`HOTLINE_TIMEZONE`) as `YYYY-MM-DD hh:mm:ss` (XLSX: date-time cells). CSV cells of free text
/// that start with `=`, `+`, `-` or `@` get a leading apostrophe, so that Excel never runs them as
/// formulas.
///
/// **Who sees what**: the centre desks and administrators every case with the complainant in
/// full; department roles the cases dispatched to their department, the complainant shown, masked
/// (`张*`, `138****5678`) or left out as in `GET /cases/{id}`; analysts every case, without
/// description and complainant. Exports that can carry personal data in full (all but the
/// analysts') are recorded in `GET /personal-data-exports`: one entry per export with the filters,
/// the number of rows and of rows with personal data in full, and the first and last case id,
/// rather than one read per case (a full export is a million cases).
///
/// The answer is streamed as the cases are read; an XLSX file starts once all of its rows are
/// written (the zip needs them). A failure after the first byte cuts the transfer short (an
/// incomplete chunked body), never a complete-looking file. At most
/// four exports run at once per server (503 `exports_busy` beyond).
#[utoipa::path(
    tag = "exports",
    security(("bearer" = [])),
    params(
        CaseFilterQuery,
        ("Accept" = Option<String>, Header, description = "`text/csv` (the default) or `application/vnd.openxmlformats-officedocument.spreadsheetml.sheet`"),
    ),
    responses(
        (status = 200, description = "The file, as an attachment named `cases-YYYY-MM-DD.csv` or `.xlsx` (the centre's local date)",
            content(
                (String = "text/csv"),
                (XlsxFile = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            ),
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"cases-2026-11-21.csv\"`"))),
        (status = 400, description = "A filter is malformed (`invalid_query`)"),
        (status = 406, description = "`Accept` names neither CSV nor XLSX (`not_acceptable`)"),
        (status = 503, description = "Too many exports are running (`exports_busy`); try again shortly"),
    ),
)]
#[get("/exports/cases")]
pub async fn export_cases(
    state: web::Data<AppState>,
    permit: Permit<op::ExportCases>,
    req: HttpRequest,
    query: web::Query<CaseFilterQuery>,
) -> Result<HttpResponse, ApiError> {
    let format = negotiate(req.headers())?;
    let query = query.into_inner();
    let filters_json = serde_json::to_string(&query)
        .map_err(|e| ApiError::internal(format!("filters as JSON: {e}")))?;
    let filter = query.into_filter()?;
    let slot = state
        .exports
        .try_start()
        .ok_or_else(|| ApiError::ServiceUnavailable {
            code: ErrorCode::ExportsBusy,
            detail: "too many exports are running; try again shortly".into(),
        })?;
    let tz = state.settings.timezone;
    let request = ExportRequest {
        filter,
        filters_json,
        format,
        tz,
        sheet_rows: state.settings.xlsx_sheet_rows,
    };
    let export = state
        .db
        .run(move |conn| crate::service::exports::prepare(conn, &permit, request))
        .await?;

    // A few chunks in flight: enough to keep the socket busy, little enough to stay small.
    let (sender, receiver) = mpsc::channel::<Result<Bytes, io::Error>>(8);
    let db = state.db.clone();
    std::thread::Builder::new()
        .name("case-export".into())
        .spawn(move || {
            let _slot = slot;
            let mut out = ChunkWriter::new(sender.clone());
            let outcome = crate::service::exports::run(&db, &export, &mut out);
            if let Err(error) = outcome {
                // The client must not take a cut file for a whole one: end the body with an
                // error, which aborts the transfer. (Gone already if the client left.)
                log::warn!("a case export stopped: {error}");
                let _ = sender.blocking_send(Err(io::Error::other("the export failed")));
            }
        })
        .map_err(|e| ApiError::internal(format!("cannot start an export thread: {e}")))?;

    let body = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    let today = chrono::Utc::now().with_timezone(&tz).format("%Y-%m-%d");
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"cases-{today}.{}\"", format.as_str()),
        ))
        // Personal data: no cache along the way may keep a copy.
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(body))
}

/// An XLSX file, in the OpenAPI document: binary.
pub struct XlsxFile;

impl utoipa::PartialSchema for XlsxFile {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Binary,
            )))
            .description(Some("An XLSX workbook (Office Open XML, a zip file)"))
            .into()
    }
}

impl utoipa::ToSchema for XlsxFile {}

/// The format `Accept` asks for: the supported type with the highest quality; CSV when there is
/// no `Accept`, or for `*/*` and `text/*`; 406 when only other types are named.
fn negotiate(headers: &HeaderMap) -> Result<ExportFormat, ApiError> {
    let mut best: Option<(f32, ExportFormat)> = None;
    let mut named_any = false;
    for value in headers.get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else {
            continue;
        };
        for range in value.split(',').map(str::trim).filter(|r| !r.is_empty()) {
            named_any = true;
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default().to_ascii_lowercase();
            let quality = parts
                .filter_map(|p| p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")))
                .find_map(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            let format = match media.as_str() {
                ExportFormat::CSV_TYPE | "text/*" | "*/*" => ExportFormat::Csv,
                ExportFormat::XLSX_TYPE => ExportFormat::Xlsx,
                _ => continue,
            };
            // Exact types win over wildcards of the same quality.
            let quality = if media.contains('*') {
                quality - 0.0001
            } else {
                quality
            };
            if quality > 0.0 && best.is_none_or(|(q, _)| quality > q) {
                best = Some((quality, format));
            }
        }
    }
    match best {
        Some((_, format)) => Ok(format),
        None if !named_any => Ok(ExportFormat::Csv),
        None => Err(ApiError::Other {
            status: actix_web::http::StatusCode::NOT_ACCEPTABLE,
            code: ErrorCode::NotAcceptable,
            detail: "this endpoint answers text/csv or \
                     application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                .into(),
        }),
    }
}

/// Bytes written by the export, handed to the answer's body 64 KiB at a time; blocks while the
/// client is behind (the channel is bounded), and fails once the client has gone, which stops the
/// export.
struct ChunkWriter {
    buffer: Vec<u8>,
    sender: mpsc::Sender<Result<Bytes, io::Error>>,
}

const CHUNK: usize = 64 * 1024;

impl ChunkWriter {
    fn new(sender: mpsc::Sender<Result<Bytes, io::Error>>) -> Self {
        Self {
            buffer: Vec::with_capacity(CHUNK),
            sender,
        }
    }

    fn hand_off(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK));
        self.sender
            .blocking_send(Ok(Bytes::from(chunk)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= CHUNK {
            self.hand_off()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.hand_off()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn with_accept(values: &[&str]) -> Result<ExportFormat, ApiError> {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        }
        negotiate(&headers)
    }

    #[test]
    fn accept_chooses_the_format() {
        assert_eq!(with_accept(&[]).unwrap(), ExportFormat::Csv);
        assert_eq!(with_accept(&["*/*"]).unwrap(), ExportFormat::Csv);
        assert_eq!(with_accept(&["text/csv"]).unwrap(), ExportFormat::Csv);
        assert_eq!(
            with_accept(&[ExportFormat::XLSX_TYPE]).unwrap(),
            ExportFormat::Xlsx
        );
        assert_eq!(
            with_accept(&[&format!("{}, */*;q=0.8", ExportFormat::XLSX_TYPE)]).unwrap(),
            ExportFormat::Xlsx
        );
        assert_eq!(
            with_accept(&[&format!("text/csv;q=0.5, {}", ExportFormat::XLSX_TYPE)]).unwrap(),
            ExportFormat::Xlsx
        );
        assert_eq!(
            with_accept(&["application/json", "text/csv"]).unwrap(),
            ExportFormat::Csv
        );
        assert!(with_accept(&["application/json"]).is_err());
        assert!(with_accept(&["text/csv;q=0"]).is_err());
    }
}
