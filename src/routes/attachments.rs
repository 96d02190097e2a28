//! Attachments: uploads (multipart), listing, downloads (streamed, with ranges), thumbnails,
//! sharing, removal and signed public links.

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::http::header::{
    self, Charset, ContentDisposition, DispositionParam, DispositionType, ExtendedValue, Header,
};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use futures_util::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Permit, op};
use crate::db::attachments::AttachmentRow;
use crate::domain::attachment::{MediaType, clean_file_name, strip_metadata};
use crate::domain::ids::{AttachmentId, CaseId};
use crate::error::{ApiError, ErrorCode, FieldErrorCode};
use crate::extract::ApiJson;
use crate::rate_limit::WithinPublicLimit;
use crate::service::attachments::{
    self as service, AttachmentChanges, AttachmentView, Limits, RemoveAttachment, StoredFile,
};
use crate::startup::AppState;

/// Files one request may carry.
const MAX_FILES_PER_REQUEST: usize = 20;
/// The longest caption, in characters.
const MAX_CAPTION_CHARS: usize = 500;
/// Thumbnails fit in a square this wide.
const THUMBNAIL_SIZE: u32 = 320;

fn multipart_error(error: actix_multipart::MultipartError) -> ApiError {
    use actix_multipart::MultipartError as E;
    match error {
        E::ContentTypeMissing | E::ContentTypeParse | E::ContentTypeIncompatible => {
            ApiError::UnsupportedMediaType {
                detail: "send the files as multipart/form-data".into(),
            }
        }
        other => ApiError::bad_request(
            ErrorCode::UnreadableBody,
            format!("the multipart body could not be read: {other}"),
        ),
    }
}

/// Reads the parts of an upload: `file` parts (one or more; each checked by its content, its
/// metadata stripped, stored) and an optional `caption`. Files are stored as they arrive; a
/// request that fails later leaves stored files no row points to, which the sweep removes
/// after a day (the rows are all written at the end, or none).
async fn receive(
    state: &AppState,
    req: &HttpRequest,
    mut multipart: Multipart,
    limits: Limits,
) -> Result<(Vec<StoredFile>, Option<String>), ApiError> {
    // A file is at most the body: room for it at once (no growing copies), within the limit.
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        .min(limits.file_bytes)
        .min(64 * 1024 * 1024) as usize;
    let mut files = Vec::new();
    let mut caption = None;
    while let Some(field) = multipart.next().await {
        let mut field = field.map_err(multipart_error)?;
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "caption" => {
                let mut text = Vec::new();
                while let Some(chunk) = field.try_next().await.map_err(multipart_error)? {
                    text.extend_from_slice(&chunk);
                    if text.len() > 4 * MAX_CAPTION_CHARS {
                        break;
                    }
                }
                let text = String::from_utf8(text).map_err(|_| {
                    ApiError::field(
                        "caption",
                        FieldErrorCode::Invalid,
                        "the caption is not UTF-8",
                    )
                })?;
                let text = text.trim();
                if text.chars().count() > MAX_CAPTION_CHARS {
                    return Err(ApiError::field(
                        "caption",
                        FieldErrorCode::Length,
                        format!("at most {MAX_CAPTION_CHARS} characters"),
                    ));
                }
                if text.contains('\0') {
                    return Err(ApiError::field(
                        "caption",
                        FieldErrorCode::InvalidCharacter,
                        "the caption contains a NUL character",
                    ));
                }
                caption = (!text.is_empty()).then(|| text.to_owned());
            }
            "file" => {
                if files.len() == MAX_FILES_PER_REQUEST {
                    return Err(ApiError::field(
                        "file",
                        FieldErrorCode::Length,
                        format!("at most {MAX_FILES_PER_REQUEST} files a request"),
                    ));
                }
                let file_name = clean_file_name(
                    field.content_disposition().and_then(|cd| cd.get_filename()),
                    "file",
                );
                let mut content = web::BytesMut::with_capacity(declared);
                while let Some(chunk) = field.try_next().await.map_err(multipart_error)? {
                    if (content.len() + chunk.len()) as u64 > limits.file_bytes {
                        return Err(ApiError::Other {
                            status: StatusCode::PAYLOAD_TOO_LARGE,
                            code: ErrorCode::FileTooLarge,
                            detail: format!("a file may have at most {} bytes", limits.file_bytes)
                                .into(),
                        });
                    }
                    content.extend_from_slice(&chunk);
                }
                let content = content.freeze();
                // Off the executor: reading a zip's directory, rewriting an image, hashing.
                let (media, content, sha256) = web::block(move || {
                    let media = MediaType::detect(&content)?;
                    let content = strip_metadata(media, content).ok()?;
                    let sha256 = crate::auth::secrets::sha256_hex_of_pieces(
                        content.iter().map(|piece| piece.as_ref()),
                    );
                    Some((media, content, sha256))
                })
                .await
                .map_err(|e| ApiError::internal(format!("blocking task failed: {e}")))?
                .ok_or_else(unsupported)?;
                let size = content.iter().map(Bytes::len).sum::<usize>() as i64;
                state
                    .storage
                    .put(&sha256, content)
                    .await
                    .map_err(|e| ApiError::internal(e.to_string()))?;
                files.push(StoredFile {
                    file_name,
                    media,
                    size,
                    sha256,
                });
            }
            other => {
                return Err(ApiError::field(
                    other,
                    FieldErrorCode::UnknownField,
                    "the parts are `file` (one or more) and `caption`",
                ));
            }
        }
    }
    if files.is_empty() {
        return Err(ApiError::field(
            "file",
            FieldErrorCode::Required,
            "send at least one `file` part",
        ));
    }
    Ok((files, caption))
}

/// 415; the file's name is not echoed (it may carry personal data).
fn unsupported() -> ApiError {
    ApiError::Other {
        status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
        code: ErrorCode::UnsupportedFileType,
        detail: format!(
            "a file's content is none of the accepted types ({})",
            MediaType::LIST
        )
        .into(),
    }
}

/// The multipart body of an upload, for the OpenAPI document.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AttachmentUpload {
    /// One or more files (repeat the part). Their type is decided by their content: JPEG, PNG,
    /// WebP, HEIC, PDF, OFD, MP3, AMR, M4A, MP4, DOCX, XLSX.
    #[schema(value_type = Vec<String>, format = Binary)]
    file: Vec<Vec<u8>>,
    /// A caption for the files (at most 500 characters).
    #[schema(max_length = 500)]
    caption: Option<String>,
}

/// Attach files to a case.
///
/// Who may: the citizen on their own case and integration clients on the cases they
/// registered, while the case is open; the centre's desks and administrators on any case; a
/// department while its share of the case is open (the file is attached to that assignment).
/// Each file's type is decided by its content, never by its name or part header (anything but
/// the accepted types is 415 `unsupported_file_type`); images lose their EXIF, XMP and IPTC
/// metadata (GPS position, device serial), keeping only the orientation. Limits: a file's size
/// (`HOTLINE_ATTACHMENT_MAX_BYTES`, default 20 MiB; 413 `file_too_large`), and per case the
/// number of files and their bytes (413 `case_attachments_full`). The same content sent twice
/// is stored once. Either every file of the request is recorded or none; each joins the
/// timeline (`attachment_added`, without the file name).
#[utoipa::path(
    tag = "attachments",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Case id")),
    request_body(content = AttachmentUpload, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "The attachments recorded", body = Vec<AttachmentView>),
        (status = 404, description = "No such case, or not one the caller may see"),
        (status = 409, description = "The case takes no files from the caller now (`case_not_open_for_attachments`)"),
        (status = 413, description = "A file is too large (`file_too_large`), or the case is full (`case_attachments_full`)"),
        (status = 415, description = "Not multipart, or a file of a type not accepted (`unsupported_file_type`)"),
        (status = 422, description = "No `file` part, an unknown part, or a bad caption"),
    ),
)]
#[post("/cases/{id:\\d+}/attachments")]
pub async fn upload_case_attachments(
    state: web::Data<AppState>,
    principal: Permit<op::UploadCaseAttachments>,
    id: web::Path<CaseId>,
    req: HttpRequest,
    multipart: Multipart,
) -> Result<HttpResponse, ApiError> {
    let (id, limits) = (id.into_inner(), Limits::of(&state.settings));
    let principal = crate::auth::Principal::clone(&principal);
    let checking = principal.clone();
    // Refused before a byte of the body is read.
    state
        .db
        .run(move |conn| service::check_upload(conn, &checking, id, limits))
        .await?;
    let (files, caption) = receive(&state, &req, multipart, limits).await?;
    let added = state
        .db
        .run(move |conn| {
            service::add_to_case(conn, &principal, id, &files, caption.as_deref(), limits)
        })
        .await?;
    Ok(HttpResponse::Created().json(added))
}

/// Upload files ahead of registering their case.
///
/// For the self-service channels: upload first, then name the ids in `POST /cases`
/// (`attachment_ids`). Files are checked as in `POST /cases/{id}/attachments`; until a case is
/// registered with them only their uploader reads them, and an upload not given to a case
/// within a day is removed by the sweep.
#[utoipa::path(
    tag = "attachments",
    security(("bearer" = [])),
    request_body(content = AttachmentUpload, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "The uploads, without a case yet", body = Vec<AttachmentView>),
        (status = 413, description = "A file is too large (`file_too_large`), or more than a case holds"),
        (status = 415, description = "Not multipart, or a file of a type not accepted (`unsupported_file_type`)"),
        (status = 422, description = "No `file` part, an unknown part, or a bad caption"),
    ),
)]
#[post("/attachments")]
pub async fn upload_attachments(
    state: web::Data<AppState>,
    principal: Permit<op::UploadAttachments>,
    req: HttpRequest,
    multipart: Multipart,
) -> Result<HttpResponse, ApiError> {
    let limits = Limits::of(&state.settings);
    let principal = crate::auth::Principal::clone(&principal);
    let (files, caption) = receive(&state, &req, multipart, limits).await?;
    let added = state
        .db
        .run(move |conn| service::add_pending(conn, &principal, &files, caption.as_deref()))
        .await?;
    Ok(HttpResponse::Created().json(added))
}

/// A case's attachments.
///
/// Removed ones stay listed with who removed them and why (their file is gone). Departments do
/// not see a confidential case's files unless the centre made one shareable.
#[utoipa::path(
    tag = "attachments",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Case id")),
    responses(
        (status = 200, description = "Oldest first", body = Vec<AttachmentView>),
        (status = 404, description = "No such case, or not one the caller may see"),
    ),
)]
#[get("/cases/{id:\\d+}/attachments")]
pub async fn list_case_attachments(
    state: web::Data<AppState>,
    principal: Permit<op::ListCaseAttachments>,
    id: web::Path<CaseId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let list = state
        .db
        .run(move |conn| service::list(conn, &principal, id))
        .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// `Content-Disposition: attachment` with the name in UTF-8 (RFC 6266 `filename*`) and an ASCII
/// stand-in for old clients.
fn disposition(file_name: &str) -> ContentDisposition {
    let ascii: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    ContentDisposition {
        disposition: DispositionType::Attachment,
        parameters: vec![
            DispositionParam::Filename(ascii),
            DispositionParam::FilenameExt(ExtendedValue {
                charset: Charset::Ext("UTF-8".into()),
                language_tag: None,
                value: file_name.as_bytes().to_vec(),
            }),
        ],
    }
}

/// The file of `row`, whole or the one byte range asked for, streamed from the store.
async fn serve(
    state: &AppState,
    req: &HttpRequest,
    row: &AttachmentRow,
) -> Result<HttpResponse, ApiError> {
    let etag = format!("\"{}\"", row.sha256);
    let matches_etag = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    if matches_etag {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish());
    }
    let size = u64::try_from(row.size_bytes).unwrap_or_default();
    // One range is served as asked; several, or a malformed header, get the whole file (as
    // RFC 9110 allows).
    let range = match header::Range::parse(req) {
        Ok(header::Range::Bytes(specs)) if specs.len() == 1 => {
            match specs[0].to_satisfiable_range(size) {
                Some((first, last)) => Some(first..last + 1),
                None => {
                    return Err(ApiError::Other {
                        status: StatusCode::RANGE_NOT_SATISFIABLE,
                        code: ErrorCode::RangeNotSatisfiable,
                        detail: format!("the file has {size} bytes").into(),
                    });
                }
            }
        }
        _ => None,
    };
    let download = state
        .storage
        .get(&row.sha256, range.clone())
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let mut response = match &range {
        Some(r) => {
            let mut builder = HttpResponse::PartialContent();
            builder.insert_header((
                header::CONTENT_RANGE,
                format!("bytes {}-{}/{}", r.start, r.end - 1, download.size),
            ));
            builder
        }
        None => HttpResponse::Ok(),
    };
    let length = range.as_ref().map_or(download.size, |r| r.end - r.start);
    Ok(response
        .content_type(row.media_type.as_str())
        .insert_header((header::CONTENT_DISPOSITION, disposition(&row.file_name)))
        .insert_header((header::ETAG, etag))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((header::CACHE_CONTROL, "private, no-cache"))
        .no_chunking(length)
        .streaming(download.bytes.map_err(|e| {
            log::error!("attachment download cut short: {e}");
            actix_web::error::ErrorInternalServerError("storage")
        })))
}

/// Download an attachment.
///
/// Streamed, never held whole in memory; `Range: bytes=…` (one range) answers 206 with that part
/// (for audio and video players), `If-None-Match` with the `ETag` (the content's SHA-256) 304.
/// `Content-Disposition` carries the original name (`filename*`, UTF-8). Same row rules as the
/// case; departments not a confidential case's files unless shared. A read by the centre's
/// staff of a file of a case with a named complainant is recorded in the personal-data read
/// log, like a read of the case.
#[utoipa::path(
    tag = "attachments",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "Attachment id"),
        ("Range" = Option<String>, Header, description = "`bytes=first-last`, one range"),
    ),
    responses(
        (status = 200, description = "The file, with the type decided at upload", content((Vec<u8> = "image/jpeg"), (Vec<u8> = "image/png"), (Vec<u8> = "image/webp"), (Vec<u8> = "image/heic"), (Vec<u8> = "application/pdf"), (Vec<u8> = "application/ofd"), (Vec<u8> = "audio/mpeg"), (Vec<u8> = "audio/amr"), (Vec<u8> = "audio/mp4"), (Vec<u8> = "video/mp4"), (Vec<u8> = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"), (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")),
            headers(("ETag" = String, description = "The content's SHA-256, quoted"),
                    ("Content-Disposition" = String, description = "`attachment; filename*=UTF-8''…`"))),
        (status = 206, description = "The range asked for", content((Vec<u8> = "image/jpeg"), (Vec<u8> = "image/png"), (Vec<u8> = "image/webp"), (Vec<u8> = "image/heic"), (Vec<u8> = "application/pdf"), (Vec<u8> = "application/ofd"), (Vec<u8> = "audio/mpeg"), (Vec<u8> = "audio/amr"), (Vec<u8> = "audio/mp4"), (Vec<u8> = "video/mp4"), (Vec<u8> = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"), (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
        (status = 304, description = "Unchanged (`If-None-Match`)"),
        (status = 404, description = "No such attachment, or not one the caller may see"),
        (status = 410, description = "Removed by an administrator (`attachment_removed`)"),
        (status = 416, description = "The range lies outside the file (`range_not_satisfiable`)"),
    ),
)]
#[get("/attachments/{id:\\d+}")]
pub async fn get_attachment(
    state: web::Data<AppState>,
    principal: Permit<op::GetAttachment>,
    id: web::Path<AttachmentId>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let readable = state
        .db
        .run(move |conn| service::readable(conn, &principal, id))
        .await?;
    if let Some(read) = &readable.recorded_read {
        crate::db::read_log::owe(read);
    }
    serve(&state, &req, &readable.row).await
}

/// A small JPEG preview of an image attachment (at most 320×320, upright), made at the first
/// request and kept.
#[utoipa::path(
    tag = "attachments",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Attachment id")),
    responses(
        (status = 200, description = "The preview", content_type = "image/jpeg", body = Vec<u8>),
        (status = 404, description = "No such attachment, not one the caller may see, or not an image with a preview (JPEG, PNG, WebP)"),
        (status = 410, description = "Removed by an administrator (`attachment_removed`)"),
    ),
)]
#[get("/attachments/{id:\\d+}/thumbnail")]
pub async fn attachment_thumbnail(
    state: web::Data<AppState>,
    principal: Permit<op::AttachmentThumbnail>,
    id: web::Path<AttachmentId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let row = state
        .db
        .run(move |conn| service::readable(conn, &principal, id))
        .await?
        .row;
    if !MediaType::parse(&row.media_type).is_some_and(MediaType::has_thumbnail) {
        return Err(ApiError::not_found("this attachment has no preview"));
    }
    let storage_error = |e: crate::storage::StorageError| ApiError::internal(e.to_string());
    let jpeg = match state
        .storage
        .thumbnail(&row.sha256)
        .await
        .map_err(storage_error)?
    {
        Some(jpeg) => jpeg,
        None => {
            let original = state
                .storage
                .read(&row.sha256)
                .await
                .map_err(storage_error)?;
            let jpeg = web::block(move || make_thumbnail(&original))
                .await
                .map_err(|e| ApiError::internal(format!("blocking task failed: {e}")))?
                .map_err(|e| ApiError::internal(format!("thumbnail: {e}")))?;
            state
                .storage
                .put_thumbnail(&row.sha256, jpeg.clone())
                .await
                .map_err(storage_error)?;
            jpeg
        }
    };
    Ok(HttpResponse::Ok()
        .content_type("image/jpeg")
        .insert_header((header::CACHE_CONTROL, "private, max-age=86400"))
        .body(jpeg))
}

/// Decodes an image (bounded: no decompression bombs), turns it upright and shrinks it.
fn make_thumbnail(original: &[u8]) -> Result<Bytes, image::ImageError> {
    use image::ImageDecoder;
    let mut reader =
        image::ImageReader::new(std::io::Cursor::new(original)).with_guessed_format()?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(20_000);
    limits.max_image_height = Some(20_000);
    limits.max_alloc = Some(512 * 1024 * 1024);
    reader.limits(limits);
    let mut decoder = reader.into_decoder()?;
    let orientation = decoder.orientation()?;
    let mut picture = image::DynamicImage::from_decoder(decoder)?;
    picture.apply_orientation(orientation);
    let small = picture
        .thumbnail(THUMBNAIL_SIZE, THUMBNAIL_SIZE)
        .into_rgb8();
    let mut out = std::io::Cursor::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80).encode_image(&small)?;
    Ok(Bytes::from(out.into_inner()))
}

/// Let the departments see (or not) a confidential case's attachment.
#[utoipa::path(
    tag = "attachments",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Attachment id")),
    request_body = AttachmentChanges,
    responses(
        (status = 200, description = "The attachment", body = AttachmentView),
        (status = 404, description = "No such attachment, or one not given to a case yet"),
        (status = 410, description = "Removed (`attachment_removed`)"),
    ),
)]
#[patch("/attachments/{id:\\d+}")]
pub async fn update_attachment(
    state: web::Data<AppState>,
    principal: Permit<op::UpdateAttachment>,
    id: web::Path<AttachmentId>,
    body: ApiJson<AttachmentChanges>,
) -> Result<HttpResponse, ApiError> {
    let (id, ApiJson(changes)) = (id.into_inner(), body);
    let view = state
        .db
        .run(move |conn| service::set_shareable(conn, &principal, id, changes))
        .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Remove an attachment (administrators), with the reason.
///
/// The file is deleted (unless another attachment has the same content); the record stays in
/// the list with who removed it, when and why, and the timeline gets `attachment_removed`.
#[utoipa::path(
    tag = "attachments",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Attachment id")),
    request_body = RemoveAttachment,
    responses(
        (status = 200, description = "The attachment's record", body = AttachmentView),
        (status = 404, description = "No such attachment"),
        (status = 409, description = "Removed already (`attachment_removed`)"),
    ),
)]
#[delete("/attachments/{id:\\d+}")]
pub async fn remove_attachment(
    state: web::Data<AppState>,
    principal: Permit<op::RemoveAttachment>,
    id: web::Path<AttachmentId>,
    body: ApiJson<RemoveAttachment>,
) -> Result<HttpResponse, ApiError> {
    let (id, ApiJson(input)) = (id.into_inner(), body);
    let (view, unused) = state
        .db
        .run(move |conn| service::remove(conn, &principal, id, input))
        .await?;
    if unused {
        // The record is committed; a file left behind by a failure here is an orphan the
        // sweep removes.
        if let Err(e) = state.storage.delete(&view.sha256).await {
            log::warn!("removed attachment {id}: its file stays until the sweep: {e}");
        }
    }
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Debug, eserde::Deserialize, Serialize, ToSchema, validator::Validate)]
#[serde(deny_unknown_fields)]
pub struct NewAttachmentLink {
    /// How long the link works, in seconds (60 to 604800, a week; default 86400).
    #[serde(default)]
    #[schema(minimum = 60, maximum = 604800, example = 86400)]
    #[validate(range(min = 60, max = 604800))]
    pub expires_in_seconds: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttachmentLink {
    /// Works without sign-in until `expires_at`, for this file only.
    #[schema(
        example = "https://hotline.example.gov.cn/api/v1/public/attachments/7?expires=1767225600&signature=…"
    )]
    pub url: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// Make a signed, expiring public link to an attachment (for a citizen without an account, an
/// SMS, a public page): HMAC over the id and the expiry, so it names this file only, until then.
#[utoipa::path(
    tag = "attachments",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Attachment id")),
    request_body = NewAttachmentLink,
    responses(
        (status = 201, description = "The link", body = AttachmentLink),
        (status = 404, description = "No such attachment, or one not given to a case yet"),
        (status = 410, description = "Removed (`attachment_removed`)"),
    ),
)]
#[post("/attachments/{id:\\d+}/links")]
pub async fn create_attachment_link(
    state: web::Data<AppState>,
    principal: Permit<op::CreateAttachmentLink>,
    id: web::Path<AttachmentId>,
    req: HttpRequest,
    body: ApiJson<NewAttachmentLink>,
) -> Result<HttpResponse, ApiError> {
    let (id, ApiJson(input)) = (id.into_inner(), body);
    let row = state
        .db
        .run(move |conn| service::readable(conn, &principal, id))
        .await?
        .row;
    if row.case_id.is_none() {
        return Err(ApiError::not_found("no such attachment"));
    }
    let expires_at =
        chrono::Utc::now() + chrono::Duration::seconds(input.expires_in_seconds.unwrap_or(86_400));
    let expires = expires_at.timestamp();
    let signature = state.links.sign(id.get(), expires);
    let url = format!(
        "{}/api/v1/public/attachments/{id}?expires={expires}&signature={signature}",
        super::api_base(&state.settings, &req)
    );
    Ok(HttpResponse::Created().json(AttachmentLink {
        url,
        expires_at: chrono::DateTime::from_timestamp(expires, 0).unwrap_or(expires_at),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LinkQuery {
    /// Unix seconds after which the link no longer works.
    pub expires: i64,
    /// The link's signature.
    pub signature: String,
}

/// A file by its signed link (no sign-in); ranges as in `GET /attachments/{id}`. Rate-limited
/// per address like the other public endpoints.
#[utoipa::path(
    tag = "attachments",
    params(("id" = i64, Path, description = "Attachment id"), LinkQuery),
    responses(
        (status = 200, description = "The file, with the type decided at upload", content((Vec<u8> = "image/jpeg"), (Vec<u8> = "image/png"), (Vec<u8> = "image/webp"), (Vec<u8> = "image/heic"), (Vec<u8> = "application/pdf"), (Vec<u8> = "application/ofd"), (Vec<u8> = "audio/mpeg"), (Vec<u8> = "audio/amr"), (Vec<u8> = "audio/mp4"), (Vec<u8> = "video/mp4"), (Vec<u8> = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"), (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
        (status = 206, description = "The range asked for", content((Vec<u8> = "image/jpeg"), (Vec<u8> = "image/png"), (Vec<u8> = "image/webp"), (Vec<u8> = "image/heic"), (Vec<u8> = "application/pdf"), (Vec<u8> = "application/ofd"), (Vec<u8> = "audio/mpeg"), (Vec<u8> = "audio/amr"), (Vec<u8> = "audio/mp4"), (Vec<u8> = "video/mp4"), (Vec<u8> = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"), (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
        (status = 403, description = "The link is altered or expired (`invalid_link`)"),
        (status = 404, description = "No such attachment"),
        (status = 410, description = "Removed (`attachment_removed`)"),
        (status = 429, description = "Too many requests from this address"),
    ),
)]
#[get("/public/attachments/{id:\\d+}")]
pub async fn public_attachment(
    _limit: WithinPublicLimit,
    state: web::Data<AppState>,
    id: web::Path<AttachmentId>,
    query: web::Query<LinkQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (id, query) = (id.into_inner(), query.into_inner());
    let now = chrono::Utc::now().timestamp();
    if !state
        .links
        .verify(id.get(), query.expires, &query.signature, now)
    {
        return Err(ApiError::Forbidden {
            code: ErrorCode::InvalidLink,
            detail: "the link is altered or expired".into(),
        });
    }
    let row = state
        .db
        .run(move |conn| {
            crate::db::attachments::find(conn, id)?
                // A pending upload has no link: only files of cases and of articles.
                .filter(|row| row.case_id.is_some() || row.article_id.is_some())
                .ok_or_else(|| ApiError::not_found("no such attachment"))
        })
        .await?;
    if row.removed_at.is_some() {
        return Err(ApiError::Gone {
            code: ErrorCode::AttachmentRemoved,
            detail: "the file was removed".into(),
        });
    }
    serve(&state, &req, &row).await
}
